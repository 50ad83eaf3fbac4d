"""Gold price forecaster per purity, horizons 1..30 days, honestly compared against random walks.

Data: ``fct_metal_prices_daily`` rows with metal == "gold". Each purity is one series, put on a calendar-daily
grid with the last published price carried over non-publishing days (weekends, holidays), so horizon h means
h calendar days. All models work on log prices (multiplicative moves, positive prices); point forecasts are
``exp`` of the log forecast (the median price) and intervals are ``exp`` of log-scale quantiles.

Candidates:
- ``random_walk``: tomorrow's log price = today's; sd_h = sigma * sqrt(h), sigma = RMS of daily log changes.
- ``random_walk_drift``: adds the mean daily log change; sd_h = sigma * sqrt(h * (1 + h / T)) (FPP3 §5.5).
- ``ar``: ARIMA(p,1,0) with constant on daily log changes, p in 0..5 by AIC, least squares; variance from the
  cumulated psi weights.
- ``prophet``: Prophet on log price (trend + yearly seasonality when >= 2 years), quantiles of its predictive
  samples.
Parameters are estimated on the last ``lookback_days`` (2 years) of each training set.

Backtest: rolling origins every ``origin_step_days``, the last ``n_origins`` of them; each forecasts
1..max_horizon and is scored on MAE and MAPE of the price and 80%/95% interval coverage, per horizon.
Choice: lowest MAPE averaged over horizons and purities; a challenger must beat the plain random walk by
``min_improvement`` (1% relative) or the random walk is kept, because daily gold prices are close to a random
walk and small backtest gains rarely persist. The ``reason`` string says what happened.

MLflow: ``GoldPriceForecastModel`` (a ``mlflow.pyfunc.PythonModel``) is created on first access, so importing
this module does not import mlflow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ml.errors import InsufficientDataError

RANDOM_WALK = "random_walk"
RANDOM_WALK_DRIFT = "random_walk_drift"
AR = "ar"
PROPHET = "prophet"
GOLD_MODELS = (RANDOM_WALK, RANDOM_WALK_DRIFT, AR, PROPHET)
# Prophet is opt-in: ~25 s per backtest on 3 purities and, on daily gold, far worse than a random walk.
DEFAULT_GOLD_MODELS = (RANDOM_WALK, RANDOM_WALK_DRIFT, AR)
MAX_AR_ORDER = 5
MIN_PRICES = 3  # calendar days with a price: two daily changes, the least any model can be fitted on
MIN_TRAIN_DAYS = 90  # a backtest origin needs this much history before it
# stdlib NormalDist rather than scipy.stats: keeps `import ml.gold` fast for the Dagster code location.
Z80, Z95 = NormalDist().inv_cdf(0.9), NormalDist().inv_cdf(0.975)
FORECAST_COLUMNS = [
    "date",
    "purity",
    "horizon",
    "model",
    "yhat",
    "yhat_lower_80",
    "yhat_upper_80",
    "yhat_lower_95",
    "yhat_upper_95",
]
COMPARISON_COLUMNS = [
    "purity",
    "model",
    "horizon",
    "n_forecasts",
    "mae",
    "mape",
    "coverage_80",
    "coverage_95",
]


# ---------------------------------------------------------------------------------------------------------
# data


def gold_series(prices: pd.DataFrame, metal: str = "gold") -> dict[str, pd.Series]:
    """Calendar-daily price per purity (str key), forward-filled over days without a published price."""
    missing = {"price_date", "metal", "purity", "price_per_gram"} - set(prices.columns)
    if missing:
        raise ValueError(f"price frame is missing columns {sorted(missing)}")
    frame = prices[prices["metal"].astype(str).str.lower() == metal].copy()
    frame["price_date"] = pd.to_datetime(frame["price_date"]).dt.normalize()
    frame = frame[frame["price_per_gram"] > 0]
    out: dict[str, pd.Series] = {}
    for purity, grp in frame.groupby("purity", sort=True):
        daily = grp.groupby("price_date")["price_per_gram"].mean().sort_index()
        idx = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
        out[str(purity)] = daily.reindex(idx).ffill().astype(float)
    return out


# ---------------------------------------------------------------------------------------------------------
# models on log prices: fit -> JSON-safe params; forecast -> (mean, sd) or quantiles on the log scale


def _fit_ar(d: np.ndarray) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    for p in range(0, MAX_AR_ORDER + 1):
        if len(d) <= p + 10:
            break
        target = d[p:]
        cols = [np.ones(len(target))] + [d[p - i : len(d) - i] for i in range(1, p + 1)]
        x = np.column_stack(cols)
        coef, *_ = np.linalg.lstsq(x, target, rcond=None)
        resid = target - x @ coef
        sigma2 = float(resid @ resid / len(target))
        # Compare orders on the same sample size (drop the first MAX_AR_ORDER changes for every p).
        aic = len(target) * math.log(max(sigma2, 1e-300)) + 2 * (p + 1)
        aic_adj = aic * (len(d) - MAX_AR_ORDER) / len(target)
        if best is None or aic_adj < best["aic"]:
            dof = max(len(target) - (p + 1), 1)
            best = {
                "p": p,
                "const": float(coef[0]),
                "phi": [float(c) for c in coef[1:]],
                "sigma": math.sqrt(float(resid @ resid) / dof),
                "aic": aic_adj,
                "recent": [float(v) for v in d[len(d) - p :]] if p else [],
            }
    if best is None:
        raise ValueError("not enough history for the AR model")
    return best


def _forecast_ar(params: dict[str, Any], horizon: int) -> tuple[np.ndarray, np.ndarray]:
    phi = np.asarray(params["phi"], dtype=float)
    p = len(phi)
    hist = list(params["recent"])
    changes = []
    for _ in range(horizon):
        nxt = params["const"] + sum(phi[i] * hist[-1 - i] for i in range(p))
        changes.append(nxt)
        hist.append(nxt)
    mean = np.cumsum(changes)
    # psi weights of the AR on changes; the log price sums changes, so its h-step error weights are their
    # cumulative sums.
    psi = np.zeros(horizon)
    psi[0] = 1.0
    for j in range(1, horizon):
        psi[j] = sum(phi[i] * psi[j - 1 - i] for i in range(min(p, j)))
    cum = np.cumsum(psi)
    sd = params["sigma"] * np.sqrt(np.cumsum(cum**2))
    return mean, sd


def _fit_log_model(model: str, log_prices: pd.Series, lookback_days: int) -> dict[str, Any]:
    y = log_prices.iloc[-(lookback_days + 1) :]
    d = np.diff(y.to_numpy())
    params: dict[str, Any] = {
        "model": model,
        "last_date": pd.Timestamp(y.index[-1]).date().isoformat(),
        "last_log": float(y.iloc[-1]),
    }
    if len(d) < 2:
        raise InsufficientDataError(f"need at least {MIN_PRICES} prices to fit a gold model, got {len(y)}")
    if model == RANDOM_WALK:
        params["sigma"] = float(np.sqrt(np.mean(d**2)))
    elif model == RANDOM_WALK_DRIFT:
        params.update(mu=float(d.mean()), sigma=float(d.std(ddof=1)), n=len(d))
    elif model == AR:
        params.update(_fit_ar(d))
    elif model == PROPHET:
        from prophet import Prophet

        from ml.forecasting.prophet_model import _silence_prophet_logging, fit_quietly, prophet_to_json

        _silence_prophet_logging()
        m = Prophet(
            weekly_seasonality=False,
            yearly_seasonality=len(y) >= 730,
            daily_seasonality=False,
            uncertainty_samples=500,
        )
        fit_quietly(m, pd.DataFrame({"ds": y.index, "y": y.to_numpy()}))
        params["prophet_json"] = prophet_to_json(m)
    else:
        raise ValueError(f"unknown gold model {model!r}; expected one of {GOLD_MODELS}")
    return params


def _log_quantiles(params: dict[str, Any], horizon: int) -> np.ndarray:
    """(5, horizon) log-scale rows: median, lower_80, upper_80, lower_95, upper_95."""
    h = np.arange(1, horizon + 1, dtype=float)
    last = params["last_log"]
    model = params["model"]
    if model == PROPHET:
        from ml.forecasting.prophet_model import SAMPLING_SEED, prophet_from_json

        m = prophet_from_json(params["prophet_json"])
        future = pd.DataFrame(
            {"ds": pd.date_range(pd.Timestamp(params["last_date"]) + pd.Timedelta(days=1), periods=horizon)}
        )
        state = np.random.get_state()
        np.random.seed(SAMPLING_SEED)
        try:
            draws = m.predictive_samples(future)["yhat"]
        finally:
            np.random.set_state(state)
        q = np.quantile(draws, [0.5, 0.1, 0.9, 0.025, 0.975], axis=1)
        return q
    if model == RANDOM_WALK:
        mean, sd = np.full(horizon, last), params["sigma"] * np.sqrt(h)
    elif model == RANDOM_WALK_DRIFT:
        mean = last + params["mu"] * h
        sd = params["sigma"] * np.sqrt(h * (1.0 + h / params["n"]))
    elif model == AR:
        changes, sd = _forecast_ar(params, horizon)
        mean = last + changes
    else:
        raise ValueError(f"unknown gold model {model!r}")
    return np.vstack([mean, mean - Z80 * sd, mean + Z80 * sd, mean - Z95 * sd, mean + Z95 * sd])


def forecast_from_params(params: dict[str, Any], horizon: int, purity: str) -> pd.DataFrame:
    """Price forecast for horizons 1..horizon after the params' last date (FORECAST_COLUMNS)."""
    q = np.exp(_log_quantiles(params, horizon))
    last = pd.Timestamp(params["last_date"])
    return pd.DataFrame(
        {
            "date": [d.date() for d in pd.date_range(last + pd.Timedelta(days=1), periods=horizon)],
            "purity": purity,
            "horizon": np.arange(1, horizon + 1),
            "model": params["model"],
            "yhat": q[0],
            "yhat_lower_80": q[1],
            "yhat_upper_80": q[2],
            "yhat_lower_95": q[3],
            "yhat_upper_95": q[4],
        },
        columns=FORECAST_COLUMNS,
    )


# ---------------------------------------------------------------------------------------------------------
# backtest, choice, final forecast


@dataclass
class GoldForecastResult:
    chosen_model: str
    reason: str
    comparison: pd.DataFrame  # per purity, model, horizon
    summary: pd.DataFrame  # per model, averaged over purities and horizons
    forecast: pd.DataFrame  # chosen model, per purity, horizons 1..max_horizon
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per purity, for the pyfunc
    max_horizon: int = 30
    skipped: dict[str, str] = field(default_factory=dict)  # purity -> why it has no forecaster


def backtest_gold(
    series: dict[str, pd.Series],
    models: Sequence[str] = DEFAULT_GOLD_MODELS,
    max_horizon: int = 30,
    n_origins: int = 12,
    origin_step_days: int = 30,
    lookback_days: int = 730,
    min_train_days: int = MIN_TRAIN_DAYS,
) -> pd.DataFrame:
    """Raw backtest rows: purity, model, origin, horizon, actual, yhat, bounds.

    Purities too short for one origin (``min_train_days`` + ``max_horizon`` days) have no rows; when no
    purity has one, InsufficientDataError says how many days each has.
    """
    rows = []
    for purity, prices in series.items():
        log_p = np.log(prices)
        n = len(log_p)
        last_origin = n - 1 - max_horizon
        origins = [last_origin - k * origin_step_days for k in range(n_origins)]
        origins = sorted(o for o in origins if o + 1 >= min_train_days)
        for origin in origins:
            train = log_p.iloc[: origin + 1]
            actual = prices.iloc[origin + 1 : origin + 1 + max_horizon].to_numpy()
            for model in models:
                fc = forecast_from_params(_fit_log_model(model, train, lookback_days), max_horizon, purity)
                rows.append(
                    pd.DataFrame(
                        {
                            "purity": purity,
                            "model": model,
                            "origin": train.index[-1].date(),
                            "horizon": fc["horizon"],
                            "actual": actual,
                            "yhat": fc["yhat"],
                            "lower_80": fc["yhat_lower_80"],
                            "upper_80": fc["yhat_upper_80"],
                            "lower_95": fc["yhat_lower_95"],
                            "upper_95": fc["yhat_upper_95"],
                        }
                    )
                )
    if not rows:
        have = ", ".join(f"{p}: {len(s)} days" for p, s in series.items())
        raise InsufficientDataError(
            f"gold price forecaster: no backtest origin fits: each purity needs at least "
            f"{min_train_days + max_horizon} calendar days of prices ({min_train_days} to train + {max_horizon} to "
            f"score), this data has {have or 'none'}")
    return pd.concat(rows, ignore_index=True)


def summarise_backtest(raw: pd.DataFrame) -> pd.DataFrame:
    """Per purity, model and horizon: n_forecasts, MAE, MAPE, 80%/95% coverage (COMPARISON_COLUMNS)."""
    err = (raw["actual"] - raw["yhat"]).abs()
    scored = raw.assign(
        abs_err=err,
        ape=err / raw["actual"].abs(),
        in80=(raw["actual"] >= raw["lower_80"]) & (raw["actual"] <= raw["upper_80"]),
        in95=(raw["actual"] >= raw["lower_95"]) & (raw["actual"] <= raw["upper_95"]),
    )
    out = (
        scored.groupby(["purity", "model", "horizon"], sort=True)
        .agg(
            n_forecasts=("abs_err", "size"),
            mae=("abs_err", "mean"),
            mape=("ape", "mean"),
            coverage_80=("in80", "mean"),
            coverage_95=("in95", "mean"),
        )
        .reset_index()
    )
    return out[COMPARISON_COLUMNS]


def forecast_gold_prices(
    prices: pd.DataFrame,
    models: Sequence[str] = DEFAULT_GOLD_MODELS,
    max_horizon: int = 30,
    n_origins: int = 12,
    origin_step_days: int = 30,
    lookback_days: int = 730,
    min_improvement: float = 0.01,
) -> GoldForecastResult:
    """Backtest the candidates on ``fct_metal_prices_daily``, choose one, forecast every purity."""
    if RANDOM_WALK not in models:
        raise ValueError("the random walk benchmark must be among the models")
    all_series = gold_series(prices)
    if not all_series:
        raise InsufficientDataError("gold price forecaster: no gold prices (metal = gold, price > 0) in the data")
    # A purity with too few prices gets no forecaster (and says so); it must not stop the others.
    series = {p: s for p, s in all_series.items() if len(s) >= MIN_PRICES}
    skipped = {p: f"only {len(s)} day(s) of prices (at least {MIN_PRICES} needed)" for p, s in all_series.items()
               if p not in series}
    if not series:
        raise InsufficientDataError(f"gold price forecaster: too few prices for every purity: {skipped}")
    raw = backtest_gold(series, models, max_horizon, n_origins, origin_step_days, lookback_days)
    comparison = summarise_backtest(raw)
    summary = (
        comparison.groupby("model")
        .agg(
            mae=("mae", "mean"),
            mape=("mape", "mean"),
            coverage_80=("coverage_80", "mean"),
            coverage_95=("coverage_95", "mean"),
        )
        .reset_index()
        .sort_values("mape", ignore_index=True)
    )
    best = summary.iloc[0]
    rw = summary.loc[summary["model"] == RANDOM_WALK].iloc[0]
    n_orig = raw.groupby("purity")["origin"].nunique().min()
    scope = f"{n_orig} origins x {len(series)} purities, horizons 1-{max_horizon}"
    if best["model"] == RANDOM_WALK:
        chosen = RANDOM_WALK
        reason = f"random walk has the lowest mean MAPE ({rw['mape']:.4%}) over {scope}"
    elif best["mape"] <= (1.0 - min_improvement) * rw["mape"]:
        chosen = str(best["model"])
        reason = (
            f"{chosen} beats the random walk by more than {min_improvement:.0%}: mean MAPE "
            f"{best['mape']:.4%} vs {rw['mape']:.4%} over {scope}"
        )
    else:
        chosen = RANDOM_WALK
        reason = (
            f"{best['model']} has the lowest mean MAPE ({best['mape']:.4%}) but is within "
            f"{min_improvement:.0%} of the random walk ({rw['mape']:.4%}) over {scope}: random walk kept"
        )
    params = {p: _fit_log_model(chosen, np.log(s), lookback_days) for p, s in series.items()}
    forecast = pd.concat(
        [forecast_from_params(prm, max_horizon, p) for p, prm in params.items()], ignore_index=True
    )
    no_origin = sorted(set(series) - set(raw["purity"]))
    if no_origin:
        reason += (f"; purities {', '.join(no_origin)} are too short to backtest and use the chosen model "
                   "without a backtest of their own")
    return GoldForecastResult(chosen, reason, comparison, summary, forecast, params, max_horizon, skipped)


# ---------------------------------------------------------------------------------------------------------
# MLflow pyfunc (built lazily so that importing ml.gold never imports mlflow)

GOLD_INPUT_EXAMPLE = pd.DataFrame({"purity": ["916"], "horizon_days": [7]})
_PYFUNC_CLASS: type | None = None


def _build_pyfunc_class() -> type:
    import mlflow.pyfunc

    class GoldPriceForecastModel(mlflow.pyfunc.PythonModel):
        """Gold price per purity; ``predict`` takes purity, horizon_days -> rows for 1..horizon_days."""

        def __init__(
            self, params: dict[str, dict[str, Any]], max_horizon: int, chosen_model: str, reason: str
        ):
            self.params = {str(k): v for k, v in params.items()}
            self.max_horizon = int(max_horizon)
            self.chosen_model = chosen_model
            self.reason = reason

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            missing = {"purity", "horizon_days"} - set(model_input.columns)
            if missing:
                raise ValueError(f"input is missing columns {sorted(missing)}; expected purity, horizon_days")
            frames = []
            for row in model_input.itertuples(index=False):
                purity = str(row.purity)
                if purity not in self.params:
                    raise ValueError(f"no gold forecaster for purity {purity}; known: {sorted(self.params)}")
                horizon = int(row.horizon_days)
                if not 1 <= horizon <= self.max_horizon:
                    # The backtest only validated horizons up to max_horizon.
                    raise ValueError(f"horizon_days must be between 1 and {self.max_horizon}, got {horizon}")
                frames.append(forecast_from_params(self.params[purity], horizon, purity))
            if not frames:
                return pd.DataFrame(columns=FORECAST_COLUMNS)
            return pd.concat(frames, ignore_index=True)

    GoldPriceForecastModel.__module__ = __name__
    GoldPriceForecastModel.__qualname__ = "GoldPriceForecastModel"
    return GoldPriceForecastModel


def __getattr__(name: str) -> Any:
    # Module-level lazy attribute (PEP 562): pickle finds the class as ml.gold.GoldPriceForecastModel.
    global _PYFUNC_CLASS
    if name == "GoldPriceForecastModel":
        if _PYFUNC_CLASS is None:
            _PYFUNC_CLASS = _build_pyfunc_class()
        return _PYFUNC_CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_gold_pyfunc(result: GoldForecastResult) -> Any:
    """A ``GoldPriceForecastModel`` instance for ``mlflow.pyfunc.log_model(python_model=...)``."""
    cls = __getattr__("GoldPriceForecastModel")
    return cls(result.params, result.max_horizon, result.chosen_model, result.reason)
