"""End-to-end pipeline cost at three sizes: wall time and peak memory, to show how cost grows with rows.

    .venv/bin/python -m bench.bench_pipeline --sizes tiny demo large [--job landing_refresh]

Each size runs in its own process (`python -m orchestration.demo --size X`) on a fresh data dir, so peak
RSS is that run's alone (ru_maxrss of the child; dbt runs as a grandchild and is included). The default job
is `landing_refresh` (ingest + dbt + checks); `--job smartmarket_pipeline` adds the ML assets, and the
per-step times then give each model's training and scoring wall time.
Writes bench/results/pipeline[_<job>].json.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_size(size: str, job: str) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-pipeline-{size}-") as tmp:
        env = {**os.environ, "SMARTMARKET_DATA_DIR": tmp, "SMARTMARKET_WAREHOUSE": "duckdb"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "orchestration.demo", "--size", size, "--job", job],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rows = sum(int(n.replace(",", "")) for n in re.findall(r"raw\.transactions\s+([\d,]+) rows", proc.stdout))
        timings = {m[0]: float(m[1]) for m in re.findall(r"\[timing\] ([\w:]+) ([\d.]+) s", proc.stdout)}
        return {"size": size, "job": job, "exit_code": proc.returncode, "wall_seconds": round(wall, 1),
                "phase_seconds": timings, "raw_transactions": rows,
                # ru_maxrss of children is the max over all children so far: report it only if it grew.
                "peak_rss_mb": round(max(peak, before) / 1024),
                "tail": proc.stdout.splitlines()[-6:] if proc.returncode else []}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "demo", "large"])
    parser.add_argument("--job", default="landing_refresh")
    args = parser.parse_args(argv)
    results = []
    for size in args.sizes:
        r = run_size(size, args.job)
        results.append(r)
        print(json.dumps(r), flush=True)
    base = results[0]
    for r in results:
        if base["raw_transactions"] and r["raw_transactions"]:
            r["rows_ratio_vs_first"] = round(r["raw_transactions"] / base["raw_transactions"], 1)
            r["time_ratio_vs_first"] = round(r["wall_seconds"] / base["wall_seconds"], 1)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("pipeline.json" if args.job == "landing_refresh" else f"pipeline_{args.job}.json")
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")
    return 0 if all(r["exit_code"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
