"""Ray backend: batches of rows go to Ray actors, each loading the models once; results come back to this process,
which alone writes the store (one writer per run and machine; several machines can each run a shard into one
PostgreSQL store, the (run, row id) constraint keeping rows single).

``address``: a running cluster (``ray://host:10001`` or ``auto``), default ``RAY_ADDRESS``, else a local Ray
started here with one CPU per worker. The cluster's nodes need AuditLens installed (same version): actors import
``explainers`` and load the models from their own package and cache.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from ..errors import InputError
from .audit import BatchOptions, Detector
from .reader import BadRow, InputRow


class _Worker:
    """One Ray actor: the models loaded once, then batch after batch."""

    def __init__(self, options: BatchOptions):
        import torch

        torch.set_num_threads(1)  # the actor holds one CPU: one thread, no fight with its neighbours
        self.detector = Detector.load(options)

    def ready(self) -> bool:
        return True

    def audit(self, rows: list[InputRow], run_name: str):
        return self.detector.audit(rows, run_name)


class RayBackend:
    def __init__(self, options: BatchOptions, workers: int = 1, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise InputError("--backend ray needs Ray: pip install 'ray>=2.9'") from None
        self.ray = ray
        self.options, self.workers, self.address = options, workers, address
        self.actors: list = []
        self.started_here = False

    def _start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.workers, **kwargs)
            self.started_here = True
        actor = ray.remote(num_cpus=1)(_Worker)
        self.actors = [actor.remote(self.options) for _ in range(self.workers)]
        ray.get([a.ready.remote() for a in self.actors])  # models loaded (or their error raised) before any row

    def map(self, batches: Iterable[tuple[list[InputRow], list[BadRow]]], run_name: str):
        """Yield (results, bad rows) per batch in input order; at most two batches in flight per actor."""
        pending: deque = deque()
        turn = 0
        try:
            for rows, bad in batches:
                ref = None
                if rows:
                    if not self.actors:
                        self._start()  # only when there is work: a finished run resumed starts nothing
                    ref = self.actors[turn % len(self.actors)].audit.remote(rows, run_name)
                    turn += 1
                pending.append((ref, bad))
                if len(pending) >= 2 * self.workers:
                    yield self._take(pending)
            while pending:
                yield self._take(pending)
        finally:
            self.close()

    def _take(self, pending: deque):
        ref, bad = pending.popleft()
        return (self.ray.get(ref) if ref is not None else []), bad

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
        if self.started_here and self.ray.is_initialized():
            self.ray.shutdown()
            self.started_here = False
