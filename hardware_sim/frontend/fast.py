"""Fast mode: the range-FFT output at the requested bins, computed without ADC samples.

A scatterer's IF over one chirp is, to within its (negligible, < 1e-10 rad) quadratic
term, a tone A exp(j (phi_c + omega (n - n_c))) about the window centre n_c = (N-1)/2.
Its windowed DFT at bin k is

    X[k] = A exp(j phi_c) exp(-j 2 pi k n_c / N_fft) W(omega N_fft / (2 pi) - k),
    W(delta) = sum_n w[n] cos(2 pi delta (n - n_c) / N_fft)    (real: w is symmetric)

so each (chirp, rx, scatterer) costs one sincos and a table lookup per bin. W is
tabulated once from the same Q15 window the fixed-point FFT uses, every 1/64 bin over
[-N_fft, 2 N_fft] (its period in delta is 2 N_fft), and interpolated linearly.

Noise: each output bin gets complex Gaussian noise of the variance the ADC path would
give it (thermal + ADC rounding through the window: sigma * sqrt(sum w^2) / 2**OUT_SHIFT).
Neighbouring bins' noise is independent here; through the real window it is correlated
(about 0.6 for adjacent Blackman bins). ADC clipping is not modelled in this mode.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .adc import _dist
from .noise import gauss_fill
from .rangefft import OUT_SHIFT, WIN_Q

TABLE_OVERSAMPLE = 64
_PAD_COLS = 16  # zero columns after the split table: a window's bins read up to 15 past its last
_C = 299_792_458.0


@njit(cache=True)
def window_response_table(window_q15, n_fft, oversample):
    """(3 n_fft oversample + 2,) float64: W(delta) for delta = -n_fft + i / oversample.

    Covers delta in [-n_fft, 2 n_fft]: the tone's bin position is wrapped into [0, 2 n_fft)
    (W's period) once per tone, and every bin k in [0, n_fft) then lands inside.
    """
    n_adc = window_q15.shape[0]
    nc = 0.5 * (n_adc - 1)
    m = 3 * n_fft * oversample + 2
    out = np.zeros(m)
    scale = 1.0 / (1 << WIN_Q)
    for i in range(m):
        theta = 2.0 * math.pi * (-n_fft + i / oversample) / n_fft
        acc = 0.0
        for n in range(n_adc):
            acc += window_q15[n] * math.cos(theta * (n - nc))
        out[i] = acc * scale
    return out


@njit(cache=True)
def _tone_phase(tau0, a, f0_hz, slope, t0_s, dt_s, nc):
    """Phase at the window centre and its per-sample slope (rad) of tau_n = tau0 + a n."""
    two_pi = 2.0 * math.pi
    ph0 = two_pi * (f0_hz * tau0 + slope * tau0 * t0_s - 0.5 * slope * tau0 * tau0)
    ph1 = two_pi * (f0_hz * a + slope * (tau0 * dt_s + a * t0_s) - slope * tau0 * a)
    ph2 = two_pi * (slope * a * dt_s - 0.5 * slope * a * a)
    return ph0 + ph1 * nc + ph2 * nc * nc, ph1 + 2.0 * ph2 * nc


@njit(cache=True)
def _add_tone(acc_re, acc_im, zr, zi, omega, bins, table, n_fft, oversample):
    """acc[b] += z * W(omega n_fft / 2 pi - bins[b]) for every requested bin."""
    period = 2.0 * n_fft
    d0 = omega * n_fft / (2.0 * math.pi)
    d0 -= period * math.floor(d0 / period)
    x0 = (d0 + n_fft) * oversample
    for b in range(bins.shape[0]):
        x = x0 - bins[b] * oversample
        i = int(x)
        fr = x - i
        w = table[i] + (table[i + 1] - table[i]) * fr
        acc_re[b] += zr * w
        acc_im[b] += zi * w


@njit(cache=True)
def leakage_bins(tx_m, rx_m, chirp_tx, bins, table, n_fft, oversample, n_adc,
                 f0_hz, slope, t0_s, dt_s, amp_out, extra_path_m):
    """(2, n_virtual, n_bins) float64 (re, im): the static TX->RX coupling tone at the bins,
    output LSB, before the per-bin phase factor exp(-j 2 pi k n_c / n_fft)."""
    n_rx = rx_m.shape[0]
    nc = 0.5 * (n_adc - 1)
    out = np.zeros((2, chirp_tx.shape[0] * n_rx, bins.shape[0]))
    for c in range(chirp_tx.shape[0]):
        for r in range(n_rx):
            tau = (_dist(tx_m[chirp_tx[c]], rx_m[r]) + extra_path_m) / _C
            phc, om = _tone_phase(tau, 0.0, f0_hz, slope, t0_s, dt_s, nc)
            v = c * n_rx + r
            _add_tone(out[0, v], out[1, v], amp_out * math.cos(phc), amp_out * math.sin(phc), om,
                      bins, table, n_fft, oversample)
    return out


def split_table(table: np.ndarray, oversample: int) -> tuple[np.ndarray, np.ndarray]:
    """The window-response table rearranged for ``fast_frames_split``.

    Returns (a, d), each (oversample, n_rows + _PAD_COLS) float64, n_rows = (len(table) - 2) // oversample + 1:
    a[j, R] = table[i] and d[j, R] = table[i + 1] - table[i] with i = oversample (n_rows - 1 - R) + j
    (zero past the table). A tone at table position x0 = oversample q + j + fr then finds bin k at
    column n_rows - 1 - q + k of row j: consecutive bins are consecutive columns. Both carry
    _PAD_COLS zero columns after the n_rows (the kernel reads whole 16-bin groups).
    """
    n_rows = (len(table) - 2) // oversample + 1
    a = np.zeros((oversample, n_rows + _PAD_COLS))
    d = np.zeros((oversample, n_rows + _PAD_COLS))
    for j in range(oversample):
        i = oversample * (n_rows - 1 - np.arange(n_rows)) + j
        ok = i + 1 < len(table)
        a[j, :n_rows][ok] = table[i[ok]]
        d[j, :n_rows][ok] = table[i[ok] + 1] - table[i[ok]]
    return a, d


def fast_frames(pos_m, refl, tx_m, rx_m, chirp_tx, rot, leak, bins, bin_rot, table, n_fft,
                oversample, n_adc, f0_hz, slope, t0_s, dt_s, amp_k_out, fkeys, sigma_out, out):
    """Fill out (n_frames, n_bins, n_virtual, 2) int16 with the analytic range-FFT output.

    pos_m (n_frames, n_chirps, 2, n_s, 3) float64 m at each chirp's first/last ADC sample;
    refl (n_frames, n_s) float64 (sqrt(RCS) x the antennas' two-way amplitude gain);
    leak (2, n_virtual, n_bins) from ``leakage_bins``; bin_rot (n_bins,) complex128.
    (The front end keeps the split table and calls ``fast_frames_split`` directly.)
    """
    tab_a, tab_d = split_table(table, oversample)
    fast_frames_split(pos_m, refl, tx_m, rx_m, chirp_tx, rot, leak, np.asarray(bins, np.int64), bin_rot,
                      tab_a, tab_d, n_fft, oversample, n_adc, f0_hz, slope, t0_s, dt_s, amp_k_out, fkeys,
                      sigma_out, out, np.zeros(len(out), np.bool_))


@njit(cache=True)
def _lane_dists(x, y, z, ex, ey, ez, out):
    """out[m] = |(x, y, z)[m] - (ex, ey, ez)[m]| (the operations of ``adc._dist``)."""
    for m in range(x.shape[0]):
        dx = x[m] - ex[m]
        dy = y[m] - ey[m]
        dz = z[m] - ez[m]
        out[m] = math.sqrt(dx * dx + dy * dy + dz * dz)


@njit(cache=True)
def _point_dists(x, y, z, ex, ey, ez, out):
    """out[m] = |(x, y, z)[m] - (ex, ey, ez)| to one point (the operations of ``adc._dist``)."""
    for m in range(x.shape[0]):
        dx = x[m] - ex
        dy = y[m] - ey
        dz = z[m] - ez
        out[m] = math.sqrt(dx * dx + dy * dy + dz * dz)


@njit(cache=True)
def _lane_delays(rt0, rt1, rr0, rr1, span, tau0, a):
    """Round-trip delay at the first ADC sample (s) and its per-sample change, per lane."""
    for m in range(rt0.shape[0]):
        t = (rt0[m] + rr0[m]) / _C
        tau0[m] = t
        a[m] = ((rt1[m] + rr1[m]) / _C - t) / span


@njit(cache=True)
def _lane_amps(rt0, rt1, rr0, rr1, refl, amp_k_out, amp):
    """Tone amplitude per lane (output LSB): radar equation at the mean TX and RX distances."""
    for m in range(rt0.shape[0]):
        amp[m] = amp_k_out * refl[m] * 4.0 / ((rt0[m] + rt1[m]) * (rr0[m] + rr1[m]))


@njit(cache=True)
def _lane_phases(tau0, a, f0_hz, slope, t0_s, dt_s, nc, ph, om):
    """``_tone_phase`` per lane: phase at the window centre and per-sample slope (rad)."""
    for m in range(tau0.shape[0]):
        ph[m], om[m] = _tone_phase(tau0[m], a[m], f0_hz, slope, t0_s, dt_s, nc)


@njit(cache=True)
def _lane_phasors(amp, ph, om, n_fft, oversample, shift, col0, zr, zi, fr, row, col):
    """Per lane: the complex tone z = amp exp(j ph) and where it reads the split table
    (row, column of bin 0 relative to col0, interpolation fraction); oversample = 2**shift."""
    period = 2.0 * n_fft
    for m in range(amp.shape[0]):
        cs, sn = _cos_sin(ph[m])
        zr[m] = amp[m] * cs
        zi[m] = amp[m] * sn
        # bin position of the tone, wrapped into W's period (as in _add_tone)
        d0 = om[m] * n_fft / (2.0 * math.pi)
        d0 -= period * math.floor(d0 / period)
        x0 = (d0 + n_fft) * oversample
        i0 = np.int64(x0)  # > 0: x0 lies in [n_fft, 3 n_fft) * oversample
        fr[m] = x0 - i0
        row[m] = i0 & (oversample - 1)
        col[m] = col0 - (i0 >> shift)


@njit(cache=True)
def fast_frames_split(pos_m, refl, tx_m, rx_m, chirp_tx, rot, leak, bins, bin_rot, tab_a, tab_d, n_fft,
                      oversample, n_adc, f0_hz, slope, t0_s, dt_s, amp_k_out, fkeys, sigma_out, out, skip,
                      noise_bin0=0):
    """``fast_frames`` with the table from ``split_table`` (oversample a power of two); frames
    where ``skip`` (n_frames,) bool is True are left as they are in ``out``. Bin b of the request
    gets the noise of position noise_bin0 + b (the noise is keyed by position in a request:
    a part of a wider request, starting noise_bin0 bins into it, gets that request's values).

    The tone of every (chirp, rx, scatterer) of a frame is one lane; each step over the lanes
    is its own branch-free loop, so that it vectorizes (a loop over the ~14 scatterers alone
    left most of each vector empty; one chirp's lanes at a time paid each loop's entry and
    tail three times per frame). The operations per value are those of ``_add_tone``,
    in the same order: the bytes do not change.
    """
    n_frames, n_chirps, n_s = pos_m.shape[0], pos_m.shape[1], pos_m.shape[3]
    n_rx = rx_m.shape[0]
    n_bins = bins.shape[0]
    n_v = n_chirps * n_rx
    n_rows = tab_a.shape[1] - _PAD_COLS
    nc = 0.5 * (n_adc - 1)
    span = max(n_adc - 1, 1)
    shift = 0
    while (1 << shift) < oversample:
        shift += 1
    if (1 << shift) != oversample:
        raise ValueError("oversample: expected a power of two")
    contiguous = True
    for b in range(1, n_bins):
        contiguous = contiguous and bins[b] == bins[0] + b
    n_c = n_rx * n_s  # lanes of one chirp: (rx, scatterer) pairs
    n_m = n_v * n_s  # lanes of a frame: lane (c * n_rx + r) * n_s + s
    pts = np.empty((6, n_m))  # x, y, z at the first and last ADC sample, tiled over rx
    rxl = np.empty((3, n_m))
    refl_l = np.empty(n_m)
    for v in range(n_v):
        for s in range(n_s):
            for k in range(3):
                rxl[k, v * n_s + s] = rx_m[v % n_rx, k]
    rt = np.empty((2, n_m))
    rr = np.empty((2, n_m))
    tau0 = np.empty(n_m)
    aa = np.empty(n_m)
    amp = np.empty(n_m)
    ph = np.empty(n_m)
    om = np.empty(n_m)
    zr = np.empty(n_m)
    zi = np.empty(n_m)
    fr = np.empty(n_m)
    row = np.empty(n_m, np.int64)
    col = np.empty(n_m, np.int64)
    # accumulate 16 bins at a time: with 15 the loop fell short of LLVM's 16-wide vector body and
    # ran scalar (a count it cannot see at compile time keeps it the loop vectorizer's; numba
    # leaves the SLP vectorizer off); the extra bins read the table's zero padding, unused
    nb = (n_bins + 15) & ~15 if contiguous else n_bins
    acc = np.zeros((2, n_v, nb))
    acc_flat = acc.reshape(-1)
    leak_nb = np.zeros((2, n_v, nb))  # the leakage at the accumulators' width, flat
    leak_nb[:, :, :n_bins] = leak
    leak_flat = leak_nb.reshape(-1)
    noise = np.zeros(2 * n_bins * n_v)
    acc_p = np.empty((2, n_bins * n_v))
    rot_p = np.empty(n_bins * n_v)
    br_p = np.empty(n_bins * n_v)
    bi_p = np.empty(n_bins * n_v)
    for b in range(n_bins):
        for v in range(n_v):
            rot_p[b * n_v + v] = rot[v]
            br_p[b * n_v + v] = bin_rot[b].real
            bi_p[b * n_v + v] = bin_rot[b].imag
    for f in range(n_frames):
        if skip[f]:
            continue
        for i in range(acc_flat.shape[0]):
            acc_flat[i] = leak_flat[i]
        for v in range(n_v):  # this frame's amplitudes (the antenna gain follows the scene)
            for s in range(n_s):
                refl_l[v * n_s + s] = refl[f, s]
        for c in range(n_chirps):
            for r in range(n_rx):
                for s in range(n_s):
                    m = (c * n_rx + r) * n_s + s
                    for e in range(2):
                        for k in range(3):
                            pts[3 * e + k, m] = pos_m[f, c, e, s, k]
        for c in range(n_chirps):
            tx = tx_m[chirp_tx[c]]
            lo, hi = c * n_c, (c + 1) * n_c
            _point_dists(pts[0, lo:hi], pts[1, lo:hi], pts[2, lo:hi], tx[0], tx[1], tx[2], rt[0, lo:hi])
            _point_dists(pts[3, lo:hi], pts[4, lo:hi], pts[5, lo:hi], tx[0], tx[1], tx[2], rt[1, lo:hi])
        _lane_dists(pts[0], pts[1], pts[2], rxl[0], rxl[1], rxl[2], rr[0])
        _lane_dists(pts[3], pts[4], pts[5], rxl[0], rxl[1], rxl[2], rr[1])
        _lane_delays(rt[0], rt[1], rr[0], rr[1], span, tau0, aa)
        _lane_amps(rt[0], rt[1], rr[0], rr[1], refl_l, amp_k_out, amp)
        _lane_phases(tau0, aa, f0_hz, slope, t0_s, dt_s, nc, ph, om)
        _lane_phasors(amp, ph, om, n_fft, oversample, shift, n_rows - 1, zr, zi, fr, row, col)
        for v in range(n_v):
            acc_re = acc[0, v]
            acc_im = acc[1, v]
            for s in range(n_s):
                m = v * n_s + s
                zr_ = zr[m]
                zi_ = zi[m]
                x = fr[m]
                row_a = tab_a[row[m]]
                row_d = tab_d[row[m]]
                cm = col[m]
                if contiguous:  # the module's case: unit-stride loads
                    ra = row_a[cm + bins[0]:cm + bins[0] + nb]
                    rd = row_d[cm + bins[0]:cm + bins[0] + nb]
                    for b in range(nb):
                        w = ra[b] + rd[b] * x
                        acc_re[b] += zr_ * w
                        acc_im[b] += zi_ * w
                else:
                    for b in range(n_bins):
                        w = row_a[cm + bins[b]] + row_d[cm + bins[b]] * x
                        acc_re[b] += zr_ * w
                        acc_im[b] += zi_ * w
        if sigma_out > 0.0:
            gauss_fill(fkeys[f], 2 * noise_bin0 * n_v, noise)  # pair p = b * n_v + v: values 2p, 2p + 1
        for v in range(n_v):  # to output order p = b * n_v + v, so that the next loop is one flat one
            for b in range(n_bins):
                acc_p[0, b * n_v + v] = acc[0, v, b]
                acc_p[1, b * n_v + v] = acc[1, v, b]
        _output(acc_p[0], acc_p[1], rot_p, br_p, bi_p, noise, sigma_out, out[f].reshape(-1))


@njit(cache=True)
def _output(ar_p, ai_p, rot_p, br_p, bi_p, noise, sigma_out, out):
    """out[2p], out[2p + 1] (int16) = rot * acc * bin_rot + noise of output value p = b * n_v + v
    (the per-(bin, antenna) factors expanded to p: one loop of n_bins * n_v that vectorizes,
    ~3x faster than the (bin, antenna) loop nest with its 12-long inner loop)."""
    for p in range(ar_p.shape[0]):
        ar = ar_p[p]
        ai = ai_p[p]
        yr = rot_p[p] * (ar * br_p[p] - ai * bi_p[p]) + sigma_out * noise[2 * p]
        yi = rot_p[p] * (ar * bi_p[p] + ai * br_p[p]) + sigma_out * noise[2 * p + 1]
        out[2 * p] = _round_sat16(yr)
        out[2 * p + 1] = _round_sat16(yi)


# cos/sin for the tone phases: Cody-Waite reduction by pi/2 (three-part constant; k * _PIO2_1
# is exact for |k| < 2**29, i.e. |x| < 8e8 rad) and Cephes' polynomials on [-pi/4, pi/4];
# within 2 ulp of libm, and branch-free so that the loop over scatterers vectorizes.
_PIO2_1 = 1.570796251296997070312
_PIO2_2 = 7.549789415861596353350e-8
_PIO2_3 = 5.390302858158119052901e-15
_TWO_OVER_PI = 0.6366197723675814


@njit(cache=True)
def _cos_sin(x):
    k = math.floor(x * _TWO_OVER_PI + 0.5)
    r = ((x - k * _PIO2_1) - k * _PIO2_2) - k * _PIO2_3
    z = r * r
    sr = r + r * z * (((((1.58962301576546568060e-10 * z - 2.50507477628578072866e-8) * z
                         + 2.75573136213857245213e-6) * z - 1.98412698295895385996e-4) * z
                       + 8.33333333332211858878e-3) * z - 1.66666666666666307295e-1)
    cr = 1.0 - 0.5 * z + z * z * (((((-1.13585365213876817300e-11 * z + 2.08757008419747316778e-9) * z
                                     - 2.75573141792967388112e-7) * z + 2.48015872888517045348e-5) * z
                                   - 1.38888888888730564116e-3) * z + 4.16666666666665929218e-2)
    q = np.int64(k) & 3
    swap = q & 1
    c = sr if swap else cr
    s_ = cr if swap else sr
    c = -c if (q == 1 or q == 2) else c
    s_ = -s_ if q >= 2 else s_
    return c, s_


@njit(cache=True)
def _round_sat16(y):
    q = math.floor(y + 0.5)
    if q > 32767.0:
        q = 32767.0
    elif q < -32768.0:
        q = -32768.0
    return np.int16(q)


def output_scale() -> float:
    """Factor from a DFT in ADC LSB to the module's int16 output (see rangefft)."""
    return 1.0 / 2.0**OUT_SHIFT
