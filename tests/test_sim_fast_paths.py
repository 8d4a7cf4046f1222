"""The simulator's fast paths give the bytes of the plain ones: packet template vs encode_frame,
padding independent of blocks, module output independent of its batch size."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from hardware_sim.firmware.tlv import (
    FrameStats, PacketTemplate, RangeWindow, Temperature, decode_frame, encode_frame, heatmap_payload,
    padding_block, split_stream,
)
from hardware_sim.record import build_module, iter_blocks, iter_frames, start_module

STATS = FrameStats(190, 9375, 225, 8, 3, 2)
TEMP = Temperature(0, 1234, (40, 41, 42, 43, 44, 45, 46, 47, 48, 49))


@pytest.mark.parametrize("heat,stats,temp,points", [
    (True, True, True, False), (True, True, False, True), (False, True, True, False), (True, False, False, False),
    (False, False, False, True),
])
def test_template_matches_encode_frame(heat, stats, temp, points):
    rng = np.random.default_rng(3)
    hm = rng.integers(-30000, 30000, size=(15, 12, 2)).astype(np.int16) if heat else None
    window = RangeWindow(9, 15, 12, 0.04324) if heat else None
    kw = dict(heatmap=hm, range_window=window, stats=STATS if stats else None,
              temperature=TEMP if temp else None, detected_points=points)
    ref = encode_frame(frame_number=2**32 + 5, time_cpu_cycles=2**33 + 77, pad_rng=np.random.default_rng(1), **kw)
    tpl = PacketTemplate(heatmap_shape=hm.shape[:2] if heat else None, range_window=window, stats=stats,
                         temperature=temp, detected_points=points)
    assert tpl.total_bytes == len(ref)
    got = tpl.encode(2**32 + 5, 2**33 + 77, ref[len(ref) - tpl.pad_bytes:],
                     heatmap_payload(hm) if heat else None,
                     PacketTemplate.stats_payload(STATS) if stats else None,
                     PacketTemplate.temperature_payload(TEMP) if temp else None)
    assert got == ref
    with pytest.raises(ValueError, match="padding"):
        tpl.encode(1, 1, b"\x01" * (tpl.pad_bytes + 1), heatmap_payload(hm) if heat else None,
                   PacketTemplate.stats_payload(STATS), PacketTemplate.temperature_payload(TEMP))


def test_padding_is_nonzero_and_a_pure_function_of_frame():
    whole = padding_block(123, 0, 300)
    assert whole.shape == (300, 32) and whole.min() >= 1
    assert np.array_equal(padding_block(123, 157, 20), whole[157:177])
    assert not np.array_equal(padding_block(124, 0, 300), whole)
    counts = np.bincount(whole.ravel(), minlength=256)[1:]
    assert counts.min() > 0 and counts.max() < 4 * counts.mean()  # all of 1..255 show up, none dominates


@pytest.mark.parametrize("mode", ["fast", "adc"])
def test_module_bytes_do_not_depend_on_batch_size(mode):
    seconds = 1.2 if mode == "fast" else 0.3
    runs = []
    for batch in (1, 7, 100):
        module, _ = build_module("healthy-rest", seed=4, mode=mode, batch_frames=batch)
        head = start_module(module)
        runs.append(head + b"".join(f.packet for f in iter_frames(module, seconds)))
    assert runs[0] == runs[1] == runs[2]
    frames = [decode_frame(p) for p in split_stream(runs[0])]
    assert len(frames) == round(seconds * 100) and frames[0].heatmap.shape == (15, 12, 2)



# Golden digests of the module's byte stream (taken before the speed work of issue 13): they
# guard against change, nothing more. Speed-ups must keep them; a deliberate change to what the
# simulator outputs updates them in the same commit, saying why.
STREAM_SHA256 = {
    ("healthy-rest", "fast", 3.0): "e65a659331e7f9bb55118e653d422eea9cb843cafdd9fb4b76b57ebb45331851",
    ("healthy-rest", "adc", 0.5): "8e7404561a80dc7a1f66420043c7944afbd863f6427f0a2d322b4901229f27d9",
    ("restless", "fast", 3.0): "c6ebaaf2f5d96861c75f3d469a8657ece600cc01f9bf6ba6214ad50a9fc59cd3",
    ("restless", "adc", 0.3): "8652be4f6b1b9adbc7562f311af90aa496d0feb5321ae33ffe3dd1d0956defb6",
}


@pytest.mark.parametrize("subject,mode,seconds", sorted(STREAM_SHA256))
def test_module_stream_digest_unchanged(subject, mode, seconds):
    module, _ = build_module(subject, seed=7, mode=mode, batch_frames=100)
    h = hashlib.sha256(start_module(module))
    for block in iter_blocks(module, seconds):
        h.update(block.data())
    assert h.hexdigest() == STREAM_SHA256[(subject, mode, seconds)]


def test_breathing_phase_at_one_time_is_the_general_paths_value():
    from hardware_sim.subject.breathing import Breathing, BreathingParams

    b = Breathing(BreathingParams(), 11)
    rng = np.random.default_rng(5)
    starts = np.concatenate([b.breaths_between(0.0, 400.0)[k].start_s + np.array([0.0, 1e-12, -1e-12])
                             for k in (1, 2, 63, 64, 65)])  # breath edges, batch edges (64 breaths)
    times = np.concatenate([rng.uniform(-5.0, 600.0, 400), starts, [0.0, 1e-9]])
    fast = np.array([b.resp_phase_rad(np.array([t]))[0] for t in times])
    general = 2.0 * np.pi * b._evaluate(times, with_level=False)[0]  # the vector path, all at once
    assert np.array_equal(fast, general)
    assert sum(b._phase_one(float(t)) is not None for t in times) > 350  # the direct lookup did most


def test_seeded_normals_are_default_rngs_draws():
    from hardware_sim.subject.seeding import SeededNormals, pcg64_state

    rng = np.random.default_rng(11)
    normals = SeededNormals()
    cases = [[0, 0, 0], [2**32 - 1, 1, 2**32], [2**64 + 5, 0, 7], [1, 2, 3, 4, 5, 6]]
    cases += [[int(rng.integers(0, 2**32)), int(rng.integers(0, 2)), int(rng.integers(0, 10**6))] for _ in range(300)]
    for entropy in cases:
        ref = np.random.default_rng(entropy)
        st = ref.bit_generator.state["state"]
        assert pcg64_state(entropy) == (st["state"], st["inc"]), entropy
        assert np.array_equal(normals(entropy, 3), ref.standard_normal(3)), entropy


@pytest.mark.parametrize("preset", ["healthy-rest", "pvc", "rbbb", "af"])
def test_heart_beats_at_once_are_the_per_beat_values(preset):
    import math
    from dataclasses import replace

    from hardware_sim.subject.electrical import SyntheticHeart

    module, _ = build_module(preset, seed=3, mode="fast")
    heart = module.scene.subject.electrical
    ref = SyntheticHeart(heart.params, heart.seed, heart.respiration)
    qtc_s = ref.params.qtc_ms / 1000.0
    for t0, t1 in [(0.0, 120.0), (5.3, 17.9), (-3.0, 4.0)]:
        one_by_one = [b if b.kind == "V" else replace(b, qt_s=qtc_s * math.sqrt(b.rr_s), conduction=ref._conduction)
                      for b in ref.schedule.beats_between(t0, t1, ref._qrs_onset_offset_s)]
        assert [repr(b) for b in heart.beats_between(t0, t1)] == [repr(b) for b in one_by_one]
