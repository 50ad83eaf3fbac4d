"""Demand forecasting: baselines, Prophet, rolling-origin backtest, per-series selection, batch forecasts.

Importing this package is cheap (pandas/numpy only); Prophet is imported when a Prophet model is fitted and
MLflow only by ``ml.forecasting.pyfunc``.
"""

from ml.forecasting.backtest import BACKTEST_COLUMNS, rolling_origin_backtest
from ml.forecasting.batch import (
    FAILURE_COLUMNS,
    FORECAST_COLUMNS,
    DemandForecastRun,
    forecast_selected,
    run_metrics,
    train_demand_forecaster,
)
from ml.forecasting.data import TARGET, resolve_tenant_as_of, series_from_sales, tenant_last_dates
from ml.forecasting.models import (
    ALL_MODELS,
    MOVING_AVERAGE,
    PROPHET,
    SEASONAL_NAIVE,
    SELECTION_BASES,
    fit_model,
    forecast_with_fallback,
)
from ml.forecasting.selection import MIN_HISTORY_DAYS, SELECTION_COLUMNS, select_models

__all__ = [
    "ALL_MODELS",
    "BACKTEST_COLUMNS",
    "FAILURE_COLUMNS",
    "FORECAST_COLUMNS",
    "MIN_HISTORY_DAYS",
    "MOVING_AVERAGE",
    "PROPHET",
    "SEASONAL_NAIVE",
    "SELECTION_BASES",
    "SELECTION_COLUMNS",
    "TARGET",
    "DemandForecastRun",
    "fit_model",
    "forecast_selected",
    "forecast_with_fallback",
    "resolve_tenant_as_of",
    "rolling_origin_backtest",
    "run_metrics",
    "select_models",
    "series_from_sales",
    "tenant_last_dates",
    "train_demand_forecaster",
]
