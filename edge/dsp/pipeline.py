"""The DSP chain from module frames to model windows (and classical vital signs).

Frames are pushed as they arrive; once ``window + warmup`` frames are buffered, and then
every ``hop`` frames, one window is produced:

1. calibrate every frame once on arrival (int16);
2. voxel selection from the full grid beamformed at fs / ``quality_decimation`` over
   the window (``select``), with hysteresis and re-selection on movement;
3. the selected voxels beamformed at the full rate over warmup + window, CORDIC phase,
   unwrapping, eq.-4 differentiator on phase, I and Q, breathing suppression; the
   warm-up is dropped, so every window is a pure function of its raw frames and the
   voxel choice (no state carried from window to window but the choice itself);
4. per-window normalisation (Q15) and, given a ``ModelInputSpec``, the int8 tensor;
5. classical BR from the best voxel's phase increments, HR from all selected voxels
   together (``vitals``), held to the caller's last trusted HR (``trust_hr``: the model's)
   for ``TRUST_S`` of windows.

The full grid is only computed at the reduced rate, once per hop, for selection; the
per-frame work is on the ``n_voxels`` selected voxels.

``demod_hook`` (default None: not called, the board's path) is a test point on the
demodulated signal of step 3, before the differentiator: the host's noise-robustness
evaluation adds its noise there (``host.noise``); the board never sets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cardioradar.errors import InputDataError
from edge.dsp.beamform import beamform_q15
from edge.dsp.biquad import sos_filter_q29
from edge.dsp.calibrate import calibrate_q14
from edge.dsp.config import DspConfig
from edge.dsp.cordic import cordic
from edge.dsp.differentiator import DELAY_SAMPLES, second_derivative_q
from edge.dsp.normalize import normalize_q15
from edge.dsp.select import GridQuality, VoxelChoice, VoxelSelector, grid_quality_q
from edge.dsp.tensor import ModelInputSpec, to_model_input
from edge.dsp.unwrap import phase_q24_to_rad, unwrap_bam
from edge.dsp.vitals import ClassicalVitals, VitalSigns

log = logging.getLogger(__name__)

TRUST_S = 60.0  # a trusted HR guides the classical one for this long (frame clock) after it came

# (chans int32 (n, 3K): unwrapped phase Q7.24 | beam I Q.4 | beam Q Q.4 of the K selected
# voxels, stream frame index of row 0) -> int32 (n, 3K), what the differentiator gets instead
DemodHook = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class DspFeatures:
    """One window of model features.

    start_frame: stream frame index of ``features_q15[0]`` (the differentiator's centre;
        the window ends 3 frames before the newest frame used).
    features_q15: (window_samples, n_voxels, 3) int16 Q15 in [-1, 1), channels
        (phase_dd, i_dd, q_dd) as in ``tensor.FeatureLayout``, at fs_hz.
    raw_dd: (window_samples, n_voxels, 3) int32 before normalisation: phase_dd in Q7.24
        half-turns, i_dd / q_dd in beamformer Q.4 units, each 16 dt**2 f'' after
        breathing suppression.
    phase_q24: (window_samples, n_voxels) int32 unwrapped phase, Q7.24 half-turns
        (origin arbitrary per window), aligned with ``features_q15``.
    model_input: int8 tensor of the model spec's layout, or None without a spec.
    refreshed: whether this window re-chose the voxels and updated the classical vitals
        (every ``DspConfig.refresh_samples``); otherwise ``choice``, ``grid`` and ``vitals``
        are the last refresh's.
    """

    window_index: int
    start_frame: int
    features_q15: np.ndarray
    raw_dd: np.ndarray
    phase_q24: np.ndarray
    choice: VoxelChoice
    grid: GridQuality
    vitals: VitalSigns
    model_input: np.ndarray | None
    refreshed: bool = True


def voxel_chain_q(cal: np.ndarray, cfg: DspConfig, range_idx: np.ndarray, angle_idx: np.ndarray,
                  demod_hook: DemodHook | None = None, first_frame: int = 0):
    """Selected voxels over a span: -> (dd int32 (n - 6, K, 3) after breathing
    suppression, phase int32 (n, K) Q7.24). ``demod_hook``: see ``DemodHook``
    (``first_frame``: the stream index of ``cal[0]``, passed to it)."""
    beams = beamform_q15(cal, cfg.steering.weights_q15, range_idx, angle_idx, 1)
    _, ph = cordic(beams)
    phase = unwrap_bam(ph)
    k = len(range_idx)
    chans = np.concatenate([phase, beams[:, :, 0], beams[:, :, 1]], axis=1)  # (n, 3K)
    if demod_hook is not None:
        hooked = demod_hook(chans, first_frame)
        if hooked.shape != chans.shape or hooked.dtype != np.int32:
            raise InputDataError(f"dsp demod_hook: expected int32 {chans.shape}, got {hooked.dtype} {hooked.shape}")
        chans, phase = hooked, hooked[:, :k]  # the vitals see the same signal as the model
    dd = sos_filter_q29(second_derivative_q(chans), cfg.breathing_sos_q29)
    return dd.reshape(len(dd), 3, k).transpose(0, 2, 1), phase


class DspPipeline:
    """Streaming chain: ``push(frames)`` returns the windows completed by those frames."""

    def __init__(self, cfg: DspConfig, input_spec: ModelInputSpec | None = None,
                 demod_hook: DemodHook | None = None):
        self.cfg = cfg
        self.input_spec = input_spec
        self.demod_hook = demod_hook
        self.selector = VoxelSelector(cfg.n_voxels, cfg.steering.n_angles, cfg.n_az, cfg.hysteresis_db)
        self.vitals = ClassicalVitals(cfg.fs_hz, cfg.breathing_band_hz, cfg.cardiac_band_hz)
        self._keep = cfg.window_samples + cfg.warmup_samples + DELAY_SAMPLES
        self._buf = np.zeros((0, cfg.range_bins, cfg.n_virtual, 2), np.int16)
        self._n_seen = 0  # frames pushed so far
        self._next_end = cfg.window_samples + cfg.warmup_samples + DELAY_SAMPLES
        self._windows = 0
        self._trusted: tuple[float, int] | None = None  # (HR bpm, window index when given)
        self._grid = self._choice = self._vit = None  # the last refresh's

    def trust_hr(self, hr_bpm: float) -> None:
        """The caller's latest HR known to be right (the model's); the classical HR of the
        next windows keeps to it where the radar shows a beat there (``vitals.heart_rate``'s
        hint), so a movement that hands the HR to the classical path does not jump to the
        systole. Ignored when not a finite rate > 0."""
        if np.isfinite(hr_bpm) and hr_bpm > 0:
            self._trusted = (float(hr_bpm), self._windows)

    def push(self, frames: np.ndarray) -> list[DspFeatures]:
        """frames: int16 (n, range_bins, n_virtual, 2) in arrival order."""
        c = self.cfg
        if frames.ndim != 4 or frames.shape[1:] != (c.range_bins, c.n_virtual, 2) or frames.dtype != np.int16:
            raise InputDataError(
                f"dsp frames: expected int16 (n, {c.range_bins}, {c.n_virtual}, 2), got {frames.dtype} {frames.shape}"
            )
        out = []
        cal = calibrate_q14(np.ascontiguousarray(frames), c.gain_q14)
        pos = 0
        while pos < len(cal):
            take = min(len(cal) - pos, self._next_end - self._n_seen)
            self._buf = np.concatenate([self._buf, cal[pos:pos + take]])[-self._keep:]
            self._n_seen += take
            pos += take
            if self._n_seen == self._next_end:
                out.append(self._window())
                self._next_end += c.hop_samples
        return out

    def _window(self) -> DspFeatures:
        c, w = self.cfg, self.cfg.window_samples
        buf = self._buf  # the last window + warmup + 3 frames, calibrated
        # Voxel choice and classical vitals keep their own cadence (refresh_samples), so a
        # shorter hop (lower latency) costs only the model's part and the windows a dataset
        # takes every refresh_samples see the same choices as the board's.
        refresh = self._windows * c.hop_samples % c.refresh_samples == 0  # window 0 included
        if refresh:
            self._grid = grid_quality_q(np.ascontiguousarray(buf[-w:]), c.steering.weights_q15, c.steering.n_angles,
                                        c.quality_decimation, c.quality_card_sos_q29, c.quality_noise_sos_q29,
                                        c.quality_skip)
            self._choice = self.selector.update(self._grid)
            if self._choice.changed:
                log.info("window %d: voxels %s (%s)", self._windows,
                         list(zip(self._choice.range_idx.tolist(), self._choice.angle_idx.tolist())),
                         self._choice.reason)
        grid, choice = self._grid, self._choice
        dd, phase = voxel_chain_q(buf, c, choice.range_idx, choice.angle_idx, self.demod_hook, self._n_seen - len(buf))
        dd = np.ascontiguousarray(dd[-w:])
        phase = phase[-w - DELAY_SAMPLES:len(phase) - DELAY_SAMPLES]
        feats = normalize_q15(dd.reshape(w, -1)).reshape(dd.shape)
        ph_rad = phase_q24_to_rad(phase)
        start_frame = self._n_seen - w - DELAY_SAMPLES
        if refresh:
            new = w if self._windows == 0 else c.refresh_samples
            voxels = list(zip(choice.range_idx.tolist(), choice.angle_idx.tolist()))
            trusted = None
            if self._trusted is not None and (self._windows - self._trusted[1]) * c.hop_samples <= TRUST_S * c.fs_hz:
                trusted = self._trusted[0]
            self._vit = self.vitals.update(np.diff(ph_rad[-new - 1:], axis=0), (start_frame + w) / c.fs_hz, voxels,
                                           choice.best_slot, trusted)
        model_in = to_model_input(feats, self.input_spec) if self.input_spec is not None else None
        self._windows += 1
        return DspFeatures(self._windows - 1, start_frame, feats, dd, phase, choice, grid, self._vit, model_in,
                           refresh)


def process_recording(frames: np.ndarray, cfg: DspConfig, input_spec: ModelInputSpec | None = None,
                      chunk_frames: int = 100, demod_hook: DemodHook | None = None) -> list[DspFeatures]:
    """Run a whole recording through a fresh pipeline in chunks (as a stream would)."""
    pipe = DspPipeline(cfg, input_spec, demod_hook)
    out = []
    for i in range(0, len(frames), chunk_frames):
        out.extend(pipe.push(frames[i:i + chunk_frames]))
    return out
