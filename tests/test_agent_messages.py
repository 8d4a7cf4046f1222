"""Typed agent messages (edge/agent/messages.py): the frames are byte for byte those of the
untyped code (golden transcript), every op has its request/response pair, the op and
refusal-code tables in docs/agent.md match the code, and refusal codes are explicit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from agent_golden import GOLDEN, canonical, describe, record

from cardioradar.errors import FramingError
from edge.agent import bundles, messages
from edge.agent.errors import CODES, Refused
from edge.agent.protocol import FLAG_NOTICE, FLAG_RESPONSE, FrameDecoder, Message, Op, decode_message

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "agent.md"


def test_wire_bytes_unchanged(tmp_path):
    """Every frame of a scripted session (all 14 ops, refusals, a boot notice, a token) is
    what the code wrote before the messages were typed."""
    golden = json.loads(GOLDEN.read_text())
    got = [canonical(w) for w in record(tmp_path)]
    for i, (g, want) in enumerate(zip(got, golden)):
        assert g == want, f"frame {i}:\n got  {describe(g)}\n want {describe(want)}"
    assert len(got) == len(golden)


def test_golden_frames_decode_to_types_and_back():
    """Each golden frame decodes into its typed message and encodes to the same JSON."""
    seen = set()
    for c in json.loads(GOLDEN.read_text()):
        if "hex" in c:
            (frame,) = FrameDecoder().feed(bytes.fromhex(c["hex"]))
            msg = decode_message(frame)
            op, flags, fields, blob = frame.op, frame.flags, dict(msg.fields), msg.blob
        else:  # a zlib'd blob: the JSON is in the clear
            op, flags, fields, blob = c["op"], c["flags"], json.loads(bytes.fromhex(c["head_json"])[2:]), None
        if op not in set(Op):
            continue
        if not flags & FLAG_RESPONSE:
            fields.pop("token", None)
            cls = messages.REQUESTS[Op(op)]
        elif not fields.pop("ok"):
            cls = messages.Refusal
        else:
            cls = messages.BootNotice if flags & FLAG_NOTICE else messages.RESPONSES[Op(op)]
        typed = cls.from_fields(fields, blob or b"")
        assert json.dumps(typed.to_fields()) == json.dumps(fields), cls.__name__
        assert blob is None or getattr(typed, "blob", b"") == blob
        seen.add(cls)
    assert set(messages.REQUESTS.values()) <= seen and set(messages.RESPONSES.values()) <= seen


def test_one_pair_per_op():
    assert set(messages.REQUESTS) == set(messages.RESPONSES) == set(Op)
    for op in Op:
        assert messages.REQUESTS[op].OP is op and messages.RESPONSES[op].OP is op


def test_a_bad_request_is_refused_naming_the_field(tmp_path):
    from edge.agent import health
    from edge.agent.server import Agent, AgentConfig

    agent = Agent(AgentConfig(tmp_path, "sim", (), health.HealthSpec(("{python}", "-c", "pass"))))
    answer, reboot = agent.handle(Message(Op.UPLOAD_BEGIN, 3, False, {"size": "many", "sha256": "ab"}))
    assert answer.fields["ok"] is False and answer.fields["error"] == "bad_request" and not reboot
    assert "field 'size': expected int, got 'many'" in answer.fields["message"]
    answer, _ = agent.handle(Message(Op.PULL_DATA, 4, False, {"name": "x.db"}))
    assert answer.fields["error"] == "bad_request" and "field 'sha256' missing" in answer.fields["message"]


def test_a_bad_answer_names_the_op_and_field():
    with pytest.raises(FramingError, match=r"UPLOAD_BEGIN UploadBeginResponse: field 'offset' missing"):
        messages.UploadBeginResponse.from_fields({"ok": True})
    with pytest.raises(FramingError, match=r"HELLO HelloResponse: field 'state'"):
        messages.HelloResponse.from_fields({"protocol": 1, "agent_version": "1", "board": "sim", "running": "a",
                                            "state": {"format": 1}})
    with pytest.raises(FramingError, match=r"LIST ListResponse: field 'sessions': .*SessionEntry: field 'name' missing"):
        messages.ListResponse.from_fields({"sessions": [{"size_bytes": 3, "live": False}]})


def test_messages_import_on_the_board():
    """Nothing from the host, the simulator or quantize comes in with the messages."""
    code = ("import sys, edge.agent.messages; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('host', 'hardware_sim', 'quantize')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# -- refusal codes --------------------------------------------------------------------------


def _bundle_error_classes() -> list[type]:
    from host.bundle import BundleError

    out, todo = [], [BundleError]
    while todo:
        c = todo.pop(0)
        out.append(c)
        todo.extend(c.__subclasses__())
    return [c for c in out if c.__module__.startswith("bundleformat")]


def test_every_bundle_error_has_its_own_explicit_code():
    classes = _bundle_error_classes()
    assert len(classes) >= 11
    for c in classes:
        assert "code" in c.__dict__, f"{c.__name__} must say its wire code (class attribute `code`)"
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes), codes
    renamed = type("RenamedDowngrade", (classes[0],), {"code": "downgrade"})  # the name plays no part
    assert bundles.refusal_code(renamed("x")) == "downgrade"


def test_every_refusal_in_the_code_has_a_listed_code():
    found = set()
    for p in [*(ROOT / "edge").rglob("*.py"), *(ROOT / "host").rglob("*.py")]:
        found |= set(re.findall(r'Refused\(\s*"([a-z0-9_]+)"', p.read_text()))
    assert found, "no Refused(...) found: the scan is broken"
    assert found <= set(CODES), sorted(found - set(CODES))


def _raised_by(code: str) -> str:
    who = ["host" if CODES[code].startswith("host:") else "agent"] if code in CODES else []
    who += [f"`{c.__name__}`" for c in _bundle_error_classes() if c.code == code]
    return ", ".join(who)


def expected_code_rows() -> list[str]:
    bundle = {c.code: (c.__doc__ or "").strip().splitlines()[0] for c in _bundle_error_classes()}
    rows = []
    for code in sorted(set(CODES) | set(bundle)):
        when = CODES.get(code) or bundle[code]
        rows.append(f"| `{code}` | {_raised_by(code)} | {when.removeprefix('host: ')} |")
    return rows


def expected_op_rows() -> list[str]:
    def keys(cls) -> str:
        import dataclasses
        names = [f.name + ("?" if f.metadata.get("omit") else "") for f in dataclasses.fields(cls)]
        return ", ".join(names) or "-"

    return [f"| {op.name} | {int(op)} | {keys(messages.REQUESTS[op])} | {keys(messages.RESPONSES[op])} |"
            for op in Op]


def _table_after(heading: str) -> list[str]:
    text = DOC.read_text()
    assert heading in text, f"docs/agent.md: heading {heading!r} missing"
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("|"))
    rows = []
    for ln in lines[start + 2:]:  # past the header and the ---- line
        if not ln.startswith("|"):
            break
        rows.append(ln.strip())
    return rows


@pytest.mark.parametrize("heading,expected", [("### Ops and their messages", expected_op_rows),
                                              ("### Refusal codes", expected_code_rows)])
def test_docs_tables_match_the_code(heading, expected):
    want = expected()
    assert _table_after(heading) == want, "docs/agent.md is out of date; the table should read:\n" + "\n".join(want)


def test_refused_keeps_reason_and_hint():
    e = Refused("downgrade", "counter 2 under 3")
    assert e.reason == "downgrade" and "[downgrade]" in str(e) and e.hint


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                     max_leaves=6)
_keys = st.sampled_from(["offset", "size", "sha256", "name", "pieces", "length", "level", "shuffle", "state",
                         "health", "upload", "sessions", "have", "slot", "protocol", "x"])


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(list(Op)), response=st.booleans(), fields=st.dictionaries(_keys, _json, max_size=6))
def test_any_json_decodes_or_says_which_field(op, response, fields):
    cls = (messages.RESPONSES if response else messages.REQUESTS)[op]
    try:
        typed = cls.from_fields(fields)
    except FramingError as e:
        assert op.name in str(e) and "field '" in str(e)
        return
    assert isinstance(typed, cls)
