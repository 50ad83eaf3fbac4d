"""Map a picklable function over series, optionally in worker processes, reporting progress as items finish."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from ml.progress import Progress

T = TypeVar("T")
R = TypeVar("R")
# Chunks bound how long the parent waits between two progress reports (one chunk of Prophet series).
MAX_CHUNK = 16


def _run_chunk(func: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [func(x) for x in chunk]


def map_series(func: Callable[[T], R], items: Sequence[T], n_jobs: int = 1,
               progress: Progress | None = None) -> list[R]:
    """``[func(x) for x in items]``, in ``n_jobs`` processes when n_jobs > 1 (order preserved).

    ``func`` is expected to catch its own per-item errors (the forecasting workers do, and return them as
    data): an exception escaping it still aborts the map, because it means a bug, not a bad series.

    Workers are started with "spawn": the caller may be a threaded process (Dagster, MLflow), and forking a
    threaded process can deadlock. Spawn costs one import of the library per worker (~1-2 s), so parallelism
    only pays off on more than a handful of Prophet series.
    """
    if n_jobs <= 1 or len(items) <= 1:
        out = []
        for x in items:
            out.append(func(x))
            if progress is not None:
                progress.advance()
        return out
    workers = min(n_jobs, len(items))
    # Chunks amortise pickling without starving workers at the end of the list, and stay small enough for
    # progress to arrive regularly.
    size = max(1, min(MAX_CHUNK, len(items) // (workers * 4)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    results: list[list[R] | None] = [None] * len(chunks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_run_chunk, func, chunk): i for i, chunk in enumerate(chunks)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if progress is not None:
                progress.advance(len(chunks[i]))
    return [r for chunk_result in results for r in (chunk_result or [])]
