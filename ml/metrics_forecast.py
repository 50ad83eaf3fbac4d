"""Point and interval accuracy metrics for forecasts.

All functions take array-likes and return plain floats. NaN inputs are not silently dropped: callers pass
aligned, complete arrays (the backtests guarantee that), so a NaN here would be a bug worth seeing.

Conventions for degenerate denominators (common with intermittent retail demand):
- ``wape``: when the actuals sum to zero, the ratio is undefined; it returns 0.0 if the forecast is exact and
  NaN otherwise, so model selection can fall back to MASE instead of ranking on an infinity.
- ``mase``: when the in-sample seasonal-naive errors are all zero (a constant or empty history) the scale is
  zero; it returns 0.0 for an exact forecast and NaN otherwise, for the same reason.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _as_float(a: ArrayLike) -> np.ndarray:
    return np.asarray(a, dtype=float).ravel()


def _check_same_length(*arrays: np.ndarray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"arrays must have the same length, got lengths {sorted(lengths)}")


def wape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Weighted absolute percentage error: sum|actual - forecast| / sum|actual|."""
    a, f = _as_float(actual), _as_float(forecast)
    _check_same_length(a, f)
    abs_err = float(np.abs(a - f).sum())
    denom = float(np.abs(a).sum())
    if denom == 0.0:
        return 0.0 if abs_err == 0.0 else float("nan")
    return abs_err / denom


def seasonal_naive_scale(insample: ArrayLike, season: int = 7) -> float:
    """In-sample MAE of the seasonal-naive forecast y[t] = y[t - season] (MASE's denominator)."""
    y = _as_float(insample)
    if season < 1:
        raise ValueError("season must be >= 1")
    if len(y) <= season:
        return float("nan")
    return float(np.abs(y[season:] - y[:-season]).mean())


def mase(actual: ArrayLike, forecast: ArrayLike, insample: ArrayLike, season: int = 7) -> float:
    """Mean absolute scaled error, scaled by the in-sample seasonal-naive MAE with period ``season``.

    A value below 1 means the forecast beat, out of sample, what the seasonal-naive method achieved in sample.
    """
    a, f = _as_float(actual), _as_float(forecast)
    _check_same_length(a, f)
    if len(a) == 0:
        return float("nan")
    mae = float(np.abs(a - f).mean())
    scale = seasonal_naive_scale(insample, season)
    if np.isnan(scale):
        return float("nan")
    if scale == 0.0:
        return 0.0 if mae == 0.0 else float("nan")
    return mae / scale


def interval_coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actuals inside the closed interval [lower, upper]."""
    a, lo, hi = _as_float(actual), _as_float(lower), _as_float(upper)
    _check_same_length(a, lo, hi)
    if len(a) == 0:
        return float("nan")
    return float(((a >= lo) & (a <= hi)).mean())


def mean_interval_width(lower: ArrayLike, upper: ArrayLike) -> float:
    """Average width of the prediction intervals (sharpness; read it next to coverage)."""
    lo, hi = _as_float(lower), _as_float(upper)
    _check_same_length(lo, hi)
    if len(lo) == 0:
        return float("nan")
    return float((hi - lo).mean())


def pinball_loss(actual: ArrayLike, quantile_forecast: ArrayLike, quantile: float) -> float:
    """Mean pinball (quantile) loss of a forecast of the ``quantile``-th quantile."""
    if not 0.0 < quantile < 1.0:
        raise ValueError("quantile must be in (0, 1)")
    a, q = _as_float(actual), _as_float(quantile_forecast)
    _check_same_length(a, q)
    if len(a) == 0:
        return float("nan")
    diff = a - q
    return float(np.maximum(quantile * diff, (quantile - 1.0) * diff).mean())


def interval_pinball_loss(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike, level: float) -> float:
    """Average pinball loss of the two quantiles that bound a central ``level`` interval (e.g. 0.8)."""
    alpha = (1.0 - level) / 2.0
    return 0.5 * (pinball_loss(actual, lower, alpha) + pinball_loss(actual, upper, 1.0 - alpha))
