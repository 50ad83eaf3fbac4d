"""Fit the selected model per series and forecast the next ``horizon_days`` days.

``train_demand_forecaster`` is the whole training step (series -> backtest -> selection -> fit -> forecast);
its ``states`` feed ``ml.forecasting.pyfunc.build_demand_pyfunc`` for MLflow.

Only *active* series are forecast: at least one unit sold in the last ``active_within_days`` days up to the
as-of date. Dormant products stay in the zero-filled mart forever; forecasting them costs fits and clutters
the output. They are listed in ``DemandForecastRun.skipped`` with the reason, not dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from ml.forecasting._parallel import map_series
from ml.forecasting.backtest import BACKTEST_COLUMNS, DEFAULT_MIN_TRAIN_DAYS, _backtest_one
from ml.forecasting.data import SeriesKey, resolve_as_of, series_from_sales
from ml.forecasting.models import ALL_MODELS, BAND_COLUMNS, fit_model
from ml.forecasting.selection import MIN_HISTORY_DAYS, SELECTION_COLUMNS, select_models

DEFAULT_HORIZON_DAYS = 30
FORECAST_COLUMNS = [
    "tenant_id",
    "product_id",
    "forecast_date",
    "model",
    *BAND_COLUMNS,
    "selection_reason",
]


@dataclass
class DemandForecastRun:
    """Everything one training run produces (log ``backtest`` and ``selection`` as MLflow artifacts)."""

    as_of: pd.Timestamp
    horizon_days: int
    backtest: pd.DataFrame
    selection: pd.DataFrame
    forecasts: pd.DataFrame
    states: dict[SeriesKey, dict[str, Any]] = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)


def forecast_frame(
    tenant_id: Any, product_id: Any, model: str, reason: str, bands: pd.DataFrame
) -> pd.DataFrame:
    """Attach the series keys, model and reason to a model's forecast bands (FORECAST_COLUMNS order)."""
    out = bands.copy()
    out.insert(0, "tenant_id", tenant_id)
    out.insert(1, "product_id", product_id)
    out.insert(3, "model", model)
    out["selection_reason"] = reason
    out["forecast_date"] = out["forecast_date"].dt.date
    return out[FORECAST_COLUMNS]


def _fit_and_forecast(
    item: tuple[SeriesKey, pd.Series, str, str], horizon_days: int
) -> tuple[dict[str, Any], pd.DataFrame]:
    (tenant, product), y, model, reason = item
    fitted = fit_model(model, y)
    frame = forecast_frame(tenant, product, model, reason, fitted.forecast(horizon_days))
    return fitted.state, frame


def forecast_selected(
    series: Mapping[SeriesKey, pd.Series],
    selection: pd.DataFrame,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, dict[SeriesKey, dict[str, Any]]]:
    """Fit each selected model on its full series and forecast; returns (forecasts, states per series)."""
    items = []
    for row in selection.itertuples(index=False):
        key = (row.tenant_id, row.product_id)
        if key not in series:
            raise KeyError(f"selection names series {key} that is not in the data")
        items.append((key, series[key], row.model, row.selection_reason))
    results = map_series(partial(_fit_and_forecast, horizon_days=horizon_days), items, n_jobs=n_jobs)
    states = {item[0]: state for item, (state, _) in zip(items, results, strict=True)}
    frames = [frame for _, frame in results]
    forecasts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FORECAST_COLUMNS)
    return forecasts, states


def _train_one(
    item: tuple[SeriesKey, pd.Series],
    models: tuple[str, ...],
    n_windows: int,
    window_days: int,
    min_history_days: int,
    horizon_days: int,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], pd.DataFrame]:
    """Backtest -> select -> fit -> forecast for one series (one task per series keeps worker traffic low)."""
    key, y = item
    # Series below the history minimum are not backtested, so Prophet is never fitted on them.
    rows = (
        _backtest_one(item, models, n_windows, window_days, DEFAULT_MIN_TRAIN_DAYS)
        if len(y) >= min_history_days
        else []
    )
    backtest = pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
    choice = select_models(backtest, {key: len(y)}, min_history_days=min_history_days).iloc[0].to_dict()
    state, frame = _fit_and_forecast((key, y, choice["model"], choice["selection_reason"]), horizon_days)
    return rows, choice, state, frame


def train_demand_forecaster(
    sales: pd.DataFrame,
    as_of: object | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    models: Sequence[str] = ALL_MODELS,
    n_windows: int = 3,
    window_days: int = 28,
    min_history_days: int = MIN_HISTORY_DAYS,
    active_within_days: int = 90,
    n_jobs: int = 1,
) -> DemandForecastRun:
    """Backtest, select and forecast every active series of the ``fct_daily_product_sales`` frame.

    ``n_jobs`` > 1 runs series in that many worker processes (one pool for the whole step).
    """
    origin = resolve_as_of(sales, as_of)
    all_series = series_from_sales(sales, as_of=origin)
    active: dict[SeriesKey, pd.Series] = {}
    skipped = []
    for key, y in all_series.items():
        if y.iloc[-active_within_days:].sum() > 0:
            active[key] = y
        else:
            skipped.append(
                {
                    "tenant_id": key[0],
                    "product_id": key[1],
                    "reason": f"no units sold in the last {active_within_days} days: not forecast",
                }
            )
    worker = partial(
        _train_one,
        models=tuple(models),
        n_windows=n_windows,
        window_days=window_days,
        min_history_days=min_history_days,
        horizon_days=horizon_days,
    )
    results = map_series(worker, list(active.items()), n_jobs=n_jobs)
    backtest = pd.DataFrame([r for rows, *_ in results for r in rows], columns=BACKTEST_COLUMNS)
    selection = pd.DataFrame([choice for _, choice, _, _ in results], columns=SELECTION_COLUMNS)
    states = {key: state for key, (_, _, state, _) in zip(active, results, strict=True)}
    frames = [frame for *_, frame in results]
    forecasts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FORECAST_COLUMNS)
    return DemandForecastRun(
        as_of=origin,
        horizon_days=horizon_days,
        backtest=backtest,
        selection=selection,
        forecasts=forecasts,
        states=states,
        skipped=pd.DataFrame(skipped, columns=["tenant_id", "product_id", "reason"]),
    )


def run_metrics(run: DemandForecastRun) -> dict[str, float]:
    """Flat metrics for MLflow: the selected models vs the seasonal-naive baseline on the backtest windows.

    Averages are over series (each series' mean over its windows). The ``selected_*`` numbers are optimistic:
    the same windows chose the model. ``seasonal_naive_*`` on the same series is the honest baseline.
    """
    sel = run.selection
    metrics: dict[str, float] = {
        "n_series_forecast": float(len(sel)),
        "n_series_skipped": float(len(run.skipped)),
    }
    for model, count in sel["model"].value_counts().items():
        metrics[f"n_series_{model}"] = float(count)
    bt = run.backtest
    if bt.empty:
        return metrics
    per_series = bt.groupby(["tenant_id", "product_id", "model"])[
        ["wape", "mase", "coverage_80", "coverage_95"]
    ].mean()
    chosen = per_series.join(
        sel.set_index(["tenant_id", "product_id"])["model"].rename("chosen"), how="inner"
    ).reset_index()
    chosen = chosen[chosen["model"] == chosen["chosen"]]
    for col in ("wape", "mase", "coverage_80", "coverage_95"):
        metrics[f"selected_{col}"] = float(chosen[col].mean())
    naive = per_series.xs("seasonal_naive", level="model") if "seasonal_naive" in set(bt["model"]) else None
    if naive is not None:
        for col in ("wape", "mase", "coverage_80", "coverage_95"):
            metrics[f"seasonal_naive_{col}"] = float(naive[col].mean())
    return metrics
