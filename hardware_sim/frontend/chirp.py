"""Chirp timing and antenna geometry of the simulated module, derived from the `.cfg`.

Timing convention (the vendor's: profileCfg times are per chirp, the ADC start time and
TX start time count from the start of the ramp, and a chirp cycle is idle + ramp end):

    chirp c of a frame starts at      t_frame_s + c * (idle + rampEnd)
    its ramp starts at                chirp start + idle
    ADC sample n is taken at          ramp start + adcStart + n / fs
    instantaneous TX frequency        f0 + S * (t - ramp start)

so the "fast time" of sample n is ``adcStart + n / fs`` from the ramp start, the
frequency at the first sample is ``f0 + S * adcStart`` and the centre of the sampled
sweep is ``ProfileCfg.centre_freq_hz`` (the wavelength everything is phased to).

Geometry convention: docs/architecture.md fixes the far-field phase of virtual antenna
(p_az, p_el) (lambda/2 units) as exp(+j pi (p_az sin(az) cos(el) + p_el sin(el))). The IF
phase here is +2 pi f tau (the range FFT peaks at positive bins and the phase grows with
range, as on the device), so that convention holds when element (p_az, p_el) sits at
(-p_az, 0, -p_el) * lambda/2 in the radar frame: the board's lambda/2 coordinates count
towards -x and -z. Element (0, 0) is the radar-frame origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boards import AntennaConfig
from boards.radarcfg import C_M_PER_S, RadarConfig
from cardioradar.errors import ConfigError


@dataclass(frozen=True)
class ChirpTiming:
    """One frame's chirp schedule (TDM-MIMO: one TX per chirp slot, one loop)."""

    n_chirps: int
    n_adc: int
    chirp_period_s: float  # idle + ramp end
    idle_s: float
    adc_start_s: float  # from the ramp start
    fs_hz: float
    frame_period_s: float
    start_freq_hz: float
    slope_hz_per_s: float
    centre_freq_hz: float

    @classmethod
    def from_radar(cls, radar: RadarConfig) -> "ChirpTiming":
        p = radar.profile
        if radar.frame is None:
            raise ConfigError("radar config: frameCfg missing; expected one frameCfg line")
        if radar.frame.num_loops != 1:
            raise ConfigError(
                f"radar config: frameCfg numLoops: expected 1 (one chirp per TX per frame), "
                f"got {radar.frame.num_loops}"
            )
        if radar.adc is None or radar.adc.output_fmt != 1:
            got = None if radar.adc is None else radar.adc.output_fmt
            raise ConfigError(f"radar config: adcCfg adcOutputFmt: expected 1 (complex 1x), got {got}")
        for c in radar.chirps:
            if c.start_freq_var_mhz or c.slope_var_khz_per_us or c.idle_time_var_us or c.adc_start_time_var_us:
                raise ConfigError(
                    f"radar config: chirpCfg {c.start_idx}: expected zero start-freq/slope/idle/adc-start "
                    f"variations (not simulated), got {c}"
                )
        n_chirps = len(radar.chirp_tx_masks())
        if p.adc_start_time_us + p.adc_window_us > p.ramp_end_time_us + 1e-9:
            raise ConfigError(
                f"radar config: profileCfg: ADC window ends at {p.adc_start_time_us + p.adc_window_us:.2f} us, "
                f"expected <= rampEndTime {p.ramp_end_time_us} us"
            )
        period_s = radar.frame.period_ms * 1e-3
        busy_s = n_chirps * p.chirp_time_us * 1e-6
        if busy_s > period_s:
            raise ConfigError(
                f"radar config: frameCfg framePeriodicity: expected >= {busy_s * 1e3:.3f} ms "
                f"({n_chirps} chirps of {p.chirp_time_us} us), got {radar.frame.period_ms} ms"
            )
        return cls(
            n_chirps=n_chirps,
            n_adc=p.num_adc_samples,
            chirp_period_s=p.chirp_time_us * 1e-6,
            idle_s=p.idle_time_us * 1e-6,
            adc_start_s=p.adc_start_time_us * 1e-6,
            fs_hz=p.adc_rate_ksps * 1e3,
            frame_period_s=period_s,
            start_freq_hz=p.start_freq_ghz * 1e9,
            slope_hz_per_s=p.slope_hz_per_s,
            centre_freq_hz=p.centre_freq_hz,
        )

    @property
    def wavelength_m(self) -> float:
        return C_M_PER_S / self.centre_freq_hz

    def adc_first_offsets_s(self) -> np.ndarray:
        """(n_chirps,) float64 s: first ADC sample of each chirp, from the frame start."""
        return np.arange(self.n_chirps) * self.chirp_period_s + self.idle_s + self.adc_start_s

    def adc_window_times_s(self, t_frames_s: np.ndarray) -> np.ndarray:
        """(n_frames, n_chirps, 2) float64 s: times of the first and last ADC sample."""
        first = np.asarray(t_frames_s, float)[:, None] + self.adc_first_offsets_s()[None, :]
        last = first + (self.n_adc - 1) / self.fs_hz
        return np.stack([first, last], axis=-1)

    def sample_times_s(self, t_frame_s: float) -> np.ndarray:
        """(n_chirps, n_adc) float64 s: every ADC sample time of one frame."""
        n = np.arange(self.n_adc) / self.fs_hz
        return t_frame_s + self.adc_first_offsets_s()[:, None] + n[None, :]


@dataclass(frozen=True)
class ArrayGeometry:
    """Physical element positions (radar frame, m) and the TX fired in each chirp slot.

    tx_m: (n_tx, 3) float64; rx_m: (n_rx, 3) float64; chirp_tx: (n_chirps,) int64;
    phase_rotation: (n_virtual,) float64 of +1/-1 (feeds mounted rotated, e.g. AOP).
    """

    tx_m: np.ndarray
    rx_m: np.ndarray
    chirp_tx: np.ndarray
    phase_rotation: np.ndarray

    @classmethod
    def from_antennas(cls, antennas: AntennaConfig, radar: RadarConfig, wavelength_m: float) -> "ArrayGeometry":
        order = list(antennas.chirp_tx_order)
        if radar.chirp_tx_order() != order:
            raise ConfigError(
                f"antennas.chirp_tx_order: expected {radar.chirp_tx_order()} (the .cfg's chirpCfg TX masks), "
                f"got {order}"
            )
        n_rx = radar.channel.n_rx if radar.channel else len(antennas.rx_positions)
        if n_rx != len(antennas.rx_positions):
            raise ConfigError(
                f"radar config: channelCfg rxEnableMask: expected {len(antennas.rx_positions)} RX "
                f"(board profile), got {n_rx}"
            )
        half = 0.5 * wavelength_m

        def place(pos) -> np.ndarray:
            p = np.asarray(pos, float)
            return np.stack([-p[:, 0] * half, np.zeros(len(p)), -p[:, 1] * half], axis=1)

        return cls(
            tx_m=place(antennas.tx_positions),
            rx_m=place(antennas.rx_positions),
            chirp_tx=np.asarray(order, np.int64),
            phase_rotation=antennas.phase_rotation_array().astype(float),
        )

    @property
    def n_rx(self) -> int:
        return len(self.rx_m)

    @property
    def n_virtual(self) -> int:
        return len(self.chirp_tx) * len(self.rx_m)
