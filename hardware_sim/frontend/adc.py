"""ADC-level IF synthesis: every complex ADC sample of every chirp of a frame.

For scatterer s seen by TX t and RX r the round-trip delay is
tau(t) = (|P(t) - tx| + |P(t) - rx|) / c, and the de-chirped (IF) sample at fast time
t_f (from the ramp start) is

    A * exp(j 2 pi (f0 tau + S tau t_f - S tau^2 / 2)),   A = K g sqrt(RCS) / (R_tx R_rx).

Positions come from the scene at each chirp's first and last ADC sample; inside the
53 us window the motion is linear, so tau_n = tau_0 + a n and the phase is an exact
quadratic in n, run as a complex recurrence (two complex multiplies per sample). What the
linear interpolation leaves out is the acceleration term: (4 pi / lambda) * acc * T^2 / 8
= 8.9e-7 rad per m/s^2 at T = 53 us, lambda = 4.9 mm (chest motion: < 0.1 m/s^2 breathing,
~1 m/s^2 heart-sound vibrations) -- tests/test_frontend.py checks it against a scene
evaluated at every sample time.

Shapes: pos_m (n_frames, n_chirps, 2, n_s, 3) float64; refl (n_frames, n_s) float64 (sqrt(RCS)
x the antennas' two-way amplitude gain, antenna.py); out (n_frames, n_chirps, n_rx, n_adc, 2)
int16 in LSB of a 16-bit full scale (12/14-bit ADCs use steps of 16/4 LSB).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from boards.radarcfg import C_M_PER_S

from .noise import gauss_fill


@njit(cache=True)
def _dist(p, e):
    dx = p[0] - e[0]
    dy = p[1] - e[1]
    dz = p[2] - e[2]
    return math.sqrt(dx * dx + dy * dy + dz * dz)


@njit(cache=True)
def leakage_if(tx_m, rx_m, chirp_tx, n_adc, f0_hz, slope, t0_s, dt_s, amp_lsb, extra_path_m):
    """(n_chirps, n_rx, n_adc) complex128: the static TX->RX coupling tone of every channel."""
    n_chirps = chirp_tx.shape[0]
    n_rx = rx_m.shape[0]
    out = np.zeros((n_chirps, n_rx, n_adc), np.complex128)
    for c in range(n_chirps):
        for r in range(n_rx):
            tau = (_dist(tx_m[chirp_tx[c]], rx_m[r]) + extra_path_m) / C_M_PER_S
            for n in range(n_adc):
                tf = t0_s + n * dt_s
                ph = 2.0 * math.pi * (f0_hz * tau + slope * tau * tf - 0.5 * slope * tau * tau)
                out[c, r, n] = amp_lsb * complex(math.cos(ph), math.sin(ph))
    return out


_LANES = 8  # samples advanced together by the recurrence per tone (independent chains, no latency stall)


@njit(cache=True)
def synth_adc(pos_m, refl, tx_m, rx_m, chirp_tx, rot, leak, f0_hz, slope, t0_s, dt_s, amp_k_lsb,
              fkeys, sigma_lsb, step_lsb, code_lo, code_hi, out):
    """Fill ``out`` with the quantized ADC samples of a batch of frames (see module doc)."""
    n_frames, n_chirps = pos_m.shape[0], pos_m.shape[1]
    n_s = pos_m.shape[3]
    n_rx = rx_m.shape[0]
    n_adc = out.shape[3]
    n_pad = -(-n_adc // _LANES) * _LANES
    n_blk = n_pad // _LANES
    w = n_rx * _LANES  # lanes of one scatterer: 8 chains per RX
    # sample n of RX r sums at [n // 8, r * 8 + n % 8]: a block of 8 samples of every RX is
    # contiguous, as the lanes of one scatterer are, so each addition runs vectorized
    acc_r = np.zeros((n_blk, w))
    acc_i = np.zeros((n_blk, w))
    st = np.empty((6, n_s * w))  # per lane (scatterer, rx, chain): z re, z im, step re, step im, Q re, Q im
    rt0 = np.empty(n_s)
    rt1 = np.empty(n_s)
    noise = np.zeros(2 * n_chirps * n_rx * n_adc)
    inv_step = 1.0 / step_lsb  # a power of two: y * inv_step == y / step_lsb exactly
    span = max(n_adc - 1, 1)
    for f in range(n_frames):
        if sigma_lsb > 0.0:
            gauss_fill(fkeys[f], 0, noise)  # pair p = channel * n_adc + n is values 2p, 2p + 1
        for c in range(n_chirps):
            tx = tx_m[chirp_tx[c]]
            for s in range(n_s):
                rt0[s] = _dist(pos_m[f, c, 0, s], tx)
                rt1[s] = _dist(pos_m[f, c, 1, s], tx)
            for r in range(n_rx):
                rx = rx_m[r]
                for n in range(n_pad):  # (the padding samples are never output)
                    lk = leak[c, r, n] if n < n_adc else 0j
                    acc_r[n // _LANES, r * _LANES + n % _LANES] = lk.real
                    acc_i[n // _LANES, r * _LANES + n % _LANES] = lk.imag
                for s in range(n_s):
                    rr0 = _dist(pos_m[f, c, 0, s], rx)
                    rr1 = _dist(pos_m[f, c, 1, s], rx)
                    tau0 = (rt0[s] + rr0) / C_M_PER_S
                    a = ((rt1[s] + rr1) / C_M_PER_S - tau0) / span
                    amp = amp_k_lsb * refl[f, s] * 4.0 / ((rt0[s] + rt1[s]) * (rr0 + rr1))
                    _tone_lanes(st, s * w + r * _LANES, amp, tau0, a, f0_hz, slope, t0_s, dt_s)
            # every lane steps in one vectorized loop; each sample still sums the tones in
            # scatterer order, as one tone after the other did
            for blk in range(n_blk):
                _add_and_step(acc_r[blk], acc_i[blk], st, n_s, w)
            for r in range(n_rx):
                g = rot[c * n_rx + r]
                base = 2 * (c * n_rx + r) * n_adc
                for n in range(n_adc):
                    yr = g * acc_r[n // _LANES, r * _LANES + n % _LANES] + sigma_lsb * noise[base + 2 * n]
                    yi = g * acc_i[n // _LANES, r * _LANES + n % _LANES] + sigma_lsb * noise[base + 2 * n + 1]
                    out[f, c, r, n, 0] = _quantize(yr, inv_step, step_lsb, code_lo, code_hi)
                    out[f, c, r, n, 1] = _quantize(yi, inv_step, step_lsb, code_lo, code_hi)


@njit(cache=True)
def _add_and_step(acc_r, acc_i, lanes, n_s, w):
    """acc[q] += lane s * w + q's z for every scatterer s in order (q < w), then every lane one
    step on: z *= W, W *= Q (the operations of a complex multiply)."""
    for s in range(n_s):
        for q in range(w):
            m = s * w + q
            zr, zi, sr, si, qr, qi = lanes[0, m], lanes[1, m], lanes[2, m], lanes[3, m], lanes[4, m], lanes[5, m]
            acc_r[q] += zr
            acc_i[q] += zi
            lanes[0, m] = zr * sr - zi * si
            lanes[1, m] = zr * si + zi * sr
            lanes[2, m] = sr * qr - si * qi
            lanes[3, m] = sr * qi + si * qr


@njit(cache=True)
def _tone_lanes(lanes, col, amp, tau0, a, f0_hz, slope, t0_s, dt_s):
    """Lanes col .. col + _LANES - 1 of ``lanes`` (6, n) start the tone
    amp exp(j (ph0 + ph1 n + ph2 n^2)): lane l holds sample l, its step and Q (``_add_and_step``).

    The first _LANES samples come from the two-multiply recurrence z *= w, w *= w2; after that
    each lane l steps by _LANES samples: z_{n+L} = z_n W_n, W_{n+L} = W_n Q with
    W = exp(j (ph1 L + ph2 (2 n L + L^2))) and Q = exp(j 2 ph2 L^2), both built from w and w2
    by multiplication (no extra sincos).
    """
    two_pi = 2.0 * math.pi
    ph0 = two_pi * (f0_hz * tau0 + slope * tau0 * t0_s - 0.5 * slope * tau0 * tau0)
    ph1 = two_pi * (f0_hz * a + slope * (tau0 * dt_s + a * t0_s) - slope * tau0 * a)
    ph2 = two_pi * (slope * a * dt_s - 0.5 * slope * a * a)
    z = amp * complex(math.cos(ph0), math.sin(ph0))
    w = complex(math.cos(ph1 + ph2), math.sin(ph1 + ph2))
    w2 = complex(math.cos(2.0 * ph2), math.sin(2.0 * ph2))
    big = complex(1.0, 0.0)  # product of the first L steps: W_0
    for l in range(_LANES):
        lanes[0, col + l] = z.real
        lanes[1, col + l] = z.imag
        big *= w
        z *= w
        w *= w2
    w2_l = w2  # w2^L by squaring (L a power of two), then Q = (w2^L)^L
    m = 1
    while m < _LANES:
        w2_l *= w2_l
        m *= 2
    q = w2_l
    m = 1
    while m < _LANES:
        q *= q
        m *= 2
    for l in range(_LANES):
        lanes[2, col + l] = big.real
        lanes[3, col + l] = big.imag
        lanes[4, col + l] = q.real
        lanes[5, col + l] = q.imag
        big *= w2_l


@njit(cache=True)
def _quantize(y, inv_step, step, lo, hi):
    """Round to the ADC step and clip to its codes (saturate, never wrap)."""
    q = math.floor(y * inv_step + 0.5)
    if q > hi:
        q = hi
    elif q < lo:
        q = lo
    return np.int16(q * step)
