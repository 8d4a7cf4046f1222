"""Contracts between the parts of a virtual subject (electrical -> mechanical -> scene).

Every source is a deterministic function of time given its seed: it can be asked
for any span, in any order of chunks, and returns the same values, so the
simulator streams for hours with bounded memory and records are reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cardioradar.leads import LEADS

ECG_FS_HZ = 500.0  # sampling rate of the ECG ground truth


@dataclass(frozen=True)
class Beat:
    """One heartbeat's electrical events (seconds on the simulation clock).

    ``kind``: 'N' sinus, 'A' premature atrial (PAC), 'V' premature ventricular
    (PVC), 'F' conducted beat in atrial fibrillation. Optional, for the heart mechanics:
    ``qt_s`` QRS onset to end of T (None: the source does not give it); ``conduction``
    'RBBB' / 'LBBB' / 'normal' for this beat ('': the subject's, see ElectromechanicalCoupling).
    """

    index: int
    r_time_s: float
    qrs_onset_s: float
    rr_s: float  # interval from the previous R peak to this one
    kind: str
    qt_s: float | None = None
    conduction: str = ""


class ElectricalSource(Protocol):
    """The heart's electrical activity: synthetic (VCG model) or a recording."""

    def beats_between(self, t0_s: float, t1_s: float) -> list[Beat]:
        """Beats whose R peak lies in [t0_s, t1_s), in time order."""

    def ecg_mv(self, t_s: np.ndarray) -> np.ndarray:
        """12-lead ECG in mV at times ``t_s`` (n,) -> (n, 12), lead order ``LEADS``."""
