"""Progress reports for long per-item loops: done/total, rate and time left, at a bounded interval.

Plain Python: the caller passes where messages go (a Dagster asset passes ``context.log.info``), so the ML
library stays free of Dagster. A message is emitted on the first item, then whenever ``every_seconds`` have
passed since the last one, and when the loop finishes; with per-item work of a few seconds at most (one
series' fits) the gap between two messages stays within ``every_seconds`` plus one item.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Log = Callable[[str], None]
DEFAULT_EVERY_SECONDS = 20.0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """``advance()`` once per finished item (or ``advance(n)`` per chunk); ``finish()`` at the end."""

    def __init__(self, what: str, total: int, log: Log | None, *, unit: str = "series",
                 every_seconds: float = DEFAULT_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.what = what
        self.total = int(total)
        self.log = log
        self.unit = unit
        self.every_seconds = every_seconds
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last: float | None = None
        self._finished = False

    def message(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 else math.nan
        eta = "unknown" if math.isnan(left) else _duration(left)
        return (f"{self.what}: {self.done:,}/{self.total:,} {self.unit} ({share:.0%}), {rate:.1f} {self.unit}/s, "
                f"{_duration(elapsed)} elapsed, ~{eta} left")

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.log is not None and (self._last is None or now - self._last >= self.every_seconds):
            self._last = now
            self.log(self.message())

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.log is not None:
            elapsed = self.clock() - self.started
            self.log(f"{self.what}: done, {self.done:,}/{self.total:,} {self.unit} in {_duration(elapsed)}")
