"""The module's 15 streamed range bins hold the subject (not the floor or a wall behind)."""

import numpy as np
import pytest

from hardware_sim.record import build_module, iter_frames, start_module


@pytest.mark.parametrize("preset", ["healthy-rest", "sleep", "restless"])
def test_range_window_contains_the_chest(preset):
    for seed in range(8):
        module, subj = build_module(preset, seed=seed, mode="fast")
        start_module(module)
        frame = next(iter(iter_frames(module, 0.02)))
        range_bin = np.linalg.norm(subj.chest_centre_m(np.array([0.0]))[0]) / module.config.profile.range_resolution_m
        assert frame.first_bin + 1 <= range_bin <= frame.first_bin + frame.num_bins - 2, (preset, seed)
