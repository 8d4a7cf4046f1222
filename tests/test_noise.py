"""host.noise: constant white noise at a measured SNR, bursts on 20 % of segments, seeded."""

import numpy as np
import pytest

from cardioradar.errors import ConfigError, InputDataError
from host.noise import NoiseSpec, add_noise, signal_power

FS = 100.0


def _frames(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    # a strong static reflector plus a small moving part, like the module's output
    static = rng.normal(0, 800, (1, 15, 12, 2))
    wobble = 50 * np.sin(2 * np.pi * 1.2 * np.arange(n) / FS)[:, None, None, None]
    return np.rint(static + wobble + rng.normal(0, 5, (n, 15, 12, 2))).astype(np.int16)


def _snr_db(clean, noisy, sel=slice(None)):
    d = noisy[sel].astype(np.float64) - clean[sel]
    return 10 * np.log10(signal_power(clean) / np.mean(np.sum(d * d, axis=-1)))


@pytest.mark.parametrize("snr", [6.0, 0.0, -3.0])
def test_white_noise_at_the_requested_snr(snr):
    x = _frames()
    out = add_noise(x, NoiseSpec(snr_db=snr), FS, seed=3)
    assert out.frames.dtype == np.int16 and out.frames.shape == x.shape
    assert abs(_snr_db(x, out.frames) - snr) < 0.05
    assert len(out.burst_intervals) == 0


def test_same_seed_same_bytes_other_seed_differs():
    x = _frames(500)
    a = add_noise(x, NoiseSpec(snr_db=0.0, burst_s=1.0), FS, seed=9).frames
    b = add_noise(x, NoiseSpec(snr_db=0.0, burst_s=1.0), FS, seed=9).frames
    c = add_noise(x, NoiseSpec(snr_db=0.0, burst_s=1.0), FS, seed=10).frames
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


@pytest.mark.parametrize("burst_s,burst_db", [(1.0, 0.0), (2.0, -9.0), (3.0, -9.0)])
def test_bursts_cover_20_percent_of_segments(burst_s, burst_db):
    x = _frames(10240)  # 20 segments of 5.12 s
    spec = NoiseSpec(burst_s=burst_s, burst_db=burst_db)
    out = add_noise(x, spec, FS, seed=4)
    iv = out.burst_intervals
    seg = int(spec.segment_s * FS)
    assert len(iv) == 4  # 20 % of 20 segments
    assert np.all(iv[:, 1] - iv[:, 0] == int(burst_s * FS))
    segs = iv[:, 0] // seg
    assert len(set(segs.tolist())) == 4 and np.all((iv[:, 1] - 1) // seg == segs)  # one burst inside each
    inside = np.zeros(len(x), bool)
    for a, b in iv:
        inside[a:b] = True
    assert np.array_equal(out.frames[~inside], x[~inside])  # nothing outside the bursts
    assert abs(_snr_db(x, out.frames, inside) - burst_db) < 0.1


def test_saturates_to_int16():
    x = np.full((100, 15, 12, 2), 30000, np.int16)
    out = add_noise(x, NoiseSpec(snr_db=-3.0), FS, seed=1).frames
    assert out.max() == 32767 and out.min() >= -32768


def test_bad_inputs():
    with pytest.raises(ConfigError, match="bursts"):
        NoiseSpec(burst_s=6.0)
    with pytest.raises(InputDataError, match="int16"):
        add_noise(np.zeros((10, 15, 12, 2), np.float32), NoiseSpec(snr_db=0.0), FS, 0)
    assert not NoiseSpec().active and NoiseSpec().label() == "clean"
