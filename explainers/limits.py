"""Resource limits shared by long computations: out-of-memory detection and cooperative time limits."""

from __future__ import annotations

import time
from typing import Callable

from .errors import TimeLimitError

Progress = Callable[[float, str], None]


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator failing (both surface as RuntimeError subclasses in torch)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and ("out of memory" in text or "can't allocate memory" in text
                                                              or isinstance(exc, MemoryError))


def free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def time_limited(progress: Progress | None, seconds: float | None, what: str = "the computation") -> Progress | None:
    """Wrap a progress callback so the run stops with ``TimeLimitError`` once ``seconds`` have passed.

    Every long method reports progress between batches, so the limit is checked there: the run stops at the
    next batch boundary, and the model is left as it was (no partial result is returned)."""
    if not seconds:
        return progress
    started = time.perf_counter()

    def wrapped(fraction: float, message: str = "") -> None:
        elapsed = time.perf_counter() - started
        if elapsed > seconds:
            raise TimeLimitError(f"{what} passed its time limit of {seconds:g} s at {fraction:.0%} "
                                 "(choose fewer steps/samples or a shorter input, or raise the limit)")
        if progress:
            progress(fraction, message)

    return wrapped
