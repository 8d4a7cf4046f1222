"""The DSP chain on simulator recordings (hardware_sim fast mode, seeds 71xx and 82xx used only here)."""

import numpy as np
import pytest

from boards import load_profile
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
from quantize.sqnr import GATE_DB, run_report

simdata = pytest.importorskip("quantize.simdata")

CASES = [("healthy-rest", 7103), ("sleep", 7104), ("brady", 7105), ("tachy", 7106),
         ("healthy-rest", 7111), ("sleep", 7112)]
_cache = {}


@pytest.fixture(scope="module")
def cfg():
    return DspConfig.from_profile(load_profile("sim"))


def _run(preset, seed, cfg):
    if (preset, seed) not in _cache:
        rec = simdata.simulate(preset, 45.0, seed)
        _cache[preset, seed] = (rec, process_recording(rec.frames, cfg))
    return _cache[preset, seed]


def test_sqnr_of_every_kernel_on_simulator_recordings(cfg):
    recs = [simdata.simulate(p, 12.0, s) for p, s in CASES[:2]]
    report = run_report(cfg, recs)
    low = {k.kernel: round(k.sqnr_db, 1) for k in report.kernels if k.sqnr_db < GATE_DB}
    assert not low, f"kernels under {GATE_DB} dB: {low}"
    assert report.deterministic and report.int8_mismatches == 0
    assert len(report.kernels) == 13


@pytest.mark.parametrize("preset,seed", CASES)
def test_strongest_voxel_is_the_subject(cfg, preset, seed):
    """Strongest moving echo at the chest: range bin within one of the chest centre's
    (the chest is ~2 bins deep); azimuth within one grid step (10 deg) of the grid point
    nearest the chest centre's azimuth (the ISK's 8-element azimuth beam is ~14 deg wide
    and a chest at 0.6 m spans ~25 deg). Elevation is not checked: the ISK's elevation
    aperture is a single row lambda/2 away, so it has next to no elevation resolution."""
    rec, out = _run(preset, seed, cfg)
    az_grid = cfg.steering.az_deg
    nearest = az_grid[np.argmin(np.abs(az_grid - rec.az_deg))]
    for f in out:
        r, a = f.grid.strongest
        az, _ = cfg.steering.angle_deg(a)
        assert abs(r - rec.subject_bin) <= 1, (f.window_index, r)
        assert abs(az - nearest) <= (az_grid[1] - az_grid[0]) + 1e-9, (f.window_index, az, rec.az_deg)


@pytest.mark.parametrize("preset,seed", CASES)
def test_classical_breathing_rate_within_1_per_min(cfg, preset, seed):
    rec, out = _run(preset, seed, cfg)
    for f in out[-4:]:
        t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
        truth = rec.breathing_rate_bpm(t1 - 25.6, t1)
        assert abs(f.vitals.breathing_rate_bpm - truth) <= 1.0, (f.window_index, f.vitals.breathing_rate_bpm, truth)


def _last_hr(preset, seed, cfg):
    rec, out = _run(preset, seed, cfg)
    f = out[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    return f.vitals.heart_rate_bpm, rec.heart_rate_bpm(t1 - 25.6, t1)


@pytest.mark.parametrize("preset,seed", [("tachy", 7106), ("sleep", 7112), ("healthy-rest", 7111), ("sleep", 7104)])
def test_classical_heart_rate_within_2_bpm(cfg, preset, seed):
    est, truth = _last_hr(preset, seed, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


# Held-out seeds 82xx (used only here): HR within 2 bpm and BR within 1/min on the last window;
# the issue asks for HR on at least 10 of these 12.
HELD_OUT = [("healthy-rest", 8200), ("healthy-rest", 8201), ("healthy-rest", 8202), ("sleep", 8203),
            ("sleep", 8204), ("sleep", 8205), ("brady", 8206), ("brady", 8207), ("brady", 8208),
            ("tachy", 8209), ("tachy", 8210), ("tachy", 8211)]
HR_MISSES = {
    8200: "healthy-rest 8200: HR falls from 90 to 75 bpm over the recording; the spans before the last "
          "four read the systole (valve autocorrelation higher at S1->S2, ~0.35 s, than at the beat: "
          "~170 bpm), so the median of 5 is 72.7 vs 74.8 bpm",
    8201: "healthy-rest 8201: no beat in the valve band (summary autocorrelation at the beat <= 0.07 in "
          "every span, heart SNR ~3 dB): the highest peak is the systole, HR reads ~160 vs 73 bpm",
}


@pytest.mark.parametrize("preset,seed", [
    pytest.param(p, s, marks=pytest.mark.xfail(strict=True, reason=HR_MISSES[s])) if s in HR_MISSES else (p, s)
    for p, s in HELD_OUT])
def test_classical_heart_rate_on_held_out_seeds(cfg, preset, seed):
    est, truth = _last_hr(preset, seed, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


@pytest.mark.parametrize("preset,seed", HELD_OUT)
def test_classical_breathing_rate_on_held_out_seeds(cfg, preset, seed):
    rec, out = _run(preset, seed, cfg)
    f = out[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    assert abs(f.vitals.breathing_rate_bpm - rec.breathing_rate_bpm(t1 - 25.6, t1)) <= 1.0


def test_classical_heart_rate_below_the_cardiac_band(cfg):
    """brady 8207: 44.9 bpm, under the profile's cardiac band (0.8 Hz = 48 bpm); the HR search
    starts at 0.65 Hz (39 bpm) whatever the band's low edge."""
    est, truth = _last_hr("brady", 8207, cfg)
    assert truth < 60 * cfg.cardiac_band_hz[0]
    assert abs(est - truth) <= 2.0, (est, truth)


@pytest.mark.xfail(strict=True, reason="healthy-rest 7103: RR lengthens from 0.87 to 1.09 s in the last 6 s; "
                   "the last span reads 65.8 but the median of the last 5 estimates is 67.6 vs 64.5 bpm")
def test_classical_heart_rate_known_failure_7103(cfg):
    est, truth = _last_hr("healthy-rest", 7103, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


@pytest.mark.xfail(strict=True, reason="brady 7105: the valve autocorrelation peaks higher at the systole "
                   "(0.37 s, S1->S2: 0.17) than at the beat (1.08 s: 0.07) in every span; HR reads 165 "
                   "(1/systole) vs 55.7 bpm")
def test_classical_heart_rate_known_failure_7105(cfg):
    est, truth = _last_hr("brady", 7105, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


def test_cli_quantize_sqnr_and_bench_dsp_json(capsys):
    import json

    from cardioradar.cli import main

    assert main(["quantize", "sqnr", "--json", "--presets", "brady", "--seed", "7105", "--seconds", "10"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["passed"] and rep["sqnr_db_min"] >= GATE_DB and "beamform" in rep["kernels"]
    assert main(["bench", "dsp", "--json", "--seconds", "12", "--seed", "7105", "--preset", "brady"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"rtf", "frames_per_s", "sqnr_db_min"} and last["rtf"] > 0
