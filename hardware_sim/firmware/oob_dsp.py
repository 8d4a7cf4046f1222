"""The OOB demo's inter-frame chain: Doppler FFT -> detection matrix -> CFAR-CA -> angle (numpy).

As TI's mmWave SDK 3.5 xwr68xx demo does it on its DSP (``objdetdsp`` DPC with the
``dopplerprocdsp``, ``cfarcaprocdsp`` and ``aoaprocdsp`` DPUs and mmwavelib; sources and
the deliberate simplifications are listed in docs/radar-module.md, "OOB firmware"):

- radar cube: int16 complex range-FFT output, (n_range, n_loops, n_virtual), virtual antenna
  ``v = tx_slot * n_rx + rx`` in chirp order (the DPUs' ``txAntIdx * numRxAntennas + rxAntIdx``).
- Doppler: optional static clutter removal (mean over chirps, before the Doppler FFT and the
  static heat map), window Hanning in Q19
  (rectangular for <= 4 chirps), ``round(x w / 2**15)``, FFT of ``n_doppler`` = next power of
  two points, no scaling; ``log2|X|`` in Q8 by mmwavelib's max + 3/8 min estimate and its
  64-entry table; detection matrix = sum over antennas of ``log2|X| >> ceil(log2 n_virtual)``
  (uint16, (n_range, n_doppler)).
- CFAR: Doppler direction first (cyclic CA, per range bin), then range direction on the Doppler
  lines that hold a detection (CA / CAGO / CASO, one-sided at the edges), a cell kept when both
  pass, inside the range/Doppler field of view; ``x > (noise_sum >> shift) + threshold`` in the
  log domain; optional peak grouping against the 3x3 neighbourhood of the detection matrix.
- Angle: per detection the Doppler-bin symbols of every antenna, TDM Doppler compensation,
  the ``compRangeBiasAndRxChanPhase`` vector, a 64-point azimuth FFT over the azimuth antennas
  and (3-D) one over the elevation antennas; ``Wx = 2 k / 64``, ``Wz`` from the phase between
  the two peaks; ``x = r Wx``, ``z = r Wz``, ``y = sqrt(r^2 - x^2 - z^2)``; an optional second
  azimuth peak (``multiObjBeamForming``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit

NUM_ANGLE_BINS = 64  # DPU_AOAPROCDSP_NUM_ANGLE_BINS
DET_Q = 8  # DPIF_DETMATRIX_DATA_QFORMAT
DOPPLER_WIN_Q = 19  # DPC_OBJDET_QFORMAT_DOPPLER_FFT
CFAR_CA, CFAR_CAGO, CFAR_CASO = 0, 1, 2
# mmwavelib_log2Abs32's table: log2(1 + f / 64) in Q8 for the 6 bits below the leading one.
_LOG2_LUT = np.array([
    0, 6, 11, 17, 22, 28, 33, 38, 44, 49, 54, 59, 63, 68, 73, 78, 82, 87, 92, 96, 100, 105, 109, 113,
    118, 122, 126, 130, 134, 138, 142, 146, 150, 154, 157, 161, 165, 169, 172, 176, 179, 183, 186, 190,
    193, 197, 200, 203, 207, 210, 213, 216, 220, 223, 226, 229, 232, 235, 238, 241, 244, 247, 250, 253],
    np.int64)


@dataclass(frozen=True)
class CfarCfg:
    """``cfarCfg`` of one direction: averageMode, winLen, guardLen, noiseDiv, cyclic, threshold
    (as the DPU gets it: dB x (256/6) x n_virt / 2**ceil(log2 n_virt), truncated), peak grouping."""

    average_mode: int
    win_len: int
    guard_len: int
    noise_div_shift: int
    cyclic: int
    threshold: int
    peak_grouping: int


@dataclass(frozen=True)
class OobChain:
    """Everything the chain needs, fixed at sensorStart (``oob.chain_for``)."""

    n_range: int
    n_loops: int
    n_doppler: int
    n_tx: int
    n_rx: int
    n_virt_azim: int
    n_virt_elev: int
    range_step_m: float
    doppler_step_mps: float
    cfar_range: CfarCfg
    cfar_doppler: CfarCfg
    fov_range_idx: tuple[int, int]
    fov_doppler_idx: tuple[int, int]
    fov_sin: tuple[float, float, float, float]  # azimuth min/max, elevation min/max (sines)
    multi_obj_threshold: float | None  # multiObjBeamForming peak ratio, None when off
    clutter_removal: bool
    comp: np.ndarray  # (n_virtual,) complex128: compRangeBiasAndRxChanPhase in slot order
    range_bias_m: float
    max_objects: int = 500

    @property
    def n_virtual(self) -> int:
        return self.n_virt_azim + self.n_virt_elev


@dataclass(frozen=True)
class OobResult:
    """One frame's outputs, as the TLVs carry them.

    det_matrix uint16 (n_range, n_doppler); points float32 (n, 4) x, y, z m, velocity m/s;
    side int16 (n, 2) snr, noise in 0.1 dB; azimuth_heatmap int16 (n_range, n_virt_azim, 2)
    real/imag (the zero-Doppler mean, compensated).
    """

    det_matrix: np.ndarray
    points: np.ndarray
    side: np.ndarray
    azimuth_heatmap: np.ndarray


def doppler_window_q19(n_loops: int) -> np.ndarray:
    """(n_loops,) int64: Hanning in Q19 (rectangular for <= 4 chirps), as the DPC builds it."""
    one = 1 << DOPPLER_WIN_Q
    if n_loops <= 4:
        return np.full(n_loops, one - 1, np.int64)
    n = np.arange(n_loops)
    w = 0.5 * (1.0 - np.cos(2.0 * np.pi * n / (n_loops - 1)))
    return np.minimum(np.floor(w * one + 0.5), one - 1).astype(np.int64)


def log2_abs_q8(x: np.ndarray) -> np.ndarray:
    """uint16 log2|x| in Q8 the way mmwavelib_log2Abs32 estimates it (x complex, int32 parts)."""
    re = np.abs(np.clip(np.rint(x.real), -2**31, 2**31 - 1)).astype(np.int64)
    im = np.abs(np.clip(np.rint(x.imag), -2**31, 2**31 - 1)).astype(np.int64)
    mag = np.maximum(re, im) + ((np.minimum(re, im) * 3) >> 3)
    mag = np.minimum(mag, 2**32 - 1)
    lg = np.zeros(mag.shape, np.int64)
    nz = mag > 0
    lg[nz] = np.floor(np.log2(mag[nz])).astype(np.int64)
    lg[nz] -= (mag[nz] >> lg[nz]) == 0  # float rounding at exact powers of two
    lg[nz] += (mag[nz] >> lg[nz]) >= 2
    frac = ((mag << 6) >> lg) & 63
    return ((lg << 8) + _LOG2_LUT[frac]).astype(np.uint16)


def doppler_fft(cube: np.ndarray, chain: OobChain) -> np.ndarray:
    """complex128 (..., n_range, n_doppler, n_virtual) from int16-valued complex cube
    (..., n_range, n_loops, n_virtual): window, zero padded FFT."""
    x = cube
    w = doppler_window_q19(chain.n_loops)[:, None]
    xr = np.floor(x.real * w / 2**15 + 0.5)
    xi = np.floor(x.imag * w / 2**15 + 0.5)
    return np.fft.fft(xr + 1j * xi, n=chain.n_doppler, axis=-2)


def det_matrix(spec: np.ndarray, chain: OobChain) -> np.ndarray:
    """uint16 (n_range, n_doppler): sum over antennas of log2|X| (Q8) >> ceil(log2 n_virt).
    Same values as ``log2_abs_q8`` summed (its compiled twin, the chain's hot spot)."""
    shift = int(np.ceil(np.log2(chain.n_virtual)))
    re = np.ascontiguousarray(np.rint(spec.real))
    im = np.ascontiguousarray(np.rint(spec.imag))
    return _det_matrix_kernel(re, im, shift, _LOG2_LUT)


@njit(cache=True)
def _det_matrix_kernel(re, im, shift, lut):
    n_r, n_d, n_v = re.shape
    out = np.empty((n_r, n_d), np.uint16)
    for r in range(n_r):
        for d in range(n_d):
            acc = 0
            for v in range(n_v):
                a = min(abs(re[r, d, v]), 2147483647.0)
                b = min(abs(im[r, d, v]), 2147483647.0)
                hi, lo = (np.int64(a), np.int64(b)) if a > b else (np.int64(b), np.int64(a))
                mag = min(hi + ((lo * 3) >> 3), 4294967295)
                lg = 0
                while (mag >> (lg + 1)) > 0:
                    lg += 1
                frac = ((mag << 6) >> lg) & 63 if mag > 0 else 0
                acc += ((lg << 8) + lut[frac]) >> shift
            out[r, d] = min(acc, 65535)
    return out


def _window_sums(x: np.ndarray, win: int, guard: int, cyclic: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Left and right noise-window sums per cell along the last axis, and which sides exist."""
    n = x.shape[-1]
    idx = np.arange(n)
    offs = np.arange(guard + 1, guard + 1 + win)
    if cyclic:
        left = x[..., (idx[:, None] - offs) % n].sum(axis=-1)
        right = x[..., (idx[:, None] + offs) % n].sum(axis=-1)
        ones = np.ones(n, bool)
        return left, right, ones, ones
    pad = np.concatenate([np.zeros(x.shape[:-1] + (win + guard,), np.int64), x,
                          np.zeros(x.shape[:-1] + (win + guard,), np.int64)], axis=-1)
    c = np.concatenate([np.zeros(x.shape[:-1] + (1,), np.int64), np.cumsum(pad, axis=-1)], axis=-1)
    p = idx + win + guard  # cell position in pad
    left = c[..., p - guard] - c[..., p - guard - win]
    right = c[..., p + guard + win + 1] - c[..., p + guard + 1]
    has_left = idx >= win + guard
    has_right = idx < n - win - guard
    return left, right, has_left, has_right


def cfar(x: np.ndarray, cfg: CfarCfg, cyclic: bool) -> tuple[np.ndarray, np.ndarray]:
    """CFAR along the last axis of uint16 log-magnitudes: (detected bool, noise Q8 int64).

    mmwavelib's rule: two-sided ``x > (sum >> s) + T``; an edge cell (non-cyclic) compares
    with its one side, ``x > (side >> (s - 1)) + T``. CAGO/CASO take the greater/smaller side
    with the shift the DPU passes (noiseDiv + 1) minus one.
    """
    xi = x.astype(np.int64)
    left, right, hl, hr = _window_sums(xi, cfg.win_len, cfg.guard_len, cyclic)
    s = cfg.noise_div_shift
    if cfg.average_mode == CFAR_CA:
        noise = (left + right) >> s
    else:
        side = np.maximum(left, right) if cfg.average_mode == CFAR_CAGO else np.minimum(left, right)
        noise = side >> s  # the DPU adds 1 to the shift and the library takes shift - 1 per side
    one_shift = max(s - 1, 0) if cfg.average_mode == CFAR_CA else s
    noise = np.where(hl & ~hr, left >> one_shift, np.where(hr & ~hl, right >> one_shift, noise))
    return xi > noise + cfg.threshold, noise


def detect(det: np.ndarray, chain: OobChain) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CFAR on one detection matrix (n_range, n_doppler): range idx, Doppler idx, snr, noise
    (0.1 dB, int16), in the DPU's order (Doppler line, then range)."""
    # The DSP DPU runs mmwavelib's cyclic CA for Doppler and the non-cyclic CA/CAGO/CASO for
    # range, whatever averageMode/cyclicMode say for the other direction.
    dop_hit, dop_noise = cfar(det, replace(chain.cfar_doppler, average_mode=CFAR_CA), True)
    if chain.cfar_range.threshold > 0:
        rng_hit, rng_noise = cfar(det.T, chain.cfar_range, False)
        hit = dop_hit & rng_hit.T
        noise = rng_noise.T
    else:  # the DPU then keeps the Doppler-direction detections alone
        hit, noise = dop_hit, dop_noise
    lo, hi = chain.fov_range_idx
    rng = np.arange(chain.n_range)
    signed = np.arange(chain.n_doppler)
    signed = np.where(signed >= chain.n_doppler // 2, signed - chain.n_doppler, signed)
    dlo, dhi = chain.fov_doppler_idx
    hit &= ((rng >= lo) & (rng <= hi))[:, None] & ((signed >= dlo) & (signed <= dhi))[None, :]
    d_idx, r_idx = np.nonzero(hit.T)  # Doppler line major, as the range-domain pass walks them
    if chain.cfar_range.peak_grouping or chain.cfar_doppler.peak_grouping:
        keep = _peak_group(det, r_idx, d_idx, chain)
        r_idx, d_idx = r_idx[keep], d_idx[keep]
    r_idx, d_idx = r_idx[:chain.max_objects], d_idx[:chain.max_objects]
    to_db10 = 6.0 / (1 << DET_Q) * 10.0  # CFARCADSP_CONV_PEAK_TO_LOG
    noise_db = (noise[r_idx, d_idx] * to_db10).astype(np.int16)
    snr_db = (det[r_idx, d_idx].astype(np.float64) * to_db10 - noise_db).astype(np.int16)
    return r_idx, d_idx, snr_db, noise_db


def _peak_group(det: np.ndarray, r: np.ndarray, d: np.ndarray, chain: OobChain) -> np.ndarray:
    """mmwavelib_cfarPeakPruning: keep a detection >= its neighbours in the enabled directions
    (range rows clipped to the field of view, Doppler wrapping)."""
    keep = np.ones(len(r), bool)
    lo, hi = chain.fov_range_idx
    v = det[r, d]
    use_r, use_d = chain.cfar_range.peak_grouping, chain.cfar_doppler.peak_grouping
    for dr in ((-1, 0, 1) if use_r else (0,)):
        for dd in ((-1, 0, 1) if use_d else (0,)):
            rr = r + dr
            ok = (rr >= max(lo, 0)) & (rr <= min(hi, chain.n_range - 1))
            nb = det[np.clip(rr, 0, chain.n_range - 1), (d + dd) % chain.n_doppler]
            keep &= ~ok | (v >= nb)
    return keep


def angles(spec: np.ndarray, r: np.ndarray, d: np.ndarray, snr: np.ndarray, noise: np.ndarray,
           chain: OobChain) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 4) float32 and side info (n, 2) int16 of the detections (r, d) of one frame;
    spec complex (n_range, n_doppler, n_virtual)."""
    if len(r) == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0, 2), np.int16)
    sym = spec[r, d, :].copy()  # (n, n_virtual)
    sgn = np.where(d >= chain.n_doppler // 2, d - chain.n_doppler, d)
    if chain.n_tx > 1:
        theta = 2 * np.pi * (sgn / chain.n_tx) / chain.n_doppler
        slot = np.repeat(np.arange(chain.n_tx), chain.n_rx)
        sym *= np.exp(-1j * theta[:, None] * slot[None, :])
    sym *= chain.comp[None, :]
    az = np.fft.fft(sym[:, :chain.n_virt_azim], NUM_ANGLE_BINS, axis=1)
    el = np.fft.fft(sym[:, chain.n_virt_azim:], NUM_ANGLE_BINS, axis=1) if chain.n_virt_elev else None
    power = np.abs(az) ** 2
    k1 = np.argmax(power, axis=1)
    cand = [(np.arange(len(r)), k1)]
    if chain.multi_obj_threshold is not None:
        k2 = np.array([_second_peak(p, k) for p, k in zip(power, k1)], np.int64)
        two = power[np.arange(len(r)), k2] > power[np.arange(len(r)), k1] * chain.multi_obj_threshold
        cand.append((np.nonzero(two)[0], k2[two]))
    rows, ks = np.concatenate([c[0] for c in cand]), np.concatenate([c[1] for c in cand])
    order = np.lexsort((np.arange(len(rows)) >= len(r), rows))  # each object's second peak follows it
    rows, ks = rows[order], ks[order]
    rng = np.maximum(r[rows] * chain.range_step_m - chain.range_bias_m, 0.0)
    sk = np.where(ks > NUM_ANGLE_BINS // 2 - 1, ks - NUM_ANGLE_BINS, ks)
    wx = 2.0 * sk / NUM_ANGLE_BINS
    az_min, az_max, el_min, el_max = chain.fov_sin
    if el is not None:
        pa, pe = az[rows, ks], el[rows, ks]
        wz = np.angle(pa * np.conj(pe)) / np.pi + 2.0 * wx
        wz = np.where(wz > 1, wz - 2, np.where(wz < -1, wz + 2, wz))
        ok = (wz >= el_min) & (wz <= el_max)
        limit = np.sqrt(np.maximum(1.0 - wz * wz, 0.0))
    else:
        wz, ok, limit = np.zeros(len(rows)), np.ones(len(rows), bool), np.ones(len(rows))
    x, z = rng * wx, rng * wz
    ok &= (wx >= limit * az_min) & (wx <= limit * az_max)
    y2 = rng * rng - x * x - z * z
    ok &= y2 > 0
    pts = np.stack([x, np.sqrt(np.maximum(y2, 0.0)), z, chain.doppler_step_mps * sgn[rows]], axis=1)[ok]
    side = np.stack([snr[rows], noise[rows]], axis=1)[ok]
    return pts.astype(np.float32)[:chain.max_objects], side.astype(np.int16)[:chain.max_objects]


def _second_peak(x: np.ndarray, k: int) -> int:
    """mmwavelib_secondPeakSearch: walk down both sides of the main lobe, then take the
    largest value between its two valleys (cyclic)."""
    n = len(x)
    right, v, steps = (k + 1) % n, x[k], n
    while v >= x[right] and steps > 0:
        v, right, steps = x[right], (right + 1) % n, steps - 1
    left, v, steps = (k - 1) % n, x[k], n
    while v >= x[left] and steps > 0:
        v, left, steps = x[left], (left - 1) % n, steps - 1
    span = (left - right) % n
    idx = (right + np.arange(span + 1)) % n
    return int(idx[np.argmax(x[idx])])


def static_heatmap(cube: np.ndarray, chain: OobChain) -> np.ndarray:
    """int16 (n_range, n_virt_azim, 2) real/imag: the mean over chirps of each azimuth antenna,
    phase/gain compensated, truncated as the DPU's integer division does."""
    s = cube[:, :, :chain.n_virt_azim].sum(axis=1)
    s = np.trunc(s.real) + 1j * np.trunc(s.imag)
    s = s * chain.comp[None, :chain.n_virt_azim]
    s = np.trunc(s.real) + 1j * np.trunc(s.imag)
    out = np.stack([np.trunc(s.real / chain.n_loops), np.trunc(s.imag / chain.n_loops)], axis=-1)
    return np.clip(out, -32768, 32767).astype(np.int16)


def remove_clutter(cube: np.ndarray) -> np.ndarray:
    """``clutterRemoval``: each antenna's chirps minus their mean (C integer division, as the
    Doppler and AoA DPUs both do it before their FFTs and the static heat map)."""
    s = cube.sum(axis=-2, keepdims=True)
    n = cube.shape[-2]
    return cube - (np.trunc(s.real / n) + 1j * np.trunc(s.imag / n))


def process_frame(cube: np.ndarray, chain: OobChain, want_heatmap: bool) -> OobResult:
    """The whole chain for one frame's radar cube (complex, (n_range, n_loops, n_virtual))."""
    if chain.clutter_removal:
        cube = remove_clutter(cube)
    spec = doppler_fft(cube, chain)
    det = det_matrix(spec, chain)
    r, d, snr, noise = detect(det, chain)
    pts, side = angles(spec, r, d, snr, noise, chain)
    heat = static_heatmap(cube, chain) if want_heatmap else np.zeros((0, 0, 2), np.int16)
    return OobResult(det, pts, side, heat)
