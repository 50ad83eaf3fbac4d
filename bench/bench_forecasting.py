"""Throughput of the demand forecasters: series/second for Prophet vs the baselines, 1 and 2 processes.

Usage: python bench/bench_forecasting.py [--series 40] [--days 730]
Writes bench/results/forecasting.json. Three measurements on the same synthetic series:
- fit + 30-day forecast with one model per series (``forecast_selected``), per model and n_jobs;
- the whole training step (3-window backtest of all three models, selection, final fit + forecast) per n_jobs.
Wall-clock times include process start-up for n_jobs > 1 (spawned workers import the library), as a real
run would pay it. Load average is recorded because other jobs on the machine skew the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.forecasting import forecast_selected, series_from_sales, train_demand_forecaster

RESULTS = Path(__file__).resolve().parent / "results" / "forecasting.json"


def synthetic_sales(n_series: int, days: int, seed: int = 7) -> pd.DataFrame:
    """A mix of seasonal, noisy and sparse daily series ending on the same as-of date."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end="2025-06-30", periods=days, freq="D")
    t = np.arange(days)
    frames = []
    for i in range(n_series):
        level = rng.uniform(2, 60)
        weekly = 1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * (t + rng.integers(7)) / 7)
        yearly = 1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * t / 365.25 + rng.uniform(0, 6.28))
        q = rng.poisson(level * weekly * yearly).astype(float)
        frames.append(
            pd.DataFrame(
                {
                    "tenant_id": f"t{i % 3}",
                    "product_id": f"p{i:03d}",
                    "sales_date": dates.date,
                    "quantity_sold": q,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()

    sales = synthetic_sales(args.series, args.days)
    series = series_from_sales(sales)
    keys = list(series)
    results: dict[str, object] = {
        "n_series": args.series,
        "history_days": args.days,
        "horizon_days": 30,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": list(os.getloadavg()),
        "fit_and_forecast": [],
        "full_training": [],
    }
    # Warm up imports (Prophet, cmdstanpy) so the single-process numbers are not charged for them.
    forecast_selected(
        {keys[0]: series[keys[0]]},
        pd.DataFrame(
            [{"tenant_id": keys[0][0], "product_id": keys[0][1], "model": "prophet", "selection_reason": ""}]
        ),
    )
    for model in ("seasonal_naive", "moving_average", "prophet"):
        selection = pd.DataFrame(
            [{"tenant_id": t, "product_id": p, "model": model, "selection_reason": "bench"} for t, p in keys]
        )
        for n_jobs in (1, 2):
            secs = _timed(lambda sel=selection, nj=n_jobs: forecast_selected(series, sel, 30, n_jobs=nj))
            row = {
                "model": model,
                "n_jobs": n_jobs,
                "seconds": round(secs, 3),
                "series_per_second": round(len(keys) / secs, 2),
            }
            results["fit_and_forecast"].append(row)
            print(row, flush=True)
    for n_jobs in (1, 2):
        secs = _timed(lambda nj=n_jobs: train_demand_forecaster(sales, n_jobs=nj))
        row = {
            "n_jobs": n_jobs,
            "seconds": round(secs, 3),
            "series_per_second": round(len(keys) / secs, 3),
            "fits_per_series": "3 windows x 3 models + 1 final",
        }
        results["full_training"].append(row)
        print(row, flush=True)
    results["load_average_at_end"] = list(os.getloadavg())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
