"""`cardioradar train`: the multi-task model on a dataset folder (host.data format).

Losses (radarODE-MTL's three tasks, CardioRadar's L1 for the waveform):
- ECG: L1 in mV over the 12 leads (NaN leads of a reference are masked out);
- anchors: binary cross-entropy against the Gaussian R-peak bumps;
- cycle: L1 in seconds.
The shared trunk's update comes from ``host.mtl`` (EGA by default); each head gets its own
task's gradient. Model selection: the epoch with the lowest validation loss (the plain
sum of the three task losses, whatever the training weighting) -- the test split is never
read here.

Reproducible: ``tf_keras.utils.set_random_seed(seed)`` and op determinism; the shuffle
and augmentation of epoch e come from ``numpy.random.default_rng([seed, e])``, so a run
resumed from a checkpoint draws exactly what an uninterrupted one would. A checkpoint
(weights, optimizer slots, log-variances) plus ``state.json`` (epoch, loss history, EGA
loss memory, best epoch, the RNG rule's seed) is written after every epoch.

Augmentation (robustness to noise and body movement, radarODE-MTL's protocol applied
during training, in either of ``host.noise``'s definitions, "paper" or "frames", drawn per
window with ``frames_share``): per window, with probability ``p_noise`` white Gaussian noise
at an SNR drawn from [-3, 10] dB, and with probability ``p_burst`` a 1-3 s burst at 0 dB
(mild movement) or -9 dB (extensive), made on the features as the DSP would make it
(``host.noise.feature_noise``); the window is then normalised again as the DSP does.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
from tqdm import tqdm  # noqa: E402

from cardioradar.errors import ConfigError  # noqa: E402
from edge.dsp.tensor import Q15_SCALE  # noqa: E402
from host import mtl  # noqa: E402
from host.model import BOTTLENECK, TASKS, ModelConfig, build_model, split_variables  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    seed: int = 0
    mtl: str = "ega"
    temperature: float = 1.0
    warmup_epochs: int = 4
    lr: float = 1e-3
    p_noise: float = 0.3
    p_burst: float = 0.2
    prior: bool = False  # CardioRadar's VQ-VAE ECG prior + latent alignment (host.vqvae)
    prior_epochs: int = 8
    model: ModelConfig = ModelConfig()

    def to_json(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_json()
        return d


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    history_path: Path
    best_epoch: int
    best_val_loss: float
    epochs_run: int


@dataclass(frozen=True)
class Arrays:
    """Training tensors of one split. x: float32 (N, T, V, C) in [-1, 1); ecg_mv float32
    (N, T, 12) with NaN replaced by 0; ecg_mask float32 (N, T, 12) 1 where the truth exists;
    anchors float32 (N, T); cycle_s float32 (N, 1)."""

    x: np.ndarray
    ecg_mv: np.ndarray
    ecg_mask: np.ndarray
    anchors: np.ndarray
    cycle_s: np.ndarray

    @classmethod
    def from_windows(cls, ws) -> "Arrays":
        """``ws``: ``host.data.format.WindowSet`` (or anything with its fields)."""
        ecg = np.asarray(ws.ecg_mv, np.float32)
        mask = np.isfinite(ecg)
        return cls(np.asarray(ws.features_q15, np.float32) / Q15_SCALE, np.where(mask, ecg, 0.0).astype(np.float32),
                   mask.astype(np.float32), np.asarray(ws.anchors, np.float32),
                   np.asarray(ws.cycle_s, np.float32).reshape(-1, 1))

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx) -> tuple[np.ndarray, ...]:
        return self.x[idx], self.ecg_mv[idx], self.ecg_mask[idx], self.anchors[idx], self.cycle_s[idx]


def task_losses(outputs, ecg_mv, ecg_mask, anchors, cycle_s) -> tf.Tensor:
    """(3,) float32: masked L1 of the ECG (mV), BCE of the anchors, L1 of the cycle (s)."""
    ecg, anc, cyc = outputs
    l_ecg = tf.reduce_sum(tf.abs(ecg - ecg_mv) * ecg_mask) / tf.maximum(tf.reduce_sum(ecg_mask), 1.0)
    p = tf.clip_by_value(anc, 1e-6, 1.0 - 1e-6)
    l_anc = -tf.reduce_mean(anchors * tf.math.log(p) + (1.0 - anchors) * tf.math.log(1.0 - p))
    l_cyc = tf.reduce_mean(tf.abs(cyc - cycle_s))
    return tf.stack([l_ecg, l_anc, l_cyc])


def augment(x: np.ndarray, rng: np.random.Generator, p_noise: float, p_burst: float,
            fs_hz: float = 100.0, frames_share: float = 0.5) -> np.ndarray:
    """Noise and movement bursts on a batch x float32 (B, T, V, C) -> new array in [-1, 1)."""
    from host.noise import feature_noise, renormalize

    x = x.copy()
    b, t = x.shape[:2]
    for i in range(b):
        on = "frames" if rng.random() < frames_share else "paper"
        noise = None
        if rng.random() < p_noise:
            noise = feature_noise(x[i], rng.uniform(-3.0, 10.0), on, rng, fs_hz=fs_hz)
        if rng.random() < p_burst:
            n = min(int(rng.integers(1, 4) * fs_hz), t)
            s = int(rng.integers(0, t - n + 1))
            burst = feature_noise(x[i], 0.0 if rng.random() < 0.5 else -9.0, on, rng, rows=(s, s + n), fs_hz=fs_hz)
            noise = burst if noise is None else noise + burst
        if noise is not None:
            x[i] = renormalize(x[i] + noise)
    return x


class ShardStream:
    """A training split streamed from its shard files (``host.data.format.split_files``) through
    ``tf.data``: each epoch visits the shards in a seeded order, ``mix`` shards at a time
    (shuffled together: a shuffle buffer of whole shards), and yields augmented batches while the
    next ones are prepared (``prefetch``). Memory: ``mix`` + 1 shards, whatever the split's size.
    Windows left over from one group join the next, so an epoch has ``len(self) // batch``
    batches, as the in-memory path."""

    def __init__(self, files: list[Path], n_windows: list[int], mix: int = 4):
        if not files:
            raise ConfigError("train: the training split has no files")
        self.files, self.n_windows, self.mix = list(files), list(n_windows), max(1, int(mix))

    def __len__(self) -> int:
        return int(sum(self.n_windows))

    def _batches(self, rng: np.random.Generator, batch: int, p_noise: float, p_burst: float):
        from host.data.format import load_windows

        order = rng.permutation(len(self.files))
        carry = None
        for g in range(0, len(order), self.mix):
            parts = [Arrays.from_windows(load_windows(self.files[i])) for i in order[g:g + self.mix]]
            if carry is not None:
                parts.insert(0, carry)
            group = Arrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in Arrays.__dataclass_fields__))
            perm = rng.permutation(len(group))
            n_full = len(perm) // batch
            for b in range(n_full):
                x, ecg, mask, anc, cyc = group.take(np.sort(perm[b * batch:(b + 1) * batch]))
                yield augment(x, rng, p_noise, p_burst), ecg, mask, anc, cyc
            rest = np.sort(perm[n_full * batch:])
            carry = Arrays(*group.take(rest)) if len(rest) else None

    def dataset(self, rng: np.random.Generator, batch: int, p_noise: float, p_burst: float, t: int, v: int, c: int):
        """One epoch's ``tf.data.Dataset`` of (x, ecg_mv, ecg_mask, anchors, cycle_s) batches."""
        f32 = tf.float32
        sig = (tf.TensorSpec((batch, t, v, c), f32), tf.TensorSpec((batch, t, 12), f32),
               tf.TensorSpec((batch, t, 12), f32), tf.TensorSpec((batch, t), f32), tf.TensorSpec((batch, 1), f32))
        # one generator, consumed in order: the RNG draws are those of a sequential run
        return tf.data.Dataset.from_generator(lambda: self._batches(rng, batch, p_noise, p_burst),
                                              output_signature=sig).prefetch(2)


class Trainer:
    """The model, optimiser and one train step per MTL method."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int, gradients=None):
        """``gradients``: where a batch's gradients are computed (``host.scale.train.RayGradients``:
        on Ray workers); None: here, by ``_grads_fn``, the same function the workers run."""
        self.cfg, self.gradients = cfg, gradients
        self.model = build_model(cfg.model)
        self.train_model = self.model
        if cfg.prior:  # training-only projection of the bottleneck onto the prior's latent space
            proj = keras.layers.Conv1D(cfg_prior(cfg).latent_dim, 1, name="ecg_prior_proj")(
                self.model.get_layer(BOTTLENECK).output)
            self.train_model = keras.Model(self.model.input, self.model.outputs + [proj])
        self.shared, self.heads = split_variables(self.train_model)
        self.log_vars = tf.Variable(tf.zeros(len(TASKS)), name="log_vars", trainable=True)
        sched = keras.optimizers.schedules.CosineDecay(cfg.lr, max(1, cfg.epochs * steps_per_epoch), alpha=0.05)
        self.opt = keras.optimizers.Adam(sched)
        extra = [self.log_vars] if cfg.mtl == "uncertainty" else []
        self.opt.build(self.train_model.trainable_variables + extra)
        self.ckpt = tf.train.Checkpoint(model=self.train_model, optimizer=self.opt, log_vars=self.log_vars)
        # A step is two graphs, gradients then update, here as on Ray (host.scale.train), where each
        # worker runs the first on its slice: one graph for both let TF round the update differently.
        self._grads = tf.function(self._grads_fn, reduce_retracing=True)
        self._apply = tf.function(self._apply_fn, reduce_retracing=True)
        self._eval = tf.function(self._eval_fn, reduce_retracing=True)

    def _grads_fn(self, x, ecg, mask, anc, cyc, z_q, scale, share, first):
        """Task losses and gradients of a batch, or of one worker's slice of it (``host.scale.train``).

        ``scale`` float32 (3,): the slice's weight in each task's loss of the whole batch (its part
        of the ECG mask for the masked L1, of the windows for the others); ``share``: its part of
        the windows (the prior's alignment term); ``first``: 1 on the slice that carries the
        batch's own terms (the log-variance term of ``uncertainty``), else 0. A whole batch: all 1
        (exact no-ops), and the slices' losses and gradients add up to the batch's.
        -> (losses (3,), grads): ``ega``/``aligned``: per task, one gradient per variable of
        ``shared + heads[task]`` (zeros where a task does not reach); else one per trainable variable."""
        method = self.cfg.mtl
        with tf.GradientTape(persistent=method in mtl.PER_TASK_GRADIENT_METHODS) as tape:
            out = self.train_model(x, training=True)
            losses = task_losses(out[:3], ecg, mask, anc, cyc) * scale
            if self.cfg.prior:  # latent alignment, weight 1, part of the ECG task
                losses = losses + tf.stack([tf.reduce_mean((out[3] - z_q) ** 2) * share, 0.0, 0.0])
            per_task = tf.unstack(losses)  # inside the tape: gradients flow from each task's loss
            if method == "uncertainty":  # affine in the losses: U(sum of slices) = sum U(slice) - U(0) per extra slice
                total = (mtl.uncertainty_loss(losses, self.log_vars)
                         - (1.0 - first) * mtl.uncertainty_loss(tf.zeros_like(losses), self.log_vars))
            else:
                total = tf.reduce_sum(losses)
        if method in ("equal", "uncertainty"):
            return losses, tape.gradient(total, self.update_variables())
        grads = []
        for i, task in enumerate(TASKS):
            vs = self.shared + self.heads[task]
            g = tape.gradient(per_task[i], vs)
            grads.append([tf.zeros_like(v) if gi is None else gi for gi, v in zip(g, vs)])
        del tape
        return losses, grads

    def _apply_fn(self, grads, k):
        """The optimiser step from ``_grads_fn``'s gradients (summed over slices): the MTL
        combination of the trunk's task gradients (``k``: EGA's eccentric vector), each head
        its own task's gradient, Adam."""
        if self.cfg.mtl in ("equal", "uncertainty"):
            self.opt.apply_gradients(zip(grads, self.update_variables()))
            return
        rows, pairs = [], []
        n = len(self.shared)
        for task, g in zip(TASKS, grads):
            rows.append(tf.concat([tf.reshape(gi, [-1]) for gi in g[:n]], 0))
            pairs.extend(zip(g[n:], self.heads[task]))  # each head: its own task's gradient
        upd = tf.cast(mtl.combine(tf.stack(rows), k), tf.float32)
        sizes = [int(v.shape.num_elements()) for v in self.shared]
        parts = tf.split(upd, sizes)
        pairs.extend((tf.reshape(p, v.shape), v) for p, v in zip(parts, self.shared))
        self.opt.apply_gradients(pairs)

    def update_variables(self) -> list:
        """What ``equal``/``uncertainty`` update: the model's trainable variables (+ the log-variances)."""
        return self.train_model.trainable_variables + ([self.log_vars] if self.cfg.mtl == "uncertainty" else [])

    def _eval_fn(self, x, ecg, mask, anc, cyc):
        return task_losses(self.model(x, training=False), ecg, mask, anc, cyc)

    def train_epoch(self, data: Arrays | ShardStream, epoch: int, k: np.ndarray, show: bool,
                    z_q: np.ndarray | None = None) -> np.ndarray:
        """One pass over ``data`` (shuffled and augmented by the epoch's RNG) -> mean task losses (3,).
        ``z_q``: the prior's quantised latents of ``data``'s ECG (N, T/8, D), with ``prior``."""
        c = self.cfg
        rng = np.random.default_rng([c.seed, epoch])
        if isinstance(data, ShardStream):
            m, zeros = c.model, tf.zeros((c.batch_size, 1, 1), tf.float32)
            ds = data.dataset(rng, c.batch_size, c.p_noise, c.p_burst, m.window_samples, m.n_voxels, m.n_channels)
            batches = ((*b, zeros) for b in ds)
        else:
            batches = self._memory_batches(data, rng, z_q)
        sums = np.zeros(len(TASKS))
        k_t = tf.constant(k, tf.float64)
        n_batches = len(data) // c.batch_size  # every batch is full: one traced shape
        bar = tqdm(batches, total=n_batches, desc=f"epoch {epoch}/{c.epochs}", unit="batch", leave=False,
                   disable=not show)
        for x, ecg, mask, anc, cyc, zq in bar:
            losses = self.step((x, ecg, mask, anc, cyc, zq), k_t)
            sums += losses * c.batch_size
            bar.set_postfix(ecg=f"{losses[0]:.3f}", anc=f"{losses[1]:.3f}", cyc=f"{losses[2]:.3f}")
        return sums / max(n_batches * c.batch_size, 1)

    def step(self, batch: tuple, k: tf.Tensor) -> np.ndarray:
        """One optimiser step on ``batch`` (x, ecg, mask, anchors, cycle, z_q) -> its task losses (3,).
        With ``gradients``, the workers compute the batch's gradients and only the update runs here."""
        if self.gradients is None:
            one = tf.constant(1.0)
            losses, grads = self._grads(*batch, tf.ones(len(TASKS)), one, one)
        else:
            losses, grads = self.gradients(self, batch)
        self._apply(grads, k)
        return np.asarray(losses)

    def _memory_batches(self, data: Arrays, rng: np.random.Generator, z_q: np.ndarray | None):
        """Shuffled, augmented full batches of an in-memory split (the ragged last one dropped)."""
        c = self.cfg
        order = rng.permutation(len(data))
        for b in range(len(order) // c.batch_size):
            idx = np.sort(order[b * c.batch_size:(b + 1) * c.batch_size])
            x, ecg, mask, anc, cyc = data.take(idx)
            zq = z_q[idx] if z_q is not None else np.zeros((len(idx), 1, 1), np.float32)
            yield augment(x, rng, c.p_noise, c.p_burst), ecg, mask, anc, cyc, zq

    def evaluate(self, data: Arrays, batch_size: int = 64) -> np.ndarray:
        """Mean task losses (3,) over every window of ``data`` (no augmentation)."""
        sums = np.zeros(len(TASKS))
        for s in range(0, len(data), batch_size):
            part = data.take(slice(s, s + batch_size))
            sums += self._eval(*part).numpy() * len(part[0])
        return sums / max(len(data), 1)


def cfg_prior(cfg: TrainConfig):
    from host.vqvae import VqVaeConfig

    return VqVaeConfig(window_samples=cfg.model.window_samples, n_leads=cfg.model.n_leads, epochs=cfg.prior_epochs,
                       batch_size=cfg.batch_size)


def prior_latents(train: Arrays, out: Path, cfg: TrainConfig) -> np.ndarray:
    """Fit (or reload from ``out``/prior) the VQ-VAE on the training ECG -> z_q of every training window."""
    from host.vqvae import VqVae, fit_vqvae

    folder = out / "prior"
    if (folder / "vqvae.json").is_file():
        vq = VqVae.load(folder)
    else:
        vq, hist = fit_vqvae(train.ecg_mv, cfg_prior(cfg), cfg.seed)
        vq.save(folder)
        _write_json(folder / "history.json", hist)
        log.info("ECG prior: VQ-VAE reconstruction L1 %.4f mV after %d epochs", hist[-1]["l1_mv"], len(hist))
    return vq.quantized_latents(train.ecg_mv)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


def fit(train_set, val_set, out_dir: str | Path, cfg: TrainConfig, *, resume: bool = True,
        show_progress: bool = True, stop_after_epoch: int | None = None, gradients=None,
        data_digest: str | None = None) -> TrainResult:
    """Train on window sets (``host.data.format.WindowSet``) -> ``out_dir``/model.keras (the best
    epoch on ``val_set``), history.json, checkpoint/ and state.json. ``stop_after_epoch`` ends the
    run after that epoch's checkpoint, as a kill would (a later call resumes). ``gradients``: see
    ``Trainer`` (data-parallel on Ray: ``host.scale.train``). ``data_digest``: the data's identity
    (``host.data.format.dataset_digest``), kept in state.json; a resume on other data is refused
    (a finished run in ``out_dir`` would otherwise hand back its old model at once)."""
    mtl.check_method(cfg.mtl)
    if len(train_set) < cfg.batch_size:
        raise ConfigError(f"train: {len(train_set)} training windows, fewer than one batch of {cfg.batch_size}")
    if len(val_set) == 0:
        raise ConfigError("train: the validation split is empty (model selection needs it)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()
    streamed = isinstance(train_set, ShardStream)
    if streamed and cfg.prior:
        raise ConfigError("train --prior: the ECG prior needs the training split in memory (one file); "
                          f"this dataset streams {len(train_set.files)} shards")
    train = train_set if streamed else Arrays.from_windows(train_set)
    val = Arrays.from_windows(val_set)
    gpus = tf.config.list_physical_devices("GPU")
    log.info("training on %s; %d training windows %s", ", ".join(g.name for g in gpus) or "CPU", len(train),
             f"streamed from {len(train_set.files)} shards" if streamed else "in memory")
    trainer = Trainer(cfg, len(train) // cfg.batch_size, gradients)
    z_q = prior_latents(train, out, cfg) if cfg.prior else None
    schedule = mtl.EccentricSchedule(len(TASKS), cfg.warmup_epochs, cfg.temperature)
    state_path, ckpt_dir, best_path = out / "state.json", out / "checkpoint", out / "best.weights.h5"
    manager = tf.train.CheckpointManager(trainer.ckpt, str(ckpt_dir), max_to_keep=1)
    state = {"config": cfg.to_json(), "epoch": 0, "history": [], "best_epoch": 0, "best_val_loss": None,
             "rng": {"rule": "numpy.random.default_rng([seed, epoch])", "seed": cfg.seed}, "data_digest": data_digest}
    if resume and state_path.is_file() and manager.latest_checkpoint:
        saved = json.loads(state_path.read_text())
        for key, val_ in cfg.to_json().items():
            if saved["config"].get(key) != json.loads(json.dumps(val_)):
                raise ConfigError(f"resume {out}: setting {key!r} was {saved['config'].get(key)!r}, now {val_!r}",
                                  hint="use another --out, or the original settings")
        was = saved.get("data_digest")
        if was and data_digest and was != data_digest:
            raise ConfigError(f"resume {out}: its checkpoint was trained on other data (dataset digest "
                              f"{was[:12]}, now {data_digest[:12]})",
                              hint="use another --out, or --no-resume to start over on this data")
        trainer.ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        state = dict(saved, data_digest=was or data_digest)
        schedule.load_state(state.get("ega", {}))
        log.info("resumed %s after epoch %d", out, state["epoch"])
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        t0 = time.monotonic()
        k = schedule.k(epoch) if cfg.mtl == "ega" else np.ones(len(TASKS))
        tr = trainer.train_epoch(train, epoch, k, show_progress, z_q)
        va = trainer.evaluate(val)
        schedule.end_epoch(epoch, tr)
        val_loss = float(va.sum())
        rec = {"epoch": epoch, "train": dict(zip(TASKS, tr.tolist())), "val": dict(zip(TASKS, va.tolist())),
               "val_loss": val_loss, "k": k.tolist(), "seconds": round(time.monotonic() - t0, 1)}
        if cfg.mtl == "uncertainty":
            rec["log_vars"] = trainer.log_vars.numpy().tolist()
        state["history"].append(rec)
        if state["best_val_loss"] is None or val_loss < state["best_val_loss"]:
            state["best_val_loss"], state["best_epoch"] = val_loss, epoch
            trainer.model.save_weights(str(best_path))
        state["epoch"], state["ega"] = epoch, schedule.state()
        manager.save(checkpoint_number=epoch)
        _write_json(state_path, state)  # after the checkpoint: a crash between them repeats the epoch
        log.info("epoch %d: train %s val %s (%.1f s)", epoch, np.round(tr, 4), np.round(va, 4), rec["seconds"])
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    trainer.model.load_weights(str(best_path))
    model_path = out / "model.keras"
    trainer.model.save(str(model_path))
    history_path = out / "history.json"
    _write_json(history_path, {"config": cfg.to_json(), "best_epoch": state["best_epoch"],
                               "best_val_loss": state["best_val_loss"], "epochs": state["history"]})
    return TrainResult(model_path, history_path, int(state["best_epoch"]), float(state["best_val_loss"]),
                       int(state["epoch"]))


def train(dataset_dir: str | Path, out_dir: str | Path, *, epochs: int = 30, batch_size: int = 32, seed: int = 0,
          mtl: str = "ega", T: float = 1.0, warmup_epochs: int = 4, lr: float = 1e-3, resume: bool = True,
          prior: bool = False, model: ModelConfig | None = None, show_progress: bool = True,
          gradients=None) -> TrainResult:
    """Train on ``dataset_dir`` (train.npz / val.npz / manifest.json; test.npz is not read)."""
    from host.data.format import dataset_digest, load_split, read_manifest, split_files

    read_manifest(dataset_dir)  # fail early, naming the folder, if it is not a dataset
    files = split_files(dataset_dir, "train")
    val_set = load_split(dataset_dir, "val")
    if len(files) > 1:  # a sharded split is streamed from disk (tf.data), never held whole
        train_set = ShardStream([f for f, _ in files], [n for _, n in files])
    else:
        train_set = load_split(dataset_dir, "train")
    t, v, c = val_set.features_q15.shape[1:]
    mcfg = model or ModelConfig(window_samples=t, n_voxels=v, n_channels=c)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, mtl=mtl, temperature=T,
                      warmup_epochs=warmup_epochs, lr=lr, prior=prior, model=mcfg)
    return fit(train_set, val_set, out_dir, cfg, resume=resume, show_progress=show_progress, gradients=gradients,
               data_digest=dataset_digest(dataset_dir))
