"""A point-scatterer chest rendered straight into the 15 x 12 complex heatmap.

Not the simulator (``hardware_sim``): a deliberately simple, fast, fully known input
for unit tests of the DSP kernels and as the SQNR report's fallback when the simulator
is not installed. A range bin b sees a point at range r with amplitude
sinc((r - r_b) / dr) and phase 4 pi r / lambda; antenna (p_az, p_el) adds the
steering phase of docs/architecture.md. Static clutter and complex Gaussian noise are
added, then everything is rounded to int16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticChest:
    range_m: float = 0.5
    az_deg: float = 10.0
    el_deg: float = 0.0
    breathing_pp_mm: float = 8.0
    breathing_hz: float = 0.25
    heart_bpm: float = 72.0
    heart_pp_mm: float = 0.3
    rr_jitter: float = 0.03  # relative s.d. of the beat-to-beat interval
    amplitude_lsb: float = 4000.0
    noise_lsb: float = 8.0
    clutter_lsb: float = 3000.0


@dataclass(frozen=True)
class SyntheticRecording:
    """frames: int16 (n, R, V, 2); t_s: (n,) frame times; r_peak_s: beat times;
    displacement_m: (n,) chest motion toward the radar; subject_bin: range bin index
    of the chest; first_bin_range_m: range of bin 0."""

    frames: np.ndarray
    t_s: np.ndarray
    r_peak_s: np.ndarray
    displacement_m: np.ndarray
    subject_bin: int
    first_bin_range_m: float
    chest: SyntheticChest


def _beats(chest: SyntheticChest, t_end_s: float, rng: np.random.Generator) -> np.ndarray:
    rr0 = 60.0 / chest.heart_bpm
    t, out = rng.uniform(0, rr0), []
    while t < t_end_s + 1.0:
        out.append(t)
        t += rr0 * (1.0 + chest.rr_jitter * rng.standard_normal())
    return np.asarray(out)


def render(chest: SyntheticChest, virtual_pos: np.ndarray, wavelength_m: float, range_res_m: float,
           n_frames: int, fs_hz: float = 100.0, n_bins: int = 15, seed: int = 0) -> SyntheticRecording:
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fs_hz
    r_peaks = _beats(chest, t[-1] if n_frames else 0.0, rng)
    breath = 0.5e-3 * chest.breathing_pp_mm * np.sin(2 * np.pi * chest.breathing_hz * t + rng.uniform(0, 6.28))
    # heartbeat: a quick outward pulse 150 ms after each R peak with a slower return
    heart = np.zeros(n_frames)
    for tr in r_peaks:
        u = t - tr - 0.15
        heart += np.where(u < 0, np.exp(-0.5 * (u / 0.04) ** 2), np.exp(-0.5 * (u / 0.12) ** 2))
    heart *= 1e-3 * chest.heart_pp_mm
    disp = breath + heart
    centre = n_bins // 2
    first_bin_m = round(chest.range_m / range_res_m) * range_res_m - centre * range_res_m
    r_b = first_bin_m + range_res_m * np.arange(n_bins)
    pos = np.asarray(virtual_pos, float)

    def echo(r_m, az_deg, el_deg, amp):
        az, el = np.deg2rad(az_deg), np.deg2rad(el_deg)
        steer = np.exp(1j * np.pi * (pos[:, 0] * np.sin(az) * np.cos(el) + pos[:, 1] * np.sin(el)))
        r_m = np.atleast_1d(r_m)
        rng_resp = np.sinc((r_m[:, None] - r_b[None, :]) / range_res_m)
        ph = np.exp(-1j * 4 * np.pi * r_m / wavelength_m)
        return amp * (rng_resp * ph[:, None])[:, :, None] * steer[None, None, :]

    x = echo(chest.range_m - disp, chest.az_deg, chest.el_deg, chest.amplitude_lsb)
    x = x + echo(np.array([chest.range_m + 4 * range_res_m]), -20.0, 0.0, chest.clutter_lsb)
    x = x + chest.noise_lsb * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)) / np.sqrt(2)
    frames = np.clip(np.floor(np.stack([x.real, x.imag], -1) + 0.5), -32768, 32767).astype(np.int16)
    return SyntheticRecording(frames, t, r_peaks, disp, centre, float(first_bin_m), chest)
