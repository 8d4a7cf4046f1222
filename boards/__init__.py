"""Board profiles: one TOML file per board + radar module, validated on load.

A profile says which ports to open, which radar ``.cfg`` to send, where the
virtual antennas are, how to calibrate and beamform, the DSP/window settings and
which model to run (DESIGN.md contract 3). It is loaded once and passed down.

    >>> from boards import load_profile
    >>> profile = load_profile("sim")            # a name in this folder, or a path
    >>> profile.antennas.virtual_positions.shape
    (12, 2)

Errors name the file and the key (``ConfigError``).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardioradar.errors import ConfigError

BOARDS_DIR = Path(__file__).resolve().parent
FRAME_RATE_REL_TOL = 1e-6  # dsp.frame_rate_hz against 1000 / frameCfg framePeriodicity


@dataclass(frozen=True)
class BoardInfo:
    name: str
    description: str
    radar_module: str
    cpu_cores: int
    memory_mb: int


@dataclass(frozen=True)
class PortsConfig:
    """Ports as device paths or pyserial URLs; bauds of the module's two UARTs.

    ``dtr``/``rts``: the level driven on open (``None`` leaves pyserial's default).
    On a Raspberry Pi 4 toggling them resets some modules, hence explicit levels.
    """

    config: str
    data: str
    config_baud: int = 115200
    data_baud: int = 921600
    dtr: bool | None = None
    rts: bool | None = None


@dataclass(frozen=True)
class RadarSection:
    cfg: str  # path relative to the profile file
    # The simulated module's firmware: "cardioradar" (range matrix) or "oob" (TI's OOB demo).
    firmware: str = "cardioradar"


# Antenna gain patterns the simulator knows (hardware_sim/frontend/antenna.py holds them).
ANTENNA_PATTERNS = ("iwr6843isk", "iwr6843aop", "isotropic")


@dataclass(frozen=True)
class AntennaConfig:
    """Antenna geometry in units of lambda/2 as (azimuth, elevation) pairs.

    ``chirp_tx_order[s]`` is the TX fired in chirp slot ``s``; the heatmap's
    virtual antenna ``v = s * n_rx + rx`` sits at ``tx[chirp_tx_order[s]] + rx[rx]``.
    """

    tx_positions: list
    rx_positions: list
    chirp_tx_order: list
    virtual_positions: list
    # +1/-1 per virtual antenna: feeds mounted rotated by 180 degrees (the AOP
    # board's antPhaseRot). The simulator applies it; calibration undoes it.
    phase_rotation: list | None = None
    # Two-way gain vs angle the simulator applies (ANTENNA_PATTERNS; none: the ISK's).
    pattern: str | None = None

    @property
    def n_virtual(self) -> int:
        return len(self.virtual_positions)

    def phase_rotation_array(self) -> np.ndarray:
        if self.phase_rotation is None:
            return np.ones(self.n_virtual)
        return np.asarray(self.phase_rotation, float)


@dataclass(frozen=True)
class CalibrationConfig:
    """Per-virtual-antenna complex gain the edge multiplies each channel by."""

    gain_re: list
    gain_im: list
    range_bias_m: float = 0.0

    @property
    def gain(self) -> np.ndarray:
        return np.asarray(self.gain_re, float) + 1j * np.asarray(self.gain_im, float)


@dataclass(frozen=True)
class BeamformingConfig:
    """Voxel grid: inclusive [start, stop] in degrees and the number of angles."""

    azimuth_deg: list
    elevation_deg: list

    def azimuth_grid_deg(self) -> np.ndarray:
        return np.linspace(*self.azimuth_deg[:2], int(self.azimuth_deg[2]))

    def elevation_grid_deg(self) -> np.ndarray:
        return np.linspace(*self.elevation_deg[:2], int(self.elevation_deg[2]))


@dataclass(frozen=True)
class DspSection:
    """The profile's ``[dsp]`` table as written (``edge.dsp.config.DspConfig`` is what the DSP runs with)."""

    frame_rate_hz: float
    range_bins: int
    window_samples: int
    hop_samples: int
    n_voxels: int = 4
    cardiac_band_hz: list = field(default_factory=lambda: [0.8, 3.0])
    breathing_band_hz: list = field(default_factory=lambda: [0.1, 0.6])
    lag_samples: int | None = None  # the stitcher's hold-back (edge.infer.CrossFadeStitcher); None: window - hop
    refresh_samples: int | None = None  # voxel choice + classical vitals cadence, a multiple of hop; None: hop


@dataclass(frozen=True)
class ModelSection:
    path: str  # relative to the profile file; metadata sits beside it as .json


@dataclass(frozen=True)
class BoardProfile:
    path: Path
    board: BoardInfo
    ports: PortsConfig
    radar: RadarSection
    antennas: AntennaConfig
    calibration: CalibrationConfig
    beamforming: BeamformingConfig
    dsp: DspSection
    model: ModelSection

    @property
    def name(self) -> str:
        return self.board.name

    @property
    def cfg_path(self) -> Path:
        return (self.path.parent / self.radar.cfg).resolve()

    @property
    def model_path(self) -> Path:
        return (self.path.parent / self.model.path).resolve()

    def virtual_positions(self) -> np.ndarray:
        """(n_virtual, 2) float: (azimuth, elevation) in lambda/2, heatmap order."""
        return np.asarray(self.antennas.virtual_positions, float)


_SECTIONS = {
    "board": BoardInfo,
    "ports": PortsConfig,
    "radar": RadarSection,
    "antennas": AntennaConfig,
    "calibration": CalibrationConfig,
    "beamforming": BeamformingConfig,
    "dsp": DspSection,
    "model": ModelSection,
}


def available_profiles() -> list[str]:
    return sorted(p.stem for p in BOARDS_DIR.glob("*.toml"))


def resolve_profile_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ConfigError(f"board profile {p}: no such file")
        return p.resolve()
    candidate = BOARDS_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(
            f"unknown board profile {str(name_or_path)!r}: expected one of "
            f"{', '.join(available_profiles())} or a path to a .toml file"
        )
    return candidate


def load_profile(name_or_path: str | Path) -> BoardProfile:
    """Load and validate a board profile; ``ConfigError`` names file and key."""
    path = resolve_profile_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section [{unknown[0]}]; expected {', '.join(_SECTIONS)}")
    sections = {}
    for name, cls in _SECTIONS.items():
        if name not in raw:
            raise ConfigError(f"{path}: missing section [{name}]")
        sections[name] = _build_section(path, name, cls, raw[name])
    profile = BoardProfile(path=path, **sections)
    _check_consistency(profile)
    return profile


def _build_section(path: Path, section: str, cls, values: dict):
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(
                f"{path}: unknown key {section}.{key}; expected one of {', '.join(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        if name not in values:
            if not has_default:
                raise ConfigError(f"{path}: missing key {section}.{name}")
            continue
        kwargs[name] = _check_type(path, f"{section}.{name}", values[name], hints[name])
    return cls(**kwargs)


def _check_type(path: Path, key: str, value, hint):
    allowed = typing.get_args(hint) or (hint,)
    allowed = tuple(type(None) if a is None else a for a in allowed)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if int in allowed and isinstance(value, bool):
        allowed = tuple(a for a in allowed if a is not int)
    if not isinstance(value, allowed):
        names = " or ".join(getattr(a, "__name__", str(a)) for a in allowed)
        raise ConfigError(f"{path}: {key}: expected {names}, got {type(value).__name__} {value!r}")
    return value


def _check_consistency(p: BoardProfile) -> None:
    path, a = p.path, p.antennas
    if p.radar.firmware not in ("cardioradar", "oob"):
        raise ConfigError(f"{path}: radar.firmware: expected 'cardioradar' or 'oob', got {p.radar.firmware!r}")
    tx = _matrix(path, "antennas.tx_positions", a.tx_positions, 2)
    rx = _matrix(path, "antennas.rx_positions", a.rx_positions, 2)
    virt = _matrix(path, "antennas.virtual_positions", a.virtual_positions, 2)
    order = a.chirp_tx_order
    if sorted(order) != list(range(len(tx))):
        raise ConfigError(
            f"{path}: antennas.chirp_tx_order: expected a permutation of 0..{len(tx) - 1}, got {order}"
        )
    derived = np.array([tx[t] + r for t in order for r in rx])
    if virt.shape != derived.shape or not np.allclose(virt, derived):
        raise ConfigError(
            f"{path}: antennas.virtual_positions: expected {derived.tolist()} "
            f"(tx[chirp_tx_order[slot]] + rx, slot-major), got {virt.tolist()}"
        )
    n = len(virt)
    if a.pattern is not None and a.pattern not in ANTENNA_PATTERNS:
        raise ConfigError(f"{path}: antennas.pattern: expected one of {', '.join(ANTENNA_PATTERNS)}, got {a.pattern!r}")
    rot = a.phase_rotation
    if rot is not None and (len(rot) != n or any(r not in (1, -1) for r in rot)):
        raise ConfigError(f"{path}: antennas.phase_rotation: expected {n} values of +1 or -1, got {rot}")
    for key in ("gain_re", "gain_im"):
        got = getattr(p.calibration, key)
        if len(got) != n:
            raise ConfigError(f"{path}: calibration.{key}: expected {n} values, got {len(got)}")
    for key in ("azimuth_deg", "elevation_deg"):
        got = getattr(p.beamforming, key)
        if len(got) != 3 or got[2] < 1 or got[0] > got[1]:
            raise ConfigError(f"{path}: beamforming.{key}: expected [start, stop, count], got {got}")
    d = p.dsp
    if not 0 < d.hop_samples <= d.window_samples:
        raise ConfigError(
            f"{path}: dsp.hop_samples: expected 1..window_samples ({d.window_samples}), got {d.hop_samples}"
        )
    if d.lag_samples is not None and not 0 <= d.lag_samples <= d.window_samples - d.hop_samples:
        raise ConfigError(
            f"{path}: dsp.lag_samples: expected 0..window_samples - hop_samples "
            f"({d.window_samples - d.hop_samples}), got {d.lag_samples}"
        )
    if d.refresh_samples is not None and (d.refresh_samples % d.hop_samples or not 0 < d.refresh_samples <= d.window_samples):
        raise ConfigError(
            f"{path}: dsp.refresh_samples: expected a multiple of hop_samples ({d.hop_samples}) "
            f"up to window_samples ({d.window_samples}), got {d.refresh_samples}"
        )
    if not p.cfg_path.is_file():
        raise ConfigError(f"{path}: radar.cfg: no such file {p.cfg_path}")
    from boards.radarcfg import load_cfg  # late: radarcfg is only needed once the file exists

    cfg = load_cfg(p.cfg_path)
    if cfg.chirp_tx_order() != list(order):
        raise ConfigError(
            f"{path}: antennas.chirp_tx_order: expected {cfg.chirp_tx_order()} "
            f"(the chirpCfg TX masks of {p.cfg_path.name}), got {list(order)}"
        )
    if cfg.range_sel is not None and cfg.range_sel.num_bins != p.dsp.range_bins:
        raise ConfigError(
            f"{path}: dsp.range_bins: expected {cfg.range_sel.num_bins} "
            f"(rangeBinSelCfg of {p.cfg_path.name}), got {p.dsp.range_bins}"
        )
    # Within 1 ppm (the module's crystal alone drifts +-20 ppm): a period of 33.333 ms gives
    # 30.00030000300003 Hz, which nobody should have to type to 16 digits.
    if not math.isclose(cfg.frame.frame_rate_hz, p.dsp.frame_rate_hz, rel_tol=FRAME_RATE_REL_TOL):
        raise ConfigError(
            f"{path}: dsp.frame_rate_hz: expected {cfg.frame.frame_rate_hz:.9g} (1000 / framePeriodicity "
            f"{cfg.frame.period_ms:g} ms of frameCfg in {p.cfg_path.name}, within 1 ppm), got {p.dsp.frame_rate_hz:.9g}"
        )


def _matrix(path: Path, key: str, value, cols: int) -> np.ndarray:
    try:
        m = np.asarray(value, float)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {key}: expected a list of [{cols}] numbers, got {value!r}") from e
    if m.ndim != 2 or m.shape[1] != cols:
        raise ConfigError(f"{path}: {key}: expected a list of [{cols}] numbers, got {value!r}")
    return m
