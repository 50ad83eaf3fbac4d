"""Train, log, register and gate the demand forecaster (registered name ``demand_forecaster``).

Holdout: the last ``holdout_days`` days of the sales mart. The candidate is trained exactly as in production
(backtest -> per-series selection -> fit) but with the data cut at ``as_of - holdout_days``, and its pyfunc's
forecasts over the held-out days are scored against the actuals: pooled WAPE over every series active at the
cut (sum |actual - yhat| / sum actual). The honest baseline is the seasonal naive fitted at the same cut.

The registered model keeps the per-series choices made on data before the holdout and refits each chosen
model on the full history (the usual "select on validation, refit on everything"), so it forecasts from the
latest day. Series that became active during the holdout are trained on their own (too short to backtest:
moving average by the selection rules).

Champion gate: the champion's pyfunc carries its per-series model choices; re-scoring it means fitting
those choices at the same cut and forecasting the same held-out days (series it does not know get the
moving average, the library's rule for series without a backtested choice). Where its choice equals the
candidate's, the candidate's holdout forecast is reused: same model, same data, same numbers. The gate
margin depends on freshness (``common.freshness_min_improvement``).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from ml.forecasting import train_demand_forecaster
from ml.forecasting.batch import DemandForecastRun, forecast_selected, run_metrics
from ml.forecasting.data import SeriesKey, series_from_sales
from ml.forecasting.models import MOVING_AVERAGE, PROPHET, SEASONAL_NAIVE, fit_model
from ml.forecasting.selection import MIN_HISTORY_DAYS
from ml.metrics_forecast import interval_coverage, wape
from ml.training.common import (
    DEMAND,
    TrainingOutcome,
    champion_tag,
    clean_metrics,
    finish_outcome_scores,
    freshness_min_improvement,
    log_plot,
    log_table,
    pip_requirements,
    relative_lift,
    training_run,
)

HOLDOUT_DAYS = 28
HORIZON_DAYS = 30
SALES_COLUMNS = ["tenant_id", "product_id", "sales_date", "quantity_sold"]


def _holdout_frame(forecasts: pd.DataFrame, actual: dict[SeriesKey, pd.Series], cut: pd.Timestamp,
                   end: pd.Timestamp) -> pd.DataFrame:
    """Forecast rows inside (cut, end] joined to the actual units sold."""
    fc = forecasts.copy()
    fc["forecast_date"] = pd.to_datetime(fc["forecast_date"])
    fc = fc[(fc["forecast_date"] > cut) & (fc["forecast_date"] <= end)]
    rows = []
    for (tenant, product), grp in fc.groupby(["tenant_id", "product_id"], sort=False):
        y = actual[(tenant, product)]
        rows.append(grp.assign(actual=y.reindex(grp["forecast_date"]).fillna(0.0).to_numpy()))
    if not rows:
        return fc.assign(actual=pd.Series(dtype=float))
    return pd.concat(rows, ignore_index=True)


def _model_holdout(model: str, y_train: pd.Series, horizon: int) -> pd.DataFrame:
    fitted = fit_model(model, y_train)
    return fitted.forecast(horizon)


def pooled_wape(frame: pd.DataFrame) -> float:
    return wape(frame["actual"], frame["yhat"]) if len(frame) else float("nan")


class DemandHoldout:
    """The held-out window and everything needed to score any set of per-series model choices on it."""

    def __init__(self, sales: pd.DataFrame, as_of: pd.Timestamp, holdout_days: int):
        self.as_of = as_of
        self.cut = as_of - pd.Timedelta(days=holdout_days)
        self.days = holdout_days
        self.train = series_from_sales(sales, as_of=self.cut)
        self.full = series_from_sales(sales, as_of=as_of)
        self.candidate: pd.DataFrame | None = None  # candidate holdout rows (one per series and day)
        self.candidate_models: dict[SeriesKey, str] = {}

    def frame_for(self, key: SeriesKey, model: str) -> pd.DataFrame:
        y = self.train[key]
        if model == PROPHET and len(y) < MIN_HISTORY_DAYS:
            model = MOVING_AVERAGE  # the library never fits Prophet on so little history
        fc = _model_holdout(model, y, self.days)
        fc.insert(0, "tenant_id", key[0])
        fc.insert(1, "product_id", key[1])
        fc["model"] = model
        return _holdout_frame(fc, self.full, self.cut, self.as_of)

    def score_choices(self, choices: dict[SeriesKey, str]) -> tuple[float, pd.DataFrame]:
        """Pooled WAPE of per-series choices over the candidate's holdout series (unknown -> moving average)."""
        assert self.candidate is not None
        frames = []
        for key in self.candidate_models:
            model = choices.get(key, MOVING_AVERAGE)
            if model == self.candidate_models[key]:
                cand = self.candidate
                frames.append(cand[(cand["tenant_id"] == key[0]) & (cand["product_id"] == key[1])])
            else:
                frames.append(self.frame_for(key, model))
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["actual", "yhat"])
        return pooled_wape(frame), frame


def champion_choices(model: Any) -> dict[SeriesKey, str]:
    """Per-series model names held by a loaded demand pyfunc (PyFuncModel or the python model itself)."""
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    return {(str(t), str(p)): entry["state"]["model"] for (t, p), entry in inner.series.items()}


def _production_run(sales: pd.DataFrame, eval_run: DemandForecastRun, as_of: pd.Timestamp, *, horizon_days: int,
                    n_windows: int, window_days: int, n_jobs: int) -> DemandForecastRun:
    """Refit the eval run's choices on the full history; train series that became active since on their own."""
    full = series_from_sales(sales, as_of=as_of)
    active = {k: y for k, y in full.items() if y.iloc[-90:].sum() > 0}
    sel = eval_run.selection[[(r.tenant_id, r.product_id) in active
                              for r in eval_run.selection.itertuples(index=False)]]
    forecasts, states = forecast_selected({k: active[k] for k in zip(sel["tenant_id"], sel["product_id"],
                                                                          strict=True)},
                                          sel, horizon_days=horizon_days, n_jobs=n_jobs)
    selections, frames, backtests = [sel], [forecasts], [eval_run.backtest]
    new_keys = [k for k in active if k not in states]
    skipped = [{"tenant_id": k[0], "product_id": k[1], "reason": "no units sold in the last 90 days: not forecast"}
               for k in full if k not in active]
    if new_keys:
        keys = pd.MultiIndex.from_tuples(new_keys)
        mask = pd.MultiIndex.from_arrays([sales["tenant_id"], sales["product_id"]]).isin(keys)
        extra = train_demand_forecaster(sales[mask], as_of=as_of, horizon_days=horizon_days, n_windows=n_windows,
                                        window_days=window_days, n_jobs=n_jobs)
        selections.append(extra.selection)
        frames.append(extra.forecasts)
        backtests.append(extra.backtest)
        states.update(extra.states)
    return DemandForecastRun(
        as_of=as_of,
        horizon_days=horizon_days,
        backtest=pd.concat([b for b in backtests if not b.empty] or [eval_run.backtest], ignore_index=True),
        selection=pd.concat(selections, ignore_index=True),
        forecasts=pd.concat(frames, ignore_index=True),
        states=states,
        skipped=pd.DataFrame(skipped, columns=["tenant_id", "product_id", "reason"]),
    )


def _aggregate_plot(holdout: DemandHoldout, cand: pd.DataFrame) -> Any:
    from ml.plots import forecast_vs_actual_plot

    daily = cand.groupby("forecast_date")[["actual", "yhat"]].sum().sort_index()
    hist = pd.concat([y.iloc[-90:] for y in holdout.train.values()], axis=1).sum(axis=1).sort_index()
    return forecast_vs_actual_plot(
        daily.index, daily["actual"], daily["yhat"], history_dates=hist.index, history=hist.to_numpy(),
        title=f"Holdout: total units, all series (pooled WAPE {pooled_wape(cand):.3f})",
    )


def _top_series_plot(holdout: DemandHoldout, cand: pd.DataFrame) -> Any:
    from ml.plots import forecast_vs_actual_plot

    top = cand.groupby(["tenant_id", "product_id"])["actual"].sum().idxmax()
    grp = cand[(cand["tenant_id"] == top[0]) & (cand["product_id"] == top[1])].sort_values("forecast_date")
    hist = holdout.train[top].iloc[-90:]
    return forecast_vs_actual_plot(
        grp["forecast_date"], grp["actual"], grp["yhat"], grp["yhat_lower_80"], grp["yhat_upper_80"],
        history_dates=hist.index, history=hist.to_numpy(),
        title=f"Holdout: {top[0]}/{top[1]} ({grp['model'].iloc[0]}, 80% interval)",
    )


def train_demand(
    sales: pd.DataFrame,
    *,
    tracking_uri: str,
    dagster_run_id: str | None = None,
    force: bool = False,
    n_windows: int = 2,
    window_days: int = 28,
    holdout_days: int = HOLDOUT_DAYS,
    horizon_days: int = HORIZON_DAYS,
    n_jobs: int = 1,
    plot_dir: Path | None = None,
) -> TrainingOutcome:
    """Train on ``fct_daily_product_sales``, log to MLflow, register and gate. See the module docstring."""
    import mlflow
    from mlflow.models import infer_signature

    from ml.forecasting.pyfunc import build_demand_pyfunc
    from ml.registry import git_commit, promote_if_better, register_run_model

    started = time.perf_counter()
    missing = set(SALES_COLUMNS) - set(sales.columns)
    if missing:
        raise ValueError(f"sales frame is missing columns {sorted(missing)}")
    data = sales[SALES_COLUMNS].copy()
    data["tenant_id"] = data["tenant_id"].astype(str)
    data["product_id"] = data["product_id"].astype(str)
    data["sales_date"] = pd.to_datetime(data["sales_date"]).dt.normalize()
    data["quantity_sold"] = pd.to_numeric(data["quantity_sold"]).astype(float)
    as_of = pd.Timestamp(data["sales_date"].max()).normalize()
    holdout = DemandHoldout(data, as_of, holdout_days)

    # 1. candidate trained at the cut, scored on the held-out days
    eval_run = train_demand_forecaster(data, as_of=holdout.cut, horizon_days=max(horizon_days, holdout_days),
                                       n_windows=n_windows, window_days=window_days, n_jobs=n_jobs)
    if eval_run.selection.empty:
        raise ValueError(f"no series was active in the 90 days before the holdout cut {holdout.cut.date()}")
    holdout.candidate_models = {(r.tenant_id, r.product_id): r.model for r in eval_run.selection.itertuples()}
    cand = _holdout_frame(eval_run.forecasts, holdout.full, holdout.cut, as_of)
    holdout.candidate = cand
    naive = pd.concat([holdout.frame_for(k, SEASONAL_NAIVE) for k in holdout.candidate_models], ignore_index=True)
    score, naive_score = pooled_wape(cand), pooled_wape(naive)
    metrics = {
        "holdout_wape": score,
        "holdout_coverage_80": interval_coverage(cand["actual"], cand["yhat_lower_80"], cand["yhat_upper_80"]),
        "holdout_coverage_95": interval_coverage(cand["actual"], cand["yhat_lower_95"], cand["yhat_upper_95"]),
        "holdout_series": float(len(holdout.candidate_models)),
        "holdout_days": float(holdout_days),
    }
    baseline = {
        "holdout_wape": naive_score,
        "holdout_coverage_80": interval_coverage(naive["actual"], naive["yhat_lower_80"], naive["yhat_upper_80"]),
    }
    lift = {"wape_reduction_vs_seasonal_naive": relative_lift(score, naive_score, higher_is_better=False)}

    # 2. the production model: same choices, refit on everything
    prod = _production_run(data, eval_run, as_of, horizon_days=horizon_days, n_windows=n_windows,
                           window_days=window_days, n_jobs=n_jobs)
    pyfunc = build_demand_pyfunc(prod)
    first = prod.selection.iloc[0]
    example = pd.DataFrame({"tenant_id": [first["tenant_id"]], "product_id": [first["product_id"]],
                            "horizon_days": [horizon_days]})
    signature = infer_signature(example, pyfunc.predict(None, example))

    local_plots = plot_dir or Path(tempfile.mkdtemp(prefix="demand_plots_"))
    as_of_text = as_of.date().isoformat()
    with training_run(DEMAND, tracking_uri, data=data, dagster_run_id=dagster_run_id) as (run, client, snapshot):
        mlflow.log_params({
            "as_of": as_of_text, "holdout_cut": holdout.cut.date().isoformat(), "holdout_days": holdout_days,
            "horizon_days": horizon_days, "n_windows": n_windows, "window_days": window_days,
            "min_history_days": MIN_HISTORY_DAYS, "baseline": SEASONAL_NAIVE, "n_jobs": n_jobs,
            "force_promotion": force, "n_series": len(prod.selection),
        })
        mlflow.log_metrics(clean_metrics({
            **metrics,
            **{f"baseline_{k}": v for k, v in baseline.items()},
            **lift,
            **{f"backtest_{k}": v for k, v in run_metrics(eval_run).items()},
            "n_series_forecast": float(len(prod.selection)),
            "n_series_skipped": float(len(prod.skipped)),
        }))
        log_table(eval_run.backtest, "tables/backtest.csv")
        log_table(prod.selection, "tables/selection.csv")
        log_table(cand, "tables/holdout_forecasts.csv")
        log_table(prod.skipped, "tables/skipped.csv")
        plots = {
            "forecast_vs_actual": log_plot(_aggregate_plot(holdout, cand), "plots/forecast_vs_actual.png",
                                           local_plots),
            "top_series": log_plot(_top_series_plot(holdout, cand), "plots/top_series_holdout.png", local_plots),
        }
        info = mlflow.pyfunc.log_model(
            name="model", python_model=pyfunc, signature=signature, input_example=example,
            pip_requirements=pip_requirements("prophet"),
        )
        champ_as_of = champion_tag(client, DEMAND, "as_of")
        min_improvement, margin_note = freshness_min_improvement(champ_as_of, as_of_text)
        mv = register_run_model(info.model_uri, DEMAND, tags={"as_of": as_of_text, "holdout_wape": f"{score:.6f}"},
                                data_snapshot=snapshot, git_sha=git_commit())
        decision = promote_if_better(
            DEMAND, mv, score, higher_is_better=False, min_improvement=min_improvement, force=force,
            scorer=lambda m: holdout.score_choices(champion_choices(m))[0], client=client, run_id=run.info.run_id,
        )
    version = str(mv.version)
    champ_version, champ_score = finish_outcome_scores(decision, version, higher_is_better=False)
    return TrainingOutcome(
        model_name=DEMAND, version=version, run_id=run.info.run_id, decision=decision,
        metric_name="holdout_wape", higher_is_better=False, metrics=metrics, baseline_metrics=baseline, lift=lift,
        baseline_name="seasonal naive (period 7)", champion_version=champ_version, champion_score=champ_score,
        check_metric="holdout_wape", check_higher_is_better=False, champion_check_score=champ_score,
        baseline_check_score=naive_score, data_snapshot_id=snapshot, plots=plots,
        frames={"forecasts": prod.forecasts, "selection": prod.selection, "holdout": cand},
        notes=[margin_note], wall_seconds=time.perf_counter() - started,
    )


def seasonal_naive_holdout_wape(sales: pd.DataFrame, holdout_days: int = HOLDOUT_DAYS) -> float:
    """The baseline alone (handy for tests and notebooks)."""
    as_of = pd.Timestamp(pd.to_datetime(sales["sales_date"]).max()).normalize()
    h = DemandHoldout(sales, as_of, holdout_days)
    keys = [k for k, y in h.train.items() if y.iloc[-90:].sum() > 0]
    frames = [h.frame_for(k, SEASONAL_NAIVE) for k in keys]
    return pooled_wape(pd.concat(frames, ignore_index=True)) if frames else math.nan


