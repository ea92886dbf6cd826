"""The dashboard's result cache (one per server, shared by every session): least recently used out first, never
more than its size, a failed computation never cached, many threads at once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dashboard.compute import ResultCache


class _Computations:
    """Computes a value per key and counts how often each key was really computed."""

    def __init__(self):
        self.calls: dict[tuple, int] = {}
        self._lock = threading.Lock()

    def __call__(self, key):
        def compute():
            with self._lock:
                self.calls[key] = self.calls.get(key, 0) + 1
            return ("value", key)

        return compute


def test_the_least_recently_used_result_goes_first():
    cache, compute = ResultCache(maxsize=3), _Computations()
    for k in ("a", "b", "c"):
        assert cache.get_or_compute((k,), compute((k,))) == ("value", (k,))
    assert cache.get_or_compute(("a",), compute(("a",))) == ("value", ("a",))  # a hit: a is now the newest
    cache.get_or_compute(("d",), compute(("d",)))  # over the size: b, the least recently used, goes
    assert [("a",) in cache, ("b",) in cache, ("c",) in cache, ("d",) in cache] == [True, False, True, True]
    assert cache.peek(("b",)) is None and cache.peek(("c",)) == ("value", ("c",))
    cache.get_or_compute(("e",), compute(("e",)))  # c is now the oldest use
    assert ("c",) not in cache and ("a",) in cache
    cache.get_or_compute(("b",), compute(("b",)))  # an evicted result is computed again; a, used before d, goes
    assert compute.calls == {("a",): 1, ("b",): 2, ("c",): 1, ("d",): 1, ("e",): 1}
    assert (cache.hits, cache.misses) == (1, 6)
    assert sorted(cache.values_where(lambda key: True)) == sorted(("value", (k,)) for k in ("b", "d", "e"))


@pytest.mark.parametrize("maxsize", [1, 5])
def test_the_cache_never_holds_more_than_its_size(maxsize):
    cache, compute = ResultCache(maxsize=maxsize), _Computations()
    for k in range(40):
        cache.get_or_compute((k % 13,), compute((k % 13,)))
        assert len(cache.values_where(lambda key: True)) <= maxsize
    assert len(cache.values_where(lambda key: True)) == maxsize
    assert ((39 % 13),) in cache  # the last one asked for is always kept


def test_a_failed_computation_is_not_cached_and_runs_again():
    cache, runs = ResultCache(maxsize=2), []

    def fails():
        runs.append(1)
        raise RuntimeError("out of time")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="out of time"):
            cache.get_or_compute(("x",), fails)
    assert len(runs) == 2 and ("x",) not in cache and cache.misses == 0
    assert cache.get_or_compute(("x",), lambda: 42) == 42 and cache.get_or_compute(("x",), lambda: 0) == 42


def test_many_threads_keep_the_size_and_every_value_right():
    cache, compute = ResultCache(maxsize=16), _Computations()

    def worker(seed):
        out = []
        for k in range(300):
            key = ((seed * 7 + k * 3) % 40,)
            out.append((key, cache.get_or_compute(key, compute(key))))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for rs in pool.map(worker, range(8)) for r in rs]
    assert all(value == ("value", key) for key, value in results)
    held = cache.values_where(lambda key: True)
    assert len(held) == 16 and all(v[0] == "value" for v in held)
    assert cache.hits + cache.misses == 8 * 300 and cache.misses == sum(compute.calls.values())
