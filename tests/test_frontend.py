"""FMCW front end: geometry, phase, TDM timing, ADC vs fast mode, determinism, saturation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from boards import load_profile
from boards.radarcfg import C_M_PER_S, FrameCfg, load_cfg
from cardioradar.errors import CardioRadarError, ConfigError
from hardware_sim.frontend import FrontEnd, NoiseSettings
from hardware_sim.frontend.bench import SinusoidScene, bench_frontend
from hardware_sim.frontend.noise import FULL_SCALE_LSB, RADAR_EQ_K_M
from hardware_sim.types import Scatterers

PROFILE = load_profile("sim")
RADAR = load_cfg(PROFILE.cfg_path)
QUIET = NoiseSettings.off()


class Points:
    """Point scatterers p(t) = p0 + v t + a t^2 / 2 (m, m/s, m/s^2), each (n_s, 3)."""

    def __init__(self, p0, refl=np.sqrt(0.5), v=(0.0, 0.0, 0.0), acc=(0.0, 0.0, 0.0)):
        self.p0 = np.atleast_2d(np.asarray(p0, float))
        n = len(self.p0)
        self.refl = np.broadcast_to(np.asarray(refl, float), (n,)).copy()
        self.v = np.broadcast_to(np.asarray(v, float), (n, 3))
        self.acc = np.broadcast_to(np.asarray(acc, float), (n, 3))

    def scatterers_at(self, t_s):
        t = np.asarray(t_s, float)[:, None, None]
        pos = self.p0[None] + self.v[None] * t + 0.5 * self.acc[None] * t**2
        return Scatterers(pos, self.refl, np.ones(len(self.refl), bool))


def _fe(mode="adc", noise=QUIET, seed=0, radar=RADAR):
    return FrontEnd(radar, PROFILE.antennas, mode=mode, seed=seed, noise=noise)


def _point(r_m, az_deg, el_deg):
    az, el = np.radians(az_deg), np.radians(el_deg)
    return np.array([r_m * np.cos(el) * np.sin(az), r_m * np.cos(el) * np.cos(az), r_m * np.sin(el)])


def _cplx(x):
    return x[..., 0].astype(float) + 1j * x[..., 1].astype(float)


def _reference_if(fe: FrontEnd, scene, t_frame_s: float) -> np.ndarray:
    """(n_chirps, n_rx, n_adc) complex LSB: the IF from the scene at every sample time (numpy)."""
    t, g = fe.timing, fe.geometry
    times = t.sample_times_s(t_frame_s)  # (n_chirps, n_adc)
    sc = scene.scatterers_at(times.reshape(-1))
    pos = sc.positions_m.reshape(*times.shape, -1, 3)
    t_fast = t.adc_start_s + np.arange(t.n_adc) / t.fs_hz
    out = np.zeros((t.n_chirps, g.n_rx, t.n_adc), complex)
    for c in range(t.n_chirps):
        r_tx = np.linalg.norm(pos[c] - g.tx_m[g.chirp_tx[c]], axis=-1)  # (n_adc, n_s)
        for r in range(g.n_rx):
            r_rx = np.linalg.norm(pos[c] - g.rx_m[r], axis=-1)
            tau = (r_tx + r_rx) / C_M_PER_S
            ph = 2 * np.pi * (t.start_freq_hz * tau + t.slope_hz_per_s * tau * t_fast[:, None]
                              - 0.5 * t.slope_hz_per_s * tau**2)
            amp = RADAR_EQ_K_M * FULL_SCALE_LSB * sc.reflectivity / (r_tx * r_rx)
            amp = amp * 10.0 ** (fe.pattern.gain_db_at(pos[c]) / 20.0)  # two-way antenna gain (exact angles)
            out[c, r] = g.phase_rotation[c * g.n_rx + r] * np.sum(amp * np.exp(1j * ph), axis=-1)
    return out


def test_timing_and_bins_follow_the_cfg():
    fe = _fe()
    p = RADAR.profile
    assert fe.n_fft == 256 and fe.n_virtual == 12
    assert fe.bin_spacing_m == pytest.approx(p.range_resolution_m)
    first = fe.timing.adc_first_offsets_s()
    assert np.allclose(first, np.arange(3) * 70e-6 + 10e-6 + 6e-6)
    assert fe.timing.frame_period_s == pytest.approx(0.01)
    for k in (0, 14, 100):
        assert fe.bin_of_range(fe.range_m_of_bin(k)) == k
    with pytest.raises(ConfigError):
        fe.bin_of_range(-1.0)


def test_adc_kernel_matches_per_sample_reference_for_moving_target():
    """Every sample, every TDM slot: the kernel (positions at the ADC window ends, linear
    inside) equals an IF computed from the scene at each sample time, to ADC rounding."""
    fe = _fe()
    scene = Points([_point(0.7, 15, -8), _point(1.1, -20, 5)], [0.7, 0.4],
                   v=[(0.01, -0.05, 0.02), (0.0, 0.03, 0.0)], acc=[(0.0, 0.5, 0.0), (0.0, -1.0, 0.0)])
    adc = _cplx(fe.adc_samples(scene, 3, 0.5))
    ref = _reference_if(fe, scene, 0.5)
    # half an LSB of rounding on I and on Q, plus the amplitude held at its chirp mean (1/R^2)
    # and the antenna gain read from its table at the frame's start (within 1e-5: ~0.02 LSB)
    assert np.max(np.abs(adc.real - ref.real)) <= 0.6
    assert np.max(np.abs(adc.imag - ref.imag)) <= 0.6


def test_linear_motion_inside_a_chirp_is_within_1e6_rad():
    """The acceleration the linear interpolation leaves out: 1 m/s^2 stays below 1e-6 rad."""
    fe = _fe()
    t, g = fe.timing, fe.geometry
    scene = Points(_point(0.6, 10, 5), acc=(0.3, 1.0, 0.2) / np.linalg.norm((0.3, 1.0, 0.2)))
    times = t.sample_times_s(0.25)[1]
    pos = scene.scatterers_at(times).positions_m[:, 0]
    lin = pos[0] + (pos[-1] - pos[0]) * np.linspace(0, 1, t.n_adc)[:, None]
    tx, rx = g.tx_m[g.chirp_tx[1]], g.rx_m[2]

    def phase(p):
        tau = (np.linalg.norm(p - tx, axis=1) + np.linalg.norm(p - rx, axis=1)) / C_M_PER_S
        t_fast = t.adc_start_s + np.arange(t.n_adc) / t.fs_hz
        return 2 * np.pi * (t.start_freq_hz * tau + t.slope_hz_per_s * tau * t_fast - 0.5 * t.slope_hz_per_s * tau**2)

    err = np.max(np.abs(phase(pos) - phase(lin)))
    assert 1e-8 < err < 1e-6


@pytest.mark.parametrize("r_m,az_deg,el_deg", [(1.5, 20.0, 10.0), (0.9, -25.0, -12.0)])
def test_static_point_bin_and_angle(r_m, az_deg, el_deg):
    fe = _fe()
    heat = _cplx(fe.frame(Points(_point(r_m, az_deg, el_deg)), 0, 0.0, np.arange(fe.n_fft // 2)))
    power = np.sum(np.abs(heat) ** 2, axis=1)
    assert abs(int(np.argmax(power)) - r_m / fe.bin_spacing_m) <= 1.0
    x = heat[np.argmax(power)]
    pos = PROFILE.virtual_positions()
    az = np.radians(np.arange(-60, 60.01, 0.25))[:, None]
    el = np.radians(np.arange(-40, 40.01, 0.25))[None, :]
    steer = np.exp(1j * np.pi * (pos[:, 0, None, None] * np.sin(az) * np.cos(el) + pos[:, 1, None, None] * np.sin(el)))
    score = np.abs(np.einsum("vae,v->ae", steer.conj(), x))
    ia, ie = np.unravel_index(np.argmax(score), score.shape)
    assert np.degrees(az[ia, 0]) == pytest.approx(az_deg, abs=1.0)
    assert np.degrees(el[0, ie]) == pytest.approx(el_deg, abs=1.5)


def test_line_of_sight_motion_changes_phase_by_4pi_d_over_lambda():
    fe = _fe()
    lam = fe.timing.wavelength_m
    u = _point(1.0, 12.0, 6.0)
    k = fe.bin_of_range(0.7)
    base = _cplx(fe.frame(Points(0.7 * u), 0, 0.0, [k]))[0]
    for d in (0.1e-3, 0.35e-3, -0.2e-3):
        moved = _cplx(fe.frame(Points((0.7 + d) * u), 0, 0.0, [k]))[0]
        dphi = np.angle(moved * base.conj())
        expected = np.angle(np.exp(4j * np.pi * d / lam))
        assert np.max(np.abs(dphi - expected)) < 3e-3


def test_tdm_slots_see_the_motion_between_chirps():
    fe = _fe()
    lam = fe.timing.wavelength_m
    u = _point(1.0, 0.0, 0.0)
    v = 0.08  # m/s away from the radar
    k = fe.bin_of_range(0.8)
    static = _cplx(fe.frame(Points(0.8 * u), 0, 0.0, [k]))[0]
    moving = _cplx(fe.frame(Points(0.8 * u, v=v * u), 0, 0.0, [k]))[0]
    dphi = np.angle(moving * static.conj()).reshape(3, 4)  # (chirp slot, rx)
    t_mid = fe.timing.adc_first_offsets_s() + 0.5 * (fe.timing.n_adc - 1) / fe.timing.fs_hz
    expected = 4 * np.pi * v * t_mid / lam
    assert np.allclose(dphi, expected[:, None], atol=1e-3)
    assert np.all(np.diff(dphi.mean(axis=1)) > 5e-3)  # later slots see the target further away


def test_fast_mode_agrees_with_adc_level():
    for noise in (QUIET, NoiseSettings(thermal_dbfs=None)):  # without and with TX->RX leakage
        adc_fe, fast_fe = _fe("adc", noise), _fe("fast", noise)
        scene = SinusoidScene.chest(seed=4)
        k = adc_fe.bin_of_range(0.6)
        bins = np.arange(k - 3, k + 4)
        idx = np.arange(0, 60, 6)
        a = _cplx(adc_fe.frames(scene, idx, idx * 0.01, bins))
        f = _cplx(fast_fe.frames(scene, idx, idx * 0.01, bins))
        corr = np.abs(np.vdot(a, f)) / np.sqrt(np.vdot(a, a).real * np.vdot(f, f).real)
        err_db = 10 * np.log10(np.sum(np.abs(a - f) ** 2) / np.sum(np.abs(a) ** 2))
        assert corr > 0.999
        assert err_db <= -30.0


def test_fast_mode_noise_matches_adc_level_noise():
    noise = NoiseSettings(leakage_dbfs=None)
    scene = Points(_point(3.0, 0, 0), refl=1e-9)  # nothing in the bins looked at
    bins = np.arange(100, 115)
    idx = np.arange(20)
    std = [np.std(_cplx(_fe(m, noise, seed=5).frames(scene, idx, idx * 0.01, bins))) for m in ("adc", "fast")]
    assert std[0] > 10.0
    assert std[1] == pytest.approx(std[0], rel=0.06)


@pytest.mark.parametrize("mode", ["adc", "fast"])
def test_deterministic_per_seed_and_frame(mode):
    scene = SinusoidScene.chest(seed=2)
    bins = np.arange(8, 23)
    fe = _fe(mode, NoiseSettings(), seed=11)
    idx = np.array([5, 0, 9, 3])
    batch = fe.frames(scene, idx, idx * 0.01, bins)
    assert batch.dtype == np.int16 and batch.shape == (4, 15, 12, 2)
    again = _fe(mode, NoiseSettings(), seed=11)
    for j in (2, 0, 3, 1):  # other order, one at a time, fresh instance
        assert again.frame(scene, int(idx[j]), idx[j] * 0.01, bins).tobytes() == batch[j].tobytes()
    other = _fe(mode, NoiseSettings(), seed=12).frames(scene, idx, idx * 0.01, bins)
    assert not np.array_equal(other, batch)
    assert not np.array_equal(batch[0], batch[1])


def test_adc_saturates_instead_of_wrapping():
    fe = _fe()
    scene = Points(_point(0.15, 0, 0), refl=3.0)  # ~ +3 dBFS: clips
    adc = fe.adc_samples(scene, 0, 0.0).astype(int)
    ideal = _reference_if(fe, scene, 0.0)
    assert adc.max() == 32767 and adc.min() == -32768
    big = np.abs(ideal.real) > 33000
    assert big.any()
    assert np.all(np.sign(adc[..., 0][big]) == np.sign(ideal.real[big]))
    assert np.all(np.abs(adc[..., 0][big]) >= 32767)


def test_12_bit_adc_uses_steps_of_16_lsb():
    radar = replace(RADAR, adc=replace(RADAR.adc, num_adc_bits_code=0))
    fe = _fe(radar=radar, noise=NoiseSettings())
    adc = fe.adc_samples(Points(_point(0.6, 0, 0)), 0, 0.0)
    assert np.all(adc % 16 == 0) and np.any(adc != 0)


def test_chest_level_and_default_snr():
    """-20 dBFS at the ADC for a 0.5 m^2 chest at 0.6 m; ~45 dB above the noise in its bin."""
    fe = _fe(noise=NoiseSettings(leakage_dbfs=None))
    scene = Points(_point(0.6, 0, 0))
    clean = _cplx(_fe().adc_samples(scene, 0, 0.0))
    assert 20 * np.log10(np.abs(clean).mean() / FULL_SCALE_LSB) == pytest.approx(-20.0, abs=0.5)
    k = fe.bin_of_range(0.6)
    idx = np.arange(30)
    sig = np.abs(_cplx(_fe().frame(scene, 0, 0.0, [k]))).mean()
    floor = np.std(_cplx(fe.frames(Points(_point(3.0, 0, 0), refl=1e-9), idx, idx * 0.01, [k])))
    assert 40.0 < 20 * np.log10(sig / floor) < 50.0


def test_bad_configuration_is_refused():
    with pytest.raises(ConfigError, match="mode"):
        _fe("analog")
    loops = replace(RADAR, frame=FrameCfg(0, 2, 2, 0, 10.0, 1, 0.0))
    with pytest.raises(ConfigError, match="numLoops"):
        _fe(radar=loops)
    with pytest.raises(ConfigError, match="bins"):
        _fe().frame(Points(_point(0.6, 0, 0)), 0, 0.0, [300])
    with pytest.raises(CardioRadarError, match="frame_index"):
        _fe().frame(Points(_point(0.6, 0, 0)), -1, 0.0, [3])


def test_bench_reports_realtime_factor():
    out = bench_frontend(0.05, "fast")
    assert out["n_frames"] == 5 and out["bins"] == 15 and out["n_virtual"] == 12
    assert out["realtime_factor"] > 0 and out["realtime_factor_single"] > 0
