"""Ray for the host tools: one way to get a cluster, and an ordered map over its workers.

``cluster(address, workers)`` is a context manager: without an address (or "local") Ray starts on this
machine with ``workers`` CPUs (one task per CPU); with one (``ray://host:10001`` or
``host:6379``, what ``ray start --head`` prints) this process joins that cluster. While it is
open, ``active()`` returns it, and the host code that fans work out (``host.data.sim_dataset``
``iter_population``) sends each item to a Ray task instead of a local process pool.

Ray is an optional extra (``pip install -e ".[scale]"``); nothing here imports it before a
cluster is asked for, and nothing in ``edge/`` imports it at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cardioradar.errors import ConfigError

log = logging.getLogger(__name__)

# One thread per task: Ray gives each task one CPU; the kernels (numba, TFLite with
# num_threads=1, numpy's BLAS) must not each spread over the whole machine.
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "NUMBA_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
               "TF_CPP_MIN_LOG_LEVEL": "2"}

_ACTIVE: Cluster | None = None


@dataclass(frozen=True)
class Cluster:
    """A connected Ray runtime. ``workers``: tasks running at once (``--workers``, else the
    CPUs Ray reports)."""

    address: str | None
    workers: int

    def map_ordered(self, fn: Callable, items: Iterable) -> Iterator:
        """``fn(item)`` for each item as Ray tasks (one CPU each, at most ``workers`` running
        at once), yielded in the items' order (a finished later item waits for the earlier)."""
        import ray

        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        order: deque = deque()  # submitted and not yet yielded, in the items' order
        running: list = []  # submitted and not known to be finished
        for item in items:
            if len(running) >= self.workers:
                _, running = ray.wait(running, num_returns=1)
            ref = remote.remote(item)
            order.append(ref)
            running.append(ref)
            busy = set(running)
            while order and order[0] not in busy:
                yield ray.get(order.popleft())
        while order:
            yield ray.get(order.popleft())


def check_address(address: str, timeout_s: float = 5.0) -> None:
    """Refuse an address whose head does not answer (``ray.init`` would retry for minutes)."""
    import socket

    if address == "auto":  # Ray finds the cluster this node belongs to
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--address {address}: expected HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:10001")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ConfigError(f"--address {address}: no Ray head answers there ({e})",
                          hint="start it with `ray start --head --port=6379` and pass the address it prints") from e


def active() -> Cluster | None:
    """The cluster opened by ``cluster(...)`` in this process, or None."""
    return _ACTIVE


@contextlib.contextmanager
def cluster(address: str | None = None, workers: int | None = None) -> Iterator[Cluster]:
    """Connect to Ray (start a local one without ``address``) for the ``with`` block.

    A Ray runtime this process already holds (``ray.init`` by the caller, e.g. a test
    fixture) is used as it is and left running; one started here is shut down after."""
    global _ACTIVE
    address = None if address in (None, "", "local") else address
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers: expected >= 1, got {workers}")
    if address:
        check_address(address)
    import ray

    started = False
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home from CI or the lab
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                  runtime_env={"env_vars": _WORKER_ENV})
        try:
            if address:
                ray.init(address=address, **kw)
            else:
                # "local": a new Ray of our own, even where a head (or RAY_ADDRESS) is on this machine
                ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, **kw)
        except (ConnectionError, ValueError, RuntimeError) as e:
            where = f"--address {address}" if address else "a local Ray"
            raise ConfigError(f"{where}: could not start/join Ray: {e}",
                              hint="a head started by `ray start --head` (Ray 2.60) wants its token: set RAY_AUTH_MODE=token "
                                   "and RAY_AUTH_TOKEN (`ray get-auth-token` on the head) here") from e
        started = True
    cpus = int(ray.cluster_resources().get("CPU", 1))
    previous = _ACTIVE
    _ACTIVE = Cluster(address, workers or cpus)
    log.info("Ray: %s, %d CPUs, %d tasks in flight", address or "local", cpus, _ACTIVE.workers)
    try:
        yield _ACTIVE
    finally:
        _ACTIVE = previous
        if started:
            ray.shutdown()
