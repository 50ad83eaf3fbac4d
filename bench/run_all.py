"""`make bench`: run every benchmark in `bench/` with its default arguments; each writes `bench/results/*.json`.

Each benchmark runs in its own process, so one's peak memory and imports never colour the next one's
figures, and a failing benchmark does not stop the others (the exit code says whether all passed).
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = ("bench_ingestion", "bench_validation", "bench_forecasting", "bench_pipeline", "bench_api")


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = []
    for i, name in enumerate(names, 1):
        print(f"[bench {i}/{len(names)}] {name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"[bench {i}/{len(names)}] {name}: exit {code} in {time.perf_counter() - started:,.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
