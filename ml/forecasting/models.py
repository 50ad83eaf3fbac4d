"""One interface over the demand models: fit on a daily series -> a JSON-safe state -> forecast frame.

The state is what the MLflow pyfunc stores per series: the recent history for the baselines (they are refit
from it at predict time, which takes microseconds) and Prophet's JSON for Prophet. Batch forecasts and the
pyfunc both forecast through ``forecast_from_state`` paths that give identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.forecasting.baselines import DEFAULT_MA_WINDOW, moving_average_forecast, seasonal_naive_forecast

SEASONAL_NAIVE = "seasonal_naive"
MOVING_AVERAGE = "moving_average"
PROPHET = "prophet"
ALL_MODELS = (SEASONAL_NAIVE, MOVING_AVERAGE, PROPHET)
BASELINES = (SEASONAL_NAIVE, MOVING_AVERAGE)
# Baseline intervals are learnt from the last year of errors; keeping more would only dilute recent behaviour.
BASELINE_HISTORY_DAYS = 371
# Prophet sees at most three years: enough for yearly seasonality and holidays, bounded fit time.
PROPHET_HISTORY_DAYS = 3 * 365

BAND_COLUMNS = ["yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]


@dataclass
class FittedModel:
    """A fitted per-series model. ``state`` is JSON-serialisable; ``prophet`` caches the live object."""

    model: str
    state: dict[str, Any]
    prophet: Any = None

    def forecast(self, horizon: int) -> pd.DataFrame:
        """Forecast ``horizon`` days after the last training date: forecast_date + BAND_COLUMNS."""
        last = pd.Timestamp(self.state["last_date"])
        if self.model == PROPHET:
            from ml.forecasting.prophet_model import prophet_forecast, prophet_from_json

            if self.prophet is None:
                self.prophet = prophet_from_json(self.state["prophet_json"])
            bands = prophet_forecast(self.prophet, horizon)
            bands.pop("forecast_date")
        else:
            history = np.asarray(self.state["history"], dtype=float)
            if self.model == SEASONAL_NAIVE:
                bands = seasonal_naive_forecast(history, horizon)
            elif self.model == MOVING_AVERAGE:
                bands = moving_average_forecast(history, horizon, window=int(self.state["window"]))
            else:
                raise ValueError(f"unknown model {self.model!r}")
        frame = pd.DataFrame(
            {"forecast_date": pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D")}
        )
        for col in BAND_COLUMNS:
            frame[col] = np.asarray(bands[col], dtype=float)
        return frame


def fit_model(model: str, history: pd.Series, ma_window: int = DEFAULT_MA_WINDOW) -> FittedModel:
    """Fit ``model`` on a daily series (DatetimeIndex, no gaps) ending on its last observed day."""
    if len(history) == 0:
        raise ValueError("cannot fit a model on an empty history")
    last_date = pd.Timestamp(history.index[-1]).date().isoformat()
    if model in BASELINES:
        tail = history.iloc[-BASELINE_HISTORY_DAYS:]
        state: dict[str, Any] = {
            "model": model,
            "last_date": last_date,
            "history": [float(v) for v in tail.to_numpy()],
        }
        if model == MOVING_AVERAGE:
            state["window"] = int(ma_window)
        return FittedModel(model, state)
    if model == PROPHET:
        from ml.forecasting.prophet_model import fit_prophet, prophet_to_json

        fitted = fit_prophet(history.iloc[-PROPHET_HISTORY_DAYS:])
        state = {"model": model, "last_date": last_date, "prophet_json": prophet_to_json(fitted)}
        return FittedModel(model, state, prophet=fitted)
    raise ValueError(f"unknown model {model!r}; expected one of {ALL_MODELS}")


def model_from_state(state: dict[str, Any]) -> FittedModel:
    return FittedModel(state["model"], state)
