"""Long computations run beside the page, not in its script run: the page stays live while they work.

A reviewer who starts integrated gradients can still switch tabs, read the grounding, change the sources mode
or save a verdict: the script run that started the job ends at once, and a fragment polls the job's progress
once a second until the result is in the result cache (then the page reruns and shows it). One worker thread
serves the whole server: the models take one computation at a time anyway (their locks), and a queue is more
honest than two jobs thrashing two cores.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import streamlit as st

from explainers.errors import ExplainerError

MAX_JOBS = 64  # finished jobs remembered (for their errors); their results are in the result cache


class JobStopped(ExplainerError):
    """The reviewer pressed Stop."""


class Job:
    def __init__(self, key: tuple, label: str):
        self.key, self.label = key, label
        self.fraction, self.message = 0.0, "waiting for the worker"
        self.started = time.monotonic()
        self.stop_requested = False
        self.future: Future | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        """The computation's progress callback: records progress, and stops the run when asked to."""
        if self.stop_requested:
            raise JobStopped(f"{self.label} was stopped")
        self.fraction, self.message = min(1.0, max(0.0, float(fraction))), str(message)

    @property
    def done(self) -> bool:
        return self.future is not None and self.future.done()

    @property
    def error(self) -> BaseException | None:
        return self.future.exception() if self.done else None

    def result(self) -> Any:
        return self.future.result() if self.done else None


class JobRunner:
    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditlens-job")
        self._jobs: dict[tuple, Job] = {}
        self._lock = threading.Lock()

    def submit(self, key: tuple, label: str, fn: Callable[[Callable[[float, str], None]], Any]) -> Job:
        """Start ``fn(progress)`` unless a job with this key exists (queued, running, or finished: a failed one
        stays, with its error, until ``forget``, so the page can show why and offer a retry)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                return job
            job = Job(key, label)
            job.future = self._pool.submit(fn, job.progress)
            self._jobs[key] = job
            finished = [k for k, j in self._jobs.items() if j.done]
            for k in finished[: max(0, len(self._jobs) - MAX_JOBS)]:  # results live in the result cache
                del self._jobs[k]
            return job

    def get(self, key: tuple) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def forget(self, key: tuple) -> None:
        with self._lock:
            self._jobs.pop(key, None)

    def busy(self) -> bool:
        with self._lock:
            return any(not j.done for j in self._jobs.values())


@st.cache_resource(show_spinner=False)
def jobs() -> JobRunner:
    return JobRunner()


@st.fragment(run_every=1.0)
def _poll(key: tuple) -> None:
    job = jobs().get(key)
    if job is None or job.done:
        st.rerun()  # the whole page: it finds the result cached (or shows the error) and stops polling
        return
    waited = time.monotonic() - job.started
    st.progress(job.fraction, text=f"{job.label}: {job.message} ({waited:.0f} s). The rest of the page stays usable.")


def _request_stop(key: tuple) -> None:
    job = jobs().get(key)
    if job is not None:
        job.stop_requested = True
        # a stop is this reviewer's: only this session is told so (the job is shared by everyone who asks for it)
        st.session_state.setdefault("_stopped_jobs", set()).add(key)


def stopped_here(key: tuple) -> bool:
    """This session stopped the job with this key (and has not run it again): the page shows it as stopped."""
    return key in st.session_state.get("_stopped_jobs", set())


def in_background(key: tuple, label: str, fn: Callable[[Callable[[float, str], None]], Any], show_error) -> Any:
    """The job's result once it is done; until then a live progress bar with a Stop button (and None).

    ``fn`` receives a progress callback; a failure is shown with ``show_error`` and offers a retry. A stopped job is
    no failure: it is forgotten at once, and only the session that stopped it is told so, with "Run again"."""
    job = jobs().get(key)
    if job is not None and job.done and isinstance(job.error, JobStopped):
        jobs().forget(key)
        if not stopped_here(key):
            st.rerun()  # another reviewer stopped it: this page decides afresh (its Compute button, say)
    if jobs().get(key) is None and stopped_here(key):
        st.info(f"{label} was stopped.", icon=":material/stop_circle:")
        if st.button("Run again", key=f"again_{abs(hash(key))}"):
            st.session_state["_stopped_jobs"].discard(key)
            jobs().submit(key, label, fn)
            st.rerun()
        return None
    job = jobs().submit(key, label, fn)
    if not job.done:
        _poll(key)
        # outside the fragment, which redraws every second (a click on a button it redraws can be lost), and a
        # callback, which acts before the next run whatever that run is
        st.button("Stop", key=f"stop_{abs(hash(key))}", icon=":material/stop_circle:", on_click=_request_stop,
                  args=(key,))
        return None
    if isinstance(job.error, JobStopped):  # stopped while this run drew the page: said on the next run
        st.rerun()
    if job.error is not None:
        show_error(job.error, f"{label} failed")
        if st.button("Try again", key=f"retry_{abs(hash(key))}"):  # one click: forgotten and started again
            jobs().forget(key)
            jobs().submit(key, label, fn)
            st.rerun()
        return None
    return job.result()
