"""Simulator recordings for the SQNR report, the DSP tests and ``bench dsp`` (host side).

Frames come from the simulator's front end in its fast analytic mode
(``hardware_sim.frontend.FrontEnd``), with the 15 streamed range bins centred on the
subject's chest -- the DSP is tested on the chest, whatever the module's own range
selection picks -- plus the truth the checks need. Presets are subject presets of
``hardware_sim.subject.params.PRESETS``; the same (preset, seed) gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boards import BoardProfile, load_profile
from boards.radarcfg import load_cfg


@dataclass(frozen=True)
class SimRecording:
    """frames: int16 (n, R, V, 2); t_s: (n,) frame times, s; r_peaks_s: R-peak times;
    resp_mm: (n,) breathing excursion; chest_centre_m: (n, 3) radar frame;
    subject_bin: window index of the chest's range bin; az_deg / el_deg: the chest's
    direction at t = 0; heart_rate_bpm / breathing_rate_bpm: means over the recording."""

    preset: str
    seed: int
    frames: np.ndarray
    t_s: np.ndarray
    r_peaks_s: np.ndarray
    resp_mm: np.ndarray
    chest_centre_m: np.ndarray
    subject_bin: int
    az_deg: float
    el_deg: float

    def heart_rate_bpm(self, t0_s: float, t1_s: float) -> float:
        r = self.r_peaks_s[(self.r_peaks_s >= t0_s) & (self.r_peaks_s < t1_s)]
        return float(60.0 / np.mean(np.diff(r)))

    def breathing_rate_bpm(self, t0_s: float, t1_s: float) -> float:
        sel = (self.t_s >= t0_s) & (self.t_s < t1_s)
        x = self.resp_mm[sel] - self.resp_mm[sel].mean()
        n_fft = 1 << 16
        p = np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft)) ** 2
        f = np.fft.rfftfreq(n_fft, self.t_s[1] - self.t_s[0])
        band = (f > 0.05) & (f < 1.0)
        return float(60.0 * f[band][np.argmax(p[band])])


def simulate(preset: str, seconds: float, seed: int, board: str | BoardProfile = "sim",
             clutter: str = "default") -> SimRecording:
    from hardware_sim.firmware.module import antennas_for
    from hardware_sim.frontend import FrontEnd
    from hardware_sim.record import make_subject
    from hardware_sim.scene import Scene

    profile = board if isinstance(board, BoardProfile) else load_profile(board)
    cfg = load_cfg(profile.cfg_path)
    s_subject, s_scene, s_fe = (int(c.generate_state(1)[0]) for c in np.random.SeedSequence(seed).spawn(3))
    subj = make_subject(preset, s_subject)
    scene = Scene(subj, s_scene, clutter=clutter)
    fe = FrontEnd(cfg, antennas_for(profile, cfg), mode="fast", seed=s_fe)
    n = int(round(seconds * profile.dsp.frame_rate_hz))
    t = np.arange(n) / profile.dsp.frame_rate_hz
    centre = np.asarray(subj.chest_centre_m(t), float).reshape(-1, 3)
    rng0 = float(np.linalg.norm(centre[0]))
    n_bins = profile.dsp.range_bins
    first = fe.bin_of_range(rng0) - n_bins // 2
    bins = np.arange(first, first + n_bins)
    frames = np.concatenate([fe.frames(scene, np.arange(i, min(i + 500, n)), t[i:i + 500], bins)
                             for i in range(0, n, 500)])
    beats = subj.electrical.beats_between(0.0, seconds)
    c0 = centre[0]
    return SimRecording(
        preset, seed, frames, t, np.array([b.r_time_s for b in beats]),
        np.asarray(subj.resp_mm(t), float).reshape(-1), centre, n_bins // 2,
        float(np.degrees(np.arctan2(c0[0], c0[1]))), float(np.degrees(np.arcsin(c0[2] / rng0))),
    )
