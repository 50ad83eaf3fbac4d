"""Baseline demand forecasters: seasonal naive (period 7) and moving average (window 28 by default).

Both return point forecasts plus empirical 80% / 95% intervals built from the series' own in-sample errors of
the same method at the same lead (no distributional assumption, which matters for lumpy retail counts):

- seasonal naive: the forecast for lead h repeats the value k = ceil(h / 7) weeks back, so its error is
  ``y[t] - y[t - 7k]``; the quantiles of those in-sample differences give the interval for every lead with the
  same k. When the history is too short to have enough lag-7k differences, the lag-7 quantiles are widened by
  sqrt(k) (the random-walk-over-seasons rule of Hyndman & Athanasopoulos, FPP3 §5.5).
- moving average: from every past origin, the error of the trailing-window mean at lead h; per-lead quantiles
  when there are enough errors, else the errors pooled over all leads.
If a series has no usable errors at all (a few days of history), a normal interval with the series' standard
deviation is used. Outputs are clipped at zero (units sold cannot be negative) and ordered so that
lower_95 <= lower_80 <= yhat <= upper_80 <= upper_95.
"""

from __future__ import annotations

import numpy as np

SEASON = 7
DEFAULT_MA_WINDOW = 28
# Fewer errors than this and an empirical 2.5% / 97.5% quantile is just the sample min / max.
MIN_ERRORS_FOR_QUANTILES = 20
QUANTILES = (0.025, 0.10, 0.90, 0.975)
# Standard normal quantiles for the same levels (used only by the no-error fallback).
_Z = {0.025: -1.959964, 0.10: -1.281552, 0.90: 1.281552, 0.975: 1.959964}

BandArrays = dict[str, np.ndarray]


def finalize_bands(
    yhat: np.ndarray, lo95: np.ndarray, lo80: np.ndarray, hi80: np.ndarray, hi95: np.ndarray
) -> BandArrays:
    """Clip at zero and enforce lower_95 <= lower_80 <= yhat <= upper_80 <= upper_95.

    Empirical error quantiles are not guaranteed to straddle zero (a series whose errors are mostly positive
    has a positive 10% quantile), so the point forecast is put back inside its own interval explicitly.
    """
    yhat = np.maximum(np.asarray(yhat, dtype=float), 0.0)
    lo80 = np.clip(np.minimum(lo80, yhat), 0.0, None)
    hi80 = np.maximum(hi80, yhat)
    lo95 = np.clip(np.minimum(lo95, lo80), 0.0, None)
    hi95 = np.maximum(hi95, hi80)
    return {
        "yhat": yhat,
        "yhat_lower_95": lo95,
        "yhat_lower_80": lo80,
        "yhat_upper_80": hi80,
        "yhat_upper_95": hi95,
    }


def _fallback_quantiles(y: np.ndarray) -> np.ndarray:
    sd = float(np.std(y, ddof=1)) if len(y) > 1 else 0.0
    return np.array([_Z[q] * sd for q in QUANTILES])


def _bands_from_quantiles(yhat: np.ndarray, err_q: np.ndarray) -> BandArrays:
    """err_q has shape (horizon, 4) with the error quantiles in QUANTILES order."""
    return finalize_bands(
        yhat, yhat + err_q[:, 0], yhat + err_q[:, 1], yhat + err_q[:, 2], yhat + err_q[:, 3]
    )


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int = SEASON) -> BandArrays:
    """Repeat the last observed week; intervals from in-sample lag-7k errors (see module docstring)."""
    y = np.asarray(history, dtype=float)
    n = len(y)
    if n < season:
        raise ValueError(f"seasonal naive needs at least {season} days of history, got {n}")
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    h = np.arange(1, horizon + 1)
    yhat = y[n - season + (h - 1) % season]
    ks = (h - 1) // season + 1

    lag1 = y[season:] - y[:-season]
    base_q = np.quantile(lag1, QUANTILES) if len(lag1) >= 1 else _fallback_quantiles(y)
    q_by_k: dict[int, np.ndarray] = {}
    for k in np.unique(ks):
        lag = season * int(k)
        errs = y[lag:] - y[:-lag] if n > lag else np.empty(0)
        if len(errs) >= MIN_ERRORS_FOR_QUANTILES:
            q_by_k[int(k)] = np.quantile(errs, QUANTILES)
        else:
            q_by_k[int(k)] = base_q * np.sqrt(k)
    err_q = np.vstack([q_by_k[int(k)] for k in ks])
    return _bands_from_quantiles(yhat, err_q)


def moving_average_forecast(history: np.ndarray, horizon: int, window: int = DEFAULT_MA_WINDOW) -> BandArrays:
    """Flat forecast at the mean of the last ``window`` days (all days if fewer); empirical intervals."""
    y = np.asarray(history, dtype=float)
    n = len(y)
    if n < 1:
        raise ValueError("moving average needs at least one day of history")
    if horizon < 1:
        raise ValueError("horizon must be >= 1")
    yhat = np.full(horizon, y[-window:].mean())

    # Past origins need a window comparable to the one used now; on short series accept half the history so
    # that there are still some errors to learn the spread from.
    min_obs = min(window, max(3, n // 2))
    csum = np.concatenate([[0.0], np.cumsum(y)])
    origins = np.arange(min_obs - 1, n - 1)
    starts = np.maximum(0, origins - window + 1)
    means = (csum[origins + 1] - csum[starts]) / (origins + 1 - starts)

    per_h: list[np.ndarray] = []
    for lead in range(1, horizon + 1):
        ok = origins + lead < n
        per_h.append(y[origins[ok] + lead] - means[ok])
    pooled = np.concatenate(per_h) if per_h else np.empty(0)
    if len(pooled) >= MIN_ERRORS_FOR_QUANTILES:
        pooled_q = np.quantile(pooled, QUANTILES)
    elif len(pooled) >= 2:
        # Too few errors for tail quantiles: a normal interval with their spread (centred on their mean).
        pooled_q = pooled.mean() + np.array([_Z[q] for q in QUANTILES]) * pooled.std(ddof=1)
    else:
        pooled_q = _fallback_quantiles(y)
    err_q = np.vstack(
        [np.quantile(e, QUANTILES) if len(e) >= MIN_ERRORS_FOR_QUANTILES else pooled_q for e in per_h]
    )
    return _bands_from_quantiles(yhat, err_q)
