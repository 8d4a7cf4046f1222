"""host.noise: the two noise definitions (paper: the demodulated voxel signal; frames: the raw
frames against the subject's echo) hit their SNR on the signal they name; bursts cover 20 %
of segments with the requested length; seeded; the board's DSP without the hook is unchanged."""

import hashlib

import numpy as np
import pytest
from scipy.signal import sosfilt

from boards import load_profile
from cardioradar.errors import ConfigError, InputDataError
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
from host.noise import NoiseSpec, PaperNoise, add_noise, apply_noise, echo_power, echo_range_bins

FS = 100.0
CFG = DspConfig.from_profile(load_profile("sim"))
ECHO_BIN = 6


def _frames(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    # a strong static reflector plus a small moving part, like the module's output
    static = rng.normal(0, 800, (1, 15, 12, 2))
    wobble = 50 * np.sin(2 * np.pi * 1.2 * np.arange(n) / FS)[:, None, None, None]
    return np.rint(static + wobble + rng.normal(0, 5, (n, 15, 12, 2))).astype(np.int16)


def _dsp_frames(n=3019, seed=0):
    """A chest in range bin 6 at broadside (breathing 0.25 Hz, 4 mm; heart 1.2 Hz, 0.2 mm at
    60 GHz) over static clutter and receiver noise: 10 model windows of the sim board."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    disp_m = 4e-3 * np.sin(2 * np.pi * 0.25 * t) + 2e-4 * np.sin(2 * np.pi * 1.2 * t) ** 3
    echo = 3000 * np.exp(1j * 4 * np.pi * disp_m / 5e-3)
    x = np.zeros((n, 15, 12), complex) + rng.normal(0, 2000, (1, 15, 12)) + 1j * rng.normal(0, 2000, (1, 15, 12))
    x[:, ECHO_BIN, :] += echo[:, None]
    x += rng.normal(0, 20, x.shape) + 1j * rng.normal(0, 20, x.shape)
    return np.rint(np.stack([x.real, x.imag], axis=-1)).astype(np.int16)


def _digest(windows) -> str:
    h = hashlib.sha256()
    for f in windows:
        for a in (f.features_q15, f.raw_dd, f.phase_q24):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _snr_db(clean, noisy, p_ref, sel=slice(None)):
    d = noisy[sel].astype(np.float64) - clean[sel]
    return 10 * np.log10(p_ref / np.mean(np.sum(d * d, axis=-1)))


class _Tap:
    """A demod_hook that records what the paper hook got and gave, per window."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def __call__(self, chans, first_frame):
        out = self.inner(chans, first_frame)
        self.seen.append((first_frame, chans.copy(), out.copy()))
        return out


def _continuous(chans, k):
    x = chans.astype(np.int64)
    x[1:, :k] = x[0, :k] + np.cumsum((np.diff(x[:, :k], axis=0) + 2**31) % 2**32 - 2**31, axis=0)
    return x.astype(np.float64)


def _ref_power(clean):
    """The reference the paper definition names, computed here from its words: each channel's
    mean square after the board's breathing high-pass, the DSP's warm-up dropped."""
    return np.mean(sosfilt(CFG.breathing_sos, clean - clean[0], axis=0)[CFG.warmup_samples:] ** 2, axis=0)


# ---- frames ------------------------------------------------------------------------------
@pytest.mark.parametrize("snr", [6.0, 0.0, -3.0])
def test_frames_white_noise_at_the_requested_snr_against_the_echo(snr):
    x = _frames()
    out = add_noise(x, NoiseSpec(snr_db=snr, on="frames"), FS, seed=3, echo_bins=[2])
    assert out.frames.dtype == np.int16 and out.frames.shape == x.shape
    assert out.signal_power == pytest.approx(echo_power(x, [2]))
    assert abs(_snr_db(x, out.frames, out.signal_power) - snr) < 0.5
    assert out.signal_power < 0.01 * np.mean(np.sum(x.astype(float) ** 2, axis=-1))  # not the clutter's power
    assert len(out.burst_intervals) == 0


def test_frames_echo_bins_are_the_dsp_selection():
    x = _dsp_frames()
    assert ECHO_BIN in echo_range_bins(x, CFG).tolist()
    noisy, hook = apply_noise(x, NoiseSpec(snr_db=-3.0, on="frames"), CFG, seed=2)
    assert hook is None and abs(_snr_db(x, noisy, echo_power(x, echo_range_bins(x, CFG))) + 3.0) < 0.5


def test_same_seed_same_bytes_other_seed_differs():
    x = _frames(500)
    spec = NoiseSpec(snr_db=0.0, burst_s=1.0, on="frames")
    a, b, c = (add_noise(x, spec, FS, seed=s).frames for s in (9, 9, 10))
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


@pytest.mark.parametrize("burst_s,burst_db", [(1.0, 0.0), (2.0, -9.0), (3.0, -9.0)])
def test_frames_bursts_cover_20_percent_of_segments(burst_s, burst_db):
    x = _frames(10240)  # 20 segments of 5.12 s
    spec = NoiseSpec(burst_s=burst_s, burst_db=burst_db, on="frames")
    out = add_noise(x, spec, FS, seed=4, echo_bins=[0, 1])
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
    assert abs(_snr_db(x, out.frames, out.signal_power, inside) - burst_db) < 0.5


def test_saturates_to_int16():
    x = np.full((100, 15, 12, 2), 30000, np.int16)
    x[::2] = -30000  # a dynamic part as large as the range
    out = add_noise(x, NoiseSpec(snr_db=-3.0, on="frames"), FS, seed=1).frames
    assert out.max() == 32767 and out.min() == -32768


# ---- paper -------------------------------------------------------------------------------
def _paper_run(spec, seed=5):
    x = _dsp_frames()
    frames, hook = apply_noise(x, spec, CFG, seed)
    assert frames is x and isinstance(hook, PaperNoise)
    tap = _Tap(hook)
    return process_recording(frames, CFG, demod_hook=tap), tap, hook


@pytest.mark.parametrize("snr", [6.0, -3.0])
def test_paper_white_noise_at_the_requested_snr_per_channel(snr):
    windows, tap, hook = _paper_run(NoiseSpec(snr_db=snr))
    assert len(windows) == len(tap.seen) == hook.n_windows >= 10
    k = CFG.n_voxels
    ratios = []
    for _, clean, noisy in tap.seen:
        c, n = _continuous(clean, k), _continuous(noisy, k)
        ratios.append(_ref_power(c) / np.mean((n - c) ** 2, axis=0))
    snr_per_channel = 10 * np.log10(np.mean(ratios, axis=0))  # phase x K, I x K, Q x K
    assert np.all(np.abs(snr_per_channel - snr) < 0.5), snr_per_channel
    # the reference is the signal without breathing: far below the raw phase's power
    c = _continuous(tap.seen[0][1], k)
    assert np.all(_ref_power(c)[:k] < 0.1 * np.var(c[:, :k], axis=0))
    clean = process_recording(_dsp_frames(), CFG)
    assert not np.array_equal(windows[0].features_q15, clean[0].features_q15)


@pytest.mark.parametrize("burst_s,burst_db", [(1.0, 0.0), (3.0, -9.0)])
def test_paper_bursts_on_20_percent_of_windows(burst_s, burst_db):
    _, tap, hook = _paper_run(NoiseSpec(burst_s=burst_s, burst_db=burst_db))
    assert len(hook.bursts) == round(0.2 * hook.n_windows) >= 2
    assert set(hook.bursts) == hook.burst_windows
    k, w, n_burst = CFG.n_voxels, CFG.window_samples, int(burst_s * FS)
    for first, clean, noisy in tap.seen:
        win = first // CFG.hop_samples
        c, n = _continuous(clean, k), _continuous(noisy, k)
        if win not in hook.bursts:
            assert np.array_equal(clean, noisy)
            continue
        a, b = hook.bursts[win]
        assert b - a == n_burst and len(c) - 3 - w <= a and b <= len(c) - 3  # inside the window's own rows
        outside = np.ones(len(c), bool)
        outside[a:b] = False
        assert np.array_equal(c[outside], n[outside])
        got = 10 * np.log10(np.mean(_ref_power(c) / np.mean((n[a:b] - c[a:b]) ** 2, axis=0)))
        assert abs(got - burst_db) < 0.5


def test_paper_same_seed_same_bytes():
    a = _digest(_paper_run(NoiseSpec(snr_db=0.0, burst_s=2.0), seed=8)[0])
    b = _digest(_paper_run(NoiseSpec(snr_db=0.0, burst_s=2.0), seed=8)[0])
    c = _digest(_paper_run(NoiseSpec(snr_db=0.0, burst_s=2.0), seed=9)[0])
    assert a == b != c


# ---- the board's path ----------------------------------------------------------------------
# Golden digest of the DSP's windows on _dsp_frames, computed with the pipeline before the hook
# existed: it guards against change of the board's default path (update it only on purpose).
GOLDEN_DSP = "e85fe75c8cf9dbbb4ee4df1567d2962fd9c7f0955a91615e60d46d741b17692b"


def test_board_default_path_bytes_unchanged():
    x = _dsp_frames()
    cfg = CFG.for_dataset()  # a window every 2.56 s, as when the digest was taken (the board's own
    plain = process_recording(x, cfg)  # windows in between: tests/test_dsp_simulator.py)
    assert _digest(plain) == GOLDEN_DSP
    assert _digest(process_recording(x, cfg, demod_hook=lambda chans, first: chans)) == GOLDEN_DSP


# ---- spec, labels, errors ----------------------------------------------------------------
def test_spec_names_its_definition():
    assert NoiseSpec(snr_db=-3.0).on == "paper"  # the default, as `eval --snr-db`
    assert NoiseSpec(snr_db=-3.0).label() == "paper: white -3 dB"
    assert "demodulated" in NoiseSpec(snr_db=-3.0).describe()
    s = NoiseSpec(burst_s=3.0, burst_db=-9.0, on="frames")
    assert s.label() == "frames: bursts 3 s at -9 dB on 20 %" and "echo" in s.describe()
    assert not NoiseSpec().active and NoiseSpec().label() == "clean" == NoiseSpec(on="frames").describe()


def test_bad_inputs():
    with pytest.raises(ConfigError, match="bursts"):
        NoiseSpec(burst_s=6.0)
    with pytest.raises(ConfigError, match="--noise-on: expected one of paper, frames, got 'raw'"):
        NoiseSpec(snr_db=0.0, on="raw")
    with pytest.raises(InputDataError, match="int16"):
        add_noise(np.zeros((10, 15, 12, 2), np.float32), NoiseSpec(snr_db=0.0, on="frames"), FS, 0)
    with pytest.raises(ConfigError, match="frames definition"):
        add_noise(_frames(10), NoiseSpec(snr_db=0.0), FS, 0)
    with pytest.raises(InputDataError, match="demod_hook"):
        process_recording(_dsp_frames(800), CFG, demod_hook=lambda chans, first: chans.astype(np.int64))


# ---- training augmentation: the same noise made on the features ---------------------------
def _feature_snr_db(clean, noisy):
    """Per channel SNR of noisy against clean features (both normalised): corr^2 / (1 - corr^2)."""
    a, b = clean - clean.mean(0), noisy - noisy.mean(0)
    r2 = (np.sum(a * b, 0) ** 2 / (np.sum(a * a, 0) * np.sum(b * b, 0))).ravel()
    return 10 * np.log10(np.mean(r2 / (1 - r2)))


@pytest.mark.parametrize("snr", [6.0, -3.0])
def test_feature_noise_matches_the_paper_noise_through_the_dsp(snr):
    from host.noise import feature_noise, renormalize

    clean = process_recording(_dsp_frames(), CFG)
    noisy, _, _ = _paper_run(NoiseSpec(snr_db=snr))
    rng = np.random.default_rng(0)
    dsp, aug = [], []
    for a, b in zip(clean, noisy):
        x, y = (f.features_q15.astype(np.float64) / 32768 for f in (a, b))
        z = renormalize(x + feature_noise(x, snr, "paper", rng, hp_hz=CFG.cardiac_band_hz[0]))
        assert z.min() >= -1 and z.max() < 1
        dsp.append(_feature_snr_db(x, y))
        aug.append(_feature_snr_db(x, z))
    assert abs(np.mean(dsp) - np.mean(aug)) < 1.5, (np.mean(dsp), np.mean(aug))
