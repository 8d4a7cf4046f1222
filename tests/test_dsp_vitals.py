"""Classical HR / BR on clean synthetic chests (quantize.synthetic), held-out seeds."""

import numpy as np
import pytest

from boards import load_profile
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
from cardioradar.errors import InputDataError
from edge.dsp.vitals import ClassicalVitals
from quantize.synthetic import SyntheticChest, render


@pytest.mark.parametrize("seed,chest", [
    (21, SyntheticChest(heart_bpm=72, breathing_hz=0.25)),
    (22, SyntheticChest(heart_bpm=55, breathing_hz=0.2, az_deg=-20, el_deg=10, breathing_pp_mm=12)),
    (23, SyntheticChest(heart_bpm=95, breathing_hz=0.33, az_deg=0)),
    (24, SyntheticChest(heart_bpm=118, breathing_hz=0.4, az_deg=20, range_m=0.8)),
])
def test_classical_rates_on_synthetic_chests(seed, chest):
    p = load_profile("sim")
    cfg = DspConfig.from_profile(p)
    rec = render(chest, p.virtual_positions(), cfg.wavelength_m, cfg.range_resolution_m, 4000, seed=seed)
    f = process_recording(rec.frames, cfg)[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    r = rec.r_peak_s[(rec.r_peak_s >= t1 - 25.6) & (rec.r_peak_s < t1)]
    assert abs(f.vitals.heart_rate_bpm - 60 / np.mean(np.diff(r))) <= 2.0
    assert abs(f.vitals.breathing_rate_bpm - 60 * chest.breathing_hz) <= 1.0
    assert f.vitals.voxel[0] == rec.subject_bin


def _phase(fs_hz, n, heart_hz, pulse_rad, seed):
    """Breathing (0.25 Hz, 8 rad) plus a train of Gaussian pulses at heart_hz, plus noise."""
    t = np.arange(n) / fs_hz
    beats = np.arange(0.3, t[-1], 1 / heart_hz)
    pulse = sum(np.exp(-0.5 * ((t - b) / 0.06) ** 2) for b in beats)
    rng = np.random.default_rng(seed)
    return 8.0 * np.sin(2 * np.pi * 0.25 * t) + pulse_rad * pulse + 0.002 * rng.standard_normal(n)


def test_vitals_take_the_heart_from_the_voxel_where_it_stands_out():
    fs, n = 100.0, 2560
    weak = _phase(fs, n, 1.3, 0.0, 1)  # breathing only
    strong = _phase(fs, n, 1.3, 0.3, 2)
    steps = np.diff(np.stack([weak, strong], 1), axis=0)
    v = ClassicalVitals(fs, (0.1, 0.6), (0.8, 3.0)).update(steps, n / fs, [(7, 3), (6, 3)], best=0)
    assert v.heart_voxel == (6, 3) and v.voxel == (7, 3)
    assert abs(v.heart_rate_bpm - 78.0) <= 1.0 and abs(v.breathing_rate_bpm - 15.0) <= 0.5


def test_vitals_reject_steps_that_do_not_match_the_voxels():
    with pytest.raises(InputDataError, match=r"expected \(n, 2\)"):
        ClassicalVitals(100.0, (0.1, 0.6), (0.8, 3.0)).update(np.zeros((10, 3)), 0.1, [(1, 2), (3, 4)])
