"""Fit the selected model per series and forecast the next ``horizon_days`` days.

``train_demand_forecaster`` is the whole training step (series -> backtest -> selection -> fit -> forecast);
its ``states`` feed ``ml.forecasting.pyfunc.build_demand_pyfunc`` for MLflow.

Only *active* series are forecast: at least one unit sold in the last ``active_within_days`` days up to the
tenant's as-of date. Dormant products stay in the zero-filled mart forever; forecasting them costs fits and
clutters the output. They are listed in ``DemandForecastRun.skipped`` with the reason, not dropped silently.

One series never stops the run: a model that fails on a series falls back to the moving average (the
selection row and the forecasts then say ``selection_basis = fallback`` and why), and a series that cannot be
forecast at all is listed in ``DemandForecastRun.failures`` (FAILURE_COLUMNS) with the error. Every failure,
including backtest failures that only removed a candidate model, is in ``failures``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from ml.forecasting._parallel import map_series
from ml.forecasting.backtest import BACKTEST_COLUMNS, DEFAULT_MIN_TRAIN_DAYS, _backtest_one
from ml.forecasting.data import AsOf, SeriesKey, resolve_as_of, resolve_tenant_as_of, series_from_sales
from ml.forecasting.models import ALL_MODELS, BACKTEST, BAND_COLUMNS, FALLBACK, forecast_with_fallback
from ml.forecasting.selection import MIN_HISTORY_DAYS, SELECTION_COLUMNS, select_models
from ml.progress import Log, Progress

DEFAULT_HORIZON_DAYS = 30
FORECAST_COLUMNS = [
    "tenant_id",
    "product_id",
    "forecast_date",
    "model",
    *BAND_COLUMNS,
    "selection_reason",
    "selection_basis",
]
SKIPPED_COLUMNS = ["tenant_id", "product_id", "reason"]
# stage: backtest | forecast; outcome: what the series got in the end.
FAILURE_COLUMNS = ["tenant_id", "product_id", "stage", "model", "error", "outcome"]


@dataclass
class DemandForecastRun:
    """Everything one training run produces (log ``backtest`` and ``selection`` as MLflow artifacts)."""

    as_of: pd.Timestamp  # the latest tenant as-of (see ``tenant_as_of`` for each tenant's)
    horizon_days: int
    backtest: pd.DataFrame
    selection: pd.DataFrame
    forecasts: pd.DataFrame
    states: dict[SeriesKey, dict[str, Any]] = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIPPED_COLUMNS))
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    tenant_as_of: dict[str, pd.Timestamp] = field(default_factory=dict)


def forecast_frame(
    tenant_id: Any, product_id: Any, model: str, reason: str, bands: pd.DataFrame, basis: str
) -> pd.DataFrame:
    """Attach the series keys, model, reason and basis to a model's forecast bands (FORECAST_COLUMNS order)."""
    out = bands.copy()
    out.insert(0, "tenant_id", tenant_id)
    out.insert(1, "product_id", product_id)
    out.insert(3, "model", model)
    out["selection_reason"] = reason
    out["selection_basis"] = basis
    out["forecast_date"] = pd.to_datetime(out["forecast_date"]).dt.date
    return out[FORECAST_COLUMNS]


@dataclass
class _SeriesResult:
    choice: dict[str, Any] | None  # the (possibly fallback-updated) selection row; None = not forecast
    state: dict[str, Any] | None
    frame: pd.DataFrame | None
    backtest_rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


def _failure(key: SeriesKey, stage: str, model: str, error: str, outcome: str) -> dict[str, Any]:
    return {"tenant_id": key[0], "product_id": key[1], "stage": stage, "model": model, "error": error,
            "outcome": outcome}


def _forecast_choice(key: SeriesKey, y: pd.Series, choice: dict[str, Any], horizon_days: int) -> _SeriesResult:
    """Fit the chosen model (falling back when it fails) and forecast; never raises for a bad series."""
    requested = str(choice["model"])
    try:
        attempt = forecast_with_fallback(requested, y, horizon_days)
    except Exception as exc:  # forecast_with_fallback should not raise; belt and braces
        error = f"{type(exc).__name__}: {exc}"[:300]
        return _SeriesResult(None, None, None, failures=[_failure(key, "forecast", requested, error, "not forecast")])
    if attempt.model is None:
        return _SeriesResult(None, None, None, failures=[
            _failure(key, "forecast", requested, attempt.error or attempt.note, "not forecast")])
    failures = []
    choice = dict(choice)
    if attempt.fell_back:
        choice["model"] = attempt.model
        choice["selection_reason"] = f"{choice['selection_reason']}; FALLBACK: {attempt.note}"
        choice["selection_basis"] = FALLBACK
        if attempt.error:
            failures.append(_failure(key, "forecast", requested, attempt.error, f"forecast by {attempt.model}"))
    assert attempt.fitted is not None and attempt.frame is not None
    frame = forecast_frame(key[0], key[1], attempt.model, choice["selection_reason"], attempt.frame,
                           choice["selection_basis"])
    return _SeriesResult(choice, attempt.fitted.state, frame, failures=failures)


def _forecast_one(item: tuple[SeriesKey, pd.Series, dict[str, Any]], horizon_days: int) -> _SeriesResult:
    key, y, choice = item
    return _forecast_choice(key, y, choice, horizon_days)


def _collect(keys: Sequence[SeriesKey], results: Sequence[_SeriesResult]) -> tuple[
        pd.DataFrame, pd.DataFrame, dict[SeriesKey, dict[str, Any]], pd.DataFrame]:
    """(selection, forecasts, states, failures) from per-series results, in ``keys`` order."""
    choices = [r.choice for r in results if r.choice is not None]
    frames = [r.frame for r in results if r.frame is not None]
    states = {k: r.state for k, r in zip(keys, results, strict=True) if r.state is not None}
    failures = [f for r in results for f in r.failures]
    selection = pd.DataFrame(choices, columns=SELECTION_COLUMNS)
    forecasts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FORECAST_COLUMNS)
    return selection, forecasts, states, pd.DataFrame(failures, columns=FAILURE_COLUMNS)


def forecast_selected(
    series: Mapping[SeriesKey, pd.Series],
    selection: pd.DataFrame,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[SeriesKey, dict[str, Any]], pd.DataFrame]:
    """Fit each selected model on its full series and forecast.

    Returns (selection, forecasts, states per series, failures): ``selection`` is the input's rows for the
    series that got a forecast, updated where a fallback model took over. Rows without ``selection_basis``
    (a caller's own choices) are taken as backtested choices.
    """
    items = []
    for row in selection.to_dict("records"):
        row.setdefault("selection_basis", BACKTEST)
        key = (row["tenant_id"], row["product_id"])
        if key not in series:
            raise KeyError(f"selection names series {key} that is not in the data")
        items.append((key, series[key], row))
    results = map_series(partial(_forecast_one, horizon_days=horizon_days), items, n_jobs=n_jobs, progress=progress)
    return _collect([i[0] for i in items], results)


def _train_one(
    item: tuple[SeriesKey, pd.Series],
    models: tuple[str, ...],
    n_windows: int,
    window_days: int,
    min_history_days: int,
    horizon_days: int,
) -> _SeriesResult:
    """Backtest -> select -> fit -> forecast for one series (one task per series keeps worker traffic low)."""
    key, y = item
    try:
        # Series below the history minimum are not backtested, so Prophet is never fitted on them.
        rows, errors = (
            _backtest_one(item, models, n_windows, window_days, DEFAULT_MIN_TRAIN_DAYS)
            if len(y) >= min_history_days
            else ([], [])
        )
        backtest = pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
        failed = {key: [e["model"] for e in errors]} if errors else None
        choice = select_models(backtest, {key: len(y)}, min_history_days=min_history_days,
                               failed_models=failed).iloc[0].to_dict()
    except Exception as exc:  # a bug-shaped error on one series is still one series
        error = f"{type(exc).__name__}: {exc}"[:300]
        rows, errors = [], [{"model": "selection", "error": error}]
        choice = {"tenant_id": key[0], "product_id": key[1], "model": "moving_average",
                  "selection_reason": f"backtest/selection failed ({error}): moving_average baseline",
                  "selection_basis": FALLBACK, "history_days": len(y), "n_windows": 0,
                  "wape": float("nan"), "mase": float("nan")}
    result = _forecast_choice(key, y, choice, horizon_days)
    outcome = (f"forecast by {result.choice['model']}" if result.choice is not None else "not forecast")
    result.failures = [_failure(key, "backtest", str(e["model"]), str(e["error"]), outcome) for e in errors
                       ] + result.failures
    result.backtest_rows = rows
    return result


def active_and_skipped(
    all_series: Mapping[SeriesKey, pd.Series], active_within_days: int
) -> tuple[dict[SeriesKey, pd.Series], pd.DataFrame]:
    """Split series into active ones (a unit sold in the last ``active_within_days``) and the skipped list."""
    active: dict[SeriesKey, pd.Series] = {}
    skipped = []
    for key, y in all_series.items():
        if y.iloc[-active_within_days:].sum() > 0:
            active[key] = y
        else:
            skipped.append({"tenant_id": key[0], "product_id": key[1],
                            "reason": f"no units sold in the last {active_within_days} days: not forecast"})
    return active, pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)


def train_demand_forecaster(
    sales: pd.DataFrame,
    as_of: AsOf = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    models: Sequence[str] = ALL_MODELS,
    n_windows: int = 3,
    window_days: int = 28,
    min_history_days: int = MIN_HISTORY_DAYS,
    active_within_days: int = 90,
    n_jobs: int = 1,
    log: Log | None = None,
    what: str = "demand: backtest, select and forecast",
) -> DemandForecastRun:
    """Backtest, select and forecast every active series of the ``fct_daily_product_sales`` frame.

    ``as_of``: None (each tenant's own last date), one date (a cap) or ``{tenant_id: date}`` (see
    ``ml.forecasting.data``); each series' forecast starts the day after its tenant's as-of.
    ``n_jobs`` > 1 runs series in that many worker processes (one pool for the whole step). ``log`` receives
    progress messages (done/total, rate, time left).
    """
    origin = resolve_as_of(sales, as_of)
    tenant_as_of = resolve_tenant_as_of(sales, as_of)
    all_series = series_from_sales(sales, as_of=as_of)
    active, skipped = active_and_skipped(all_series, active_within_days)
    worker = partial(
        _train_one,
        models=tuple(models),
        n_windows=n_windows,
        window_days=window_days,
        min_history_days=min_history_days,
        horizon_days=horizon_days,
    )
    progress = Progress(what, len(active), log)
    results = map_series(worker, list(active.items()), n_jobs=n_jobs, progress=progress)
    progress.finish()
    selection, forecasts, states, failures = _collect(list(active), results)
    backtest = pd.DataFrame([r for res in results for r in res.backtest_rows], columns=BACKTEST_COLUMNS)
    return DemandForecastRun(
        as_of=origin,
        horizon_days=horizon_days,
        backtest=backtest,
        selection=selection,
        forecasts=forecasts,
        states=states,
        skipped=skipped,
        failures=failures,
        tenant_as_of=tenant_as_of,
    )


def run_metrics(run: DemandForecastRun) -> dict[str, float]:
    """Flat metrics for MLflow: the selected models vs the seasonal-naive baseline on the backtest windows.

    Averages are over series (each series' mean over its windows). The ``selected_*`` numbers are optimistic:
    the same windows chose the model. ``seasonal_naive_*`` on the same series is the honest baseline.
    """
    sel = run.selection
    failures = run.failures
    not_forecast = failures[failures["outcome"] == "not forecast"]
    metrics: dict[str, float] = {
        "n_series_forecast": float(len(sel)),
        "n_series_skipped": float(len(run.skipped)),
        "n_series_failed": float(not_forecast[["tenant_id", "product_id"]].drop_duplicates().shape[0]),
        "n_series_with_errors": float(failures[["tenant_id", "product_id"]].drop_duplicates().shape[0]),
    }
    for model, count in sel["model"].value_counts().items():
        metrics[f"n_series_{model}"] = float(count)
    for basis, count in sel["selection_basis"].value_counts().items():
        metrics[f"n_series_basis_{basis}"] = float(count)
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
