"""Validation throughput of the raw transactions suite on synthetic frames of 1M and 5M rows.

    .venv/bin/python bench/bench_validation.py [--sizes 1000000 5000000] [--chunk 1000000]

Each size is validated whole (chunk_rows=None) and, for sizes above the chunk size, with the runner's
chunked mode (per-chunk suite plus one whole-frame pass for uniqueness and row count). Writes
bench/results/validation.json with rows/s by wall clock and by CPU time (the CPU figure is the one
to compare when other jobs share the machine), and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from expectations.runner import validate_frame  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "validation.json"


def synthetic_transactions(n: int, seed: int = 7) -> pd.DataFrame:
    """A clean raw.transactions frame: 3 tenants, 2,000 products, one year of timestamps."""
    rng = np.random.default_rng(seed)
    qty = rng.integers(1, 6, n)
    qty[rng.random(n) < 0.03] *= -1  # returns
    price = np.round(rng.uniform(0.5, 500.0, n), 2)
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, n), unit="s")
    ids = np.arange(n)
    return pd.DataFrame({
        "tenant_id": pd.Categorical.from_codes(rng.integers(0, 3, n), ["grocer", "jeweller", "fashion"])
        .astype(str),
        "invoice_id": pd.Series(ids // 3).astype(str),
        "transaction_ts": ts,
        "customer_id": pd.Series(rng.integers(0, 50_000, n)).astype(str),
        "product_id": pd.Series(rng.integers(0, 2_000, n)).map(lambda i: f"P{i:05d}"),
        "product_name": None,
        "category": np.array(["food", "gold", "apparel", "home"])[rng.integers(0, 4, n)],
        "quantity": qty,
        "unit_price": price,
        "amount": np.round(qty * price, 2),
        "payment_method": np.array(["card", "cash", "upi"])[rng.integers(0, 3, n)],
        "currency": "USD",
        "_source_file": "landing/transactions/bench.csv",
        "_row_number": ids + 1,
        "_row_hash": pd.Series(ids).map(lambda i: f"{i:016x}"),
        "_ingested_at": pd.Timestamp("2025-01-01"),
        "_extra_columns": None,
    })


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(sizes: list[int], chunk: int) -> dict:
    t0 = time.perf_counter()
    warm = validate_frame(synthetic_transactions(1_000), "raw_transactions")  # GX import + first-run cost
    assert warm.success, warm.summary()
    results: dict = {
        "suite": "raw_transactions",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "warmup_seconds_incl_gx_import": round(time.perf_counter() - t0, 2),
        "n_expectations": warm.n_expectations,
        "runs": [],
    }
    for n in sizes:
        t = time.perf_counter()
        df = synthetic_transactions(n)
        build = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        res = validate_frame(df, "raw_transactions", chunk_rows=None)
        whole, cpu = time.perf_counter() - t, time.process_time() - c
        assert res.success, res.summary()
        run_info = {"rows": n, "mode": "whole", "build_seconds": round(build, 2),
                    "validate_seconds": round(whole, 2), "cpu_seconds": round(cpu, 2),
                    "rows_per_second": round(n / whole), "rows_per_cpu_second": round(n / cpu),
                    "peak_rss_mb": round(peak_rss_mb())}
        results["runs"].append(run_info)
        print(json.dumps(run_info), flush=True)
        if n > chunk:
            t, c = time.perf_counter(), time.process_time()
            part = validate_frame(df, "raw_transactions", chunk_rows=chunk)
            assert part.success, part.summary()
            chunked, cpu = time.perf_counter() - t, time.process_time() - c
            run_info = {"rows": n, "mode": f"chunks of {chunk}", "validate_seconds": round(chunked, 2),
                        "cpu_seconds": round(cpu, 2), "rows_per_second": round(n / chunked),
                        "rows_per_cpu_second": round(n / cpu), "peak_rss_mb": round(peak_rss_mb())}
            results["runs"].append(run_info)
            print(json.dumps(run_info), flush=True)
        del df
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = run(args.sizes, args.chunk)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
