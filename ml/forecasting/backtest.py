"""Rolling-origin backtest of the demand models over the last N windows of each series.

For a series ending on day T, window w (1 = oldest, n_windows = most recent) trains on everything up to
``T - (n_windows - w + 1) * window_days`` and forecasts the following ``window_days`` days. Windows whose
training part is shorter than ``min_train_days`` are skipped (they never appear in the table), so short series
simply have fewer rows. MASE is scaled by the seasonal-naive (period 7) in-sample errors of each window's
training data.

A model that fails on any window of a series (a Prophet fit that does not converge) is dropped for that
series, all windows: choosing it on the windows where it happened to work would be choosing on partial
evidence. The failure is returned as data (``BACKTEST_ERROR_COLUMNS``), never raised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import pandas as pd

from ml.forecasting._parallel import map_series
from ml.forecasting.data import SeriesKey, series_from_sales
from ml.forecasting.models import ALL_MODELS, fit_model
from ml.metrics_forecast import interval_coverage, mase, mean_interval_width, wape

DEFAULT_MIN_TRAIN_DAYS = 28
BACKTEST_COLUMNS = [
    "tenant_id",
    "product_id",
    "model",
    "window",
    "cutoff",
    "n_train_days",
    "wape",
    "mase",
    "coverage_80",
    "coverage_95",
    "width_80",
    "width_95",
]
BACKTEST_ERROR_COLUMNS = ["tenant_id", "product_id", "model", "window", "error"]


def _backtest_one(
    item: tuple[SeriesKey, pd.Series],
    models: Sequence[str],
    n_windows: int,
    window_days: int,
    min_train_days: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(metric rows, error rows) for one series."""
    (tenant, product), y = item
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    failed: set[str] = set()
    n = len(y)
    for w in range(1, n_windows + 1):
        n_train = n - (n_windows - w + 1) * window_days
        if n_train < min_train_days:
            continue
        train = y.iloc[:n_train]
        actual = y.iloc[n_train : n_train + window_days].to_numpy()
        for model in models:
            if model in failed:
                continue
            try:
                fc = fit_model(model, train).forecast(window_days)
            except Exception as exc:  # one model on one series never stops the backtest
                failed.add(model)
                errors.append({"tenant_id": tenant, "product_id": product, "model": model, "window": w,
                               "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            rows.append(
                {
                    "tenant_id": tenant,
                    "product_id": product,
                    "model": model,
                    "window": w,
                    "cutoff": train.index[-1].date(),
                    "n_train_days": n_train,
                    "wape": wape(actual, fc["yhat"]),
                    "mase": mase(actual, fc["yhat"], train.to_numpy(), season=7),
                    "coverage_80": interval_coverage(actual, fc["yhat_lower_80"], fc["yhat_upper_80"]),
                    "coverage_95": interval_coverage(actual, fc["yhat_lower_95"], fc["yhat_upper_95"]),
                    "width_80": mean_interval_width(fc["yhat_lower_80"], fc["yhat_upper_80"]),
                    "width_95": mean_interval_width(fc["yhat_lower_95"], fc["yhat_upper_95"]),
                }
            )
    return [r for r in rows if r["model"] not in failed], errors


def rolling_origin_backtest(
    data: pd.DataFrame | Mapping[SeriesKey, pd.Series],
    models: Sequence[str] = ALL_MODELS,
    n_windows: int = 3,
    window_days: int = 28,
    min_train_days: int = DEFAULT_MIN_TRAIN_DAYS,
    as_of: object | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Backtest every series in ``data`` (the sales mart, or series from ``series_from_sales``).

    Returns one row per (tenant_id, product_id, model, window) with BACKTEST_COLUMNS; a model that failed on
    a series has no rows for it (``train_demand_forecaster`` reports those failures).
    """
    if min_train_days < 14:
        raise ValueError("min_train_days must be >= 14 (seasonal naive needs two weeks to have errors)")
    series = series_from_sales(data, as_of=as_of) if isinstance(data, pd.DataFrame) else dict(data)
    worker = partial(
        _backtest_one,
        models=tuple(models),
        n_windows=n_windows,
        window_days=window_days,
        min_train_days=min_train_days,
    )
    results = map_series(worker, list(series.items()), n_jobs=n_jobs)
    rows = [row for series_rows, _ in results for row in series_rows]
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
