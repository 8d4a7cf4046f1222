"""Board profiles load, validate, and name the bad key and file on error."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from boards import available_profiles, load_profile
from boards.radarcfg import load_cfg
from cardioradar.errors import ConfigError


@pytest.mark.parametrize("name", ["sim", "rpi4-iwr6843isk", "rpizero2w-iwr6843aop"])
def test_shipped_profiles_load(name):
    p = load_profile(name)
    assert p.name == name
    assert p.virtual_positions().shape == (12, 2)
    cfg = load_cfg(p.cfg_path)
    assert cfg.frame.frame_rate_hz == 100.0
    assert cfg.chirp_tx_order() == p.antennas.chirp_tx_order
    prof = cfg.profile
    assert 60.0 <= prof.start_freq_ghz and prof.end_freq_ghz <= 64.0
    assert 3.4e9 < prof.useful_bandwidth_hz and prof.swept_bandwidth_hz <= 4.0e9
    assert cfg.range_sel.num_bins == 15
    assert set(available_profiles()) >= {"sim", "rpi4-iwr6843isk", "rpizero2w-iwr6843aop"}


def test_aop_calibration_undoes_phase_rotation():
    p = load_profile("rpizero2w-iwr6843aop")
    np.testing.assert_allclose(p.calibration.gain * p.antennas.phase_rotation_array(), 1.0)


def _copy_profile(tmp_path: Path, edit) -> Path:
    src = load_profile("sim").path
    shutil.copytree(src.parent / "cfg", tmp_path / "cfg")
    dst = tmp_path / "bad.toml"
    dst.write_text(edit(src.read_text()))
    return dst


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: s.replace("frame_rate_hz = 100.0", "frame_rate_hz = 100.0\nframe_rat = 3"), "dsp.frame_rat"),
        (lambda s: s.replace("range_bins = 15\n", ""), "missing key dsp.range_bins"),
        (lambda s: s.replace("range_bins = 15", 'range_bins = "15"'), "dsp.range_bins: expected int, got str"),
        (lambda s: s.replace("chirp_tx_order = [0, 2, 1]", "chirp_tx_order = [0, 1, 2]"), "antennas.virtual_positions"),
        (lambda s: s.replace("range_bins = 15", "range_bins = 16"), "dsp.range_bins: expected 15"),
        (lambda s: s.replace('cfg = "cfg/cardioradar_100hz_isk.cfg"', 'cfg = "cfg/nope.cfg"'), "radar.cfg: no such file"),
        (lambda s: s + "\n[extra]\nx = 1\n", "unknown section [extra]"),
        (lambda s: s.replace("[dsp]", "[dsp"), "not valid TOML"),
        (lambda s: s.replace("lag_samples = 96", "lag_samples = 400"),
         "dsp.lag_samples: expected 0..window_samples - hop_samples (384), got 400"),
        (lambda s: s.replace("refresh_samples = 256", "refresh_samples = 200"),
         "dsp.refresh_samples: expected a multiple of hop_samples (128) up to window_samples (512), got 200"),
    ],
)
def test_bad_profile_names_file_and_key(tmp_path, edit, expected):
    path = _copy_profile(tmp_path, edit)
    with pytest.raises(ConfigError) as e:
        load_profile(path)
    assert expected in str(e.value)
    assert str(path) in str(e.value)


def _with_frame_period(period_ms: str, rate_hz: str):
    def edit(tmp_path: Path) -> Path:
        path = _copy_profile(tmp_path, lambda s: s.replace("frame_rate_hz = 100.0", f"frame_rate_hz = {rate_hz}"))
        cfg = tmp_path / "cfg" / "cardioradar_100hz_isk.cfg"
        cfg.write_text(cfg.read_text().replace("frameCfg 0 2 1 0 10 1 0", f"frameCfg 0 2 1 0 {period_ms} 1 0"))
        return path
    return edit


def test_frame_rate_matches_a_period_that_is_not_a_round_rate(tmp_path):
    # TI's cfgs use periods like 33.333 ms (30.00030000300003 Hz); the check used to want all
    # 16 digits and said "expected 30.0003 ..., got 30.0003" for the 6 a person types.
    assert load_profile(_with_frame_period("33.333", "30.0003")(tmp_path)).dsp.frame_rate_hz == 30.0003
    bad = _with_frame_period("33.333", "30")(tmp_path / "bad")
    with pytest.raises(ConfigError) as e:
        load_profile(bad)
    assert str(e.value) == (f"{bad}: dsp.frame_rate_hz: expected 30.0003 (1000 / framePeriodicity 33.333 ms of "
                            "frameCfg in cardioradar_100hz_isk.cfg, within 1 ppm), got 30")


def test_unknown_profile_name_lists_choices():
    with pytest.raises(ConfigError, match="expected one of .*sim"):
        load_profile("no-such-board")


def test_cfg_error_names_line(tmp_path):
    f = tmp_path / "x.cfg"
    f.write_text("sensorStop\nprofileCfg 0 60 7\n")
    with pytest.raises(ConfigError, match=r"x\.cfg:2: profileCfg: expected 14 arguments, got 3"):
        load_cfg(f)


@pytest.mark.parametrize("line, expected", [
    # SDK 1.x/2.0 files (TI's 14xx/16xx labs): one argument short of the SDK 3.5 command.
    ("adcbufCfg 0 1 0 1", "x.cfg:2: adcbufCfg: expected 5 arguments (subFrameIdx adcOutputFmt SampleSwap "
                          "ChanInterleave ChirpThreshold), got 4"),
    ("guiMonitor 0 0 0 0 1", "x.cfg:2: guiMonitor: expected 7 arguments (subFrameIdx detectedObjects logMagRange "
                             "noiseProfile rangeAzimuthHeatMap rangeDopplerHeatMap statsInfo), got 5"),
    # Hand edits: an indented comment is a command on the device (cli.c skips only a line whose
    # first byte is '%'); a trailing tab was shown stripped ("a tab in 'sensorStop'").
    ("  % moved to the right", "x.cfg:2: '  % moved to the right': a comment needs '%' in column 1, got it in "
                               "column 3; the module's CLI reads this line as the command '%'"),
    ("sensorStop \t", "x.cfg:2: a tab at column 12 of 'sensorStop \\t': the module's CLI separates words by "
                      "spaces only (TI SDK cli.c); replace the tabs with spaces"),
    # A TI lab's own command (people counting, toolbox 4.7).
    ("trackingCfg 1 2 800 30 46 96 55", "x.cfg:2: unknown command 'trackingCfg': expected a command of the "
                                        "module's firmware (TI SDK 3.5 out-of-box demo's, or rangeBinSelCfg); is "
                                        "this .cfg for another firmware, e.g. a TI lab's?"),
])
def test_cfg_errors_of_real_files_say_what_was_expected(tmp_path, line, expected):
    f = tmp_path / "x.cfg"
    f.write_text(f"sensorStop\r\n{line}\r\n")
    with pytest.raises(ConfigError) as e:
        load_cfg(f)
    assert str(e.value) == str(tmp_path / expected)


def test_cfg_saved_by_windows_editors(tmp_path):
    # Notepad writes a UTF-8 byte-order mark ("UTF-8 with BOM") or UTF-16 ("Unicode"). The BOM
    # was read as part of the first word ("unknown command '\\ufeff%'"); UTF-16 ended in a
    # UnicodeDecodeError traceback.
    text = (Path(load_profile("sim").cfg_path)).read_text()
    f = tmp_path / "bom.cfg"
    f.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert load_cfg(f).range_sel.num_bins == 15
    f = tmp_path / "utf16.cfg"
    f.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    with pytest.raises(ConfigError) as e:
        load_cfg(f)
    assert str(e.value) == (f"radar cfg {f}: byte 0xff at offset 0 is not UTF-8 text (the file is saved as UTF-16), "
                            "expected ASCII or UTF-8: save it as such")
