"""Prophet demand model: weekly + yearly seasonality and retail festival effects, 80% and 95% intervals.

Intervals: Prophet computes one ``interval_width`` per fit. Instead of fitting twice, we fit once and draw
``uncertainty_samples`` posterior-predictive paths with ``Prophet.predictive_samples`` (trend-change and
observation noise), then take the 2.5/10/90/97.5% quantiles of the *same* draws for both intervals, so the 80%
interval is always nested in the 95% one. The draws use numpy's global RNG (that is how Prophet samples); we
seed it for the call and restore the caller's RNG state afterwards, which makes a forecast reproducible from
the serialized model (the MLflow pyfunc relies on this). The point forecast is Prophet's ``yhat``.

Everything is clipped at zero (Prophet is additive and can go negative on low-volume items) and ordered with
``baselines.finalize_bands``.

Prophet / cmdstanpy are imported inside functions: the Dagster code location imports ``ml`` and must load
fast.

Two cmdstanpy side effects are contained here (``fit_quietly``):
- CmdStan's output CSVs go to a temporary directory removed after each fit; by default cmdstanpy keeps one
  folder per fit under its process-wide temp dir until the process exits (thousands per training run).
- When CmdStan's L-BFGS optimizer gives up (exit code 1), cmdstanpy logs ``Chain [1] error: code '1'
  Operation not permitted`` at ERROR: it passes the *exit code* to ``os.strerror``, and errno 1 is EPERM.
  Nothing was denied; Prophet then retries with Newton (its own warning says so) and only raises if that fails
  too, which the caller handles. ``ExitCodeAsErrnoFilter`` rewrites exactly that record into a DEBUG line that
  says what happened; every other cmdstanpy error still gets through.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ml.forecasting.baselines import finalize_bands

if TYPE_CHECKING:  # pragma: no cover - typing only
    from prophet import Prophet

UNCERTAINTY_SAMPLES = 500
SAMPLING_SEED = 20240601
# Yearly seasonality is only identifiable with at least a full year; with less it aliases with the trend.
MIN_DAYS_FOR_YEARLY = 365
MIN_DAYS_FOR_WEEKLY = 14

# Diwali (Lakshmi Puja) dates as published in India's official holiday calendars. Lunar dates cannot be
# derived with a fixed rule and nothing is downloaded at run time, so they are listed; extend yearly.
DIWALI_DATES = {
    2022: date(2022, 10, 24),
    2023: date(2023, 11, 12),
    2024: date(2024, 10, 31),
    2025: date(2025, 10, 20),
    2026: date(2026, 11, 8),
    2027: date(2027, 10, 29),
}


class ExitCodeAsErrnoFilter(logging.Filter):
    """Demote cmdstanpy's "<chain> error: code '<n>' <os.strerror(n)>" record to an honest DEBUG line.

    cmdstanpy (``CmdStanModel._run_cmdstan``) formats a non-zero CmdStan exit code with ``os.strerror``, so an
    optimizer that stops with code 1 reads "Operation not permitted". The record is rewritten, not dropped:
    it stays visible at DEBUG, and if the fit really failed cmdstanpy raises, which is reported by the caller.
    """

    MESSAGE = "%s error: code '%d' %s"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == self.MESSAGE and record.levelno >= logging.ERROR:
            prefix, code = (record.args or ("?", "?", ""))[:2]  # type: ignore[misc]
            record.msg = "%s: CmdStan exited with code %s (optimizer stopped; Prophet retries with Newton)"
            record.args = (prefix, code)
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            # Handlers filter on level again; a DEBUG record only reaches those that asked for DEBUG.
        return True


_EXIT_CODE_FILTER = ExitCodeAsErrnoFilter()


def _silence_prophet_logging() -> None:
    # cmdstanpy logs every chain start/stop at INFO and Prophet warns on every short series; at thousands of
    # fits per run that drowns the pipeline logs. cmdstanpy's get_logger() resets its level to DEBUG the
    # first time it runs, so run it before overriding the level.
    from cmdstanpy.utils.logging import get_logger

    cmdstan_logger = get_logger()
    for name in ("cmdstanpy", "prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if _EXIT_CODE_FILTER not in cmdstan_logger.filters:
        cmdstan_logger.addFilter(_EXIT_CODE_FILTER)


def fit_quietly(model: Prophet, frame: pd.DataFrame) -> Prophet:
    """``model.fit(frame)`` with CmdStan's files in a temporary directory removed afterwards (see top)."""
    _silence_prophet_logging()
    with tempfile.TemporaryDirectory(prefix="smartmarket_cmdstan_") as out:
        model.fit(frame, output_dir=out)
    return model


def _black_friday(year: int) -> date:
    nov1 = date(year, 11, 1)
    first_thursday = nov1 + timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + timedelta(days=22)  # 4th Thursday + 1 day


def build_holidays(years: Iterable[int] = range(2022, 2028)) -> pd.DataFrame:
    """Retail festival calendar in Prophet's format (holiday, ds, lower_window, upper_window).

    Windows capture the shopping run-up (Christmas, Diwali incl. Dhanteras, Valentine's) and the tail
    (Black Friday through Cyber Monday). Diwali is only available for the years in ``DIWALI_DATES``.
    """
    from dateutil.easter import easter

    rows: list[dict[str, Any]] = []
    for y in years:
        rows.append({"holiday": "new_year", "ds": date(y, 1, 1), "lower_window": 0, "upper_window": 0})
        rows.append(
            {"holiday": "valentines_day", "ds": date(y, 2, 14), "lower_window": -7, "upper_window": 0}
        )
        rows.append({"holiday": "easter", "ds": easter(y), "lower_window": -2, "upper_window": 1})
        rows.append({"holiday": "black_friday", "ds": _black_friday(y), "lower_window": 0, "upper_window": 3})
        rows.append({"holiday": "christmas", "ds": date(y, 12, 25), "lower_window": -10, "upper_window": 1})
        if y in DIWALI_DATES:
            rows.append({"holiday": "diwali", "ds": DIWALI_DATES[y], "lower_window": -5, "upper_window": 1})
    frame = pd.DataFrame(rows, columns=["holiday", "ds", "lower_window", "upper_window"])
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def fit_prophet(
    history: pd.Series,
    holidays: pd.DataFrame | None = None,
    uncertainty_samples: int = UNCERTAINTY_SAMPLES,
) -> Prophet:
    """Fit Prophet (MAP, no MCMC) to a daily series indexed by date.

    Weekly seasonality needs >= 14 days and yearly >= 365 days of history; shorter series get neither
    rather than an unidentifiable fit. ``holidays`` defaults to ``build_holidays()`` over the history's years
    plus the next one.
    """
    from prophet import Prophet

    # After the import: cmdstanpy configures its logger (INFO + handler) when first imported.
    _silence_prophet_logging()
    y = pd.Series(history, dtype=float)
    n = len(y)
    if n < 2:
        raise ValueError(f"Prophet needs at least 2 days of history, got {n}")
    idx = pd.DatetimeIndex(y.index)
    if holidays is None:
        holidays = build_holidays(range(idx.min().year, idx.max().year + 2))
    model = Prophet(
        growth="linear",
        weekly_seasonality=n >= MIN_DAYS_FOR_WEEKLY,
        yearly_seasonality=n >= MIN_DAYS_FOR_YEARLY,
        daily_seasonality=False,
        holidays=holidays,
        interval_width=0.8,  # unused: intervals come from predictive samples (module docstring)
        uncertainty_samples=uncertainty_samples,
    )
    return fit_quietly(model, pd.DataFrame({"ds": idx, "y": y.to_numpy()}))


def prophet_forecast(model: Prophet, horizon: int, seed: int = SAMPLING_SEED) -> dict[str, np.ndarray]:
    """Forecast ``horizon`` days after the model's last training date; returns dates and band arrays."""
    _silence_prophet_logging()
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    last = pd.Timestamp(model.history["ds"].max())
    future = pd.DataFrame({"ds": pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D")})

    # Point forecast without Prophet's own interval sampling (we sample once, below).
    n_samples = model.uncertainty_samples
    model.uncertainty_samples = 0
    try:
        yhat = model.predict(future)["yhat"].to_numpy()
    finally:
        model.uncertainty_samples = n_samples

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        draws = model.predictive_samples(future)["yhat"]  # (horizon, n_samples)
    finally:
        np.random.set_state(state)
    q = np.quantile(draws, [0.025, 0.10, 0.90, 0.975], axis=1)
    bands = finalize_bands(yhat, q[0], q[1], q[2], q[3])
    bands["forecast_date"] = future["ds"].to_numpy()
    return bands


def prophet_to_json(model: Prophet) -> str:
    from prophet.serialize import model_to_json

    return model_to_json(model)


def prophet_from_json(payload: str) -> Prophet:
    from prophet.serialize import model_from_json

    _silence_prophet_logging()
    return model_from_json(payload)
