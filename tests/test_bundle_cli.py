"""`cardioradar keys generate` / `bundle build|verify`: exit codes and the reason printed."""

from __future__ import annotations

import json
import tarfile

import pytest

from cardioradar.cli import main
from host.synthmodel import synthetic_model
from bundleformat.errors import BundleError
from bundle_rig import flip_in_member


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("bundle_cli")
    assert main(["keys", "generate", "--out", str(d / "keys")]) == 0
    model = synthetic_model(d / "m.tflite", 2048, seed=1)
    out = d / "sim.bundle"
    rc = main(["bundle", "build", "--board", "sim", "--model", str(model), "--key", str(d / "keys/bundle-signing.key"),
               "--out", str(out), "--security-counter", "5"])
    assert rc == 0
    return {"dir": d, "bundle": out, "pub": str(d / "keys/bundle-signing.pub"),
            "key": str(d / "keys/bundle-signing.key"), "model": str(model)}


def test_verify_prints_what_the_bundle_holds(made, capsys):
    capsys.readouterr()
    assert main(["bundle", "verify", str(made["bundle"]), "--pubkey", made["pub"], "--expect-board", "sim",
                 "--installed-counter", "5", "--files"]) == 0
    out = capsys.readouterr().out
    for text in ("signature OK (ed25519, key", "board      sim (profile boards/sim.toml)",
                 "model      boards/models/cardioradar_int8.tflite sha256", "fs_hz=100.0",
                 "radar cfg  boards/cfg/cardioradar_100hz_isk.cfg", "counter 5, needs agent >= 0.1.0",
                 "created    1970-01-01T00:00:00Z", "all SHA-256 verified", "edge/dsp/cordic.py"):
        assert text in out, text


def _refused(argv, capsys) -> str:
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == BundleError.exit_code == 8
    return err


def test_tampered_bundle_exit_code_and_reason(made, capsys, tmp_path):
    bad = tmp_path / "tampered.bundle"
    flip_in_member(made["bundle"], "boards/sim.toml", 10, 0x20, bad)
    err = _refused(["bundle", "verify", str(bad), "--pubkey", made["pub"]], capsys)
    assert "error:" in err and "file boards/sim.toml was altered: expected sha256" in err


def test_unsigned_bundle_exit_code_and_reason(made, capsys, tmp_path):
    bad = tmp_path / "unsigned.bundle"
    with tarfile.open(made["bundle"], "r:") as src, tarfile.open(bad, "w") as dst:
        for ti in src.getmembers():
            if ti.name != "manifest.sig":
                dst.addfile(ti, src.extractfile(ti))
    assert "unsigned" in _refused(["bundle", "verify", str(bad), "--pubkey", made["pub"]], capsys)


def test_wrong_board_exit_code_and_reason(made, capsys):
    err = _refused(["bundle", "verify", str(made["bundle"]), "--pubkey", made["pub"],
                    "--board", "rpi4-iwr6843isk"], capsys)
    assert "built for board 'sim', this board is 'rpi4-iwr6843isk'" in err
    assert "hint: build a bundle with --board" in err


def test_downgrade_exit_code_and_reason(made, capsys):
    err = _refused(["bundle", "verify", str(made["bundle"]), "--pubkey", made["pub"], "--installed-counter", "6"],
                   capsys)
    assert "downgrade refused: bundle security counter 5 is lower than the installed 6" in err


def test_unknown_key_exit_code_and_reason(made, capsys, tmp_path):
    assert main(["keys", "generate", "--out", str(tmp_path / "k2")]) == 0
    err = _refused(["bundle", "verify", str(made["bundle"]), "--pubkey", str(tmp_path / "k2/bundle-signing.pub")],
                   capsys)
    assert "signed by unknown key" in err


def test_not_a_bundle_exit_code(made, capsys, tmp_path):
    junk = tmp_path / "junk.bundle"
    junk.write_bytes(b"\x00garbage" * 50)
    assert "not a tar archive" in _refused(["bundle", "verify", str(junk), "--pubkey", made["pub"]], capsys)


def test_build_errors_are_config_errors(made, capsys, tmp_path):
    capsys.readouterr()
    rc = main(["bundle", "build", "--board", "sim", "--model", str(tmp_path / "none.tflite"), "--key", made["key"],
               "--out", str(tmp_path / "b.bundle"), "--security-counter", "1"])
    assert rc == 2 and "none.tflite: no such file" in capsys.readouterr().err
    rc = main(["keys", "generate", "--out", str(made["dir"] / "keys")])
    assert rc == 2 and "refusing to overwrite" in capsys.readouterr().err
