"""A/B state machine: pure transitions, the boot loop, atomic state files, staging resume."""

import dataclasses
import json

import pytest

from edge.agent import slots
from edge.agent.errors import Refused
from edge.agent.staging import Staging

INFO = slots.SlotInfo("1.1.0", "ab" * 32, 5, "sim")


def _with_b(st=None):
    st = st or slots.factory_state("sim")
    return slots.finish_install(st, "b", INFO)


def test_factory_boots_confirmed_slot_a():
    st = slots.factory_state("sim")
    assert slots.choose_boot(st) == ("a", st)
    assert slots.install_target(st, running="a") == "b"


def test_test_boot_takes_attempts_then_rolls_back():
    st = slots.activate(_with_b(), "b", attempts=2)
    seen = []
    for _ in range(3):
        slot, st = slots.choose_boot(st)
        seen.append((slot, st.attempts_left, st.tentative))
        st = slots.after_health(st, slot, False, "exit code 1")
    assert seen == [("b", 1, "b"), ("b", 0, "b"), ("a", 0, None)]
    assert st.confirmed == "a" and st.last_event["kind"] == "rollback" and "exit code 1" in st.last_event["detail"]
    assert st.security_counter == 0  # a rolled-back bundle does not raise the downgrade floor


def test_passing_health_confirms_and_raises_counter():
    st = slots.activate(_with_b(), "b")
    slot, st = slots.choose_boot(st)
    st = slots.after_health(st, slot, True, "ok")
    assert (st.confirmed, st.tentative, st.security_counter) == ("b", None, 5)
    assert slots.install_target(st, running="b") == "a"
    assert slots.choose_boot(st)[0] == "b"


def test_refusals():
    st = slots.factory_state("sim")
    with pytest.raises(Refused) as e:
        slots.activate(st, "b")
    assert e.value.reason == "empty_slot"
    with pytest.raises(Refused) as e:
        slots.activate(st, "a")
    assert e.value.reason == "already_confirmed"
    with pytest.raises(Refused) as e:
        slots.install_target(slots.activate(_with_b(), "b"), running="a")
    assert e.value.reason == "test_pending"


def test_state_round_trip_and_bad_file(tmp_path):
    store = slots.SlotStore(tmp_path, "sim")
    st = slots.activate(_with_b(store.load()), "b")
    store.save(st)
    assert store.load() == st
    assert not list(store.state_path.parent.glob(".*.tmp"))
    store.state_path.write_text(json.dumps({"format": 1, "confirmed": "c"}))
    with pytest.raises(Exception, match="state.json"):
        store.load()


@pytest.mark.parametrize("health_ok,expect", [([True], "b"), ([False, True], "b"), ([False, False, False], "a")])
def test_boot_loop(tmp_path, health_ok, expect):
    store = slots.SlotStore(tmp_path, "sim")
    store.save(slots.activate(_with_b(store.load()), "b", attempts=3))
    answers = iter(health_ok)
    calls = []

    def health(slot):
        calls.append(slot)
        return next(answers), "scripted"

    assert slots.boot(store, health) == expect
    assert calls == ["b"] * len(health_ok)
    st = store.load()
    assert st.tentative is None and st.confirmed == expect


def test_boot_after_crash_during_test_boot_counts_the_attempt(tmp_path):
    store = slots.SlotStore(tmp_path, "sim")
    store.save(slots.activate(_with_b(store.load()), "b", attempts=1))
    slot, st = slots.choose_boot(store.load())
    store.save(st)  # ... and the board dies during the health check
    assert slots.boot(store, lambda s: pytest.fail("no attempts left: must not test again")) == "a"


def test_writing_slot_never_touches_the_other(tmp_path):
    store = slots.SlotStore(tmp_path, "sim")
    (store.slot_dir("a") / "keep").write_text("running software")
    with store.writing_slot("b") as d:
        (d / "x").write_text("new")
        assert store.load().slots["b"] is None
    store.save(slots.finish_install(store.load(), "b", INFO))
    assert (store.slot_dir("b") / "x").read_text() == "new"
    assert (store.slot_dir("a") / "keep").read_text() == "running software"


def test_staging_resumes_at_persisted_offset_and_cuts_unrecorded_bytes(tmp_path):
    s = Staging(tmp_path)
    data = bytes(range(256)) * 10
    import hashlib
    sha = hashlib.sha256(data).hexdigest()
    s.begin(len(data), sha)
    s.write(0, data[:1000])
    with open(s.part, "ab") as f:  # a chunk written, then a crash before the offset was saved
        f.write(b"\xff" * 500)
    s2 = Staging(tmp_path)  # "restart"
    assert s2.begin(len(data), sha).offset == 1000
    with pytest.raises(Refused) as e:
        s2.write(0, data[:10])
    assert e.value.reason == "offset"
    s2.write(1000, data[1000:])
    assert s2.check_complete().offset == len(data)
    s2.begin(len(data), "cd" * 32)  # a different bundle starts over
    assert s2.current().offset == 0 and s2.part.stat().st_size == 0


# -- the security floor on every path that can make a slot run ---------------------------------


def _counters_2_4():
    """Slot b held counter 2 (confirmed), then slot a counter 4 was confirmed: floor 4."""
    st = slots.finish_install(slots.factory_state("sim"), "b", slots.SlotInfo("1", "22" * 32, 2, "sim"))
    st = dataclasses.replace(st, confirmed="b", security_counter=2)
    st = slots.finish_install(st, "a", slots.SlotInfo("1", "44" * 32, 4, "sim"))
    st = slots.activate(st, "a")
    slot, st = slots.choose_boot(st)
    return slots.after_health(st, slot, True, "ok")


def test_floor_activate_refuses_a_slot_below_it():
    st = _counters_2_4()
    assert (st.confirmed, st.security_counter) == ("a", 4)
    with pytest.raises(Refused) as e:
        slots.activate(st, "b")
    assert e.value.reason == "downgrade" and "[downgrade]" in str(e.value)
    assert "below the board's floor 4" in str(e.value)


def test_floor_boot_drops_a_tentative_slot_below_it():
    st = dataclasses.replace(_counters_2_4(), tentative="b", attempts_left=3)  # written by an older agent
    slot, st = slots.choose_boot(st)
    assert slot == "a" and st.tentative is None and st.last_event["kind"] == "downgrade"
    assert "[downgrade]" in st.last_event["detail"]


def test_floor_rollback_target_below_it_is_refused():
    st = _counters_2_4()  # an older agent left: confirmed b (counter 2) with the floor at 4, a under test
    st = dataclasses.replace(st, confirmed="b", tentative="a", attempts_left=0)
    slot, st = slots.choose_boot(st)
    assert slot == "a" and st.confirmed == "a" and st.tentative is None
    assert st.last_event["kind"] == "rollback_refused" and "[downgrade]" in st.last_event["detail"]
    assert slots.choose_boot(st) == ("a", st)  # stable: no boot loop


def test_floor_confirmed_slot_below_it_gives_way():
    st = dataclasses.replace(_counters_2_4(), confirmed="b")
    slot, st = slots.choose_boot(st)
    assert slot == "a" and st.confirmed == "a" and st.last_event["kind"] == "downgrade"
    none = dataclasses.replace(st, security_counter=9)
    slot, none = slots.choose_boot(none)
    assert slot == slots.NO_SLOT and "nothing boots" in none.last_event["detail"]
    assert slots.choose_boot(none) == (slots.NO_SLOT, none)
