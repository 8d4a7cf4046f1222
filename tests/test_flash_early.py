"""Refuse early: the signed manifest (the bundle's first two tar entries) is checked by the
agent as soon as it has arrived -- signature, key, board, agent version, security counter --
so a bad bundle is refused before its payload is sent; altered payload bytes are still
caught by the per-file hashes at VERIFY."""

from __future__ import annotations

import tarfile

import pytest

from host.bench.flash import make_bundle
from edge.agent.errors import Refused
from host.bundle import build_bundle, check_header
from host.flash import board_status, flash
from agent_rig import DefaultAgent

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def made(tmp_path_factory, signing_keys):
    d = tmp_path_factory.mktemp("early")
    key, pub, other = signing_keys.key, signing_keys.pub, signing_keys.other_key
    b = {"pub": pub, "good": build_bundle("sim", key, d / "good.bundle", security_counter=3)}
    raw = b["good"].read_bytes()
    edited = raw.replace(b'"security_counter":3', b'"security_counter":9', 1)  # manifest edited, not re-signed
    assert edited != raw
    (d / "edited.bundle").write_bytes(edited)
    b["edited"] = d / "edited.bundle"
    with tarfile.open(b["good"]) as tar:
        model = tar.getmember("boards/models/cardioradar_int8.tflite")
    payload = bytearray(raw)
    payload[model.offset_data + model.size // 2] ^= 0x01  # a model weight: only its file hash can tell
    (d / "payload.bundle").write_bytes(bytes(payload))
    b["payload"] = d / "payload.bundle"
    b["other_key"] = build_bundle("sim", other, d / "other.bundle", security_counter=3)
    b["wrong_board"] = make_bundle(d / "rpi", "rpi4-iwr6843isk", 16 * 1024, seed=5, security_counter=3, key=key)
    b["too_new"] = build_bundle("sim", key, d / "new.bundle", security_counter=3, min_agent_version="9.0.0")
    b["downgrade"] = build_bundle("sim", key, d / "c1.bundle", security_counter=1)
    return b


def test_check_header_needs_only_the_first_entries(made):
    raw = made["good"].read_bytes()
    assert check_header(raw[:1024], [made["pub"]], total_size=len(raw)) is None  # not complete yet
    with tarfile.open(made["good"]) as tar:
        signature = tar.getmembers()[1]  # manifest first, signature second
    end = -(-(signature.offset_data + signature.size) // 512) * 512  # the end of its tar block
    assert end < len(raw) // 10  # so a refusal comes before a tenth of the bundle was sent
    assert check_header(raw[:end - 512], [made["pub"]], total_size=len(raw)) is None
    m = check_header(raw[:end], [made["pub"]], total_size=len(raw), board="sim", installed_counter=3)
    assert m.security_counter == 3


@pytest.mark.parametrize("name,reason", [("edited", "bad_signature"), ("other_key", "unknown_key"),
                                         ("wrong_board", "wrong_board"),
                                         ("too_new", "agent_too_old"), ("downgrade", "downgrade")])
def test_bad_bundles_are_refused_before_a_tenth_is_sent(tmp_path, made, name, reason):
    with DefaultAgent(tmp_path, made["pub"]) as agent:
        with agent.client() as c:
            if name == "downgrade":
                assert flash(c, made["good"]).outcome == "confirmed"  # floor 3
            sent0 = c.blob_bytes_sent
            with pytest.raises(Refused) as e:
                flash(c, made[name])
            sent = c.blob_bytes_sent - sent0
            size = made[name].stat().st_size
            assert e.value.reason == reason, e.value
            assert sent < 0.10 * size, (sent, size)
            assert board_status(c)["upload"] is None  # the refused upload was discarded


def test_altered_payload_bytes_are_still_caught_by_the_file_hashes(tmp_path, made):
    with DefaultAgent(tmp_path, made["pub"]) as agent:
        with agent.client() as c:
            with pytest.raises(Refused) as e:
                flash(c, made["payload"])
            assert e.value.reason == "altered_file" and "cardioradar_int8.tflite" in str(e.value), e.value
            assert c.blob_bytes_sent >= made["payload"].stat().st_size  # the signed manifest was fine
            assert board_status(c)["state"]["slots"]["b"] is None
