"""Phase unwrapping over time (breathing wraps the phase many times at 60 GHz).

Fixed point: wrapped phase int32 BAM (2**31 = pi) -> unwrapped phase int32 Q7.24
half-turns (value * pi / 2**24 rad; range +-128 pi, wrapping modulo 256 pi, which
the zero-sum differentiator after it does not see). The running sum is kept exactly
in int64 BAM, so there is no drift however long the stream: the step between frames
is the int32 difference of two BAM words, whose two's-complement wrap is the unwrap.
Valid while the true step per frame stays below pi (12 mm peak-to-peak breathing at
0.5 Hz moves the phase by about 0.5 rad per 10 ms frame at 60 GHz).
"""

from __future__ import annotations

import numpy as np

from edge.dsp.backend import kernel
from fixedpoint.formats import round_shift, wrap32

UNWRAP_SHIFT = 7  # Q0.31 BAM -> Q7.24 half-turns
PHASE_FRAC_BITS = 24


@kernel("i4[:,::1](i4[:,::1])")
def unwrap_bam(phase_bam: np.ndarray) -> np.ndarray:
    """phase_bam int32 (n, K) -> int32 (n, K) Q7.24 half-turns, starting at phase[0]."""
    n, k_vox = phase_bam.shape
    out = np.empty((n, k_vox), np.int32)
    for k in range(k_vox):
        acc = np.int64(phase_bam[0, k]) if n else np.int64(0)
        for t in range(n):
            if t > 0:
                acc += wrap32(np.int64(phase_bam[t, k]) - np.int64(phase_bam[t - 1, k]))
            out[t, k] = wrap32(round_shift(acc, UNWRAP_SHIFT))
    return out


def unwrap_ref(phase_rad: np.ndarray) -> np.ndarray:
    """Float reference: (n, K) rad -> unwrapped rad (numpy.unwrap along time)."""
    return np.unwrap(np.asarray(phase_rad, float), axis=0)


def phase_q24_to_rad(p: np.ndarray) -> np.ndarray:
    return np.asarray(p, np.float64) * (np.pi / 2.0**PHASE_FRAC_BITS)
