"""Demand forecasting: baselines, Prophet, rolling-origin backtest, per-series selection, batch forecasts.

Importing this package is cheap (pandas/numpy only); Prophet is imported when a Prophet model is fitted and
MLflow only by ``ml.forecasting.pyfunc``.
"""

from ml.forecasting.backtest import BACKTEST_COLUMNS, rolling_origin_backtest
from ml.forecasting.batch import (
    FORECAST_COLUMNS,
    DemandForecastRun,
    forecast_selected,
    run_metrics,
    train_demand_forecaster,
)
from ml.forecasting.data import TARGET, series_from_sales
from ml.forecasting.models import ALL_MODELS, MOVING_AVERAGE, PROPHET, SEASONAL_NAIVE, fit_model
from ml.forecasting.selection import MIN_HISTORY_DAYS, SELECTION_COLUMNS, select_models

__all__ = [
    "ALL_MODELS",
    "BACKTEST_COLUMNS",
    "FORECAST_COLUMNS",
    "MIN_HISTORY_DAYS",
    "MOVING_AVERAGE",
    "PROPHET",
    "SEASONAL_NAIVE",
    "SELECTION_COLUMNS",
    "TARGET",
    "DemandForecastRun",
    "fit_model",
    "forecast_selected",
    "rolling_origin_backtest",
    "run_metrics",
    "select_models",
    "series_from_sales",
    "train_demand_forecaster",
]
