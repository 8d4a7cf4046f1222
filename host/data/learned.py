"""Learned 12-lead morphologies: the ``deepfake-ecg`` Pulse2Pulse generator under onnxruntime.

Thambawita et al. (Scientific Reports 11, 21896, 2021) trained a GAN on 7,233 real normal
10-s, 500 Hz resting ECGs (leads I, II, V1-V6) and ship the generator on PyPI as
``deepfake-ecg`` (MIT licence). ``learned_export.py`` turned its checkpoint once into
``assets/deepfake_ecg_g.onnx``; this module runs that file, so no PyTorch at run time.

Units: the package writes ``int(tanh_output * 6000)``; that number is in microvolts
(checked against the real 12-lead record in tests/data and the AHA normal ranges, see
docs/simulator.md "Learned morphologies"), so mV = tanh_output * 6.

What a caller gets (``LearnedStrip``): 10 s x 12 leads in ``LEADS`` order (I, II, III, aVR,
aVL, aVF, V1-V6), mV, 500 Hz, baseline removed (zero-phase 0.5 Hz high-pass on the 8
generated leads, then each lead's median, the isoelectric level, set to 0), with III, aVR, aVL, aVF computed from I and II (Einthoven / Goldberger,
exact). Strips that fail the quality gate (``GATE``) are dropped and counted by reason.

Every random choice comes from the seed: candidate i of ``generate_strips(n, seed)`` is
drawn from ``SeedSequence(seed).spawn`` child i (numpy uniform noise, as the package does
with torch), and the session runs single-threaded, so the same seed gives the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from cardioradar.errors import ConfigError, InputDataError
from cardioradar.leads import LEADS

if TYPE_CHECKING:  # imported lazily at run time: the simulator is only needed to drive it
    from hardware_sim.subject.params import SubjectParams
    from hardware_sim.subject.recorded import EcgRecording

log = logging.getLogger(__name__)

__all__ = [
    "MODEL_PATH", "FS_HZ", "STRIP_SAMPLES", "GENERATED_LEADS", "LEADS", "GATE", "QualityGate",
    "LearnedStrip", "LearnedBatch", "LearnedEcgGenerator", "generate_strips", "strip_recording",
    "strip_drive", "save_strip_npz", "LearnedSubject", "learned_subjects",
]

MODEL_PATH = Path(__file__).resolve().parent / "assets" / "deepfake_ecg_g.onnx"
FS_HZ = 500.0
STRIP_SAMPLES = 5000  # 10 s at 500 Hz, the generator's fixed length
GENERATED_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # the package's column order
# tanh output -> mV: the package writes int(out * 6000) in microvolts (units check in docs).
TANH_TO_MV = 6.0
_HP_CUTOFF_HZ = 0.5  # same baseline removal as hardware_sim's recorded drive


@dataclass(frozen=True)
class QualityGate:
    """Limits a generated strip must meet (our own plausibility screen, not a clinical rule).

    HR from the median RR of lead II's R peaks; amplitudes are per-lead peak-to-peak (mV)
    of the baseline-free 12 leads; ``max_rr_cv`` rejects strips whose RR spread says the
    beats could not be found reliably (the generator was trained on sinus rhythm only);
    ``max_abs_tanh`` rejects strips that ran into the generator's tanh limit (+-6 mV)."""

    min_r_peaks: int = 3
    hr_bpm: tuple[float, float] = (35.0, 180.0)
    max_rr_cv: float = 0.25
    min_ptp_mv: float = 0.5  # the largest lead: below that a strip is a flat line
    max_ptp_mv: float = 6.0  # any lead: beyond any adult QRS (LVH Sokolow-Lyon is 3.5 mV)
    max_abs_tanh: float = 0.98


GATE = QualityGate()
REJECT_REASONS = ("not_finite", "saturated", "amplitude_low", "amplitude_high", "no_r_peaks",
                  "hr_out_of_range", "irregular_rr")


@dataclass(frozen=True)
class LearnedStrip:
    """One accepted strip. ``ecg_mv`` (5000, 12) float64 mV, ``LEADS`` order, 500 Hz;
    ``r_peaks_s`` (k,) lead-II R times, s; ``seed`` / ``index``: candidate ``index`` of
    ``generate_strips(..., seed)`` (the pair regenerates it)."""

    ecg_mv: np.ndarray
    r_peaks_s: np.ndarray
    hr_bpm: float
    seed: int
    index: int
    fs_hz: float = FS_HZ
    leads: tuple[str, ...] = LEADS

    @property
    def name(self) -> str:
        return f"deepfake-ecg-s{self.seed}-{self.index:05d}"


@dataclass(frozen=True)
class LearnedBatch:
    """``strips`` accepted in candidate order; ``n_candidates`` generated to get them;
    ``rejected`` {reason: count} over ``REJECT_REASONS``."""

    strips: tuple[LearnedStrip, ...]
    n_candidates: int
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rejection_rate(self) -> float:
        return sum(self.rejected.values()) / self.n_candidates if self.n_candidates else 0.0


def _highpass(x: np.ndarray) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth high-pass along axis 0 (electrode offset, wander)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, _HP_CUTOFF_HZ, btype="highpass", fs=FS_HZ, output="sos")
    return sosfiltfilt(sos, x, axis=0, padlen=min(x.shape[0] - 1, int(3 * FS_HZ)))


def eight_to_twelve(ecg8_mv: np.ndarray) -> np.ndarray:
    """(n, 8) I, II, V1-V6 -> (n, 12) ``LEADS``: III = II - I, aVR = -(I + II)/2,
    aVL = I - II/2, aVF = II - I/2 (Einthoven / Goldberger)."""
    i, ii = ecg8_mv[:, 0], ecg8_mv[:, 1]
    limb = np.column_stack([i, ii, ii - i, -(i + ii) / 2.0, i - ii / 2.0, ii - i / 2.0])
    return np.concatenate([limb, ecg8_mv[:, 2:]], axis=1)


def _r_peaks_s(lead_ii_mv: np.ndarray) -> np.ndarray:
    import neurokit2 as nk

    clean = nk.ecg_clean(lead_ii_mv, sampling_rate=FS_HZ)
    if np.percentile(clean, 0.5) < -np.percentile(clean, 99.5):  # QRS mostly negative
        clean = -clean
    try:
        _, info = nk.ecg_peaks(clean, sampling_rate=FS_HZ)
    except (ValueError, IndexError):  # neurokit raises on signals without any beat
        return np.zeros(0)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.float64) / FS_HZ


def gate_strip(raw_tanh: np.ndarray, gate: QualityGate = GATE):
    """Check one generator output (5000, 8) tanh units. Returns (reason or None, ecg12_mv,
    r_peaks_s, hr_bpm); reason is one of ``REJECT_REASONS``."""
    if not np.all(np.isfinite(raw_tanh)):
        return "not_finite", None, None, None
    if np.max(np.abs(raw_tanh)) > gate.max_abs_tanh:
        return "saturated", None, None, None
    ecg8 = _highpass(raw_tanh.astype(np.float64) * TANH_TO_MV)
    # The high-pass leaves the mean at 0, which puts the isoelectric line below 0 under a
    # big R; the median sample lies on the isoelectric segments (TP, PR) most of the time.
    ecg12 = eight_to_twelve(ecg8 - np.median(ecg8, axis=0))
    ptp = np.ptp(ecg12, axis=0)
    if ptp.max() < gate.min_ptp_mv:
        return "amplitude_low", None, None, None
    if ptp.max() > gate.max_ptp_mv:
        return "amplitude_high", None, None, None
    r = _r_peaks_s(ecg12[:, 1])
    if r.size < gate.min_r_peaks:
        return "no_r_peaks", None, None, None
    rr = np.diff(r)
    hr = 60.0 / float(np.median(rr))
    if not gate.hr_bpm[0] <= hr <= gate.hr_bpm[1]:
        return "hr_out_of_range", None, None, None
    if float(np.std(rr) / np.mean(rr)) > gate.max_rr_cv:
        return "irregular_rr", None, None, None
    return None, ecg12, r, hr


class LearnedEcgGenerator:
    """The exported generator in an onnxruntime session (one thread: same input, same bits).

    ``run(noise)``: (b, 8, 5000) float32 uniform [-1, 1) -> (b, 5000, 8) float32 tanh units,
    columns ``GENERATED_LEADS``."""

    def __init__(self, model_path: str | Path = MODEL_PATH):
        import onnxruntime as ort

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ConfigError(f"{self.model_path}: learned ECG generator: expected the exported "
                              "ONNX file, got no such file",
                              hint="python -m host.data.learned_export (needs torch, deepfake-ecg)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self._sess = ort.InferenceSession(str(self.model_path), opts,
                                              providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            raise InputDataError(f"{self.model_path}: learned ECG generator: expected a "
                                 f"readable ONNX model, got {e!s:.200}") from e

    def run(self, noise: np.ndarray) -> np.ndarray:
        if noise.ndim != 3 or noise.shape[1:] != (8, STRIP_SAMPLES):
            raise ConfigError(f"learned generator noise: expected (b, 8, {STRIP_SAMPLES}), "
                              f"got {noise.shape}")
        out = self._sess.run(["ecg"], {"noise": noise.astype(np.float32, copy=False)})[0]
        return np.transpose(out, (0, 2, 1))

    @staticmethod
    def noise(seed: int, index: int) -> np.ndarray:
        """Candidate ``index``'s input (1, 8, 5000) float32: depends only on (seed, index)."""
        child = np.random.SeedSequence([int(seed), int(index)])
        return np.random.default_rng(child).uniform(-1.0, 1.0, (1, 8, STRIP_SAMPLES)).astype(np.float32)


_DEFAULT_GENERATOR: LearnedEcgGenerator | None = None


def _default_generator() -> LearnedEcgGenerator:
    global _DEFAULT_GENERATOR  # one session per process: loading the 26 MB graph takes ~0.1-0.3 s
    if _DEFAULT_GENERATOR is None:
        _DEFAULT_GENERATOR = LearnedEcgGenerator()
    return _DEFAULT_GENERATOR


def generate_strips(n: int, seed: int, *, gate: QualityGate = GATE, max_candidates: int | None = None,
                    generator: LearnedEcgGenerator | None = None) -> LearnedBatch:
    """The first ``n`` strips of seed ``seed`` that pass ``gate`` (candidates 0, 1, 2, ...;
    a larger ``n`` extends a smaller one). Raises ``InputDataError`` when ``max_candidates``
    (default 4 n + 20) run out first."""
    if n < 0:
        raise ConfigError(f"generate_strips: n: expected >= 0, got {n}")
    gen = generator or _default_generator()
    limit = max_candidates if max_candidates is not None else 4 * n + 20
    strips: list[LearnedStrip] = []
    rejected = dict.fromkeys(REJECT_REASONS, 0)
    index = 0
    while len(strips) < n:
        if index >= limit:
            raise InputDataError(f"learned ECG generator (seed {seed}): expected {n} strips "
                                 f"within {limit} candidates, got {len(strips)} ({rejected})")
        raw = gen.run(gen.noise(seed, index))[0]
        reason, ecg12, r, hr = gate_strip(raw, gate)
        if reason is None:
            strips.append(LearnedStrip(ecg12, r, hr, int(seed), index))
        else:
            rejected[reason] += 1
        index += 1
    batch = LearnedBatch(tuple(strips), index, rejected)
    log.info("learned ECG: %d strips from %d candidates (rejected %.1f %%: %s)", n, index,
             100.0 * batch.rejection_rate, {k: v for k, v in rejected.items() if v})
    return batch


# ---- into the simulator ----------------------------------------------------------------------
def strip_recording(strip: LearnedStrip) -> EcgRecording:
    """The strip as the simulator's ``EcgRecording`` (12 leads, mV, 500 Hz)."""
    from hardware_sim.subject.recorded import EcgRecording

    return EcgRecording(strip.ecg_mv, strip.fs_hz, strip.leads, strip.name)


def save_strip_npz(strip, path: str | Path) -> Path:
    """Write a ``LearnedStrip`` (or an ``EcgRecording``) in the ``.npz`` layout that
    ``load_ecg_recording`` reads (``ecg_mv``, ``fs_hz``, ``leads``)."""
    path = Path(path)
    np.savez(path, ecg_mv=np.asarray(strip.ecg_mv, dtype=np.float64),
             fs_hz=np.float64(strip.fs_hz), leads=np.array(strip.leads))
    return path


def strip_drive(strip, work_dir: str | Path | None = None, params=None):
    """A ``hardware_sim.record.DriveEcg`` replaying ``strip`` (a ``LearnedStrip`` or the
    ``EcgRecording`` of a ``learned_subjects`` pair), looped past its 10 s.

    Uses the in-memory recording when ``DriveEcg`` takes one; otherwise writes
    ``<work_dir>/<name>.npz`` (``work_dir`` required then). ``params`` (``SubjectParams``)
    is passed on when ``DriveEcg`` accepts it (else the drive keeps its own subject)."""
    import dataclasses

    from hardware_sim.record import DriveEcg

    recording = strip_recording(strip) if isinstance(strip, LearnedStrip) else strip
    names = {f.name for f in dataclasses.fields(DriveEcg)}
    kw = {"params": params} if params is not None and "params" in names else {}
    if params is not None and not kw:
        log.warning("DriveEcg takes no subject parameters yet: %s drives a default subject",
                    recording.source)
    if "recording" in names:
        return DriveEcg(recording=recording, **kw)
    if work_dir is None:
        raise ConfigError("strip_drive: work_dir: expected a folder for the strip's .npz "
                          "(this DriveEcg reads files only), got None")
    path = save_strip_npz(recording, Path(work_dir) / f"{Path(recording.source).name}.npz")
    return DriveEcg(path=path, **kw)


class LearnedSubject(NamedTuple):
    """A subject whose heart follows a learned strip: unpacks as (recording, params)."""

    recording: EcgRecording
    params: SubjectParams


def learned_subjects(n: int, seed: int, *, gate: QualityGate = GATE) -> list[LearnedSubject]:
    """``n`` (recording, SubjectParams) pairs: strip i of ``generate_strips(n, seed)`` drives
    the heart; age, sex, placement, breathing, movement and mechanics are drawn as
    ``random_population`` draws them (condition sinus / brady / tachy from the strip's HR;
    ``params.electrical`` is unused by a recorded heart). Subject i depends only on
    (seed, i) and the gate; ids are ``learned<seed>-<i>``."""
    from hardware_sim.subject.params import draw_population_subject

    batch = generate_strips(n, seed, gate=gate)
    out = []
    keys = np.random.SeedSequence([int(seed), 0x1EA2]).spawn(n)  # apart from the noise streams
    for i, (strip, key) in enumerate(zip(batch.strips, keys)):
        rng = np.random.default_rng(key)
        hr = strip.hr_bpm
        condition = "brady" if hr < 60.0 else "tachy" if hr > 100.0 else "sinus"
        params = draw_population_subject(rng, f"learned{seed}-{i:04d}", condition, hr_bpm=hr)
        out.append(LearnedSubject(strip_recording(strip), params))
    return out
