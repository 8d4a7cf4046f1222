"""Model files are checked before any interpreter touches them (a damaged .tflite used to
crash `edge run`, `eval` and the health check with SIGSEGV, exit 139, and no message)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardioradar.errors import ConfigError
from host.synthmodel import model_bytes, synthetic_model
from edge.modelfile import IDENTIFIER, check_tensor_table, parse_model, validate_model_file

SHIPPED = Path(__file__).parent.parent / "boards" / "models" / "cardioradar_int8.tflite"
META = json.loads(SHIPPED.with_suffix(".json").read_text())
DATA = SHIPPED.read_bytes()


def _bad(kind: str) -> bytes:
    return {"truncated": DATA[:len(DATA) * 2 // 3], "zero-byte": b"",
            "garbage": bytes(range(256)) * 40}[kind]


def test_the_shipped_model_and_its_metadata_agree():
    info = validate_model_file(SHIPPED, META)
    assert info.version == 3 and info.inputs == (META["input"]["index"],)
    assert sorted(info.outputs) == sorted(o["index"] for o in META["outputs"].values())
    t = info.tensors[info.inputs[0]]
    assert t.dtype == "int8" and t.shape == (1, 512, 4, 3) and t.scale[0] == pytest.approx(META["input"]["scale"])


@pytest.mark.parametrize("kind,msg", [("truncated", "truncated or not a TFLite model"),
                                      ("zero-byte", "size: expected at least 8 bytes"),
                                      ("garbage", "file identifier: expected b'TFL3'")])
def test_damaged_files_are_one_line_errors(tmp_path, kind, msg):
    p = tmp_path / f"{kind}.tflite"
    p.write_bytes(_bad(kind))
    with pytest.raises(ConfigError) as e:
        validate_model_file(p, META)
    text = str(e.value)
    assert msg in text and str(p) in text and "\n" not in text, text


def test_every_cut_of_the_shipped_model_is_refused():
    # the interpreter's tables sit at the front and the weights behind them: any cut loses some
    for n in range(0, len(DATA), len(DATA) // 97):
        with pytest.raises(ConfigError):
            parse_model(DATA[:n], "cut")


def test_metadata_that_disagrees_with_the_tensor_table_names_the_field(tmp_path):
    info = parse_model(DATA, "m.tflite")
    for change, field in ((("input", "shape"), [1, 256, 4, 3]), (("input", "scale"), 0.5),
                          (("input", "index"), 3)):
        meta = json.loads(json.dumps(META))
        meta[change[0]][change[1]] = field
        with pytest.raises(ConfigError, match=r"metadata input"):
            check_tensor_table(info, meta, "m.json")
    meta = json.loads(json.dumps(META))
    meta["outputs"]["ecg"]["dtype"] = "int8"
    with pytest.raises(ConfigError, match=r"metadata outputs.ecg: says int8"):
        check_tensor_table(info, meta, "m.json")


def test_synthetic_models_are_well_formed(tmp_path):
    p = synthetic_model(tmp_path / "s.tflite", 8192, seed=4)
    info = validate_model_file(p, json.loads(p.with_suffix(".json").read_text()))
    assert abs(info.size_bytes - 8192) < 1024 and info.tensors[4].shape == (8192 - 1024,)
    assert p.read_bytes() == synthetic_model(tmp_path / "t.tflite", 8192, seed=4).read_bytes()  # seeded


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 10_000))
def test_random_bytes_never_crash_the_reader(junk, cut):
    """Random files, with and without the identifier, and random edits of a valid model, only
    ever give `ConfigError` (or parse)."""
    for data in (junk, junk[:4] + IDENTIFIER + junk[8:], model_bytes(junk)[:cut or None]):
        try:
            parse_model(data, "fuzz")
        except ConfigError:
            pass


def _bad_model_dir(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / kind / "bad.tflite"
    p.parent.mkdir()
    p.write_bytes(_bad(kind))
    shutil.copy(SHIPPED.with_suffix(".json"), p.with_suffix(".json"))
    return p


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardioradar", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kind", ["truncated", "zero-byte", "garbage"])
def test_edge_run_eval_and_bundle_build_refuse_with_one_line(tmp_path, kind):
    model = _bad_model_dir(tmp_path, kind)
    runs = {
        "edge run": _cli("edge", "run", "--board", "sim", "--model", str(model), "--seconds", "1", "--quiet",
                         "--config-port", "loop://", "--data-port", "loop://"),
        "eval": _cli("eval", "--model", str(model), "--subjects", "1", "--seconds", "10"),
    }
    if kind == "truncated":  # the same check in `bundle build` (key made here, model refused before signing)
        _cli("keys", "generate", "--out", str(tmp_path / "keys"))
        runs["bundle build"] = _cli("bundle", "build", "--board", "sim", "--model", str(model), "--key",
                                    str(tmp_path / "keys" / "bundle-signing.key"), "--out", str(tmp_path / "b.bundle"),
                                    "--security-counter", "1")
        assert not (tmp_path / "b.bundle").exists()
    for what, p in runs.items():
        errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
        assert p.returncode == 2, (what, p.returncode, p.stderr[-2000:])
        assert len(errors) == 1 and "bad.tflite" in errors[0] and "Traceback" not in p.stderr, (what, p.stderr)


def test_the_health_check_fails_a_slot_with_a_damaged_model(tmp_path):
    """The default check, run as the agent runs it, on a slot whose model was damaged after install."""
    from host.bundle import build_bundle, extract_bundle, generate_keys

    key, pub = generate_keys(tmp_path / "keys")
    bundle = build_bundle("sim", key, tmp_path / "b.bundle", security_counter=1)
    slot = tmp_path / "slot"
    extract_bundle(bundle, slot, [pub])
    model = slot / "boards" / "models" / "cardioradar_int8.tflite"
    model.write_bytes(model.read_bytes()[:50_000])
    from edge.agent import health

    res = health.run_check(health.default_check(120.0), slot, tmp_path / "root")
    assert not res.ok and res.detail.startswith("model: model ") and "truncated" in res.detail, res.detail
