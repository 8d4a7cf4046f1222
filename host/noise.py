"""Noise for the robustness protocol of radarODE-MTL (sec. IV-D), in two named definitions.

- Constant: white Gaussian noise at ``snr_db`` (6, 3, 0, -1, -2, -3 dB in the paper).
- Bursts ("abrupt noise"): 20 % of the segments (seeded choice) get one burst of ``burst_s``
  (1, 2 or 3 s) at a random place inside the segment, at ``burst_db`` (0 dB = mild body
  movement, -9 dB = extensive).

Where the noise goes and what the SNR is measured against (``NoiseSpec.on``):

``paper`` (default): on the demodulated signal of the selected voxels that feeds the
    differentiator -- unwrapped phase, beam I and beam Q of each voxel, every one of the 3K
    channels its own independent noise -- through ``edge.dsp.pipeline``'s ``demod_hook``.
    The paper adds the noise "into the raw radar signal" its network sees, the per-point
    radar signal of the MMECG dataset from which "the respiration noise has been filtered";
    so the SNR of a channel is against its power over the segment with breathing removed
    (the board's own breathing high-pass, ``DspConfig.breathing_sos``, after the DSP's
    warm-up): breathing carries 20-25 dB more power than the rest in our phase, so against
    the unfiltered phase "-3 dB" would be ~-25 dB against the heart. A segment is one model
    window (the DSP computes each window afresh from its raw frames, so a window's noise is
    its own, as each of the paper's segment files got its own); bursts lie inside the
    window's own samples, their SNR against the same segment power.
``frames``: on the module's raw int16 frames, every range bin and antenna, SNR against the
    subject's echo: the mean I^2 + Q^2 of the dynamic part (each sample's mean over the
    recording removed) of the range bins the DSP selects on the clean recording -- not the
    frames' whole power, which static reflections dominate. Segments are consecutive
    ``segment_s`` runs of frames.

Everything is seeded: same (input, spec, seed) -> same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardioradar.errors import ConfigError, InputDataError

SNR_LEVELS_DB = (6.0, 3.0, 0.0, -1.0, -2.0, -3.0)
BURST_SECONDS = (1.0, 2.0, 3.0)
BURST_MILD_DB, BURST_EXTENSIVE_DB = 0.0, -9.0
BURST_FRACTION = 0.2
SEGMENT_S = 5.12  # one model window at 100 Hz
NOISE_ON = ("paper", "frames")
_WHERE = {
    "paper": "on the demodulated signal of the selected voxels (phase, I, Q) before the differentiator, "
             "SNR per channel against its power over the model window, breathing removed",
    "frames": "on the raw int16 frames, SNR against the subject's echo "
              "(dynamic part of the selected range bins)",
}


@dataclass(frozen=True)
class NoiseSpec:
    """What to add and where. ``snr_db`` None = no constant noise; ``burst_s`` None = no
    bursts; ``on``: "paper" or "frames" (see the module doc)."""

    snr_db: float | None = None
    burst_s: float | None = None
    burst_db: float = BURST_MILD_DB
    burst_fraction: float = BURST_FRACTION
    segment_s: float = SEGMENT_S
    on: str = "paper"

    def __post_init__(self) -> None:
        if self.on not in NOISE_ON:
            raise ConfigError(f"--noise-on: expected one of {', '.join(NOISE_ON)}, got {self.on!r}")
        if self.burst_s is not None:
            if not 0 < self.burst_s <= self.segment_s:
                raise ConfigError(f"--bursts: expected 0 < seconds <= segment ({self.segment_s} s), got {self.burst_s}")
            if not 0 < self.burst_fraction <= 1:
                raise ConfigError(f"burst_fraction: expected 0 < x <= 1, got {self.burst_fraction}")

    @property
    def active(self) -> bool:
        return self.snr_db is not None or self.burst_s is not None

    def label(self) -> str:
        """Short: "paper: white -3 dB" / "frames: bursts 3 s at -9 dB on 20 %" / "clean"."""
        parts = []
        if self.snr_db is not None:
            parts.append(f"white {self.snr_db:g} dB")
        if self.burst_s is not None:
            parts.append(f"bursts {self.burst_s:g} s at {self.burst_db:g} dB on {100 * self.burst_fraction:g} %")
        return f"{self.on}: {', '.join(parts)}" if parts else "clean"

    def describe(self) -> str:
        """The label plus where the noise goes and what its SNR is against."""
        return f"{self.label()} ({_WHERE[self.on]})" if self.active else "clean"


@dataclass(frozen=True)
class NoisyFrames:
    """frames: int16 like the input. burst_intervals: int64 (k, 2) [start, stop) frame indices
    of each burst. signal_power: the reference of the SNR, mean I^2 + Q^2 of the echo."""

    frames: np.ndarray
    burst_intervals: np.ndarray
    signal_power: float


def signal_power(frames: np.ndarray) -> float:
    """Mean of I^2 + Q^2 over all samples of int16 (..., 2) frames (static reflections included)."""
    x = np.asarray(frames, np.float64)
    return float(np.mean(np.sum(x * x, axis=-1)))


def echo_power(frames: np.ndarray, range_bins) -> float:
    """Mean I^2 + Q^2 of the dynamic part of ``range_bins`` of (n, R, V, 2) frames: each
    sample's mean over the frames removed (the static reflections)."""
    x = np.asarray(frames, np.float64)[:, np.asarray(range_bins, np.int64)]
    d = x - x.mean(axis=0)
    return float(np.mean(np.sum(d * d, axis=-1)))


def echo_range_bins(frames: np.ndarray, cfg) -> np.ndarray:
    """int64 range bins the board's DSP (``cfg``: ``edge.dsp.config.DspConfig``) selects over
    the clean recording; a recording too short for a window: the bin of largest dynamic power."""
    from edge.dsp.pipeline import process_recording

    bins = {int(r) for f in process_recording(frames, cfg) for r in f.choice.range_idx}
    if not bins:
        x = np.asarray(frames, np.float64)
        bins = {int(np.argmax(np.mean(np.sum((x - x.mean(axis=0)) ** 2, axis=-1), axis=(0, 2))))}
    return np.array(sorted(bins), np.int64)


def _noise(rng: np.random.Generator, shape: tuple, power: float) -> np.ndarray:
    # complex power `power` = I and Q each power / 2
    return rng.normal(0.0, np.sqrt(power / 2.0), size=shape)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _n_bursts(n_segments: int, fraction: float) -> int:
    k = int(round(fraction * n_segments))
    return 1 if n_segments and k == 0 else k  # a short recording still gets its burst


def burst_intervals(n_frames: int, fs_hz: float, spec: NoiseSpec, rng: np.random.Generator) -> np.ndarray:
    """int64 (k, 2) frame intervals: round(fraction x segments) whole segments, one burst each."""
    seg = int(round(spec.segment_s * fs_hz))
    n_seg = n_frames // seg
    k = _n_bursts(n_seg, spec.burst_fraction)
    length = int(round(spec.burst_s * fs_hz))
    chosen = np.sort(rng.choice(n_seg, size=k, replace=False)) if k else np.zeros(0, np.int64)
    starts = chosen * seg + rng.integers(0, seg - length + 1, size=k)
    return np.stack([starts, starts + length], axis=1).astype(np.int64).reshape(-1, 2)


def add_noise(frames: np.ndarray, spec: NoiseSpec, fs_hz: float, seed: int, echo_bins=None) -> NoisyFrames:
    """The ``frames`` definition. ``frames``: int16 (n, range_bins, n_virtual, 2);
    ``echo_bins``: the subject's range bins (``echo_range_bins``; None: the bin of largest
    dynamic power). Same (frames, spec, seed, bins) -> same bytes."""
    if spec.on != "frames":
        raise ConfigError(f"add_noise: the frames definition, got a spec on {spec.on!r} (use apply_noise)")
    if frames.dtype != np.int16 or frames.ndim != 4 or frames.shape[-1] != 2:
        raise InputDataError(f"add_noise: frames: expected int16 (n, range, virtual, 2), got {frames.dtype} {frames.shape}")
    if echo_bins is None:
        x = frames.astype(np.float64)
        echo_bins = [int(np.argmax(np.mean(np.sum((x - x.mean(axis=0)) ** 2, axis=-1), axis=(0, 2))))]
    p_sig = echo_power(frames, echo_bins)
    rng_const, rng_burst = (np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(2))
    x = frames.astype(np.float64)
    if spec.snr_db is not None:
        x += _noise(rng_const, x.shape, p_sig / 10 ** (spec.snr_db / 10))
    intervals = np.zeros((0, 2), np.int64)
    if spec.burst_s is not None:
        intervals = burst_intervals(len(frames), fs_hz, spec, rng_burst)
        p_burst = p_sig / 10 ** (spec.burst_db / 10)
        for a, b in intervals:
            x[a:b] += _noise(rng_burst, x[a:b].shape, p_burst)
    return NoisyFrames(_to_int16(x), intervals, p_sig)


# ---- the paper definition: a demod_hook of edge.dsp.pipeline ------------------------------
def _wrap32(x: np.ndarray) -> np.ndarray:
    return (x + 2**31) % 2**32 - 2**31


class PaperNoise:
    """``edge.dsp.pipeline.DemodHook`` adding the ``paper`` noise to the windows of one
    recording of ``n_frames`` frames (``cfg``: its ``DspConfig``). ``bursts``: window index ->
    (first, stop) rows of its burst in the span the hook was given, filled as windows pass."""

    def __init__(self, spec: NoiseSpec, cfg, n_frames: int, seed: int):
        from edge.dsp.differentiator import DELAY_SAMPLES

        if spec.on != "paper":
            raise ConfigError(f"PaperNoise: the paper definition, got a spec on {spec.on!r}")
        self.spec, self.cfg, self.seed = spec, cfg, int(seed)
        self._delay = DELAY_SAMPLES
        keep = cfg.window_samples + cfg.warmup_samples + DELAY_SAMPLES
        self.n_windows = 0 if n_frames < keep else 1 + (n_frames - keep) // cfg.hop_samples
        self.burst_windows = frozenset()
        if spec.burst_s is not None:
            if spec.burst_s * cfg.fs_hz > cfg.window_samples:
                raise ConfigError(f"--bursts {spec.burst_s:g}: longer than a model window "
                                  f"({cfg.window_samples / cfg.fs_hz:g} s)")
            k = _n_bursts(self.n_windows, spec.burst_fraction)
            pick = np.random.default_rng([self.seed, 1]).choice(self.n_windows, size=k, replace=False)
            self.burst_windows = frozenset(int(i) for i in pick)
        self.bursts: dict[int, tuple[int, int]] = {}

    def reference_power(self, x: np.ndarray) -> np.ndarray:
        """float64 (3K,): per channel of float (n, 3K) (phase continuous), the mean square after
        the board's breathing high-pass, the DSP's warm-up dropped."""
        from scipy.signal import sosfilt, sosfilt_zi

        sos = self.cfg.breathing_sos
        zi = sosfilt_zi(sos)[:, :, None] * x[0][None, None, :]
        hp, _ = sosfilt(sos, x, axis=0, zi=zi)
        return np.mean(hp[min(self.cfg.warmup_samples, len(hp) - 1):] ** 2, axis=0)

    def __call__(self, chans: np.ndarray, first_frame: int) -> np.ndarray:
        n, c3 = chans.shape
        k = c3 // 3
        x = chans.astype(np.int64)
        # the phase is wrap-safe BAM arithmetic: made continuous so its power and the sum see no wrap
        x[1:, :k] = x[0, :k] + np.cumsum(_wrap32(np.diff(x[:, :k], axis=0)), axis=0)
        y = x.astype(np.float64)
        p_ref = self.reference_power(y)
        spec, w = self.spec, self.cfg.window_samples
        if spec.snr_db is not None:
            rng = np.random.default_rng([self.seed, 2, int(first_frame)])
            y += rng.normal(0.0, 1.0, y.shape) * np.sqrt(p_ref / 10 ** (spec.snr_db / 10))
        win = int(first_frame) // self.cfg.hop_samples
        if win in self.burst_windows:
            rng = np.random.default_rng([self.seed, 3, int(first_frame)])
            length = int(round(spec.burst_s * self.cfg.fs_hz))
            lo = max(n - self._delay - w, 0)  # the rows whose differentiator output is the window
            a = int(rng.integers(lo, max(n - self._delay - length, lo) + 1))
            y[a:a + length] += rng.normal(0.0, 1.0, y[a:a + length].shape) * np.sqrt(p_ref / 10 ** (spec.burst_db / 10))
            self.bursts[win] = (a, a + length)
        out = np.rint(y).astype(np.int64)
        out[:, :k] = _wrap32(out[:, :k])
        out[:, k:] = np.clip(out[:, k:], -2**31, 2**31 - 1)
        return out.astype(np.int32)


def apply_noise(frames: np.ndarray, spec: NoiseSpec | None, cfg, seed: int):
    """(frames to run through the DSP, demod_hook or None) for one recording segment:
    ``frames`` noisy for the frames definition, a ``PaperNoise`` hook for the paper one."""
    if spec is None or not spec.active:
        return frames, None
    if spec.on == "frames":
        return add_noise(frames, spec, cfg.fs_hz, seed, echo_range_bins(frames, cfg)).frames, None
    return frames, PaperNoise(spec, cfg, len(frames), seed)


# ---- the same noise on model features (training augmentation) -----------------------------
# frames definition -> the SNR it makes on the demodulated signal, per channel type (phase, I, Q),
# measured on 6 simulated subjects x 30 s (population seed 4242; docs/evaluation.md): medians.
# The phase falls fast below ~0 dB: the noisy I/Q make CORDIC/unwrap slip.
FRAMES_TO_PAPER_DB = ((-3.0, (-20.0, 3.5, 3.5)), (6.0, (6.5, 12.9, 13.1)))


def paper_equivalent_db(snr_db: float, on: str) -> np.ndarray:
    """float (3,): the per-channel-type (phase, I, Q) paper-definition SNR that ``on`` at
    ``snr_db`` makes (linear through ``FRAMES_TO_PAPER_DB``, extrapolated beyond)."""
    if on == "paper":
        return np.full(3, float(snr_db))
    (s0, a), (s1, b) = FRAMES_TO_PAPER_DB
    t = (float(snr_db) - s0) / (s1 - s0)
    return np.asarray(a) + t * (np.asarray(b) - np.asarray(a))


def feature_noise(x: np.ndarray, snr_db: float, on: str, rng: np.random.Generator, rows=None,
                  fs_hz: float = 100.0, hp_hz: float = 0.8) -> np.ndarray:
    """The noise that definition ``on`` at ``snr_db`` adds to one window of normalised model
    features x float (T, V, C) (channels phase, I, Q of each voxel), in x's units: white noise
    at each channel's reference power / SNR, shaped by the differentiator and the breathing
    high-pass (``hp_hz``: the board's cardiac low edge) as the DSP shapes it. The reference
    is recovered from x: its spectrum divided by the differentiator's, over hp_hz .. 0.45 fs
    (the breathing-free signal the paper definition measures). ``rows``: (first, stop) of a
    burst, else the whole window."""
    from scipy.signal import butter, lfilter, sosfilt

    from edge.dsp.differentiator import TAPS

    t = x.shape[0]
    f = np.fft.rfftfreq(t, 1.0 / fs_hz)
    d2 = np.abs(np.exp(-2j * np.pi * np.outer(f / fs_hz, np.arange(len(TAPS)))) @ TAPS.astype(float)) ** 2
    band = (f >= hp_hz) & (f <= 0.45 * fs_hz)
    spec = np.abs(np.fft.rfft(x, axis=0)) ** 2
    p_ref = 2.0 * np.sum(spec[band] / d2[band].reshape((-1,) + (1,) * (x.ndim - 1)), axis=0) / t**2
    snr = paper_equivalent_db(snr_db, on)
    c = x.shape[-1]
    snr = snr if c == 3 else np.full(c, snr[1])
    sigma = np.sqrt(p_ref / 10 ** (snr / 10))
    pad = int(2 * fs_hz)  # filter settling, as the DSP's warm-up
    w = rng.normal(0.0, 1.0, (t + pad,) + x.shape[1:]) * sigma
    if rows is not None:
        keep = np.zeros(t + pad, bool)
        keep[pad + rows[0]:pad + rows[1]] = True
        w[~keep] = 0.0
    shaped = sosfilt(butter(4, hp_hz, "highpass", fs=fs_hz, output="sos"), lfilter(TAPS.astype(float), 1.0, w, axis=0), axis=0)
    return shaped[pad:]


def renormalize(x: np.ndarray) -> np.ndarray:
    """Per channel (axis 0 = time) as ``edge.dsp.normalize``: (x - mean) / (4 rms), in [-1, 1)."""
    d = x - x.mean(axis=0)
    rms = np.sqrt(np.mean(d * d, axis=0))
    return np.clip(np.divide(d, 4.0 * rms, out=np.zeros_like(d), where=rms > 0), -1.0, 1.0 - 2.0**-15)
