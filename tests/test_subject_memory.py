"""Streaming for hours with flat memory: the virtual subject asked for its ECG and chest
motion in 60 s chunks holds a bounded amount of Python memory, and beats evicted from the
caches come back bit for bit when asked for again."""

import gc
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from hardware_sim.subject import VirtualSubject
from hardware_sim.subject.electrical import ElectricalParams, SyntheticHeart
from hardware_sim.subject.params import PRESETS
from hardware_sim.subject.recorded import RecordedHeart, load_ecg_recording
from hardware_sim.subject.rhythm import BeatSchedule
from hardware_sim.subject.types import ECG_FS_HZ

CHUNK_S = 60.0
FRAME_S = 0.01  # the radar's 100 Hz frame clock
GROWTH_LIMIT_KIB = 300  # the old per-beat caches grew ~1.5 MB per 10 simulated minutes
PLUX = Path(__file__).parent / "data" / "ecg" / "plux_ecg_5min_1000hz.npz"


def traced_kib() -> float:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / 1024


@contextmanager
def tracing():
    """Trace only the streaming (tracing slows Python-heavy code 2-5x)."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def test_virtual_subject_memory_flat_over_30_minutes():
    vs = VirtualSubject(PRESETS["pvc"].make(4), 21)
    with tracing():
        kib = _stream_subject(vs)
    growth = kib[-1] - kib[0]
    assert growth < GROWTH_LIMIT_KIB, f"traced KiB at 0/10/20/30 min: {kib}"
    # and the second half grows no more than a sliver (the per-block checkpoints)
    assert kib[-1] - kib[1] < 100, kib
    info = vs.electrical.schedule.cache_info()
    assert len(info.blocks) <= 4 and info.checkpoints < 20


def _stream_subject(vs: VirtualSubject) -> list[float]:
    """ECG at 500 Hz and chest motion at the frame rate, 60 s at a time for 30 min;
    traced KiB after 0, 10, 20, 30 min."""
    kib = []
    for t0 in np.arange(0.0, 31 * CHUNK_S, CHUNK_S):
        ecg = vs.electrical.ecg_mv(np.arange(t0, t0 + CHUNK_S, 1 / ECG_FS_HZ))
        t = np.arange(t0, t0 + CHUNK_S, FRAME_S)
        pos, _ = vs.chest_scatterers(t)
        resp = vs.resp_mm(t)
        events = vs.mechanics.events_between(t0, t0 + CHUNK_S)
        assert ecg.shape == (30000, 12) and pos.shape[0] == resp.shape[0] == 6000
        assert len(events) > 30  # a minute of beats really was produced
        del ecg, pos, resp, events
        if t0 in (0.0, 600.0, 1200.0, 1800.0):
            kib.append(traced_kib())
    return kib


def test_recorded_heart_memory_flat():
    pytest.importorskip("neurokit2", reason="R-peak detection of a recorded ECG needs the host extra")
    heart = RecordedHeart(load_ecg_recording(PLUX))
    kib = []
    with tracing():
        for t0 in np.arange(0.0, 31 * CHUNK_S, CHUNK_S):
            heart.ecg_mv(np.arange(t0, t0 + CHUNK_S, 1 / ECG_FS_HZ))
            assert heart.beats_between(t0, t0 + CHUNK_S)
            if t0 in (0.0, 1800.0):
                kib.append(traced_kib())
    assert kib[1] - kib[0] < 50, kib


def test_far_back_request_after_eviction_replays_the_same_bits():
    p = ElectricalParams.draw(np.random.default_rng(6), "pvc")
    ref = SyntheticHeart(p, 6)
    t_old = np.arange(100.0, 130.0, 1 / ECG_FS_HZ)
    ecg_ref = ref.ecg_mv(t_old)
    beats_ref = ref.beats_between(0.0, 200.0)

    heart = SyntheticHeart(p, 6)
    far = heart.ecg_mv(np.arange(3590.0, 3600.0, 1 / ECG_FS_HZ))  # an hour in: ~16 blocks
    assert 0 not in heart.schedule.cache_info().blocks  # beat block 0 really was evicted
    assert np.array_equal(heart.ecg_mv(t_old), ecg_ref)
    assert heart.beats_between(0.0, 200.0) == beats_ref
    # ... and going forward again gives what a fresh heart gives there
    assert np.array_equal(heart.ecg_mv(np.arange(3590.0, 3600.0, 1 / ECG_FS_HZ)), far)
    assert np.array_equal(SyntheticHeart(p, 6).ecg_mv(np.arange(3590.0, 3600.0, 1 / ECG_FS_HZ)),
                          far)


def test_backwards_chunks_across_evicted_blocks_and_pvc_checkpoints():
    p = ElectricalParams.draw(np.random.default_rng(2), "pvc")
    whole = BeatSchedule(p.rhythm_params(), 2)
    beats = whole.beats_between(0.0, 3600.0)
    block = whole.cache_info().block_beats
    # a block that starts on a PVC: its checkpoint carries the pending compensatory beat
    starts_on_pvc = [b for b in beats if b.index % block == 0 and b.kind == "V"]
    assert starts_on_pvc, "no block boundary on a PVC within an hour: pick another seed"
    back = BeatSchedule(p.rhythm_params(), 2)
    parts = []
    for t0 in np.arange(3300.0, -1.0, -300.0):  # newest first, then far back
        parts = back.beats_between(t0, t0 + 300.0) + parts
    assert parts == beats
    k = starts_on_pvc[0].index
    r, kinds = back.beat_span(k - 2, k + 3)
    assert np.array_equal(r, [b.r_time_s for b in beats[k - 3:k + 2]])
    assert kinds == tuple(b.kind for b in beats[k - 3:k + 2])
