"""Each fixed-point DSP kernel against its float64 reference on a synthetic chest
(quantize.synthetic: a point scatterer rendered straight into the heatmap)."""

import numpy as np
import pytest

from boards import load_profile
from cardioradar.errors import ConfigError, InputDataError
from edge.dsp.beamform import beamform_q15, beamform_ref, full_grid
from edge.dsp.biquad import sos_filter_q29, sos_filter_ref
from edge.dsp.calibrate import calibrate_q14, calibrate_ref
from edge.dsp.config import DspConfig
from edge.dsp.cordic import bam_to_rad, cordic
from edge.dsp.differentiator import second_derivative_q, second_derivative_ref
from edge.dsp.normalize import normalize_q15, normalize_ref
from edge.dsp.pipeline import DspPipeline
from edge.dsp.select import GridQuality, VoxelSelector
from edge.dsp.tensor import FeatureLayout, ModelInputSpec, quantize_int8_ref, to_model_input
from edge.dsp.unwrap import phase_q24_to_rad, unwrap_bam, unwrap_ref
from quantize.sqnr import kernel_sqnrs, sqnr_db
from quantize.synthetic import SyntheticChest, render


@pytest.fixture(scope="module")
def cfg():
    return DspConfig.from_profile(load_profile("sim"))


@pytest.fixture(scope="module")
def rec(cfg):
    chest = SyntheticChest(breathing_pp_mm=12.0, breathing_hz=0.45, az_deg=-10.0)
    return render(chest, load_profile("sim").virtual_positions(), cfg.wavelength_m, cfg.range_resolution_m,
                  1500, seed=11)


def _c(x):
    return x[..., 0].astype(float) + 1j * x[..., 1]


def test_every_kernel_reaches_60_db_on_the_synthetic_chest(cfg, rec):
    res, extras = kernel_sqnrs(rec.frames, cfg)
    low = {k: round(v, 1) for k, v in res.items() if v < 60.0}
    assert not low, f"kernels under 60 dB: {low}"
    assert extras["int8_mismatches"] == 0
    assert res["differentiator"] == 200.0 and res["calibrate"] == 200.0  # exact integer arithmetic


def test_same_input_same_bits(cfg, rec):
    a = kernel_sqnrs(rec.frames, cfg)[1]["digest"]
    b = kernel_sqnrs(rec.frames.copy(), cfg)[1]["digest"]
    assert a == b


def test_calibration_undoes_a_feed_rotation(cfg):
    x = np.array([[[[1000, -300], [-1000, 300]]]], np.int16)  # 1 frame, 1 bin, 2 antennas
    g = np.array([[16384, 0], [-16384, 0]], np.int16)  # +1, -1
    y = calibrate_q14(x, g)
    assert y[0, 0].tolist() == [[1000, -300], [1000, -300]]
    big = np.array([[[[32767, 32767]]]], np.int16)
    assert calibrate_q14(big, np.array([[16384, 16384]], np.int16))[0, 0, 0].tolist() == [0, 32767]  # saturated


def test_beamformer_peaks_at_the_rendered_direction(cfg, rec):
    cal = calibrate_q14(rec.frames, cfg.gain_q14)
    r, a = full_grid(cfg.range_bins, cfg.steering.n_angles)
    power = (_c(beamform_q15(cal, cfg.steering.weights_q15, r, a, 10)).__abs__() ** 2).mean(0)
    k = int(np.argmax(power))
    assert r[k] == rec.subject_bin
    assert cfg.steering.angle_deg(a[k]) == (-10.0, 0.0)
    ref = beamform_ref(_c(cal), cfg.steering.weights, r, a, 10)
    assert int(np.argmax((np.abs(ref) ** 2).mean(0))) == k


def test_cordic_on_all_quadrants_and_tiny_vectors():
    ang = np.linspace(-np.pi, np.pi, 721)
    for radius in (3.0, 1e3, 2e7):
        iq = np.round(np.stack([radius * np.cos(ang), radius * np.sin(ang)], -1)).astype(np.int32)[:, None, :]
        mag, ph = cordic(iq)
        z = _c(iq[:, 0])
        np.testing.assert_allclose(mag[:, 0], np.abs(z), atol=1.0)
        err = np.angle(np.exp(1j * (bam_to_rad(ph[:, 0]) - np.angle(z))))
        assert np.abs(err).max() < 1e-7
    mag, ph = cordic(np.zeros((1, 1, 2), np.int32))
    assert mag[0, 0] == 0 and ph[0, 0] == 0


def test_unwrap_follows_12_mm_breathing_at_60_ghz(cfg, rec):
    """12 mm peak-to-peak at 0.45 Hz wraps the phase about 5 times per breath."""
    z = np.exp(-1j * 4 * np.pi * (0.5 - rec.displacement_m) / cfg.wavelength_m) * 20000
    bam = np.round(np.angle(z) / np.pi * 2**31).clip(-(2**31), 2**31 - 1).astype(np.int32)[:, None]
    u = phase_q24_to_rad(unwrap_bam(bam))[:, 0]
    truth = 4 * np.pi * rec.displacement_m / cfg.wavelength_m
    assert np.ptp(truth) > 25.0  # many wraps
    np.testing.assert_allclose(u - u[0], truth - truth[0], atol=1e-6)
    np.testing.assert_allclose(u, unwrap_ref(bam_to_rad(bam))[:, 0], atol=1e-6)


def test_differentiator_is_exact_even_across_the_modular_wrap():
    rng = np.random.default_rng(5)
    x = (np.cumsum(rng.integers(-2**22, 2**22, size=(400, 3)), axis=0) + 2**31 - 2**24).astype(np.int64)
    wrapped = ((x + 2**31) % 2**32 - 2**31).astype(np.int32)  # crosses +-2**31
    assert (np.diff(wrapped[:, 0].astype(np.int64)) > 2**31).any() or (np.abs(np.diff(wrapped, axis=0)) > 2**30).any()
    y = second_derivative_q(wrapped)
    np.testing.assert_array_equal(y, second_derivative_ref(x.astype(float)).astype(np.int64))
    assert second_derivative_q(np.zeros((4, 2), np.int32)).shape == (0, 2)
    t = np.arange(100) * 0.01
    quad = (3.0 * t**2)[:, None]  # f'' = 6, dt = 0.01 -> 16 * 1e-4 * 6
    np.testing.assert_allclose(second_derivative_ref(quad), 16 * 1e-4 * 6.0)


def test_breathing_suppression_removes_breathing_and_keeps_the_heart(cfg):
    t = np.arange(3000) / cfg.fs_hz
    breath = np.round(2e7 * np.sin(2 * np.pi * 0.3 * t)).astype(np.int32)[:, None]
    heart = np.round(1e5 * np.sin(2 * np.pi * 1.5 * t)).astype(np.int32)[:, None]
    yb = sos_filter_q29(breath, cfg.breathing_sos_q29)[1000:, 0]
    yh = sos_filter_q29(heart, cfg.breathing_sos_q29)[1000:, 0]
    assert sqnr_db(sos_filter_ref(breath.astype(float), cfg.breathing_sos)[1000:, 0], yb) > 60
    assert sqnr_db(sos_filter_ref(heart.astype(float), cfg.breathing_sos)[1000:, 0], yh) > 60
    assert np.std(yb) < 0.025 * np.std(breath)  # 0.3 Hz: -34 dB by design (order 4 at 0.8 Hz)
    assert 0.95 < np.std(yh) / np.std(heart[1000:]) < 1.01  # 1.5 Hz heart kept


def test_normalize_and_int8(cfg):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((512, 4)) * [1e3, 1e6, 5.0, 0.0] + [7, -9e6, 0, 12]).astype(np.int32)
    q = normalize_q15(x)
    assert sqnr_db(normalize_ref(x)[:, :3], q[:, :3] / 2**15) > 60
    assert (q[:, 3] == 0).all()  # a constant channel
    spec = ModelInputSpec(1.0 / 128, -3, FeatureLayout(512, 4, 100.0, order="CVT"))
    feats = np.stack([q, q // 2, -q], -1)  # (T, V, C)
    t8 = to_model_input(feats, spec)
    assert t8.shape == (1, 3, 4, 512) == spec.layout.shape and t8.dtype == np.int8
    np.testing.assert_array_equal(t8[0].transpose(2, 1, 0), quantize_int8_ref(feats / 2**15, 1.0 / 128, -3))
    with pytest.raises(ConfigError, match="zero_point"):
        ModelInputSpec(0.1, 300, spec.layout)
    with pytest.raises(ConfigError, match="expected features"):
        to_model_input(feats[:100], spec)


def test_selector_hysteresis_and_reselection_on_movement():
    sel = VoxelSelector(n_voxels=2, n_angles=4, n_az=2, hysteresis_db=3.0)
    q = np.zeros(16)  # 4 range bins x 4 angles
    q[[1, 2]] = [20.0, 18.0]
    c = sel.update(GridQuality(q, q, (0, 1)))
    assert c.reason == "initial" and sorted(c.angle_idx.tolist()) == [1, 2]
    q2 = q.copy()
    q2[3] = 19.0  # better than 18, but by less than the hysteresis
    assert sel.update(GridQuality(q2, q2, (0, 1))).reason == "held"
    q2[3] = 25.0
    c = sel.update(GridQuality(q2, q2, (0, 1)))
    assert c.reason == "better" and c.angle_idx.tolist() == [1, 3]  # the swapped voxel keeps its slot
    q3 = np.zeros(16)
    q3[[13, 14]] = [10.0, 9.0]  # weaker than the held voxels: hysteresis alone would keep them
    c = sel.update(GridQuality(q3, q3, (3, 1)))  # the strongest echo jumped 3 range bins
    assert c.reason == "moved" and c.range_idx.tolist() == [3, 3]


def test_pipeline_rejects_bad_frames_and_windows_on_schedule(cfg, rec):
    pipe = DspPipeline(cfg)
    with pytest.raises(InputDataError, match="int16"):
        pipe.push(rec.frames.astype(np.int32))
    first = cfg.window_samples + cfg.warmup_samples + 3
    assert pipe.push(rec.frames[:first - 1]) == []
    out = pipe.push(rec.frames[first - 1:first + cfg.hop_samples])
    assert [w.start_frame for w in out] == [first - 3 - cfg.window_samples, first - 3 - cfg.window_samples + cfg.hop_samples]
    f = out[0]
    assert f.features_q15.shape == (cfg.window_samples, cfg.n_voxels, 3) and f.features_q15.dtype == np.int16
    assert f.choice.range_idx.tolist().count(rec.subject_bin) >= 2
