"""`FrontEnd`: scene -> the module's range-FFT output (int16) at the requested range bins.

Two modes with one contract:
- ``"adc"``: every ADC sample of every chirp (adc.py), then the fixed-point range FFT
  (rangefft.py) as the module computes it; the reference for what the device streams.
- ``"fast"``: the same output computed analytically per chirp (fast.py), for datasets.

Output layout: (n_bins, n_virtual, 2) int16, [..., 0] real, [..., 1] imaginary, virtual
antenna v = chirp_slot * n_rx + rx. Scaling: round(DFT(x w) / 64) in ADC LSB (rangefft.py).
"""

from __future__ import annotations

import logging

import numpy as np

from boards import AntennaConfig
from boards.radarcfg import C_M_PER_S, RadarConfig
from cardioradar.errors import ConfigError, InputDataError
from hardware_sim.types import ScatterSource

from . import adc as adc_mod
from . import fast as fast_mod
from .antenna import pattern_for
from .chirp import ArrayGeometry, ChirpTiming
from .noise import FULL_SCALE_LSB, RADAR_EQ_K_M, REF_RX_GAIN_DB, NoiseSettings, frame_keys, seed_key
from .rangefft import OUT_SHIFT, RangeFftTables, range_fft_fixed

log = logging.getLogger(__name__)

MODES = ("adc", "fast")
_WINDOW_TABLES: dict[tuple[bytes, int], tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = {}
_STREAM_ADC, _STREAM_FAST = 1, 2


class FrontEnd:
    """The simulated module's RF front end, ADC and on-chip range FFT."""

    def __init__(self, radar: RadarConfig, antennas: AntennaConfig, *, mode: str = "adc",
                 seed: int = 0, noise: NoiseSettings = NoiseSettings()):
        if mode not in MODES:
            raise ConfigError(f"FrontEnd mode: expected one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.seed = int(seed)
        self.noise = noise
        self.timing = ChirpTiming.from_radar(radar)
        self.geometry = ArrayGeometry.from_antennas(antennas, radar, self.timing.wavelength_m)
        self.pattern = pattern_for(antennas)
        self.tables = RangeFftTables(self.timing.n_adc)
        self.n_fft: int = self.tables.n_fft
        self.n_rx = self.geometry.n_rx
        self.n_virtual = self.geometry.n_virtual
        p = radar.profile
        self.adc_bits = radar.adc.num_bits
        # Everything scales with rx gain and TX back-off from the reference.
        gain = 10.0 ** ((p.rx_gain_value_db - REF_RX_GAIN_DB - p.tx_power_backoff_db) / 20.0)
        self._amp_k_lsb = RADAR_EQ_K_M * gain * FULL_SCALE_LSB
        self._sigma_lsb = noise.thermal_sigma_lsb(p.rx_gain_value_db)
        self._leak_amp_lsb = 0.0 if noise.leakage_dbfs is None else FULL_SCALE_LSB * 10.0 ** (noise.leakage_dbfs / 20.0)
        self._leak_path_m = 2.0 * noise.leakage_range_m
        step = 2 ** (16 - self.adc_bits) if noise.adc_quantization else 1
        self._step = float(step)
        self._codes = (float(-(2 ** 15) // step), float((2 ** 15) // step - 1))
        self._keys = (seed_key(self.seed, _STREAM_ADC), seed_key(self.seed, _STREAM_FAST))
        t = self.timing
        self._consts = (t.start_freq_hz, t.slope_hz_per_s, t.adc_start_s, 1.0 / t.fs_hz)
        self._leak_if = adc_mod.leakage_if(
            self.geometry.tx_m, self.geometry.rx_m, self.geometry.chirp_tx, t.n_adc, *self._consts,
            self._leak_amp_lsb, self._leak_path_m)
        self._table = None
        self._leak_bins: dict[tuple, np.ndarray] = {}
        log.debug("front end %s: %d chirps x %d rx, %d ADC samples, n_fft %d, %.4f m/bin, noise %s",
                  mode, t.n_chirps, self.n_rx, t.n_adc, self.n_fft, self.bin_spacing_m, noise)

    # ----- range bins -----
    @property
    def bin_spacing_m(self) -> float:
        """Range per FFT bin (m): c fs / (2 S n_fft); the range resolution when n_fft = n_adc."""
        return C_M_PER_S * self.timing.fs_hz / (2.0 * self.timing.slope_hz_per_s * self.n_fft)

    def range_m_of_bin(self, k) -> float:
        return float(k) * self.bin_spacing_m

    def bin_of_range(self, range_m: float) -> int:
        k = int(round(range_m / self.bin_spacing_m))
        if not 0 <= k < self.n_fft:
            raise ConfigError(
                f"range {range_m} m: expected 0..{self.range_m_of_bin(self.n_fft - 1):.3f} m "
                f"(range bins 0..{self.n_fft - 1}), got bin {k}")
        return k

    # ----- frames -----
    def frame(self, scene: ScatterSource, frame_index: int, t_frame_s: float, bins: np.ndarray) -> np.ndarray:
        """(len(bins), n_virtual, 2) int16: the module's range-FFT output of one frame."""
        return self.frames(scene, np.array([frame_index]), np.array([t_frame_s]), bins)[0]

    def frames(self, scene: ScatterSource, frame_indices: np.ndarray, t_frames_s: np.ndarray,
               bins: np.ndarray) -> np.ndarray:
        """(n_frames, len(bins), n_virtual, 2) int16; byte-identical to calling ``frame`` per frame."""
        idx, t_s, bins = self._check_frames(frame_indices, t_frames_s, bins)
        return self.frames_at(self._positions(scene, t_s), idx, bins)

    def scene_at(self, scene: ScatterSource, t_frames_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The scene over frames' ADC windows: positions (n_frames, n_chirps, 2, n_s, 3) m and
        amplitudes (n_frames, n_s); rows of it (``[rows]`` of both) go to ``frames_at``. Lets
        one scene evaluation serve frames wanted at different bins (the firmware's window)."""
        return self._positions(scene, np.asarray(t_frames_s, float).reshape(-1))

    def frames_at(self, scene_rows: tuple[np.ndarray, np.ndarray], frame_indices: np.ndarray,
                  bins: np.ndarray, skip: np.ndarray | None = None, noise_bin0: int = 0) -> np.ndarray:
        """``frames`` from ``scene_at`` rows of the same frames (same bytes). ``skip`` (n,)
        bool: frames not wanted (fast mode leaves them zero; ADC mode computes every frame).
        ``noise_bin0``: these bins are part of a request for more, starting noise_bin0 bins
        before them (fast mode keys each output bin's noise by its position in the request;
        this gives that request's bytes for these bins)."""
        pos, refl = scene_rows
        idx, _, bins = self._check_frames(frame_indices, np.zeros(len(pos)), bins)
        if self.mode == "adc":
            adc = self._synth(pos, refl, idx)
            spec = range_fft_fixed(adc, self.tables, bins)  # (n_frames, n_chirps, n_rx, n_bins, 2)
            spec = spec.reshape(len(idx), self.n_virtual, len(bins), 2)
            return np.ascontiguousarray(spec.transpose(0, 2, 1, 3))
        return self._fast(pos, refl, idx, bins, skip, int(noise_bin0))

    def adc_samples(self, scene: ScatterSource, frame_index: int, t_frame_s: float) -> np.ndarray:
        """(n_chirps, n_rx, n_adc, 2) int16: one frame's raw ADC samples (I, Q)."""
        idx, t_s, _ = self._check_frames(np.array([frame_index]), np.array([t_frame_s]), np.array([0]))
        pos, refl = self._positions(scene, t_s)
        return self._synth(pos, refl, idx)[0]

    # ----- internals -----
    def _check_frames(self, frame_indices, t_frames_s, bins):
        idx = np.asarray(frame_indices, np.int64).reshape(-1)
        t_s = np.asarray(t_frames_s, float).reshape(-1)
        bins = np.asarray(bins, np.int64).reshape(-1)
        if idx.shape != t_s.shape:
            raise InputDataError(f"frames: expected as many frame times as indices ({len(idx)}), got {len(t_s)}")
        if idx.size and idx.min() < 0:
            raise InputDataError(f"frame_index: expected >= 0, got {int(idx.min())}")
        if bins.size == 0 or bins.min() < 0 or bins.max() >= self.n_fft:
            raise ConfigError(f"bins: expected 1 or more range bins in 0..{self.n_fft - 1}, got {bins.tolist()}")
        return idx, t_s, bins

    def _positions(self, scene: ScatterSource, t_frames_s: np.ndarray):
        """Scene at each chirp's first and last ADC sample: (n_frames, n_chirps, 2, n_s, 3), and
        each scatterer's amplitude (n_frames, n_s): reflectivity x the antennas' two-way gain
        towards it at the frame's first ADC sample (antenna.py; one model for both paths)."""
        times = self.timing.adc_window_times_s(t_frames_s)
        sc = scene.scatterers_at(times.reshape(-1))
        pos = np.asarray(sc.positions_m, float)
        if pos.ndim != 3 or pos.shape[0] != times.size or pos.shape[2] != 3:
            raise InputDataError(
                f"scene.scatterers_at: positions_m expected shape ({times.size}, n_s, 3), got {pos.shape}")
        refl = np.ascontiguousarray(sc.reflectivity, float)
        if refl.shape != (pos.shape[1],):
            raise InputDataError(f"scene.scatterers_at: reflectivity expected shape ({pos.shape[1]},), got {refl.shape}")
        pos = np.ascontiguousarray(pos.reshape(*times.shape, pos.shape[1], 3))
        return pos, self.pattern.amplitudes(pos[:, 0, 0], refl)

    def _fkeys(self, idx: np.ndarray, stream: int) -> np.ndarray:
        return frame_keys(self._keys[stream - 1], idx)

    def _synth(self, pos, refl, idx) -> np.ndarray:
        g, t = self.geometry, self.timing
        out = np.empty((len(idx), t.n_chirps, g.n_rx, t.n_adc, 2), np.int16)
        adc_mod.synth_adc(pos, refl, g.tx_m, g.rx_m, g.chirp_tx, g.phase_rotation, self._leak_if,
                          *self._consts, self._amp_k_lsb, self._fkeys(idx, _STREAM_ADC),
                          self._sigma_lsb, self._step, *self._codes, out)
        return out

    def _fast_tables(self, bins: np.ndarray):
        if self._table is None:
            key = (self.tables.window.tobytes(), self.n_fft)
            if key not in _WINDOW_TABLES:  # 0.3 s to build; the same for every front end of a profile
                table = fast_mod.window_response_table(self.tables.window, self.n_fft, fast_mod.TABLE_OVERSAMPLE)
                _WINDOW_TABLES[key] = (table, fast_mod.split_table(table, fast_mod.TABLE_OVERSAMPLE))
            self._table, self._split_table = _WINDOW_TABLES[key]
            nc = 0.5 * (self.timing.n_adc - 1)
            self._bin_rot_all = np.exp(-2j * np.pi * np.arange(self.n_fft) * nc / self.n_fft)
            w = self.tables.window / 2.0**15
            sigma_in2 = self._sigma_lsb**2 + self._step**2 / 12.0  # per component, thermal + ADC rounding
            self._sigma_out = float(np.sqrt(sigma_in2 * np.sum(w**2))) / 2.0**OUT_SHIFT
        key = tuple(bins.tolist())
        if key not in self._leak_bins:
            g = self.geometry
            self._leak_bins[key] = fast_mod.leakage_bins(
                g.tx_m, g.rx_m, g.chirp_tx, bins, self._table, self.n_fft,
                fast_mod.TABLE_OVERSAMPLE, self.timing.n_adc, *self._consts,
                self._leak_amp_lsb / 2.0**OUT_SHIFT, self._leak_path_m)
        return self._leak_bins[key]

    def _fast(self, pos, refl, idx, bins, skip=None, noise_bin0: int = 0) -> np.ndarray:
        leak = self._fast_tables(bins)
        g, t = self.geometry, self.timing
        shape = (len(idx), len(bins), self.n_virtual, 2)
        if skip is None:
            out, skip = np.empty(shape, np.int16), np.zeros(len(idx), np.bool_)
        else:
            out, skip = np.zeros(shape, np.int16), np.asarray(skip, np.bool_)
        fast_mod.fast_frames_split(pos, refl, g.tx_m, g.rx_m, g.chirp_tx, g.phase_rotation, leak, bins,
                                   self._bin_rot_all[bins], *self._split_table, self.n_fft,
                                   fast_mod.TABLE_OVERSAMPLE, t.n_adc, *self._consts,
                                   self._amp_k_lsb / 2.0**OUT_SHIFT, self._fkeys(idx, _STREAM_FAST),
                                   self._sigma_out, out, skip, noise_bin0)
        return out
