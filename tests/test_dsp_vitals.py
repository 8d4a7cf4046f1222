"""Classical HR / BR on clean synthetic chests (quantize.synthetic), held-out seeds."""

import numpy as np
import pytest

from boards import load_profile
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
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
