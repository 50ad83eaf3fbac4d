"""Ingestion throughput (rows/s) per landing kind on generated data sets.

    .venv/bin/python -m bench.bench_ingestion --sizes demo large

Writes bench/results/ingestion.json. Data is generated into a temporary folder (large: ~7M rows, ~0.8 GB).
"""

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from smartmarket.config import load_settings
from smartmarket.contracts import KINDS
from smartmarket.datagen import generate
from smartmarket.ingest.loader import ingest_kind

RESULTS = Path(__file__).resolve().parent / "results"


def bench_size(size: str, warehouse: str = "duckdb") -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-ingest-{size}-") as tmp:
        data_dir = Path(tmp)
        t0 = time.perf_counter()
        report = generate(data_dir, size=size, seed=42)
        gen_s = time.perf_counter() - t0
        settings = load_settings({"SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": warehouse})
        kinds = {}
        for kind in KINDS:
            t0 = time.perf_counter()
            result = ingest_kind(settings, kind)
            secs = time.perf_counter() - t0
            rows = result.total("rows_read")
            kinds[kind] = {"rows": rows, "seconds": round(secs, 2), "rows_per_s": round(rows / secs) if secs else None}
            print(f"{size:>6} {kind:<15} {rows:>10,} rows {secs:8.1f} s {rows / secs:>12,.0f} rows/s", flush=True)
        t0 = time.perf_counter()
        again = ingest_kind(settings, "transactions")
        rerun_s = time.perf_counter() - t0
        total_rows = sum(k["rows"] for k in kinds.values())
        total_s = sum(k["seconds"] for k in kinds.values())
        return {"size": size, "warehouse": warehouse, "generate_seconds": round(gen_s, 1),
                "rows_written": report.rows, "kinds": kinds,
                "total_rows": total_rows, "total_seconds": round(total_s, 1),
                "rows_per_s": round(total_rows / total_s),
                "rerun_seconds_no_new_files": round(rerun_s, 2),
                "rerun_files_skipped": sum(f.status == "skipped" for f in again.files)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", nargs="+", default=["demo", "large"])
    args = parser.parse_args(argv)
    results = [bench_size(size) for size in args.sizes]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "ingestion.json"
    out.write_text(json.dumps({"results": results, "peak_rss_mb": round(peak_mb)}, indent=2))
    print(f"peak RSS {peak_mb:,.0f} MB; written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
