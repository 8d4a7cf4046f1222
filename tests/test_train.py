"""train: every MTL method steps, losses fall, seeded, resumable bit for bit, CLI."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from cardioradar.errors import ConfigError
from host.model import ModelConfig
from host.train import TrainConfig, augment, fit
from model_helpers import TINY, tiny_dataset, tiny_windows

T = 64  # short windows keep the tests fast; the model takes any multiple of 8


def _cfg(**kw):
    base = dict(epochs=2, batch_size=8, seed=3, warmup_epochs=1, lr=3e-3, model=ModelConfig(window_samples=T, **TINY))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def sets():
    return tiny_windows(16, 0, t=T), tiny_windows(8, 1, t=T)


def _weights(path):
    import tf_keras as keras

    return keras.models.load_model(str(path), compile=False).get_weights()


@pytest.mark.parametrize("method", ["ega", "aligned", "uncertainty"])  # equal: the CLI test
def test_methods_train(sets, tmp_path, method):
    r = fit(*sets, tmp_path, _cfg(mtl=method, epochs=3), show_progress=False)
    hist = json.loads(r.history_path.read_text())
    ep = hist["epochs"]
    assert [e["epoch"] for e in ep] == [1, 2, 3] and r.model_path.exists()
    assert ep[-1]["train"]["ecg"] < ep[0]["train"]["ecg"] or ep[-1]["val_loss"] < ep[0]["val_loss"]
    assert r.best_epoch == int(np.argmin([e["val_loss"] for e in ep])) + 1
    if method == "ega":  # k = 1 through the warm-up epoch, then eccentric
        assert ep[0]["k"] == [1.0, 1.0, 1.0] and ep[1]["k"] == [1.0, 1.0, 1.0]
        assert ep[2]["k"] != [1.0, 1.0, 1.0] and sum(ep[2]["k"]) == pytest.approx(3.0)
    if method == "uncertainty":
        assert ep[-1]["log_vars"] != [0.0, 0.0, 0.0]


def test_seeded_and_resumable_bit_for_bit(sets, tmp_path):
    a = fit(*sets, tmp_path / "a", _cfg(), show_progress=False)
    fit(*sets, tmp_path / "b", _cfg(), show_progress=False, stop_after_epoch=1)  # "killed" after epoch 1
    state = json.loads((tmp_path / "b" / "state.json").read_text())
    assert state["epoch"] == 1 and len(state["history"]) == 1
    b = fit(*sets, tmp_path / "b", _cfg(), show_progress=False)  # resumes at epoch 2
    for wa, wb in zip(_weights(a.model_path), _weights(b.model_path)):
        np.testing.assert_array_equal(wa, wb)
    ha, hb = json.loads(a.history_path.read_text()), json.loads(b.history_path.read_text())
    assert ha["epochs"][1]["train"] == hb["epochs"][1]["train"]
    with pytest.raises(ConfigError, match="'lr'"):
        fit(*sets, tmp_path / "b", _cfg(lr=1e-2), show_progress=False)


def test_augment_is_seeded_and_bounded():
    x = tiny_windows(4, 0, t=T).features_q15.astype(np.float32) / 32768
    a = augment(x, np.random.default_rng(1), 1.0, 1.0)
    b = augment(x, np.random.default_rng(1), 1.0, 1.0)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -1.0 and a.max() < 1.0 and not np.array_equal(a, x)
    np.testing.assert_array_equal(augment(x, np.random.default_rng(1), 0.0, 0.0), np.clip(x, -1, 1 - 2**-15))


def test_cli_train_on_a_dataset_folder(tmp_path, capsys):
    from cardioradar.cli import main

    ds = tiny_dataset(tmp_path / "ds", n_train=8, n_val=4, n_test=4, t=512)
    # Full-size windows, the default model: one epoch of one batch.
    rc = main(["train", "--data", str(ds), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8",
               "--mtl", "equal", "--seed", "1", "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    assert (tmp_path / "run" / "model.keras").exists() and "best epoch 1" in out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["model"].endswith("model.keras") and last["best_epoch"] == 1 and last["best_val_loss"] > 0
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r2")]) == 3  # not a dataset folder


def test_a_run_is_not_resumed_on_other_data(tmp_path, capsys):
    """The documented command run again after the dataset was rebuilt with other windows must not
    hand back the finished run's old model: the resume is refused, naming why; --no-resume starts over."""
    from cardioradar.cli import main
    from host.data.format import dataset_digest

    ds = tiny_dataset(tmp_path / "ds", n_train=8, n_val=4, n_test=4, t=512)
    first = dataset_digest(ds)
    tiny_dataset(tmp_path / "ds", n_train=8, n_val=4, n_test=4, t=512)  # the same windows rebuilt
    assert dataset_digest(ds) == first
    cmd = ["train", "--data", str(ds), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8",
           "--mtl", "equal", "--seed", "1"]
    assert main(cmd) == 0 and main(cmd) == 0  # same data: resumed, nothing left to run
    tiny_dataset(tmp_path / "ds", n_train=8, n_val=4, n_test=4, t=512, seed=9)  # other windows
    assert dataset_digest(ds) != first
    capsys.readouterr()
    assert main(cmd) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "trained on other data" in err[0] and "--no-resume" in " ".join(err), err
    assert main(cmd + ["--no-resume"]) == 0


def _sharded(tmp_path, n_train=24, per_shard=5):
    """A dataset folder whose training split is sharded (5 windows a shard), val in one file."""
    from host.data.format import ShardWriter, save_windows, write_manifest

    ws = tiny_windows(n_train, 0, t=T)
    writer = ShardWriter(tmp_path, "train", per_shard)
    for s in range(0, n_train, 4):  # "subjects" of 4 windows
        writer.add(ws.select(slice(s, s + 4)))
    files = writer.close()
    save_windows(tmp_path / "val.npz", tiny_windows(8, 1, t=T))
    write_manifest(tmp_path, {"seed": 0, "splits": {"train": {"n_windows": n_train, "files": files},
                                                    "val": {"n_windows": 8}}})
    return tmp_path, files


def test_stream_visits_every_window_once_per_epoch(tmp_path):
    from host.data.format import split_files
    from host.train import ShardStream

    ds, files = _sharded(tmp_path)
    assert [f["n_windows"] for f in files] == [8, 8, 8]  # whole 4-window subjects, closed at >= 5
    st = ShardStream([f for f, _ in split_files(ds, "train")], [n for _, n in split_files(ds, "train")], mix=2)
    seen = []
    for x, ecg, mask, anc, cyc in st._batches(np.random.default_rng(5), 5, 0.0, 0.0):
        assert x.shape == (5, T, 4, 3)
        seen.extend(np.round(cyc[:, 0], 6).tolist())
    assert len(seen) == (len(st) // 5) * 5  # only the last ragged batch is dropped
    assert len(set(seen)) == len(seen)  # no window twice
    again = [np.round(b[4][:, 0], 6).tolist() for b in st._batches(np.random.default_rng(5), 5, 0.0, 0.0)]
    assert sum(again, []) == seen  # seeded


def test_streamed_training_is_resumable_bit_for_bit(tmp_path):
    """A sharded split trains through tf.data (never loaded whole) and resumes like the in-memory path."""
    from host.train import train

    ds, _ = _sharded(tmp_path / "ds")
    kw = dict(epochs=2, batch_size=8, seed=3, warmup_epochs=1, lr=3e-3, model=ModelConfig(window_samples=T, **TINY),
              show_progress=False)
    a = train(ds, tmp_path / "a", **kw)
    (tmp_path / "b").mkdir()
    from host.data.format import load_split, split_files
    from host.train import ShardStream

    files = split_files(ds, "train")
    stream = ShardStream([f for f, _ in files], [n for _, n in files])
    fit(stream, load_split(ds, "val"), tmp_path / "b", _cfg(), show_progress=False, stop_after_epoch=1)
    b = fit(stream, load_split(ds, "val"), tmp_path / "b", _cfg(), show_progress=False)
    for wa, wb in zip(_weights(a.model_path), _weights(b.model_path)):
        np.testing.assert_array_equal(wa, wb)
    hist = json.loads(a.history_path.read_text())["epochs"]
    assert len(hist) == 2 and np.isfinite(hist[-1]["val_loss"])


def test_prior_on_a_streamed_split_is_refused_naming_why(tmp_path):
    from host.data.format import load_split, split_files
    from host.train import ShardStream

    ds, _ = _sharded(tmp_path / "ds")
    files = split_files(ds, "train")
    stream = ShardStream([f for f, _ in files], [n for _, n in files])
    with pytest.raises(ConfigError, match="needs the training split in memory"):
        fit(stream, load_split(ds, "val"), tmp_path / "run", _cfg(prior=True), show_progress=False)
