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

Shapes: pos_m (n_frames, n_chirps, 2, n_s, 3) float64; out (n_frames, n_chirps, n_rx, n_adc, 2)
int16 in LSB of a 16-bit full scale (12/14-bit ADCs use steps of 16/4 LSB).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from boards.radarcfg import C_M_PER_S

from .noise import gauss_pair


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


@njit(cache=True)
def synth_adc(pos_m, refl, tx_m, rx_m, chirp_tx, rot, leak, f0_hz, slope, t0_s, dt_s, amp_k_lsb,
              fkeys, sigma_lsb, step_lsb, code_lo, code_hi, out):
    """Fill ``out`` with the quantized ADC samples of a batch of frames (see module doc)."""
    n_frames, n_chirps = pos_m.shape[0], pos_m.shape[1]
    n_s = pos_m.shape[3]
    n_rx = rx_m.shape[0]
    n_adc = out.shape[3]
    acc = np.empty(n_adc, np.complex128)
    two_pi = 2.0 * math.pi
    span = max(n_adc - 1, 1)
    for f in range(n_frames):
        for c in range(n_chirps):
            tx = tx_m[chirp_tx[c]]
            for r in range(n_rx):
                rx = rx_m[r]
                for n in range(n_adc):
                    acc[n] = leak[c, r, n]
                for s in range(n_s):
                    p0 = pos_m[f, c, 0, s]
                    p1 = pos_m[f, c, 1, s]
                    rt0, rr0 = _dist(p0, tx), _dist(p0, rx)
                    rt1, rr1 = _dist(p1, tx), _dist(p1, rx)
                    tau0 = (rt0 + rr0) / C_M_PER_S
                    a = ((rt1 + rr1) / C_M_PER_S - tau0) / span
                    amp = amp_k_lsb * refl[s] * 4.0 / ((rt0 + rt1) * (rr0 + rr1))
                    # phase(n) = ph0 + ph1 n + ph2 n^2 (exact for tau linear in n)
                    ph0 = two_pi * (f0_hz * tau0 + slope * tau0 * t0_s - 0.5 * slope * tau0 * tau0)
                    ph1 = two_pi * (f0_hz * a + slope * (tau0 * dt_s + a * t0_s) - slope * tau0 * a)
                    ph2 = two_pi * (slope * a * dt_s - 0.5 * slope * a * a)
                    z = amp * complex(math.cos(ph0), math.sin(ph0))
                    w = complex(math.cos(ph1 + ph2), math.sin(ph1 + ph2))
                    w2 = complex(math.cos(2.0 * ph2), math.sin(2.0 * ph2))
                    for n in range(n_adc):
                        acc[n] += z
                        z *= w
                        w *= w2
                g = rot[c * n_rx + r]
                base = (c * n_rx + r) * n_adc
                for n in range(n_adc):
                    yr = g * acc[n].real
                    yi = g * acc[n].imag
                    if sigma_lsb > 0.0:
                        nr, ni = gauss_pair(fkeys[f], base + n)
                        yr += sigma_lsb * nr
                        yi += sigma_lsb * ni
                    out[f, c, r, n, 0] = _quantize(yr, step_lsb, code_lo, code_hi)
                    out[f, c, r, n, 1] = _quantize(yi, step_lsb, code_lo, code_hi)


@njit(cache=True)
def _quantize(y, step, lo, hi):
    """Round to the ADC step and clip to its codes (saturate, never wrap)."""
    q = math.floor(y / step + 0.5)
    if q > hi:
        q = hi
    elif q < lo:
        q = lo
    return np.int16(q * step)
