"""The boundary between the scene (what is in front of the radar) and the front end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Scatterers:
    """Point scatterers at a set of times.

    positions_m: (n_t, n_s, 3) float64, radar frame (x right/azimuth, y boresight, z up).
    reflectivity: (n_s,) float64, sqrt of radar cross-section in m (amplitude at 1 m).
    is_subject: (n_s,) bool, True for points on the person (False: static clutter).
    """

    positions_m: np.ndarray
    reflectivity: np.ndarray
    is_subject: np.ndarray


class ScatterSource(Protocol):
    """Anything the front end can illuminate: a deterministic function of time."""

    def scatterers_at(self, t_s: np.ndarray) -> Scatterers:
        """Scatterer positions at times ``t_s`` (n_t,) seconds on the simulation clock."""
