"""``DspConfig``: everything the DSP chain needs, built once from the board profile
and the radar ``.cfg`` (tables are generated here by ``fixedpoint.tables``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fixedpoint import tables


@dataclass(frozen=True)
class DspConfig:
    """Settings and coefficient tables of the chain.

    gain: (V,) complex128 calibration gains; gain_q14: (V, 2) int16 Q1.14.
    steering: beamforming grid and weights (Q15). n_az: azimuth angles of the grid.
    breathing_sos / _q29: high-pass (Butterworth, order 4) at the cardiac band's low
        edge, float (S, 6) and Q2.29 (S, 5) -- the breathing suppression.
    quality_*: voxel-selection filters at fs_hz / quality_decimation: cardiac band-pass
        and a noise high-pass above it; quality_skip: settling samples ignored.
    warmup_samples: frames processed before each window and dropped (filter settling).
    lag_samples: how far behind the newest frame each stitched piece ends (the stitcher's
        hold-back; ``edge.infer.CrossFadeStitcher``), so the ECG leaves lag..lag + hop late.
    refresh_samples: how often the voxels are re-chosen and the classical vitals updated (a
        multiple of the hop); datasets take their windows at this stride.
    """

    fs_hz: float
    window_samples: int
    hop_samples: int
    lag_samples: int
    refresh_samples: int
    warmup_samples: int
    n_voxels: int
    range_bins: int
    n_virtual: int
    wavelength_m: float
    range_resolution_m: float
    cardiac_band_hz: tuple[float, float]
    breathing_band_hz: tuple[float, float]
    gain: np.ndarray
    gain_q14: np.ndarray
    steering: tables.SteeringTable
    n_az: int
    breathing_sos: np.ndarray
    breathing_sos_q29: np.ndarray
    quality_decimation: int
    quality_card_sos: np.ndarray
    quality_card_sos_q29: np.ndarray
    quality_noise_sos: np.ndarray
    quality_noise_sos_q29: np.ndarray
    quality_skip: int
    hysteresis_db: float = 3.0

    def for_dataset(self) -> "DspConfig":
        """The same chain taking a window every ``refresh_samples``: a training set's stride.
        Each such window is, byte for byte, the board's window ending at the same frame."""
        return dataclasses.replace(self, hop_samples=self.refresh_samples)

    @classmethod
    def from_profile(cls, profile, radar_cfg=None, *, quality_decimation: int = 4,
                     warmup_s: float = 2.0, noise_band_low_hz: float = 5.0) -> "DspConfig":
        """``profile``: ``boards.BoardProfile``; ``radar_cfg``: ``boards.radarcfg.RadarConfig``
        (loaded from ``profile.cfg_path`` when omitted)."""
        if radar_cfg is None:
            from boards.radarcfg import load_cfg

            radar_cfg = load_cfg(profile.cfg_path)
        d = profile.dsp
        fs = d.frame_rate_hz
        az, el = profile.beamforming.azimuth_grid_deg(), profile.beamforming.elevation_grid_deg()
        card = (float(d.cardiac_band_hz[0]), float(d.cardiac_band_hz[1]))
        breathing = tables.butter_sos(4, card[0], fs, "highpass")
        fs_q = fs / quality_decimation
        q_card = tables.bandpass_sos(2, card[0], card[1], fs_q)
        q_noise = tables.butter_sos(4, noise_band_low_hz, fs_q, "highpass")
        gain = profile.calibration.gain
        return cls(
            fs_hz=fs,
            window_samples=d.window_samples,
            hop_samples=d.hop_samples,
            lag_samples=d.window_samples - d.hop_samples if d.lag_samples is None else d.lag_samples,
            refresh_samples=d.hop_samples if d.refresh_samples is None else d.refresh_samples,
            warmup_samples=int(round(warmup_s * fs)),
            n_voxels=d.n_voxels,
            range_bins=d.range_bins,
            n_virtual=len(gain),
            wavelength_m=radar_cfg.profile.wavelength_m,
            range_resolution_m=radar_cfg.profile.range_resolution_m,
            cardiac_band_hz=card,
            breathing_band_hz=(float(d.breathing_band_hz[0]), float(d.breathing_band_hz[1])),
            gain=gain,
            gain_q14=tables.calibration_q14(gain),
            steering=tables.steering_table(profile.virtual_positions(), az, el),
            n_az=len(az),
            breathing_sos=breathing,
            breathing_sos_q29=tables.sos_q29(breathing),
            quality_decimation=quality_decimation,
            quality_card_sos=q_card,
            quality_card_sos_q29=tables.sos_q29(q_card),
            quality_noise_sos=q_noise,
            quality_noise_sos_q29=tables.sos_q29(q_noise),
            quality_skip=int(round(fs_q)),
        )
