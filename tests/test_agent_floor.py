"""Counters 2, 4, 2 over a pty with the DEFAULT agent: the last is refused `[downgrade]` on
every path that can make a slot run: install (a new bundle, and one already in a slot),
activate, boot (a tentative slot below the floor), rollback target, confirmed slot."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from cardioradar import atomic
from edge.agent.errors import Refused
from edge.agent.protocol import Op
from edge.agent.slots import SlotStore
from host.bundle import build_bundle
from host.flash import CHUNK_BYTES, board_status, flash
from agent_rig import DefaultAgent

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def built(tmp_path_factory, signing_keys):
    d = tmp_path_factory.mktemp("floor")
    key, pub = signing_keys.key, signing_keys.pub
    out = {"pub": pub}
    for name, counter, min_agent in (("c2", 2, "0.1.0"), ("c4", 4, "0.1.0"), ("c2_other", 2, "0.0.1")):
        out[name] = build_bundle("sim", key, d / f"{name}.bundle", security_counter=counter,
                                 min_agent_version=min_agent)
    return out


def _upload(c, bundle) -> str:
    data = bundle.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    c.request(Op.UPLOAD_BEGIN, {"size": len(data), "sha256": sha})
    for off in range(0, len(data), CHUNK_BYTES):
        c.request(Op.UPLOAD_DATA, {"offset": off}, data[off:off + CHUNK_BYTES])
    return sha


def _restart_with_state(agent: DefaultAgent, tmp_path, pub, change) -> DefaultAgent:
    agent.close()
    store = SlotStore(agent.root, "sim")
    store.save(change(store.load()))
    atomic.fsync_dir(store.state_path.parent)
    return DefaultAgent(tmp_path, pub)


def test_counters_2_4_2_refused_on_every_path(tmp_path, built):
    agent = DefaultAgent(tmp_path, built["pub"])
    try:
        with agent.client() as c:
            assert flash(c, built["c2"]).slot == "b"
            assert flash(c, built["c4"]).slot == "a"
            assert board_status(c)["state"]["security_counter"] == 4
            # activate: c2 is still in slot b, so flash goes straight to ACTIVATE
            with pytest.raises(Refused) as e:
                flash(c, built["c2"])
            assert e.value.reason == "downgrade" and "[downgrade]" in str(e.value), e.value
            # install of a bundle already in a slot, asked directly
            with pytest.raises(Refused) as e:
                c.request(Op.INSTALL, {"sha256": hashlib.sha256(built["c2"].read_bytes()).hexdigest()})
            assert e.value.reason == "downgrade"
            # install of a new counter-2 bundle: refused as soon as its signed manifest is in
            with pytest.raises(Refused) as e:
                flash(c, built["c2_other"])
            assert e.value.reason == "downgrade"
            with pytest.raises(Refused) as e:
                _upload(c, built["c2_other"])
            assert e.value.reason == "downgrade"
            h = board_status(c)
            assert h["running"] == "a" and h["state"]["confirmed"] == "a" and h["state"]["tentative"] is None
        # boot: a state (an older agent's) that puts slot b (counter 2) under test
        agent = _restart_with_state(agent, tmp_path, built["pub"],
                                    lambda st: dataclasses.replace(st, tentative="b", attempts_left=3))
        with agent.client() as c:
            h = board_status(c)
        ev = h["state"]["last_event"]
        assert h["running"] == "a" and ev["kind"] == "downgrade" and ev["slot"] == "b", h
        assert "[downgrade]" in ev["detail"]
        # rollback target: confirmed b (counter 2) under a floor of 4, slot a out of attempts
        agent = _restart_with_state(agent, tmp_path, built["pub"], lambda st: dataclasses.replace(
            st, confirmed="b", tentative="a", attempts_left=0))
        with agent.client() as c:
            h = board_status(c)
        ev = h["state"]["last_event"]
        assert h["running"] == "a" and h["state"]["confirmed"] == "a", h
        assert ev["kind"] == "rollback_refused" and "[downgrade]" in ev["detail"], ev
        # confirmed slot below the floor (the board): the other slot boots
        agent = _restart_with_state(agent, tmp_path, built["pub"],
                                    lambda st: dataclasses.replace(st, confirmed="b", tentative=None))
        with agent.client() as c:
            h = board_status(c)
        assert h["running"] == "a" and h["state"]["last_event"]["kind"] == "downgrade", h
    finally:
        agent.close()


def test_install_without_verify_is_refused_below_the_floor(tmp_path, built):
    """INSTALL checks the floor itself, whatever came before it (here the bytes are staged
    directly, past the early check an UPLOAD_DATA would run)."""
    from edge.agent import health
    from edge.agent.protocol import Message
    from edge.agent.server import Agent, AgentConfig

    agent = Agent(AgentConfig(tmp_path / "root", "sim", (built["pub"],),
                              health.HealthSpec(("{python}", "-c", "pass"), 30.0)))
    agent.boot()
    agent.store.save(dataclasses.replace(agent.store.load(), security_counter=4))
    data = built["c2_other"].read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    agent.staging.begin(len(data), sha)
    agent.staging.write(0, data)
    answer = agent.handle(Message(Op.INSTALL, 1, False, {"sha256": sha}))[0].fields
    assert answer["ok"] is False and answer["error"] == "downgrade", answer
    assert agent.store.load().slots["b"] is None
