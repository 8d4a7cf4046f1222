"""`cardioradar train --address ADDR --workers N`: data-parallel training on Ray, the same step.

Each worker is a Ray actor (one CPU) holding a replica of the training model
(``host.train.Trainer``). Per step, the driver (the ``fit`` loop of ``host.train``, unchanged):
1. draws the global batch exactly as the single-machine run (same shuffle, augmentation and
   streamed shards, from the same seeded RNG);
2. cuts it into contiguous slices, one per worker (sizes differ by at most one window), and puts
   the current weights into Ray's object store once;
3. each worker loads the weights and returns its slice's task losses and gradients
   (``Trainer._grads_fn``, scaled so that the slices add up to the whole batch's);
4. the driver adds them up in worker order and runs the single-machine update
   (``Trainer._apply_fn``: EGA / Aligned-MTL combination of the per-task trunk gradients, Adam).
Validation, checkpoints, resume and model selection stay on the driver. The data is read and
augmented by the driver only; the slices travel through the object store, so only the driver
needs the dataset folder.

With one worker the model is the single-machine model, byte for byte (the same ops on the same
inputs, nothing summed); with more, the sums of slice gradients round differently from one
batch's reductions (docs/scale-out.md has the measured difference).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from cardioradar.errors import ConfigError

log = logging.getLogger(__name__)
_READY_TIMEOUT_S = 300.0  # TF import + model build per worker; a loaded node takes tens of seconds


class Replica:
    """A worker: the training model of ``cfg`` and its gradient half of the step (a Ray actor)."""

    def __init__(self, cfg, threads: int):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        from host.train import Trainer

        # As many TF threads as Ray CPUs: a CPU kernel's reductions are split by thread count, so
        # one worker with all the CPUs computes the bits the single-machine run computes.
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # a reused Ray worker whose TF already runs: still correct, other rounding
            log.warning("training worker: TF already initialised here, its thread count stays as it was")
        tf.config.experimental.enable_op_determinism()
        self.trainer = Trainer(cfg, 1)  # its optimiser is never used: updates happen on the driver

    def ready(self) -> bool:
        return True

    def gradients(self, state, part, scale, share, first):
        """``state`` (weights of the training model, log-variances), ``part`` the slice (x, ecg,
        mask, anchors, cycle, z_q) -> (losses (3,), gradients as numpy, ``_grads_fn``'s structure)."""
        import tensorflow as tf

        t = self.trainer
        weights, log_vars = state
        t.train_model.set_weights(weights)
        t.log_vars.assign(log_vars)
        losses, grads = t._grads(*part, tf.constant(scale), tf.constant(share), tf.constant(first))
        return losses.numpy(), tf.nest.map_structure(lambda g: g.numpy(), grads)


def slice_weights(mask: np.ndarray, parts: list[slice]) -> list[tuple[np.ndarray, np.float32]]:
    """Per slice: (scale (3,) float32, share): its weight in each task's batch loss (the masked
    ECG L1 is a mean over the batch's mask, the others over its windows) and its share of the
    windows. Exactly 1 for a single slice."""
    n = mask.shape[0]
    m_all = max(float(mask.sum(dtype=np.float64)), 1.0)
    out = []
    for sl in parts:
        share = (sl.stop - sl.start) / n
        m = max(float(mask[sl].sum(dtype=np.float64)), 1.0)
        out.append((np.array([m / m_all, share, share], np.float32), np.float32(share)))
    return out


class RayGradients:
    """The ``gradients`` of ``host.train.Trainer``: a batch's gradients from ``workers`` Ray actors."""

    def __init__(self, workers: int):
        self.workers = workers
        self.actors: list = []
        self.cfg = None  # the replicas' TrainConfig: kept for further runs with the same one

    def _start(self, cfg) -> None:
        import ray

        cpus = int(ray.cluster_resources().get("CPU", 0))
        per_node = max([int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [0])
        per_worker = min(cpus // self.workers, per_node)  # an equal share, on one node
        if per_worker < 1:
            raise ConfigError(f"--workers {self.workers}: the Ray cluster has {cpus} CPUs, at least one per training "
                              "worker is needed", hint="pass --workers <= its CPUs, or add nodes")
        actor = ray.remote(num_cpus=per_worker, max_restarts=0)(Replica)
        self.actors = [actor.remote(cfg, per_worker) for _ in range(self.workers)]
        ready = [a.ready.remote() for a in self.actors]
        done, _ = ray.wait(ready, num_returns=len(ready), timeout=_READY_TIMEOUT_S)
        if len(done) < len(ready):
            raise ConfigError(f"--workers {self.workers}: only {len(done)} of the training workers "
                              f"({per_worker} CPUs each) started within {_READY_TIMEOUT_S:.0f} s",
                              hint="every node needs this project and its [host,scale] extras installed; "
                                   "see `ray status` for free CPUs")
        ray.get(done)  # a worker that failed to build its replica raises here
        log.info("Ray training: %d workers of %d CPUs", self.workers, per_worker)

    def __call__(self, trainer, batch) -> tuple[np.ndarray, list]:
        import ray
        import tensorflow as tf

        if not self.actors or self.cfg != trainer.cfg:
            self.close()
            self._start(trainer.cfg)
            self.cfg = trainer.cfg
        batch = [np.asarray(b) for b in batch]
        n = len(batch[0])
        if n < self.workers:
            raise ConfigError(f"--workers {self.workers}: more workers than windows in a batch ({n})",
                              hint="raise --batch-size or lower --workers")
        bounds = np.linspace(0, n, self.workers + 1).round().astype(int)
        parts = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        state = ray.put((trainer.train_model.get_weights(), trainer.log_vars.numpy()))
        weights = slice_weights(batch[2], parts)
        refs = [actor.gradients.remote(state, [b[sl] for b in batch], scale, share, np.float32(w == 0))
                for w, (actor, sl, (scale, share)) in enumerate(zip(self.actors, parts, weights))]
        results = ray.get(refs)
        losses, grads = results[0]
        for more_losses, more_grads in results[1:]:  # in worker order: the same sums every run
            losses = losses + more_losses
            grads = tf.nest.map_structure(np.add, grads, more_grads)
        return losses, grads

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a)
        self.actors, self.cfg = [], None


def train_on_ray(dataset_dir: str | Path, out_dir: str | Path, *, address: str | None = None,
                 workers: int | None = None, **train_kw):
    """``host.train.train`` with each batch's gradients computed by ``workers`` Ray workers
    (default: the cluster's CPUs). Without ``address`` a Ray with ``workers`` CPUs starts on this
    machine and stops after; with one, this process joins that cluster (``host.scale.cluster``)."""
    from host.scale import cluster
    from host.train import train

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: expected >= 1, got {workers}")
    # a local Ray gets this machine's CPUs (each worker an equal share), or one per worker if more
    here = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_cpus = max(workers or 1, here) if address in (None, "", "local") else None
    with cluster(address, local_cpus) as c:
        grads = RayGradients(workers or c.workers)
        try:
            return train(dataset_dir, out_dir, gradients=grads, **train_kw)
        finally:
            grads.close()
