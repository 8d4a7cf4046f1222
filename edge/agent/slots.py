"""A/B slots: which software the board boots, test boots, confirmation and rollback.

On the board the bootloader reads this state; on a temporary root (tests, the bench) a
"boot" is the agent process (re)starting and calling `boot`, which chooses the slot
exactly as the bootloader would:

- a tentative slot with attempts left: take one attempt (persisted *before* booting, so a
  crash or power cut during the test boot counts), boot it, run its health check; pass ->
  confirmed (it becomes the slot every later boot chooses), fail -> reboot;
- a tentative slot with no attempts left: roll back to the confirmed slot and record why;
- otherwise: the confirmed slot.

The confirmed slot is never the install target, so there is always a bootable confirmed
slot. Every change is one atomic rewrite of ``boot/state.json`` (see `cardioradar.atomic`).
The transitions are pure functions of `BootState`, tested without any I/O.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cardioradar.errors import DeviceError, InputDataError
from cardioradar import atomic
from edge.agent.errors import Refused

log = logging.getLogger(__name__)

SLOTS = ("a", "b")
NO_SLOT = "-"  # what runs when no slot may boot (all below the security floor)
DEFAULT_ATTEMPTS = 3
STATE_FORMAT = 1


@dataclass(frozen=True)
class SlotInfo:
    """What a slot holds: the installed bundle's identity."""

    version: str
    sha256: str  # of the bundle file it was installed from ("" for the factory image)
    security_counter: int
    board: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BootState:
    """The persisted boot state. ``slots[x]`` is None while slot x is empty or being written."""

    confirmed: str
    tentative: str | None
    attempts_left: int
    slots: dict[str, SlotInfo | None]
    security_counter: int  # of the confirmed software: the downgrade floor
    last_event: dict | None = None  # {"kind", "slot", "detail"}: the last confirm/failure/rollback

    def other(self, slot: str) -> str:
        return SLOTS[1 - SLOTS.index(slot)]

    def as_dict(self) -> dict:
        return {"format": STATE_FORMAT, "confirmed": self.confirmed, "tentative": self.tentative,
                "attempts_left": self.attempts_left, "security_counter": self.security_counter,
                "slots": {k: (v.as_dict() if v else None) for k, v in self.slots.items()},
                "last_event": self.last_event}

    @classmethod
    def from_dict(cls, d: dict, where: str) -> BootState:
        try:
            if d["format"] != STATE_FORMAT:
                raise InputDataError(f"{where}: state format expected {STATE_FORMAT}, got {d['format']}")
            slots = {k: (SlotInfo(**d["slots"][k]) if d["slots"].get(k) else None) for k in SLOTS}
            st = cls(d["confirmed"], d["tentative"], int(d["attempts_left"]), slots,
                     int(d["security_counter"]), d.get("last_event"))
        except (KeyError, TypeError) as e:
            raise InputDataError(f"{where}: malformed boot state: {e!r}") from e
        if st.confirmed not in SLOTS or st.tentative not in (*SLOTS, None):
            raise InputDataError(f"{where}: slots expected one of {SLOTS}, got {st.confirmed!r}/{st.tentative!r}")
        return st


def factory_state(board: str) -> BootState:
    """A fresh board: slot a holds the factory software, confirmed; slot b empty."""
    return BootState("a", None, 0, {"a": SlotInfo("0", "", 0, board), "b": None}, 0)


# -- pure transitions ------------------------------------------------------------------------


def below_floor(st: BootState, slot: str) -> bool:
    """Whether ``slot`` holds software whose security counter is below the board's floor."""
    info = st.slots.get(slot)
    return info is not None and info.security_counter < st.security_counter


def check_floor(st: BootState, slot: str, action: str) -> None:
    """`Refused` ``downgrade`` when ``action`` would make ``slot`` run below the floor."""
    if below_floor(st, slot):
        raise Refused("downgrade", f"{action} slot {slot}: it holds security counter "
                      f"{st.slots[slot].security_counter}, below the board's floor {st.security_counter}")


def _event(kind: str, slot: str, detail: str, st: BootState) -> dict:
    info = st.slots.get(slot)
    return {"kind": kind, "slot": slot, "detail": detail, "sha256": info.sha256 if info else ""}


def choose_boot(st: BootState) -> tuple[str, BootState]:
    """The slot a boot starts and the state to persist before starting it.

    Never a slot below the security floor, on any path: a tentative slot below it is
    dropped (``downgrade`` event) before its test boot; a rollback whose target is below it
    is refused and the tentative slot keeps running; a confirmed slot below it (a state
    written by an older agent) gives way to the other slot when that one is at the floor.
    """
    if st.tentative is not None and st.slots.get(st.tentative) is not None:
        t = st.tentative
        if below_floor(st, t):
            detail = (f"refused to boot: security counter {st.slots[t].security_counter} is below the floor "
                      f"{st.security_counter} [downgrade]")
            log.warning("slot %s %s", t, detail)
            st = dataclasses.replace(st, tentative=None, attempts_left=0, last_event=_event("downgrade", t, detail, st))
            return choose_boot(st)
        if st.attempts_left > 0:
            return t, dataclasses.replace(st, attempts_left=st.attempts_left - 1)
        detail = "not confirmed within its boot attempts"
        if st.last_event and st.last_event.get("slot") == t and st.last_event["kind"] == "health_failed":
            detail += f" (last health check: {st.last_event['detail']})"
        if below_floor(st, st.confirmed):
            detail = (f"{detail}; rollback to slot {st.confirmed} refused: its security counter "
                      f"{st.slots[st.confirmed].security_counter} is below the floor {st.security_counter} "
                      f"[downgrade]; slot {t} stays, the only slot at or above the floor")
            log.error("slot %s: %s", t, detail)
            return t, dataclasses.replace(st, confirmed=t, tentative=None, attempts_left=0,
                                          last_event=_event("rollback_refused", t, detail, st))
        event = {"kind": "rollback", "slot": t, "detail": detail, "sha256": st.slots[t].sha256}
        log.warning("rolling back from slot %s to %s: %s", t, st.confirmed, detail)
        return st.confirmed, dataclasses.replace(st, tentative=None, attempts_left=0, last_event=event)
    if st.tentative is not None:  # tentative slot emptied under it (cannot happen via this API)
        return st.confirmed, dataclasses.replace(st, tentative=None, attempts_left=0)
    if below_floor(st, st.confirmed):
        other = st.other(st.confirmed)
        if st.slots.get(other) is not None and not below_floor(st, other):
            detail = (f"confirmed slot {st.confirmed} holds security counter "
                      f"{st.slots[st.confirmed].security_counter}, below the floor {st.security_counter} "
                      f"[downgrade]: booting slot {other}")
            log.error(detail)
            return other, dataclasses.replace(st, confirmed=other, last_event=_event("downgrade", st.confirmed,
                                                                                      detail, st))
        detail = (f"no slot at or above the security floor {st.security_counter} [downgrade]: nothing boots; "
                  f"flash a bundle with security counter >= {st.security_counter}")
        log.error(detail)
        event = _event("downgrade", st.confirmed, detail, st)
        return NO_SLOT, (st if st.last_event == event else dataclasses.replace(st, last_event=event))
    return st.confirmed, st


def after_health(st: BootState, slot: str, ok: bool, detail: str) -> BootState:
    """Record a health check of the running ``slot``; a passing tentative slot is confirmed."""
    if slot != st.tentative:
        return st
    info = st.slots[slot]
    if ok:
        return dataclasses.replace(st, confirmed=slot, tentative=None, attempts_left=0,
                                   security_counter=max(st.security_counter, info.security_counter),
                                   last_event={"kind": "confirmed", "slot": slot, "detail": detail,
                                               "sha256": info.sha256})
    return dataclasses.replace(st, last_event={"kind": "health_failed", "slot": slot, "detail": detail,
                                               "sha256": info.sha256})


def install_target(st: BootState, running: str) -> str:
    """The slot an install may write: neither running nor confirmed nor under test."""
    if st.tentative is not None:
        raise Refused("test_pending", f"slot {st.tentative} is under test ({st.attempts_left} boot attempts "
                      "left): confirm or roll it back before installing again")
    target = st.other(st.confirmed)
    if target == running:  # only possible right after a rollback, before the reboot
        raise Refused("busy", f"slot {target} is running but not confirmed: reboot first")
    return target


def begin_install(st: BootState, slot: str) -> BootState:
    return dataclasses.replace(st, slots={**st.slots, slot: None})


def finish_install(st: BootState, slot: str, info: SlotInfo) -> BootState:
    return dataclasses.replace(st, slots={**st.slots, slot: info})


def activate(st: BootState, slot: str, attempts: int = DEFAULT_ATTEMPTS) -> BootState:
    """Make ``slot`` tentative: the next boots try it ``attempts`` times."""
    if st.slots.get(slot) is None:
        raise Refused("empty_slot", f"slot {slot} holds no installed software")
    if slot == st.confirmed:
        raise Refused("already_confirmed", f"slot {slot} is already the confirmed slot")
    check_floor(st, slot, "activating")
    return dataclasses.replace(st, tentative=slot, attempts_left=attempts,
                               last_event={"kind": "activated", "slot": slot, "detail": f"{attempts} attempts",
                                           "sha256": st.slots[slot].sha256})


# -- the files -------------------------------------------------------------------------------


class SlotStore:
    """``root/boot/state.json`` and ``root/slots/{a,b}/``."""

    def __init__(self, root: Path, board: str):
        self.root = Path(root)
        self.state_path = self.root / "boot" / "state.json"
        self.board = board
        if not self.state_path.exists():
            for d in (self.state_path.parent, self.slot_dir("a")):
                d.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.state_path, factory_state(board).as_dict())
            log.info("new board root %s: factory software in slot a", self.root)

    def slot_dir(self, slot: str) -> Path:
        return self.root / "slots" / slot

    def load(self) -> BootState:
        try:
            d = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as e:
            raise InputDataError(f"{self.state_path}: cannot read the boot state: {e}") from e
        return BootState.from_dict(d, str(self.state_path))

    def save(self, st: BootState) -> None:
        atomic.write_json(self.state_path, st.as_dict())

    @contextmanager
    def writing_slot(self, slot: str) -> Iterator[Path]:
        """Empty ``slot`` (marked empty in the state first), yield a fresh folder to fill,
        then fsync it and rename it into place. The caller records the SlotInfo after."""
        self.save(begin_install(self.load(), slot))
        final, tmp = self.slot_dir(slot), self.slot_dir(f".{slot}.tmp")
        atomic.remove_tree(tmp)
        atomic.remove_tree(final)
        tmp.mkdir(parents=True)
        yield tmp
        atomic.fsync_tree(tmp)
        tmp.rename(final)
        atomic.fsync_dir(final.parent)


HealthFn = Callable[[str], tuple[bool, str]]


def boot(store: SlotStore, health: HealthFn, *, auto_confirm: bool = True, max_boots: int = 16) -> str:
    """Boot like the bootloader + init would; returns the running slot.

    With ``auto_confirm`` a tentative slot's health check runs at boot and confirms it (the
    RAUC ``mark-good`` pattern); a failed check reboots, until the attempts run out and
    `choose_boot` rolls back. ``health(slot) -> (ok, detail)``.
    """
    for _ in range(max_boots):
        slot, st = choose_boot(store.load())
        store.save(st)
        if slot != st.tentative or not auto_confirm:
            log.info("booted slot %s (%s)", slot, "tentative" if slot == st.tentative else "confirmed")
            return slot
        ok, detail = health(slot)
        store.save(after_health(st, slot, ok, detail))
        if ok:
            log.info("slot %s passed its health check: confirmed", slot)
            return slot
        log.warning("slot %s failed its health check (%s): rebooting", slot, detail)
    raise DeviceError(f"{store.root}: no slot booted after {max_boots} boots")
