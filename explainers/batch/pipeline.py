"""``audit-batch``: stream a dataset through a backend into the review store, resumable, with a summary.

Rows are read lazily and sent in batches with a bounded number in flight, so memory stays flat in the row count.
Each batch is written in one transaction (audit + run item per row), so a ``kill -9`` loses at most the batches
in flight, and ``--resume`` skips what the run holds: no row lost, none doubled.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..errors import InputError, ResourceLimitError, not_a_file
from .audit import BatchOptions, Detector
from .reader import BadRow, ColumnMap, InputRow, check_columns, count_rows, detect_format, read_rows
from .runs import RowResult, Run, RunStore
from .triage import TriagePolicy

BACKENDS = ("local", "ray")


@dataclass
class Summary:
    run: str
    rows_read: int = 0
    audited: int = 0
    already_done: int = 0
    flagged: int = 0
    skipped: list[BadRow] = field(default_factory=list)
    elapsed_s: float = 0.0
    load_s: float | None = None  # of elapsed_s, the one-off model load (imports included), where this process did it
    # (elapsed_s, rows audited) once each worker's first batch was written: the workers load their models side by
    # side, so their first batches end together; the rows after that are the steady part
    first_batch: tuple[float, int] | None = None

    @property
    def rate(self) -> float:
        return self.audited / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def steady_rate(self) -> float | None:
        """Answers/s once the models are loaded (what the rate tends to on a long run). Where the models load in
        worker processes, out of this one's sight: the rate after every worker's first batch came back."""
        if self.load_s is not None:
            return self.audited / (self.elapsed_s - self.load_s) if self.elapsed_s > self.load_s else None
        if self.first_batch is None or self.elapsed_s <= self.first_batch[0] or self.audited <= self.first_batch[1]:
            return None
        return (self.audited - self.first_batch[1]) / (self.elapsed_s - self.first_batch[0])

    def skipped_by_reason(self) -> Counter:
        return Counter(re.sub(r"(?<![\w-])\d[\d,.]*", "N", b.reason.split(" (")[0].split(" '")[0])
                       for b in self.skipped)

    def lines(self) -> list[str]:
        out = [f"run {self.run!r}: {self.rows_read:,} rows read, {self.audited:,} audited, "
               f"{self.already_done:,} already in the run, {self.flagged:,} flagged, {len(self.skipped):,} skipped; "
               f"{self.elapsed_s:.1f} s ({self.rate:.1f} answers/s"
               + (f"; {self.steady_rate:.1f} answers/s after the {self.load_s:.1f} s model load)"
                  if self.steady_rate is not None and self.load_s is not None
                  else f"; {self.steady_rate:.1f} answers/s after each worker's first batch, the models loaded)"
                  if self.steady_rate is not None else ")")]
        for reason, n in self.skipped_by_reason().most_common():
            out.append(f"  skipped {n:,} x {reason}")
        for b in self.skipped[:10]:
            out.append(f"  line {b.line_no}: {b.reason}")
        if len(self.skipped) > 10:
            out.append(f"  ... {len(self.skipped) - 10:,} more (auditlens export --run NAME lists them all)")
        return out


def batched(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class LocalBackend:
    """This process (``workers=1``) or a pool of worker processes, each loading the models once."""

    def __init__(self, options: BatchOptions, workers: int = 1):
        self.options, self.workers = options, workers
        self.detector: Detector | None = None
        self.load_s: float | None = None  # how long this process took to load the models (one worker only)

    def map(self, batches: Iterable[tuple[list[InputRow], list[BadRow]]], run_name: str):
        """Yield (audited results, bad rows) per batch; at most 2 x workers batches in flight. Models load at the
        first row to audit (a resumed run with nothing left loads none)."""
        if self.workers == 1:
            yield from self._map_here(batches, run_name)
            return
        import multiprocessing
        from collections import deque
        from concurrent.futures import Future, ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(self.options,)) as pool:
            pending: deque = deque()
            for rows, bad in batches:
                if rows:
                    fut = pool.submit(_audit_in_worker, rows, run_name)
                else:  # nothing to audit (a resumed stretch): no worker needed
                    fut = Future()
                    fut.set_result([])
                pending.append((fut, bad))
                if len(pending) >= 2 * self.workers:
                    fut, b = pending.popleft()
                    yield _worker_result(fut), b
            while pending:
                fut, b = pending.popleft()
                yield _worker_result(fut), b

    def _map_here(self, batches: Iterable[tuple[list[InputRow], list[BadRow]]], run_name: str):
        """One process, two stages: while the verifier reads batch k here, a thread prepares batch k + 1
        (embeddings, windows, lexical signals), so the second core works instead of waiting (at one torch thread,
        as ``audit-batch`` runs, torch runs each thread's operations on that thread; with more it would give each
        thread its own team, 2N threads on N cores, so there the stages take turns here). Results come back in
        batch order, each batch whole."""
        from concurrent.futures import ThreadPoolExecutor

        import torch

        with ThreadPoolExecutor(1, thread_name_prefix="auditlens-prepare") as ahead:
            submit = ahead.submit if torch.get_num_threads() == 1 else _at_once
            held = None  # (future of the prepared batch or None, its bad rows)
            for rows, bad in batches:
                if rows and self.detector is None:
                    self._load()
                fut = submit(self.detector.prepare, rows) if rows else None
                if held is not None:
                    yield self._finished(held[0], run_name), held[1]
                held = (fut, bad)
            if held is not None:
                yield self._finished(held[0], run_name), held[1]

    def _load(self) -> None:
        t0 = time.perf_counter()
        self.detector = Detector.load(self.options)
        self.load_s = time.perf_counter() - t0

    def _finished(self, fut, run_name: str) -> list:
        return self.detector.finish(fut.result(), run_name) if fut is not None else []


def _worker_result(fut) -> list:
    """A worker's batch; a pool whose worker could not start (or died) is said in one line, not a traceback."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return fut.result()
    except BrokenProcessPool:
        raise ResourceLimitError("a worker process could not load the models or died (out of memory?); the rows "
                                 "audited so far are kept: run again with --resume, or with --workers 1 to see "
                                 "the cause") from None


def _at_once(fn, *args):
    """``Executor.submit`` run here and now: a done future with the result or the error."""
    from concurrent.futures import Future

    fut: Future = Future()
    try:
        fut.set_result(fn(*args))
    except Exception as exc:  # noqa: BLE001 - raised where the batch is finished, as from the thread
        fut.set_exception(exc)
    return fut


_WORKER_DETECTOR: Detector | None = None


def _init_worker(options: BatchOptions) -> None:
    global _WORKER_DETECTOR
    import torch

    torch.set_num_threads(1)  # one core per worker process: N workers share the machine instead of fighting
    _WORKER_DETECTOR = Detector.load(options)


def _audit_in_worker(rows: list[InputRow], run_name: str):
    return _WORKER_DETECTOR.audit(rows, run_name) if rows else []


def make_backend(name: str, options: BatchOptions, workers: int, ray_address: str | None = None):
    if name == "local":
        return LocalBackend(options, workers)
    if name == "ray":
        from .ray_backend import RayBackend

        return RayBackend(options, workers, ray_address)
    raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, not {name!r}")


def open_run(runs: RunStore, name: str, source: str, columns: ColumnMap, options: BatchOptions,
             policy: TriagePolicy, resume: bool, created_by: str) -> Run:
    """A new run, or with ``resume`` the existing one, refused when its columns or detector differ."""
    stored = {"columns": columns.__dict__, "detector": options.to_dict()}
    if runs.has_run(name):
        if not resume:
            raise InputError(f"run {name!r} exists; pass --resume to continue it or choose another name")
        run = runs.get_run(name)
        differs = [k for k in ("columns", "detector") if run.options.get(k) != stored[k]]
        if differs:
            raise InputError(f"run {name!r} was started with other {' and '.join(differs)} "
                             f"({run.options.get(differs[0])}); resume it with the same options")
        return run
    return runs.create_run(name, source, stored, policy, created_by)


def check_batch_input(path: str, fmt: str | None, options: BatchOptions,
                      columns: ColumnMap | None = None) -> tuple[str, int | None]:
    """The data file, its format and the detector's options, checked before a store or run is touched (a refused
    option would otherwise use up the run's name, and a worker process would fail where no one sees it).
    Returns the format and the row count (None for CSV)."""
    if not Path(path).is_file():
        raise InputError(not_a_file(path))
    fmt = detect_format(path, fmt)
    total = count_rows(path, fmt)
    if columns is not None:
        check_columns(path, columns, fmt)
    Detector.check(options)
    return fmt, total


def run_batch(path: str, run_name: str, columns: ColumnMap, options: BatchOptions, runs: RunStore, *,
              backend: str = "local", workers: int = 1, resume: bool = False, policy: TriagePolicy | None = None,
              fmt: str | None = None, created_by: str = "audit-batch", batch_size: int = 64,
              ray_address: str | None = None, progress: Callable[[int, int | None, Summary], None] | None = None,
              ) -> Summary:
    """Audit every row of ``path`` into run ``run_name``; returns what happened (also on a resumed run)."""
    fmt, total = check_batch_input(path, fmt, options, columns)
    policy = policy or TriagePolicy(flag_below=options.flag_below)
    started = time.perf_counter()
    rows = read_rows(path, columns, fmt)  # lazily: one row at a time
    run = open_run(runs, run_name, str(path), columns, options, policy, resume, created_by)
    engine = make_backend(backend, options, workers, ray_address)
    summary = Summary(run.name)

    sizes: deque[int] = deque()  # rows per batch sent, in order: backends give batches back in the same order
    done = written = 0  # rows handled; batches that added audits

    def todo() -> Iterator[tuple[list[InputRow], list[BadRow]]]:
        for batch in batched(rows, batch_size):
            summary.rows_read += len(batch)
            sizes.append(len(batch))
            held, bad_held = runs.done(run, batch)
            fresh, bad = [], []
            for r in batch:
                if r.line_no in bad_held or (isinstance(r, InputRow) and held.get(r.row_id) == r.line_no):
                    summary.already_done += 1
                elif isinstance(r, BadRow):
                    bad.append(r)
                else:
                    fresh.append(r)  # a repeated id is caught when written (also across batches in flight)
            yield fresh, bad

    for results, bad in engine.map(todo(), run.name):
        audited = [r for r in results if isinstance(r, RowResult)]
        bad = list(bad) + [r for r in results if isinstance(r, BadRow)]
        added, dups = runs.write(run, audited, bad, created_by)
        summary.audited += len(added)
        summary.flagged += sum(1 for r in added if r.support_probability is None
                               or r.support_probability < policy.flag_below)
        summary.skipped += bad + dups
        summary.elapsed_s = time.perf_counter() - started
        written += bool(added)
        if summary.first_batch is None and written >= workers:
            summary.first_batch = (summary.elapsed_s, summary.audited)
        done += sizes.popleft()
        if progress:
            progress(done, total, summary)
    summary.elapsed_s = time.perf_counter() - started
    summary.load_s = getattr(engine, "load_s", None)
    return summary


def tqdm_progress(enabled: bool = True):
    """A progress bar with rate and ETA on a terminal; elsewhere one line per 10 % (logs stay readable)."""
    from tqdm import tqdm

    state: dict = {}
    tty = enabled and sys.stderr.isatty()

    def update(done: int, total: int | None, summary: Summary) -> None:
        if not enabled:
            return
        if tty:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = tqdm(total=total, unit="row", desc=f"audit {summary.run}", file=sys.stderr,
                                          dynamic_ncols=True, smoothing=0.1)
            bar.update(done - bar.n)
            bar.set_postfix(audited=summary.audited, flagged=summary.flagged, skipped=len(summary.skipped),
                            refresh=False)
            return
        step = max(1, (total or 10_000) // 10)
        if done // step > state.get("last", -1):
            state["last"] = done // step
            rate = done / summary.elapsed_s if summary.elapsed_s else 0.0
            eta = f", ETA {(total - done) / rate:.0f} s" if total and rate else ""
            print(f"audit {summary.run}: {done:,}{f'/{total:,}' if total else ''} rows, {rate:.1f} rows/s{eta}",
                  file=sys.stderr, flush=True)

    def close() -> None:
        if state.get("bar") is not None:
            state["bar"].close()

    update.close = close  # type: ignore[attr-defined]
    return update
