"""Delta updates over a pty with the DEFAULT agent: a code-only or model-only bundle sends
only the files the board does not already hold (by SHA-256); the board rebuilds the exact
bundle from its slot files, so VERIFY and INSTALL are unchanged."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from edge.agent.slots import SlotStore
from host.bundle import build_bundle, read_manifest
from host.bundle.collect import RUNTIME_PACKAGES, repo_root
from host.flash import board_status, flash
from agent_rig import DefaultAgent

pytestmark = pytest.mark.timeout(300)
SHIPPED = repo_root() / "boards" / "models" / "cardioradar_int8.tflite"


def _code_copy(dst: Path) -> Path:
    src = repo_root()
    for pkg in RUNTIME_PACKAGES:
        shutil.copytree(src / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (dst / "edge" / "post.py").write_text((src / "edge" / "post.py").read_text() + "\n# a code-only update\n")
    return dst


def _retrained_model(dst: Path) -> Path:
    """The shipped model with one int8 weight changed (a stand-in for retrained weights)."""
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(SHIPPED.read_bytes())
    model = schema.Model.GetRootAs(bytes(data), 0)
    biggest = max((model.Buffers(i).DataAsNumpy() for i in range(model.BuffersLength())),
                  key=lambda a: 0 if isinstance(a, int) else a.size)
    at = bytes(data).find(biggest.tobytes()) + biggest.size // 2
    data[at] = (data[at] + 1) % 256
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(data))
    shutil.copy(SHIPPED.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


@pytest.fixture(scope="module")
def made(tmp_path_factory, signing_keys):
    d = tmp_path_factory.mktemp("delta")
    key, pub = signing_keys.key, signing_keys.pub
    return {"pub": pub,
            "base": build_bundle("sim", key, d / "base.bundle", security_counter=1),
            "code": build_bundle("sim", key, d / "code.bundle", security_counter=2, source_root=_code_copy(d / "src")),
            "model": build_bundle("sim", key, d / "model.bundle", security_counter=3,
                                  model_path=_retrained_model(d / "m" / "retrained.tflite"))}


def test_code_only_and_model_only_updates_send_only_what_changed(tmp_path, made):
    with DefaultAgent(tmp_path, made["pub"]) as agent:
        with agent.client() as c:
            full = flash(c, made["base"])
            assert full.copied_bytes == 0 and full.sent_bytes == full.size_bytes  # a fresh board holds nothing
            code = flash(c, made["code"])
            assert code.outcome == "confirmed" and code.slot == "a"
            assert code.sent_bytes - code.resent_bytes + code.copied_bytes == code.size_bytes
            assert code.wire_bytes <= 0.10 * full.wire_bytes, (code.wire_bytes, full.wire_bytes)
            model = flash(c, made["model"])
            assert model.outcome == "confirmed"
            assert model.sent_bytes - model.resent_bytes + model.copied_bytes == model.size_bytes
            # every code file was copied: what went is the model plus manifest, headers and padding
            assert model.copied_bytes >= model.size_bytes - SHIPPED.stat().st_size - 150_000, model
            assert model.sent_bytes < 0.6 * model.size_bytes, model
            assert board_status(c)["state"]["security_counter"] == 3
        st = SlotStore(agent.root, "sim")
        slot = st.slot_dir(st.load().confirmed)
        for f in read_manifest(made["model"]).files:  # the installed slot is the bundle, byte for byte
            assert hashlib.sha256((slot / f.path).read_bytes()).hexdigest() == f.sha256, f.path


def test_a_copy_of_a_file_the_board_does_not_hold_is_refused(tmp_path, made):
    from edge.agent.errors import Refused
    from edge.agent.protocol import Op

    with DefaultAgent(tmp_path, made["pub"]) as agent:
        with agent.client() as c:
            data = made["base"].read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            assert c.request(Op.HAVE, {"sha256": ["00" * 32]})["have"] == []
            c.request(Op.UPLOAD_BEGIN, {"size": len(data), "sha256": sha})
            with pytest.raises(Refused) as e:
                c.request(Op.UPLOAD_DATA, {"offset": 0, "pieces": [["ab" * 32, 100]]})
            assert e.value.reason == "unknown_content"
            assert c.request(Op.UPLOAD_STATUS)["upload"]["offset"] == 0
