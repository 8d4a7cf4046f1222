"""Simulated datasets: split by subject, reproducible bytes, targets aligned with the windows."""

import json

import numpy as np
import pytest

from cardioradar.errors import ConfigError, InputDataError
from host import metrics
from host.data.format import SPLITS, WindowSet, load_split, load_windows, read_manifest, save_windows
from host.data.sim_dataset import build_sim_dataset, split_subjects, write_order

N, SECONDS, SEED = 4, 16.0, 11


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return build_sim_dataset(tmp_path_factory.mktemp("ds") / "a", N, SECONDS, SEED, workers=1,
                             val_frac=0.25, test_frac=0.25)


def test_split_by_subject(ds):
    sets = {s: load_split(ds, s) for s in SPLITS}
    ids = {s: set(w.subjects().tolist()) for s, w in sets.items()}
    assert all(ids.values())
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert set().union(*ids.values()) == set(range(N))
    man = read_manifest(ds)
    for s in SPLITS:
        assert {x["index"] for x in man["splits"][s]["subjects"]} == ids[s]
        assert man["splits"][s]["n_windows"] == len(sets[s])
    assert man["seed"] == SEED and man["dsp"]["window_samples"] == 512 and man["software_version"]


def test_split_is_seeded_and_keeps_every_split():
    a = split_subjects(20, 5, 0.15, 0.15)
    assert a == split_subjects(20, 5, 0.15, 0.15) and a != split_subjects(20, 6, 0.15, 0.15)
    assert [len(a[s]) for s in SPLITS] == [14, 3, 3]
    with pytest.raises(ConfigError, match="train would be empty"):
        split_subjects(3, 0, 0.5, 0.45)
    with pytest.raises(ConfigError, match="subjects"):
        split_subjects(0, 0, 0.15, 0.15)


def test_every_shard_mixes_the_population():
    # 1600 synthetic + 1400 learned subjects (indices in that order), shards of ~230 subjects
    splits = split_subjects(3000, 2026, 0.15, 0.15)
    order = write_order(splits, 2026)
    assert order == write_order(splits, 2026) and order != write_order(splits, 2027)
    for s in SPLITS:
        assert sorted(order[s]) == splits[s]
    train = np.array(order["train"])
    for shard in np.array_split(train, len(train) // 230):
        assert 0.35 < np.mean(shard < 1600) < 0.75  # both kinds in every shard, not one kind per shard


def test_same_seed_same_bytes_whatever_the_workers(ds, tmp_path):
    other = build_sim_dataset(tmp_path / "b", N, SECONDS, SEED, workers=2, val_frac=0.25, test_frac=0.25)
    for name in ("train.npz", "val.npz", "test.npz", "manifest.json"):
        assert (ds / name).read_bytes() == (other / name).read_bytes(), name


def test_window_contract(ds):
    ws = load_split(ds, "train")
    n = len(ws)
    assert n == 2 * 4  # 16 s: 2 s warm-up, 5.12 s windows, 2.56 s hop -> 4 per subject
    assert ws.features_q15.shape == (n, 512, 4, 3) and ws.features_q15.dtype == np.int16
    assert ws.ecg_mv.shape == (n, 512, 12) and ws.ecg_mv.dtype == np.float32 and np.isfinite(ws.ecg_mv).all()
    assert ws.anchors.dtype == np.float32 and ws.r_peak_mask.dtype == np.uint8
    assert np.all(np.abs(np.diff(ws.window_start_s[ws.subject_id == ws.subject_id[0]]) - 2.56) < 1e-3)
    assert np.all((ws.cycle_s > 0.3) & (ws.cycle_s < 2.0))


def test_targets_aligned_with_the_ecg(ds):
    """Anchor peaks sit on the mask samples; NeuroKit2's R peaks on the lead-II target fall on
    them (within 20 ms); cycle_s agrees with the mask's RR."""
    ws = WindowSet.concat([load_split(ds, s) for s in SPLITS])
    hits = total = 0
    for k in range(len(ws)):
        mask = np.flatnonzero(ws.r_peak_mask[k])
        assert len(mask) >= 2
        assert np.allclose(ws.anchors[k][mask], 1.0, atol=0.15)
        assert np.all(ws.anchors[k][ws.anchors[k] > 0.99] >= 0)
        t_mask = mask / 100.0
        nk = metrics.detect_r_peaks_s(ws.ecg_mv[k, :, 1], 100.0)
        m = metrics.match_peaks(t_mask[(t_mask > 0.3) & (t_mask < 4.8)], nk, tol_s=0.02)
        hits += int(m.matched.sum())
        total += len(m.true_s)
        rr = np.diff(t_mask)
        if ws.condition[k] not in ("af", "pvc", "pac"):
            assert abs(np.mean(rr) - ws.cycle_s[k]) < 0.1 * ws.cycle_s[k]
    assert hits >= 0.9 * total


def test_save_load_round_trip_and_bad_files(ds, tmp_path):
    ws = load_split(ds, "test")
    p = save_windows(tmp_path / "x.npz", ws.select(np.arange(2)))
    back = load_windows(p)
    assert np.array_equal(back.features_q15, ws.features_q15[:2]) and back.condition.tolist() == ws.condition[:2].tolist()
    with pytest.raises(InputDataError, match="features_q15.*int16"):
        WindowSet(**{**{f: getattr(ws, f) for f in ws.__dataclass_fields__},
                     "features_q15": ws.features_q15.astype(np.float32)})
    with pytest.raises(InputDataError, match="anchors"):
        WindowSet(**{**{f: getattr(ws, f) for f in ws.__dataclass_fields__}, "anchors": ws.anchors[:, :10]})
    np.savez(tmp_path / "bad.npz", features_q15=ws.features_q15)
    with pytest.raises(InputDataError, match="missing fields"):
        load_windows(tmp_path / "bad.npz")
    assert json.loads((ds / "manifest.json").read_text())["format_version"] == 1


def test_sharded_split_holds_the_same_windows(ds, tmp_path):
    """A split larger than the shard size becomes several files listed in the manifest; read back
    it is the one-file split, window for window."""
    sh = build_sim_dataset(tmp_path / "s", N, SECONDS, SEED, workers=1, val_frac=0.25, test_frac=0.25,
                           windows_per_shard=3)
    files = read_manifest(sh)["splits"]["train"]["files"]
    assert [f["name"] for f in files] == ["train-00000.npz", "train-00001.npz"]  # 2 subjects x 4 windows
    assert [f["n_windows"] for f in files] == [4, 4] and not (sh / "train.npz").exists()
    a, b = load_split(ds, "train"), load_split(sh, "train")
    assert np.array_equal(a.features_q15, b.features_q15) and np.array_equal(a.subject_id, b.subject_id)


def test_learned_subjects_join_the_population(tmp_path):
    """`data build --learned N` as a user runs it: N more subjects driven by learned 12-lead
    morphologies, split with the others, same bytes for any worker count."""
    from cardioradar.cli import main

    args = ["data", "build", "--subjects", "2", "--learned", "2", "--seconds", "12", "--seed", "4",
            "--val-frac", "0.25", "--test-frac", "0.25", "--out"]
    assert main(args + [str(tmp_path / "a"), "--workers", "1"]) == 0
    assert main(args + [str(tmp_path / "b"), "--workers", "2"]) == 0
    man = read_manifest(tmp_path / "a")
    assert man["n_subjects"] == 4 and man["n_learned"] == 2
    subjects = [s for sp in SPLITS for s in man["splits"][sp]["subjects"]]
    assert sorted(s["source"] for s in subjects) == ["learned", "learned", "synthetic", "synthetic"]
    for name in ("train.npz", "val.npz", "test.npz", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    ws = WindowSet.concat([load_split(tmp_path / "a", s) for s in SPLITS])
    assert set(ws.subjects().tolist()) == {0, 1, 2, 3} and np.isfinite(ws.ecg_mv).all()


def test_bad_learned_count_and_shard_size_are_one_line_errors(tmp_path, capsys):
    from cardioradar.cli import main
    from host.data.format import ShardWriter

    rc = main(["data", "build", "--subjects", "3", "--learned", "-1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc != 0 and "--learned: expected >= 0, got -1" in err and "Traceback" not in err
    with pytest.raises(InputDataError, match="windows per shard: expected >= 1, got 0"):
        ShardWriter(tmp_path, "train", 0)
