"""The DSP chain on simulator recordings (hardware_sim fast mode, seeds 71xx and 82xx used only here)."""

import numpy as np
import pytest

from boards import load_profile
from edge.dsp.config import DspConfig
from edge.dsp.pipeline import process_recording
from quantize.sqnr import GATE_DB, run_report

simdata = pytest.importorskip("quantize.simdata")

CASES = [("healthy-rest", 7103), ("sleep", 7104), ("brady", 7105), ("tachy", 7106),
         ("healthy-rest", 7111), ("sleep", 7112)]
_cache = {}


@pytest.fixture(scope="module")
def cfg():
    return DspConfig.from_profile(load_profile("sim"))


def _run(preset, seed, cfg):
    if (preset, seed) not in _cache:
        rec = simdata.simulate(preset, 45.0, seed)
        _cache[preset, seed] = (rec, process_recording(rec.frames, cfg))
    return _cache[preset, seed]


def test_sqnr_of_every_kernel_on_simulator_recordings(cfg):
    recs = [simdata.simulate(p, 12.0, s) for p, s in CASES[:2]]
    report = run_report(cfg, recs)
    low = {k.kernel: round(k.sqnr_db, 1) for k in report.kernels if k.sqnr_db < GATE_DB}
    assert not low, f"kernels under {GATE_DB} dB: {low}"
    assert report.deterministic and report.int8_mismatches == 0
    assert len(report.kernels) == 13


@pytest.mark.parametrize("preset,seed", CASES)
def test_strongest_voxel_is_the_subject(cfg, preset, seed):
    """Strongest moving echo at the chest: range bin within one of the chest centre's
    (the chest is ~2 bins deep); azimuth within one grid step (10 deg) of the grid point
    nearest the chest centre's azimuth (the ISK's 8-element azimuth beam is ~14 deg wide
    and a chest at 0.6 m spans ~25 deg). Elevation is not checked: the ISK's elevation
    aperture is a single row lambda/2 away, so it has next to no elevation resolution."""
    rec, out = _run(preset, seed, cfg)
    az_grid = cfg.steering.az_deg
    nearest = az_grid[np.argmin(np.abs(az_grid - rec.az_deg))]
    for f in out:
        r, a = f.grid.strongest
        az, _ = cfg.steering.angle_deg(a)
        assert abs(r - rec.subject_bin) <= 1, (f.window_index, r)
        assert abs(az - nearest) <= (az_grid[1] - az_grid[0]) + 1e-9, (f.window_index, az, rec.az_deg)


@pytest.mark.parametrize("preset,seed", CASES)
def test_classical_breathing_rate_within_1_per_min(cfg, preset, seed):
    rec, out = _run(preset, seed, cfg)
    for f in out[-4:]:
        t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
        truth = rec.breathing_rate_bpm(t1 - 25.6, t1)
        assert abs(f.vitals.breathing_rate_bpm - truth) <= 1.0, (f.window_index, f.vitals.breathing_rate_bpm, truth)


def _last_hr(preset, seed, cfg):
    rec, out = _run(preset, seed, cfg)
    f = out[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    return f.vitals.heart_rate_bpm, rec.heart_rate_bpm(t1 - 25.6, t1)


@pytest.mark.parametrize("preset,seed", [("tachy", 7106), ("sleep", 7112), ("healthy-rest", 7111), ("sleep", 7104)])
def test_classical_heart_rate_within_2_bpm(cfg, preset, seed):
    """tachy 7106 read 136.7 for 130.1 bpm once the simulator applied TI's antenna patterns:
    RR swings 115-145 bpm with the breath and a third of the beats hardly show in the valve
    envelopes, once a breath; the autocorrelation (133.3) and the spectral line (137.0) leaned
    to the beats that show (132.3 between them), the beats tracked along the envelopes count
    the hidden ones too (130.4)."""
    est, truth = _last_hr(preset, seed, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


# Held-out seeds 82xx (used only here): HR within 2 bpm and BR within 1/min on the last window,
# on all 12 (before the systole check healthy-rest 8200's early spans read its systole, ~170 bpm).
HELD_OUT = [("healthy-rest", 8200), ("healthy-rest", 8201), ("healthy-rest", 8202), ("sleep", 8203),
            ("sleep", 8204), ("sleep", 8205), ("brady", 8206), ("brady", 8207), ("brady", 8208),
            ("tachy", 8209), ("tachy", 8210), ("tachy", 8211)]


@pytest.mark.parametrize("preset,seed", HELD_OUT)
def test_classical_heart_rate_on_held_out_seeds(cfg, preset, seed):
    est, truth = _last_hr(preset, seed, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


@pytest.mark.parametrize("preset,seed", HELD_OUT)
def test_classical_breathing_rate_on_held_out_seeds(cfg, preset, seed):
    rec, out = _run(preset, seed, cfg)
    f = out[-1]
    t1 = (f.start_frame + cfg.window_samples) / cfg.fs_hz
    assert abs(f.vitals.breathing_rate_bpm - rec.breathing_rate_bpm(t1 - 25.6, t1)) <= 1.0


def test_classical_heart_rate_below_the_cardiac_band(cfg):
    """brady 8207: 44.9 bpm, under the profile's cardiac band (0.8 Hz = 48 bpm); the HR search
    starts at 0.65 Hz (39 bpm) whatever the band's low edge."""
    est, truth = _last_hr("brady", 8207, cfg)
    assert truth < 60 * cfg.cardiac_band_hz[0]
    assert abs(est - truth) <= 2.0, (est, truth)


def test_classical_heart_rate_follows_a_slowing_heart_7103(cfg):
    """healthy-rest 7103: the rate falls over the last spans; the median of the last 5 readings
    lagged it (66.8 vs 64.4 bpm), the last span's own reading agrees with the recent ones."""
    est, truth = _last_hr("healthy-rest", 7103, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


def test_classical_heart_rate_is_the_beat_not_the_systole_7105(cfg):
    """brady 7105 read 165 bpm (1 / its 0.37-s systole) for 55.7 before the simulator's
    re-parameterisation; the systole check keeps the beat whichever peak stands higher."""
    est, truth = _last_hr("brady", 7105, cfg)
    assert abs(est - truth) <= 2.0, (est, truth)


def test_pipeline_hands_a_trusted_hr_to_the_classical_hr_for_a_minute(cfg):
    """trust_hr (the model's HR, given by the runtime) reaches the vitals of the next windows,
    for TRUST_S of frame clock; a NaN is not a rate."""
    from edge.dsp.pipeline import TRUST_S, DspPipeline

    rec, _ = _run("sleep", 7104, cfg)
    pipe = DspPipeline(cfg)
    hints, update = [], pipe.vitals.update
    pipe.vitals.update = lambda *a: hints.append(a[-1]) or update(*a)
    pipe.push(rec.frames[:2000])
    pipe.trust_hr(61.0)
    pipe.trust_hr(float("nan"))
    n_before = len(hints)
    pipe.push(np.concatenate([rec.frames[2000:], rec.frames, rec.frames]))  # > TRUST_S more
    assert n_before > 0 and set(hints[:n_before]) == {None}
    keep = int(TRUST_S * cfg.fs_hz // cfg.refresh_samples)  # the vitals update every refresh
    assert set(hints[n_before:n_before + keep]) == {61.0}
    assert len(hints) > n_before + keep + 1 and set(hints[n_before + keep + 1:]) == {None}


def test_runtime_trusts_the_model_hr_for_the_classical_path(cfg, tmp_path, monkeypatch):
    """EdgeCore hands each model-sourced HR (here a stand-in model drawing a beat every 0.8 s:
    75 bpm) to the DSP's trust_hr, and only those."""
    from boards import load_profile
    from edge.dsp.pipeline import DspPipeline
    from edge.dsp.tensor import FeatureLayout, ModelInputSpec
    from edge.link import DecoderConfig, FrameDecoder
    from edge.runtime.core import EdgeCore
    from edge.runtime.replay import frames_bin_chunks, replay_stream
    from hardware_sim.record import record_session

    class BeatEvery08s:
        def __init__(self):
            self.input_spec = ModelInputSpec(2.0 / 255, 0, FeatureLayout(cfg.window_samples, cfg.n_voxels, cfg.fs_hz))
            self.calls = 0

        def predict_int8(self, x):
            t = (np.arange(cfg.window_samples) + cfg.hop_samples * self.calls) / cfg.fs_hz
            self.calls += 1
            ph = t % 0.8 - 0.4
            ecg = np.exp(-(ph / 0.02) ** 2)[:, None] * np.linspace(0.5, 1.5, 12)[None]
            return ecg.astype(np.float32), np.exp(-(ph / 0.03) ** 2).astype(np.float32), 0.8

    trusted = []
    monkeypatch.setattr(DspPipeline, "trust_hr", lambda self, hr: trusted.append(hr))
    record_session(tmp_path, 30.0, "sleep", seed=7104, mode="fast")
    vitals = []
    replay_stream(frames_bin_chunks(tmp_path / "frames.bin"), FrameDecoder(DecoderConfig.from_profile(load_profile("sim"))),
                  EdgeCore(cfg, BeatEvery08s()), lambda o: vitals.append(o.result.vitals) if o.result is not None else None)
    model_hr = [v.hr_bpm for v in vitals if v.source == "model"]
    assert model_hr and trusted == model_hr and all(abs(h - 75.0) < 1.0 for h in trusted)


def test_cli_quantize_sqnr_and_bench_dsp_json(capsys):
    import json

    from cardioradar.cli import main

    assert main(["quantize", "sqnr", "--json", "--subject", "brady", "--seed", "7105", "--seconds", "10"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["passed"] and rep["sqnr_db_min"] >= GATE_DB and "beamform" in rep["kernels"]
    assert main(["bench", "dsp", "--json", "--seconds", "12", "--seed", "7105", "--subject", "brady"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) == {"rtf", "frames_per_s", "sqnr_db_min"} and last["rtf"] > 0


def test_dataset_windows_are_the_boards_windows(cfg):
    """The board takes a window every hop but re-chooses voxels and updates the classical
    vitals every refresh_samples; a dataset takes its windows every refresh_samples. Each
    dataset window is, byte for byte, the board window that ends at the same frame."""
    assert cfg.refresh_samples % cfg.hop_samples == 0 and cfg.refresh_samples > cfg.hop_samples
    rec, board = _run("sleep", 7104, cfg)
    every = cfg.refresh_samples // cfg.hop_samples
    dataset = process_recording(rec.frames, cfg.for_dataset())
    assert len(dataset) >= 3 and len(board) >= every * (len(dataset) - 1) + 1
    for k, d in enumerate(dataset):
        b = board[k * every]
        assert b.refreshed and b.start_frame == d.start_frame
        np.testing.assert_array_equal(b.features_q15, d.features_q15)
        assert b.vitals == d.vitals
    assert not any(f.refreshed for f in board[1::every])


def test_the_boards_ecg_is_out_within_the_latency_goal(cfg):
    """Issue: live latency p95 <= 2.5 s. The newest sample of a window waits lag + 3 frames
    (differentiator) before it leaves, the oldest of a piece lag + hop + 3: the algorithmic
    latency of every sample, before any compute, stays under 2.5 s on every shipped board."""
    for name in ("sim", "rpi4-iwr6843isk", "rpizero2w-iwr6843aop"):
        c = DspConfig.from_profile(load_profile(name))
        assert (c.lag_samples + c.hop_samples + 3) / c.fs_hz <= 2.3, name  # 0.2 s left for compute
