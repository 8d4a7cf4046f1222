"""The DSP chain on simulator recordings (hardware_sim fast mode, seeds 71xx used only here)."""

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


@pytest.mark.parametrize("preset,seed", [("brady", 7105)])
def test_classical_heart_rate_within_2_bpm(cfg, preset, seed):
    rec, out = _run(preset, seed, cfg)
    f = out[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    assert abs(f.vitals.heart_rate_bpm - rec.heart_rate_bpm(t1 - 25.6, t1)) <= 2.0


@pytest.mark.xfail(strict=True, reason="known weakness: on these simulated subjects the heartbeat is not "
                   "visible in the selected (breathing-dominated) voxels; HR locks onto breathing harmonics")
@pytest.mark.parametrize("preset,seed", [("healthy-rest", 7103), ("tachy", 7106), ("sleep", 7112)])
def test_classical_heart_rate_within_2_bpm_known_failures(cfg, preset, seed):
    rec, out = _run(preset, seed, cfg)
    f = out[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    assert abs(f.vitals.heart_rate_bpm - rec.heart_rate_bpm(t1 - 25.6, t1)) <= 2.0


def test_cli_quantize_sqnr_and_bench_dsp_json(capsys):
    import json

    from cardioradar.cli import main

    assert main(["quantize", "sqnr", "--json", "--presets", "brady", "--seed", "7105", "--seconds", "10"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["passed"] and rep["sqnr_db_min"] >= GATE_DB and "beamform" in rep["kernels"]
    assert main(["bench", "dsp", "--json", "--seconds", "12", "--seed", "7105", "--preset", "brady"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"rtf", "frames_per_s", "sqnr_db_min"} and last["rtf"] > 0
