"""One interface over the demand models: fit on a daily series -> a JSON-safe state -> forecast frame.

The state is what the MLflow pyfunc stores per series: the recent history for the baselines (they are refit
from it at predict time, which takes microseconds) and Prophet's JSON for Prophet. Batch forecasts and the
pyfunc both forecast through ``forecast_from_state`` paths that give identical numbers.

``forecast_with_fallback`` is how every caller forecasts one series: one series must never stop a run of
thousands. When the requested model cannot forecast this series (seasonal naive on less than a week of
history, a Prophet fit that fails), it falls back to the moving average, which needs a single day, and says
why; only when even that fails does the series come back without a forecast, with the error.
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
# Prophet states also keep this much recent history, so a forecast can fall back to the moving average when
# the stored Prophet model cannot be restored or sampled.
FALLBACK_HISTORY_DAYS = 120

# How a series' model came about (``selection_basis`` in the selection table and the forecasts):
BACKTEST = "backtest"  # chosen by the rolling-origin backtest
SHORT_HISTORY = "short_history"  # too little history to backtest: the simple method its history allows
FALLBACK = "fallback"  # the chosen model failed on this series: the moving average took over
SELECTION_BASES = (BACKTEST, SHORT_HISTORY, FALLBACK)

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
        state = {
            "model": model,
            "last_date": last_date,
            "prophet_json": prophet_to_json(fitted),
            "history": [float(v) for v in history.iloc[-FALLBACK_HISTORY_DAYS:].to_numpy()],
        }
        return FittedModel(model, state, prophet=fitted)
    raise ValueError(f"unknown model {model!r}; expected one of {ALL_MODELS}")


def model_from_state(state: dict[str, Any]) -> FittedModel:
    return FittedModel(state["model"], state)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


@dataclass
class SeriesForecast:
    """One series' forecast attempt: the model that produced it (None = no forecast) and why."""

    requested: str
    model: str | None
    fitted: FittedModel | None
    frame: pd.DataFrame | None  # forecast_date + BAND_COLUMNS
    note: str = ""  # why the requested model was not used (empty when it was)
    error: str | None = None  # the requested model's error, when it failed

    @property
    def fell_back(self) -> bool:
        return self.model is not None and self.model != self.requested


def _fallback_forecast(requested: str, history: pd.Series, horizon: int, note: str, error: str | None,
                       ma_window: int) -> SeriesForecast:
    try:
        fitted = fit_model(MOVING_AVERAGE, history, ma_window=ma_window)
        return SeriesForecast(requested, MOVING_AVERAGE, fitted, fitted.forecast(horizon), note, error)
    except Exception as exc:  # reported with the series, never raised
        return SeriesForecast(requested, None, None, None, f"{note}; moving average failed too ({_error_text(exc)})",
                              error or _error_text(exc))


def forecast_with_fallback(model: str, history: pd.Series, horizon: int,
                           ma_window: int = DEFAULT_MA_WINDOW) -> SeriesForecast:
    """Fit ``model`` on ``history`` and forecast ``horizon`` days; fall back to the moving average (see top)."""
    from ml.forecasting.baselines import SEASON

    if model == SEASONAL_NAIVE and len(history) < SEASON:
        note = (f"seasonal naive needs {SEASON} days of history, this series has {len(history)}: "
                "moving_average instead")
        return _fallback_forecast(model, history, horizon, note, None, ma_window)
    try:
        fitted = fit_model(model, history, ma_window=ma_window)
        return SeriesForecast(model, model, fitted, fitted.forecast(horizon))
    except Exception as exc:  # one series never stops the run
        if model == MOVING_AVERAGE:
            return SeriesForecast(model, None, None, None, f"moving average failed ({_error_text(exc)})",
                                  _error_text(exc))
        note = f"{model} failed on this series ({_error_text(exc)}): moving_average instead"
        return _fallback_forecast(model, history, horizon, note, _error_text(exc), ma_window)


def forecast_state_with_fallback(state: dict[str, Any], horizon: int) -> SeriesForecast:
    """Forecast from a stored state (the pyfunc's path); a state that cannot forecast falls back as above."""
    model = str(state.get("model"))
    try:
        fitted = model_from_state(state)
        return SeriesForecast(model, model, fitted, fitted.forecast(horizon))
    except Exception as exc:
        history = state.get("history")
        if not history:
            return SeriesForecast(model, None, None, None, f"{model} state cannot forecast ({_error_text(exc)})",
                                  _error_text(exc))
        series = pd.Series(
            np.asarray(history, dtype=float),
            index=pd.date_range(end=pd.Timestamp(state["last_date"]), periods=len(history), freq="D"),
        )
        note = f"stored {model} model failed ({_error_text(exc)}): moving_average on its stored history instead"
        window = int(state.get("window", DEFAULT_MA_WINDOW))
        return _fallback_forecast(model, series, horizon, note, _error_text(exc), window)
