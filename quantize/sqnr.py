"""SQNR of every fixed-point DSP kernel against its float64 reference (host side).

Each kernel is fed the same input as its reference (the fixed-point chain's own input
to that stage, as float for the reference), so a stage's figure is its own error;
``chain:*`` rows run the whole per-voxel chain in float64 from the raw frames and
compare its output with the fixed-point chain's. SQNR = 10 log10(sum ref'**2 /
sum (fixed - ref)**2) with ref' the reference less its mean (an offset is not signal);
bit-exact results are capped at ``EXACT_DB``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np

from edge.dsp.beamform import beamform_q15, beamform_ref
from edge.dsp.biquad import sos_filter_q29, sos_filter_ref
from edge.dsp.calibrate import calibrate_q14, calibrate_ref
from edge.dsp.config import DspConfig
from edge.dsp.cordic import bam_to_rad, cordic
from edge.dsp.differentiator import second_derivative_q, second_derivative_ref
from edge.dsp.normalize import normalize_q15, normalize_ref
from edge.dsp.pipeline import voxel_chain_q
from edge.dsp.select import grid_quality_q, grid_quality_ref
from edge.dsp.tensor import quantize_int8_q15, quantize_int8_ref
from edge.dsp.unwrap import PHASE_FRAC_BITS, phase_q24_to_rad, unwrap_bam, unwrap_ref
from fixedpoint.formats import quantized_multiplier

log = logging.getLogger(__name__)

EXACT_DB = 200.0
GATE_DB = 60.0
DEFAULT_PRESETS = ("healthy-rest", "sleep", "brady", "tachy")

# stage -> (input format, output format), as the kernels document them
FORMATS = {
    "calibrate": ("int16 I/Q", "int16 I/Q (gain Q1.14)"),
    "beamform": ("int16 I/Q", "int32 I/Q Q.4 (weights Q15)"),
    "cordic_magnitude": ("int32 I/Q Q.4", "int32 Q.4"),
    "cordic_phase": ("int32 I/Q Q.4", "int32 BAM (2**31 = pi)"),
    "unwrap": ("int32 BAM", "int32 Q7.24 half-turns"),
    "differentiator": ("int32", "int32 (16 dt^2 f'')"),
    "breathing_suppression": ("int32", "int32 (sections Q2.29)"),
    "voxel_quality": ("int16 I/Q window", "int64 band energies"),
    "normalize": ("int32", "int16 Q15"),
    "int8_tensor": ("int16 Q15", "int8 (model scale/zero point)"),
    "chain:phase_dd": ("int16 frames", "int32 Q7.24 half-turns"),
    "chain:i_dd": ("int16 frames", "int32 Q.4"),
    "chain:q_dd": ("int16 frames", "int32 Q.4"),
}


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    ref = np.asarray(ref, float).ravel()
    err = np.asarray(test, float).ravel() - ref
    sig = np.sum((ref - ref.mean()) ** 2)
    noise = np.sum(err**2)
    if noise <= sig * 10 ** (-EXACT_DB / 10):
        return EXACT_DB
    return float(10 * np.log10(sig / noise))


@dataclass(frozen=True)
class KernelResult:
    kernel: str
    input_format: str
    output_format: str
    sqnr_db: float  # the worst over recordings

    @property
    def passed(self) -> bool:
        return self.sqnr_db >= GATE_DB


@dataclass(frozen=True)
class SqnrReport:
    recordings: tuple[str, ...]
    kernels: tuple[KernelResult, ...]
    deterministic: bool
    int8_mismatches: int  # int8 values differing from the float rule (expected 0)
    int8_quantization_snr_db: float  # info: int8 rounding itself vs the unrounded value
    notes: tuple[str, ...] = field(default=())

    @property
    def sqnr_db_min(self) -> float:
        return min(k.sqnr_db for k in self.kernels)

    @property
    def passed(self) -> bool:
        return all(k.passed for k in self.kernels) and self.deterministic and self.int8_mismatches == 0

    def to_json(self) -> dict:
        return {
            "recordings": list(self.recordings),
            "kernels": {k.kernel: {"sqnr_db": round(k.sqnr_db, 2), "input": k.input_format,
                                   "output": k.output_format, "passed": k.passed} for k in self.kernels},
            "sqnr_db_min": round(self.sqnr_db_min, 2),
            "gate_db": GATE_DB,
            "deterministic": self.deterministic,
            "int8_mismatches": self.int8_mismatches,
            "int8_quantization_snr_db": round(self.int8_quantization_snr_db, 2),
            "passed": self.passed,
        }


def _cplx(x: np.ndarray) -> np.ndarray:
    return x[..., 0].astype(float) + 1j * x[..., 1].astype(float)


def voxel_chain_ref(frames: np.ndarray, cfg: DspConfig, range_idx, angle_idx) -> np.ndarray:
    """Float64 chain from raw frames, units of ``voxel_chain_q``: (n - 6, K, 3)."""
    cal = calibrate_ref(_cplx(frames), cfg.gain)
    beams = beamform_ref(cal, cfg.steering.weights, range_idx, angle_idx) * 16.0
    phase = unwrap_ref(np.angle(beams)) * (2.0**PHASE_FRAC_BITS / np.pi)
    chans = np.concatenate([phase, beams.real, beams.imag], axis=1)
    dd = sos_filter_ref(second_derivative_ref(chans), cfg.breathing_sos)
    k = len(range_idx)
    return dd.reshape(len(dd), 3, k).transpose(0, 2, 1)


def kernel_sqnrs(frames: np.ndarray, cfg: DspConfig, scale: float = 2.0 / 255, zero_point: int = 0) -> dict:
    """SQNR (dB) of every kernel on one recording, plus int8 checks (see module doc)."""
    out = {}
    w = cfg.window_samples
    cal = calibrate_q14(frames, cfg.gain_q14)
    out["calibrate"] = sqnr_db(np.abs(calibrate_ref(_cplx(frames), cfg.gain)), np.abs(_cplx(cal)))
    out["calibrate"] = min(out["calibrate"], sqnr_db(calibrate_ref(_cplx(frames), cfg.gain).real, cal[..., 0]))
    st = cfg.steering
    gq = grid_quality_q(cal[:w], st.weights_q15, st.n_angles, cfg.quality_decimation,
                        cfg.quality_card_sos_q29, cfg.quality_noise_sos_q29, cfg.quality_skip)
    gr = grid_quality_ref(_cplx(cal[:w]), st.weights, cfg.quality_decimation,
                          cfg.quality_card_sos, cfg.quality_noise_sos, cfg.quality_skip)
    out["voxel_quality"] = sqnr_db(10 ** (gr.quality_db / 10), 10 ** (gq.quality_db / 10))
    order = np.argsort(-gq.quality_db)[: cfg.n_voxels]
    r_idx, a_idx = (order // st.n_angles).astype(np.int64), (order % st.n_angles).astype(np.int64)
    beams = beamform_q15(cal, st.weights_q15, r_idx, a_idx, 1)
    b_ref = beamform_ref(_cplx(cal), st.weights, r_idx, a_idx)
    bq = _cplx(beams) / 16.0
    out["beamform"] = min(sqnr_db(b_ref.real, bq.real), sqnr_db(b_ref.imag, bq.imag))
    mag, ph = cordic(beams)
    out["cordic_magnitude"] = sqnr_db(np.abs(bq), mag / 16.0)
    ang = np.angle(bq)
    out["cordic_phase"] = sqnr_db(ang, ang + np.angle(np.exp(1j * (bam_to_rad(ph) - ang))))
    uq = unwrap_bam(ph)
    out["unwrap"] = sqnr_db(unwrap_ref(bam_to_rad(ph)), phase_q24_to_rad(uq))
    chans = np.concatenate([uq, beams[:, :, 0], beams[:, :, 1]], axis=1)
    ddq = second_derivative_q(chans)
    out["differentiator"] = sqnr_db(second_derivative_ref(chans), ddq)
    hpq = sos_filter_q29(ddq, cfg.breathing_sos_q29)
    out["breathing_suppression"] = sqnr_db(sos_filter_ref(ddq.astype(float), cfg.breathing_sos), hpq)
    seg = np.ascontiguousarray(hpq[-w:])
    nq = normalize_q15(seg)
    out["normalize"] = sqnr_db(normalize_ref(seg), nq / 2.0**15)
    mult, shift = quantized_multiplier(1.0 / (scale * 2.0**15))
    q8 = quantize_int8_q15(nq, mult, shift, zero_point)
    r8 = quantize_int8_ref(nq / 2.0**15, scale, zero_point)
    out["int8_tensor"] = sqnr_db(r8, q8)
    dd_q, _ = voxel_chain_q(cal, cfg, r_idx, a_idx)
    dd_r = voxel_chain_ref(frames, cfg, r_idx, a_idx)
    skip = cfg.warmup_samples  # the chain's outputs after filter settling, as the pipeline uses them
    for c, name in enumerate(("phase_dd", "i_dd", "q_dd")):
        out[f"chain:{name}"] = sqnr_db(dd_r[skip:, :, c], dd_q[skip:, :, c])
    extras = {
        "int8_mismatches": int(np.count_nonzero(q8 != r8)),
        "int8_quantization_snr_db": sqnr_db(nq / 2.0**15 / scale + zero_point, q8),
        "digest": hashlib.sha256(b"".join(a.tobytes() for a in (cal, beams, mag, ph, uq, ddq, hpq, nq, q8, dd_q))).hexdigest(),
    }
    return out, extras


def run_report(cfg: DspConfig, recordings: list) -> SqnrReport:
    """``recordings``: objects with ``frames`` (int16 (n, R, V, 2)) and a ``preset``/``seed``
    (``quantize.simdata.SimRecording``). Each is processed twice to check determinism."""
    worst: dict[str, float] = {}
    mismatches, q8_snr, deterministic, names = 0, np.inf, True, []
    for rec in recordings:
        res, extras = kernel_sqnrs(rec.frames, cfg)
        _, again = kernel_sqnrs(rec.frames.copy(), cfg)
        deterministic &= extras["digest"] == again["digest"]
        for k, v in res.items():
            worst[k] = min(worst.get(k, np.inf), v)
        mismatches += extras["int8_mismatches"]
        q8_snr = min(q8_snr, extras["int8_quantization_snr_db"])
        names.append(f"{rec.preset}/seed{rec.seed}")
        log.info("%s: worst kernel %.1f dB", names[-1], min(res.values()))
    kernels = tuple(KernelResult(k, *FORMATS[k], v) for k, v in worst.items())
    return SqnrReport(tuple(names), kernels, bool(deterministic), mismatches, float(q8_snr))


def simulator_report(board: str = "sim", presets=DEFAULT_PRESETS, seed: int = 7103, seconds: float = 20.0) -> SqnrReport:
    """The report on simulator recordings: one per preset, seeds ``seed``, ``seed + 1``, ..."""
    from boards import load_profile
    from quantize.simdata import simulate

    profile = load_profile(board)
    cfg = DspConfig.from_profile(profile)
    recs = [simulate(p, seconds, seed + i, board=profile) for i, p in enumerate(presets)]
    return run_report(cfg, recs)


def format_table(report: SqnrReport) -> str:
    lines = [f"SQNR of fixed-point kernels vs float64 references on {', '.join(report.recordings)}",
             f"{'kernel':24s} {'input':18s} {'output':30s} {'SQNR dB':>8s}  gate {GATE_DB:.0f} dB"]
    for k in report.kernels:
        val = "exact" if k.sqnr_db >= EXACT_DB else f"{k.sqnr_db:8.1f}"
        lines.append(f"{k.kernel:24s} {k.input_format:18s} {k.output_format:30s} {val:>8s}  {'ok' if k.passed else 'FAIL'}")
    lines.append(f"deterministic (same input, same bits): {'yes' if report.deterministic else 'NO'}")
    lines.append(f"int8 values differing from the float rule: {report.int8_mismatches}")
    lines.append(f"(info) int8 rounding itself: {report.int8_quantization_snr_db:.1f} dB")
    lines.append(f"minimum: {report.sqnr_db_min:.1f} dB -> {'PASS' if report.passed else 'FAIL'}")
    return "\n".join(lines)
