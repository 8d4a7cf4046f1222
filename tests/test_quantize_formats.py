"""fixedpoint.formats and fixedpoint.tables: rounding, saturation, overflow, table contents."""

import numpy as np
import pytest
from scipy import signal

from fixedpoint import tables
from fixedpoint.formats import (Q14, Q15, Q29, FixedPointOverflow, QFormat, quantized_multiplier,
                              round_shift, sat16, wrap32)


def test_qformat_rounds_half_up_and_saturates_or_raises():
    assert Q15.word_bits == 16 and Q15.dtype == np.int16 and Q29.dtype == np.int32
    assert Q15.to_fixed([0.5, -0.5, 2.0**-16, -(2.0**-16)]).tolist() == [16384, -16384, 1, 0]
    assert Q15.to_fixed([1.0, -2.0], saturate=True).tolist() == [32767, -32768]
    with pytest.raises(FixedPointOverflow, match=r"gain \(Q0.15\).*32768"):
        Q15.to_fixed(1.0, name="gain")
    assert Q14.to_fixed([1.0, -1.0]).tolist() == [16384, -16384]  # exact unit gains
    np.testing.assert_allclose(QFormat(3, 12).to_float(QFormat(3, 12).to_fixed(1.2345)), 1.2345, atol=2**-13)


def test_numba_helpers_round_saturate_and_wrap():
    assert [round_shift(v, 2) for v in (5, 6, -5, -6, -7)] == [1, 2, -1, -1, -2]
    assert sat16(40000) == 32767 and sat16(-40000) == -32768 and sat16(12) == 12
    assert wrap32(2**31) == -(2**31) and wrap32(-(2**31) - 1) == 2**31 - 1 and wrap32(5) == 5


@pytest.mark.parametrize("real", [1e-3, 0.37, 1.0, 123.456, 2.0**20 + 0.3])
def test_quantized_multiplier_reproduces_the_real(real):
    m, shift = quantized_multiplier(real)
    assert 2**30 <= m < 2**31
    assert abs(m * 2.0 ** (shift - 31) / real - 1) < 2**-30
    with pytest.raises(FixedPointOverflow):
        quantized_multiplier(0.0)


@pytest.mark.parametrize("kind,fc", [("highpass", 0.8), ("lowpass", 3.0), ("highpass", 5.0)])
def test_butter_sos_matches_scipy_response(kind, fc):
    fs = 100.0
    ours = tables.butter_sos(4, fc, fs, kind)
    ref = signal.butter(4, fc, btype=kind, fs=fs, output="sos")
    w = np.linspace(0.01, 49.9, 500)
    _, h_ours = signal.sosfreqz(ours, w, fs=fs)
    _, h_ref = signal.sosfreqz(ref, w, fs=fs)
    np.testing.assert_allclose(np.abs(h_ours), np.abs(h_ref), atol=1e-9)
    q = tables.sos_q29(ours)
    assert q.dtype == np.int32
    _, h_q = signal.sosfreqz(tables.sos_from_q29(q), w, fs=fs)
    assert np.max(np.abs(h_q - h_ours)) < 1e-5  # Q2.29 keeps the response


def test_steering_table_follows_the_convention():
    pos = np.array([[0, 0], [1, 0], [0, 1], [3, 1]], float)
    st = tables.steering_table(pos, np.array([-20.0, 0.0, 30.0]), np.array([-10.0, 10.0]))
    assert st.weights_q15.shape == (6, 4, 2) and st.weights_q15.dtype == np.int16
    a = 1 * 3 + 2  # el index 1 (10 deg), az index 2 (30 deg)
    assert st.angle_deg(a) == (30.0, 10.0)
    az, el = np.deg2rad(30.0), np.deg2rad(10.0)
    expect = np.exp(1j * np.pi * (pos[:, 0] * np.sin(az) * np.cos(el) + pos[:, 1] * np.sin(el)))
    np.testing.assert_allclose(st.weights[a], np.conj(expect), atol=1e-12)
    w = st.weights_q15[a, :, 0] + 1j * st.weights_q15[a, :, 1]
    np.testing.assert_allclose(w / 2**15, np.conj(expect), atol=2**-15)


def test_calibration_table_rejects_gains_out_of_range():
    g = tables.calibration_q14(np.array([1, -1, 0.5j, 1.999]))
    assert g[:, 0].tolist() == [16384, -16384, 0, 32752] and g[2, 1] == 8192
    with pytest.raises(FixedPointOverflow, match="calibration.gain_re"):
        tables.calibration_q14(np.array([2.5]))


def test_cordic_tables():
    atan = tables.cordic_atan_bam(tables.CORDIC_ITERATIONS)
    assert atan[0] == 2**29  # atan(1) = pi / 4
    k = tables.cordic_inv_gain_q30() / 2**30
    assert abs(k - 0.6072529350088813) < 1e-9
