"""Map a picklable function over series, optionally in worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_series(func: Callable[[T], R], items: Sequence[T], n_jobs: int = 1) -> list[R]:
    """``[func(x) for x in items]``, in ``n_jobs`` processes when n_jobs > 1 (order preserved).

    Workers are started with "spawn": the caller may be a threaded process (Dagster, MLflow), and forking a
    threaded process can deadlock. Spawn costs one import of the library per worker (~1-2 s), so parallelism
    only pays off on more than a handful of Prophet series.
    """
    if n_jobs <= 1 or len(items) <= 1:
        return [func(x) for x in items]
    workers = min(n_jobs, len(items))
    # Chunks amortise pickling without starving workers at the end of the list.
    chunksize = max(1, len(items) // (workers * 4))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(func, items, chunksize=chunksize))
