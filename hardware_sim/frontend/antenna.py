"""Antenna gain vs angle of the simulated module (both front-end paths use it).

TI measured each EVM's pattern with a corner reflector in an anechoic chamber, rotating the
board in azimuth and in elevation, for every TX->RX pair (mmWave industrial toolbox 4.7,
``antennas/ant_rad_patterns/iwr6843_isk`` and ``.../iwr6843_aop``): the curves are the
*two-way* (TX x RX) gain, normalised. The tables below are those figures digitised by this
project (median of the 12 TX->RX curves at each angle, the +angle and -angle sides averaged,
then 0 dB at boresight); see docs/simulator.md, "Antenna patterns".

Model (this project's fit, not TI's): separable in the two cuts,
gain_dB(az, el) = az_dB(|az|) + el_dB(|el|), with az = atan2(x, y) and el = atan2(z, hypot(x, y))
in the radar frame (x right, y boresight, z up); linear in dB between the measured angles;
from the last measured angle to 90 deg a straight line to ``FLOOR_DB``; behind the board
(y <= 0) ``FLOOR_DB`` (both ours). The same pattern for every TX->RX pair (the figures differ by ~1-2 dB
between pairs, which a board's channel calibration absorbs). The AOP's lower peak gain (about
5.2 dBi vs about 7 dBi per antenna on the ISK, same pages) is a boresight factor: the radar
equation constant is the ISK's at boresight.

Speed: ``amplitudes`` reads two tables sampled uniformly in sin(angle) (no trigonometric
call per scatterer), one numba loop over frames x scatterers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from boards import ANTENNA_PATTERNS, AntennaConfig
from cardioradar.errors import ConfigError

FLOOR_DB = -40.0  # ours: beyond the measured angles and behind the board
_N_TABLE = 16384  # samples of each cut in sin(angle), 0..1 (amplitude within ~1e-5 of the exact model)


@dataclass(frozen=True)
class AntennaPattern:
    """Two-way (TX x RX) power gain vs angle, dB relative to the ISK at boresight.

    az_deg/az_db and el_deg/el_db: the measured cuts (|angle| in deg, increasing from 0;
    dB with 0 at boresight). peak_db: two-way boresight gain relative to the ISK's.
    back_db: gain behind the board (not measured: ours).
    """

    name: str
    az_deg: tuple[float, ...]
    az_db: tuple[float, ...]
    el_deg: tuple[float, ...]
    el_db: tuple[float, ...]
    peak_db: float = 0.0
    back_db: float = FLOOR_DB  # behind the board (y <= 0)
    _tables: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for cut in ("az", "el"):
            deg, db = getattr(self, f"{cut}_deg"), getattr(self, f"{cut}_db")
            if len(deg) != len(db) or deg[0] != 0.0 or db[0] != 0.0 or np.any(np.diff(deg) <= 0) or deg[-1] > 90:
                raise ConfigError(f"AntennaPattern {self.name}: {cut}: expected angles from 0 up to <= 90 deg "
                                  f"with 0 dB at 0 deg, got {deg} / {db}")
        s = np.linspace(0.0, 1.0, _N_TABLE)
        ang = np.degrees(np.arcsin(s))
        amp = self.peak_db / 20.0
        tabs = tuple(10.0 ** (self._cut_db(c, ang) / 20.0 + (amp if c == "az" else 0.0)) for c in ("az", "el"))
        object.__setattr__(self, "_tables", tabs)

    def _cut_db(self, cut: str, angle_deg) -> np.ndarray:
        deg = list(getattr(self, f"{cut}_deg"))
        db = list(getattr(self, f"{cut}_db"))
        if deg[-1] < 90.0:
            deg.append(90.0)
            db.append(FLOOR_DB)
        return np.interp(np.abs(np.asarray(angle_deg, float)), deg, db)

    def gain_db(self, az_deg, el_deg) -> np.ndarray:
        """Two-way gain (dB, ISK boresight = 0) at azimuth/elevation angles (deg, |az| <= 90)."""
        return self._cut_db("az", az_deg) + self._cut_db("el", el_deg) + self.peak_db

    def gain_db_at(self, positions_m) -> np.ndarray:
        """``gain_db`` at points (..., 3) m of the radar frame (exact angles; the reference)."""
        p = np.asarray(positions_m, float)
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        az = np.degrees(np.arctan2(x, y))
        el = np.degrees(np.arctan2(z, np.hypot(x, y)))
        g = self.gain_db(np.clip(az, -90, 90), el)
        return np.where(y > 0, g, self.back_db + self.peak_db)

    def amplitudes(self, positions_m: np.ndarray, reflectivity: np.ndarray) -> np.ndarray:
        """(n_frames, n_s) float64: reflectivity x two-way amplitude gain, from positions
        (n_frames, n_s, 3) m (any strides) and reflectivity (n_s,)."""
        out = np.empty(positions_m.shape[:2])
        _amplitudes(positions_m, reflectivity, self._tables[0], self._tables[1], self.back_db, out)
        return out


@njit(cache=True)
def _lookup(table, s):
    x = s * (table.shape[0] - 1)
    i = min(int(x), table.shape[0] - 2)
    return table[i] + (table[i + 1] - table[i]) * (x - i)


@njit(cache=True)
def _amplitudes(pos, refl, tab_az, tab_el, back_db, out):
    back = 10.0 ** (back_db / 20.0) * tab_az[0]  # behind the board (tab_az[0] holds the peak factor)
    for f in range(pos.shape[0]):
        for s in range(pos.shape[1]):
            x = pos[f, s, 0]
            y = pos[f, s, 1]
            z = pos[f, s, 2]
            h = math.sqrt(x * x + y * y)
            r = math.sqrt(h * h + z * z)
            if y <= 0.0 or r == 0.0:
                out[f, s] = refl[s] * back
                continue
            out[f, s] = refl[s] * _lookup(tab_az, abs(x) / h) * _lookup(tab_el, abs(z) / r)


# Digitised from TI's measured two-way patterns (see the module docstring), 0 dB at boresight.
ISK = AntennaPattern(
    "iwr6843isk",
    az_deg=(0, 10, 20, 30, 40, 50, 60, 70, 80),
    az_db=(0.0, -0.6, -1.2, -3.0, -5.3, -8.4, -13.5, -21.5, -32.9),
    el_deg=(0, 10, 20, 30, 40, 50),
    el_db=(0.0, -2.1, -10.0, -23.4, -42.8, -28.9),
)
AOP = AntennaPattern(
    "iwr6843aop",
    az_deg=tuple(range(0, 81, 5)),
    az_db=(0.0, 0.0, -0.4, -0.9, -1.8, -2.9, -3.4, -4.4, -6.2, -8.4, -10.8, -13.0, -14.7, -17.7, -22.4, -27.6,
           -36.6),
    el_deg=tuple(range(0, 81, 5)),
    el_db=(0.0, -0.1, -0.6, -0.8, -1.2, -1.9, -3.1, -3.5, -5.1, -8.0, -8.9, -9.6, -11.1, -15.9, -20.1, -19.1,
           -20.9),
    peak_db=2 * (5.2 - 7.0),  # each way: about 5.2 dBi (AOP) vs about 7 dBi (ISK)
)
ISOTROPIC = AntennaPattern("isotropic", az_deg=(0.0, 90.0), az_db=(0.0, 0.0), el_deg=(0.0, 90.0), el_db=(0.0, 0.0),
                           back_db=0.0)

PATTERNS: dict[str, AntennaPattern] = {p.name: p for p in (ISK, AOP, ISOTROPIC)}
assert tuple(PATTERNS) == ANTENNA_PATTERNS


def pattern_for(antennas: AntennaConfig) -> AntennaPattern:
    """The board's ``antennas.pattern`` (none given: the ISK's, the module the simulator stands in for)."""
    name = antennas.pattern or ISK.name
    try:
        return PATTERNS[name]
    except KeyError:
        raise ConfigError(f"antennas.pattern: expected one of {', '.join(PATTERNS)}, got {name!r}") from None
