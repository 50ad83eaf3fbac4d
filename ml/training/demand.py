"""Train, log, register and gate the demand forecaster (registered name ``demand_forecaster``).

Per-tenant time: each tenant's as-of is the latest ``sales_date`` of its rows in the sales mart (the mart
zero-fills every tenant's products up to that tenant's own as-of). Series end there, the holdout cut is
``as_of_t - holdout_days`` per tenant, and forecasts start the day after the tenant's as-of.

Holdout: the last ``holdout_days`` days of each tenant. The candidate is trained exactly as in production
(backtest -> per-series selection -> fit) but with each tenant's data cut at its holdout cut, and its
forecasts over the held-out days are scored against the actuals: pooled WAPE over every series active at the
cut (sum |actual - yhat| / sum actual). The honest baseline is the seasonal naive fitted at the same cut; a
series with less than a week of history at the cut cannot have a seasonal naive, so its baseline is the
moving average (counted in ``baseline_fallback_series``).

The registered model keeps the per-series choices made on data before the holdout and refits each chosen
model on the full history (the usual "select on validation, refit on everything"), so it forecasts from the
latest day. Series that became active during the holdout, and series that were too short at the cut for a
backtested choice (``short_history``), are trained on their own full history (the best their history allows).

One series never fails the run: at every stage (backtest, selection, holdout scoring, baseline, champion
re-scoring, refit) a series whose model fails falls back to the moving average, flagged
``selection_basis = fallback`` with the reason, or is listed in ``tables/series_failures.csv`` when nothing
can forecast it. Too little data for the model as a whole raises ``InsufficientDataError`` (the asset skips).

Champion gate: the champion's pyfunc carries its per-series model choices; re-scoring it means fitting
those choices at the same cut and forecasting the same held-out days (series it does not know get the
moving average, the library's rule for series without a backtested choice). Where its choice equals the
candidate's, the candidate's holdout forecast is reused: same model, same data, same numbers. The gate
margin depends on freshness (``common.freshness_min_improvement``, per tenant).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.errors import InsufficientDataError
from ml.forecasting import train_demand_forecaster
from ml.forecasting.batch import (
    FAILURE_COLUMNS,
    SKIPPED_COLUMNS,
    DemandForecastRun,
    active_and_skipped,
    forecast_selected,
    run_metrics,
)
from ml.forecasting.data import SeriesKey, series_from_sales, tenant_last_dates
from ml.forecasting.models import MOVING_AVERAGE, PROPHET, SEASONAL_NAIVE, SHORT_HISTORY, forecast_with_fallback
from ml.forecasting.selection import MIN_HISTORY_DAYS
from ml.metrics_forecast import interval_coverage, wape
from ml.progress import Log, Progress
from ml.training.common import (
    DEMAND,
    MAX_TAG_CHARS,
    TrainingOutcome,
    artifact_uris,
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
ACTIVE_WITHIN_DAYS = 90
SALES_COLUMNS = ["tenant_id", "product_id", "sales_date", "quantity_sold"]


def prepare_sales(sales: pd.DataFrame) -> pd.DataFrame:
    """The sales mart's columns with stable dtypes (str ids, midnight dates, float units)."""
    missing = set(SALES_COLUMNS) - set(sales.columns)
    if missing:
        raise ValueError(f"sales frame is missing columns {sorted(missing)}")
    data = sales[SALES_COLUMNS].copy()
    data["tenant_id"] = data["tenant_id"].astype(str)
    data["product_id"] = data["product_id"].astype(str)
    data["sales_date"] = pd.to_datetime(data["sales_date"]).dt.normalize()
    data["quantity_sold"] = pd.to_numeric(data["quantity_sold"]).astype(float)
    return data


def _iso(dates: dict[str, pd.Timestamp]) -> dict[str, str]:
    return {t: d.date().isoformat() for t, d in sorted(dates.items())}


def _holdout_frame(forecasts: pd.DataFrame, actual: dict[SeriesKey, pd.Series], cut: dict[str, pd.Timestamp],
                   end: dict[str, pd.Timestamp]) -> pd.DataFrame:
    """Forecast rows inside each tenant's (cut, end] joined to the actual units sold."""
    fc = forecasts.copy()
    fc["forecast_date"] = pd.to_datetime(fc["forecast_date"])
    tenant = fc["tenant_id"].astype(str)
    fc = fc[(fc["forecast_date"] > tenant.map(cut)) & (fc["forecast_date"] <= tenant.map(end))]
    rows = []
    for (tenant_id, product), grp in fc.groupby(["tenant_id", "product_id"], sort=False):
        y = actual[(tenant_id, product)]
        rows.append(grp.assign(actual=y.reindex(grp["forecast_date"]).fillna(0.0).to_numpy()))
    if not rows:
        return fc.assign(actual=pd.Series(dtype=float))
    return pd.concat(rows, ignore_index=True)


def pooled_wape(frame: pd.DataFrame) -> float:
    return wape(frame["actual"], frame["yhat"]) if len(frame) else float("nan")


class DemandHoldout:
    """Each tenant's held-out window, and everything needed to score any per-series model choices on it."""

    def __init__(self, sales: pd.DataFrame, tenant_as_of: dict[str, pd.Timestamp], holdout_days: int):
        self.as_of = dict(tenant_as_of)
        self.cut = {t: d - pd.Timedelta(days=holdout_days) for t, d in self.as_of.items()}
        self.days = holdout_days
        self.train = series_from_sales(sales, as_of=self.cut)
        self.full = series_from_sales(sales, as_of=self.as_of)
        self.candidate: pd.DataFrame | None = None  # candidate holdout rows (one per series and day)
        self.candidate_models: dict[SeriesKey, str] = {}
        self._candidate_by_key: dict[SeriesKey, pd.DataFrame] = {}
        self.failures: list[dict[str, Any]] = []  # series nothing could forecast while scoring the holdout

    def set_candidate(self, frame: pd.DataFrame, models: dict[SeriesKey, str]) -> None:
        self.candidate = frame
        self.candidate_models = models
        self._candidate_by_key = {k: g for k, g in frame.groupby(["tenant_id", "product_id"], sort=False)}

    def frame_for(self, key: SeriesKey, model: str, stage: str = "holdout") -> pd.DataFrame:
        """``model`` fitted at the tenant's cut, forecast over the held-out days (fallback: moving average)."""
        y = self.train[key]
        if model == PROPHET and len(y) < MIN_HISTORY_DAYS:
            model = MOVING_AVERAGE  # the library never fits Prophet on so little history
        attempt = forecast_with_fallback(model, y, self.days)
        if attempt.frame is None:
            self.failures.append({"tenant_id": key[0], "product_id": key[1], "stage": stage, "model": model,
                                  "error": attempt.error or attempt.note, "outcome": "not scored"})
            return pd.DataFrame(columns=["tenant_id", "product_id", "forecast_date", "model", "actual", "yhat"])
        fc = attempt.frame.copy()
        fc.insert(0, "tenant_id", key[0])
        fc.insert(1, "product_id", key[1])
        fc["model"] = attempt.model
        fc["requested_model"] = model
        return _holdout_frame(fc, self.full, self.cut, self.as_of)

    def score_choices(self, choices: dict[SeriesKey, str], log: Log | None = None) -> tuple[float, pd.DataFrame]:
        """Pooled WAPE of per-series choices over the candidate's holdout series (unknown -> moving average)."""
        assert self.candidate is not None
        frames = []
        progress = Progress("demand: champion re-scored on the holdout", len(self.candidate_models), log)
        for key in self.candidate_models:
            model = choices.get(key, MOVING_AVERAGE)
            if model == self.candidate_models[key] and key in self._candidate_by_key:
                frames.append(self._candidate_by_key[key])
            else:
                frames.append(self.frame_for(key, model, stage="champion re-scoring"))
            progress.advance()
        progress.finish()
        frames = [f for f in frames if len(f)]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["actual", "yhat"])
        return pooled_wape(frame), frame


def champion_choices(model: Any) -> dict[SeriesKey, str]:
    """Per-series model names held by a loaded demand pyfunc (PyFuncModel or the python model itself)."""
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    return {(str(t), str(p)): entry["state"]["model"] for (t, p), entry in inner.series.items()}


def _production_run(sales: pd.DataFrame, eval_run: DemandForecastRun, tenant_as_of: dict[str, pd.Timestamp], *,
                    horizon_days: int, n_windows: int, window_days: int, n_jobs: int,
                    log: Log | None) -> DemandForecastRun:
    """Refit the eval run's choices on the full history; train the other active series on their own.

    "The others" are series that became active during the holdout and series whose choice at the cut was only
    a history-length rule (``short_history``): with the holdout's days added they may have enough history for
    a backtested choice, and the best forecast their history allows is what they should get.
    """
    full = series_from_sales(sales, as_of=tenant_as_of)
    active, skipped = active_and_skipped(full, ACTIVE_WITHIN_DAYS)
    keep = [(r.tenant_id, r.product_id) in active and r.selection_basis != SHORT_HISTORY
            for r in eval_run.selection.itertuples(index=False)]
    sel = eval_run.selection[keep]
    progress = Progress("demand: refit the chosen models on the full history", len(sel), log)
    selection, forecasts, states, failures = forecast_selected(
        {k: active[k] for k in zip(sel["tenant_id"], sel["product_id"], strict=True)}, sel,
        horizon_days=horizon_days, n_jobs=n_jobs, progress=progress)
    progress.finish()
    selections, frames, backtests, failure_frames = [selection], [forecasts], [eval_run.backtest], [failures]
    refit_failed = set(zip(failures["tenant_id"], failures["product_id"], strict=True))
    new_keys = [k for k in active if k not in states and k not in refit_failed]
    if new_keys:
        keys = pd.MultiIndex.from_tuples(new_keys)
        mask = pd.MultiIndex.from_arrays([sales["tenant_id"], sales["product_id"]]).isin(keys)
        extra = train_demand_forecaster(sales[mask], as_of=tenant_as_of, horizon_days=horizon_days,
                                        n_windows=n_windows, window_days=window_days, n_jobs=n_jobs, log=log,
                                        what="demand: series new or too short at the holdout cut")
        selections.append(extra.selection)
        frames.append(extra.forecasts)
        backtests.append(extra.backtest)
        failure_frames.append(extra.failures)
        states.update(extra.states)
    return DemandForecastRun(
        as_of=max(tenant_as_of.values()),
        horizon_days=horizon_days,
        backtest=pd.concat([b for b in backtests if not b.empty] or [eval_run.backtest], ignore_index=True),
        selection=pd.concat([s for s in selections if not s.empty] or [selection], ignore_index=True),
        forecasts=pd.concat([f for f in frames if not f.empty] or [forecasts], ignore_index=True),
        states=states,
        skipped=skipped,
        failures=pd.concat([f for f in failure_frames if not f.empty] or [failures], ignore_index=True),
        tenant_as_of=dict(tenant_as_of),
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


def _require_holdout_series(data: pd.DataFrame, holdout: DemandHoldout) -> None:
    """InsufficientDataError (with the numbers) when no tenant has a series active at its holdout cut."""
    active, _ = active_and_skipped(holdout.train, ACTIVE_WITHIN_DAYS)
    if active:
        return
    first = data.groupby("tenant_id")["sales_date"].min()
    spans = {t: int((holdout.as_of[t] - first[t]).days) + 1 for t in first.index}
    longest = max(spans, key=spans.__getitem__)
    raise InsufficientDataError(
        f"demand forecaster: no product was sold in the {ACTIVE_WITHIN_DAYS} days before its tenant's holdout "
        f"cut (as-of minus {holdout.days} days); the model needs more than {holdout.days} days of sales history "
        f"per tenant, the longest here is {spans[longest]} days (tenant {longest}, "
        f"{len(holdout.full)} product series in {len(spans)} tenant(s))")


def _failure_warnings(failures: pd.DataFrame, selection: pd.DataFrame) -> list[str]:
    """Human-readable lines for the asset log and metadata (counts first, then examples)."""
    lines = []
    fell_back = selection[selection["selection_basis"] == "fallback"]
    if len(fell_back):
        keys = list(zip(fell_back["tenant_id"], fell_back["product_id"], strict=True))
        shown = ", ".join(f"{t}/{p}" for t, p in keys[:5])
        lines.append(f"{len(fell_back)} series fell back to the moving average because their chosen model "
                     f"failed (e.g. {shown}); see tables/series_failures.csv")
    not_fc = failures[failures["outcome"].isin(["not forecast"])].drop_duplicates(["tenant_id", "product_id"])
    for r in not_fc.head(10).itertuples(index=False):
        lines.append(f"{r.tenant_id}/{r.product_id} could not be forecast ({r.stage}, {r.model}): {r.error}")
    if len(not_fc) > 10:
        lines.append(f"... and {len(not_fc) - 10} more series without a forecast (tables/series_failures.csv)")
    return lines


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
    log: Log | None = None,
) -> TrainingOutcome:
    """Train on ``fct_daily_product_sales``, log to MLflow, register and gate. See the module docstring.

    ``log`` receives progress messages (phase, done/total series, rate, time left) at least every ~20 s.
    Raises ``InsufficientDataError`` when the frame is empty or no tenant has enough history.
    """
    import mlflow
    from mlflow.models import infer_signature

    from ml.forecasting.pyfunc import build_demand_pyfunc
    from ml.registry import git_commit, promote_if_better, register_run_model

    started = time.perf_counter()
    say = log or (lambda _msg: None)
    data = prepare_sales(sales)
    if data.empty:
        raise InsufficientDataError("demand forecaster: the daily product sales are empty (no transactions "
                                    "ingested for any tenant): nothing to forecast")
    tenant_as_of = tenant_last_dates(data)
    as_of = max(tenant_as_of.values())
    say(f"demand: building daily series from {len(data):,} rows (holdout cut and full history per tenant)")
    holdout = DemandHoldout(data, tenant_as_of, holdout_days)
    _require_holdout_series(data, holdout)
    say(f"demand: {len(holdout.full):,} product series in {len(tenant_as_of)} tenant(s); as-of per tenant "
        f"{_iso(tenant_as_of)}; holdout {holdout_days} days")

    # 1. candidate trained at each tenant's cut, scored on the held-out days
    eval_run = train_demand_forecaster(data, as_of=holdout.cut, horizon_days=max(horizon_days, holdout_days),
                                       n_windows=n_windows, window_days=window_days, n_jobs=n_jobs, log=log,
                                       what="demand: backtest, select and fit at the holdout cut")
    if eval_run.selection.empty:
        raise RuntimeError(
            f"demand forecaster: every one of the {len(eval_run.failures.drop_duplicates(['tenant_id', 'product_id']))}"
            f" active series failed at the holdout cut; first errors: "
            f"{'; '.join(eval_run.failures['error'].astype(str).head(3))}")
    models = {(r.tenant_id, r.product_id): r.model for r in eval_run.selection.itertuples()}
    cand = _holdout_frame(eval_run.forecasts, holdout.full, holdout.cut, holdout.as_of)
    holdout.set_candidate(cand, models)
    progress = Progress("demand: seasonal-naive baseline on the holdout", len(models), log)
    naive_frames = []
    for k in models:
        naive_frames.append(holdout.frame_for(k, SEASONAL_NAIVE, stage="baseline"))
        progress.advance()
    progress.finish()
    naive_frames = [f for f in naive_frames if len(f)]
    naive = (pd.concat(naive_frames, ignore_index=True) if naive_frames
             else cand.iloc[:0].assign(model=pd.Series(dtype=str)))
    baseline_fallbacks = int((naive.drop_duplicates(["tenant_id", "product_id"])["model"] != SEASONAL_NAIVE).sum())
    score, naive_score = pooled_wape(cand), pooled_wape(naive)
    metrics = {
        "holdout_wape": score,
        "holdout_coverage_80": interval_coverage(cand["actual"], cand["yhat_lower_80"], cand["yhat_upper_80"]),
        "holdout_coverage_95": interval_coverage(cand["actual"], cand["yhat_lower_95"], cand["yhat_upper_95"]),
        "holdout_series": float(len(models)),
        "holdout_days": float(holdout_days),
    }
    baseline = {
        "holdout_wape": naive_score,
        "holdout_coverage_80": interval_coverage(naive["actual"], naive["yhat_lower_80"], naive["yhat_upper_80"]),
        "baseline_fallback_series": float(baseline_fallbacks),
    }
    lift = {"wape_reduction_vs_seasonal_naive": relative_lift(score, naive_score, higher_is_better=False)}

    # 2. the production model: same choices, refit on everything
    prod = _production_run(data, eval_run, tenant_as_of, horizon_days=horizon_days, n_windows=n_windows,
                           window_days=window_days, n_jobs=n_jobs, log=log)
    if prod.selection.empty:
        raise InsufficientDataError(
            f"demand forecaster: no product was sold in the {ACTIVE_WITHIN_DAYS} days before its tenant's as-of "
            f"({_iso(tenant_as_of)}): nothing to forecast")
    failures = pd.concat([f for f in (eval_run.failures, prod.failures, pd.DataFrame(holdout.failures))
                          if len(f)] or [pd.DataFrame(columns=FAILURE_COLUMNS)], ignore_index=True)
    failures = failures.reindex(columns=FAILURE_COLUMNS)
    # A series that failed at the cut but was forecast on the full history is not "without forecast".
    forecast_keys = set(zip(prod.selection["tenant_id"], prod.selection["product_id"], strict=True))
    refit = np.array([(t, p) in forecast_keys for t, p in zip(failures["tenant_id"], failures["product_id"],
                                                               strict=True)], dtype=bool)
    failures.loc[refit & (failures["outcome"] == "not forecast").to_numpy(), "outcome"] = "forecast after refit"
    prod.failures = failures[failures["outcome"] == "not forecast"].reset_index(drop=True)
    warnings = _failure_warnings(failures, prod.selection)
    for w in warnings:
        say(w)

    say("demand: building and logging the MLflow model")
    pyfunc = build_demand_pyfunc(prod)
    first = prod.selection.iloc[0]
    example = pd.DataFrame({"tenant_id": [first["tenant_id"]], "product_id": [first["product_id"]],
                            "horizon_days": [horizon_days]})
    signature = infer_signature(example, pyfunc.predict(None, example))

    as_of_text = as_of.date().isoformat()
    as_of_by_tenant = _iso(tenant_as_of)
    as_of_json = json.dumps(as_of_by_tenant, separators=(",", ":"))
    with training_run(DEMAND, tracking_uri, data=data, dagster_run_id=dagster_run_id) as (run, client, snapshot):
        mlflow.log_params({
            "as_of": as_of_text, "as_of_by_tenant": as_of_json[:6000],
            "holdout_cut_by_tenant": json.dumps(_iso(holdout.cut), separators=(",", ":"))[:6000],
            "holdout_days": holdout_days, "horizon_days": horizon_days, "n_windows": n_windows,
            "window_days": window_days, "min_history_days": MIN_HISTORY_DAYS, "baseline": SEASONAL_NAIVE,
            "n_jobs": n_jobs, "force_promotion": force, "n_series": len(prod.selection),
        })
        mlflow.log_metrics(clean_metrics({
            **metrics,
            **{f"baseline_{k}": v for k, v in baseline.items()},
            **lift,
            **{f"backtest_{k}": v for k, v in run_metrics(eval_run).items()},
            **{f"production_{k}": v for k, v in run_metrics(prod).items()},
            "n_series_forecast": float(len(prod.selection)),
            "n_series_skipped": float(len(prod.skipped)),
            "n_series_failed": float(len(prod.failures.drop_duplicates(["tenant_id", "product_id"]))),
        }))
        log_table(eval_run.backtest, "tables/backtest.csv")
        log_table(prod.selection, "tables/selection.csv")
        log_table(cand, "tables/holdout_forecasts.csv")
        log_table(prod.skipped.reindex(columns=SKIPPED_COLUMNS), "tables/skipped.csv")
        log_table(failures, "tables/series_failures.csv")
        artifacts = {"forecast_vs_actual": "plots/forecast_vs_actual.png", "top_series": "plots/top_series_holdout.png"}
        plots = {}
        if len(cand):
            plots = {
                "forecast_vs_actual": log_plot(_aggregate_plot(holdout, cand), artifacts["forecast_vs_actual"],
                                               plot_dir),
                "top_series": log_plot(_top_series_plot(holdout, cand), artifacts["top_series"], plot_dir),
            }
        info = mlflow.pyfunc.log_model(
            name="model", python_model=pyfunc, signature=signature, input_example=example,
            pip_requirements=pip_requirements("prophet"),
        )
        champ_tags = {
            "as_of": champion_tag(client, DEMAND, "as_of"),
            "as_of_by_tenant": champion_tag(client, DEMAND, "as_of_by_tenant"),
        }
        champ_as_of: Any = json.loads(champ_tags["as_of_by_tenant"]) if champ_tags["as_of_by_tenant"] else (
            champ_tags["as_of"])
        min_improvement, margin_note = freshness_min_improvement(
            champ_as_of, as_of_by_tenant if isinstance(champ_as_of, dict) else as_of_text)
        tags = {"as_of": as_of_text, "holdout_wape": f"{score:.6f}"}
        if len(as_of_json) <= MAX_TAG_CHARS:
            tags["as_of_by_tenant"] = as_of_json
        mv = register_run_model(info.model_uri, DEMAND, tags=tags, data_snapshot=snapshot, git_sha=git_commit())
        decision = promote_if_better(
            DEMAND, mv, score, higher_is_better=False, min_improvement=min_improvement, force=force,
            scorer=lambda m: holdout.score_choices(champion_choices(m), log=log)[0], client=client,
            run_id=run.info.run_id,
        )
    version = str(mv.version)
    champ_version, champ_score = finish_outcome_scores(decision, version, higher_is_better=False)
    return TrainingOutcome(
        model_name=DEMAND, version=version, run_id=run.info.run_id, decision=decision,
        metric_name="holdout_wape", higher_is_better=False, metrics=metrics, baseline_metrics=baseline, lift=lift,
        baseline_name="seasonal naive (period 7)", champion_version=champ_version, champion_score=champ_score,
        check_metric="holdout_wape", check_higher_is_better=False, champion_check_score=champ_score,
        baseline_check_score=naive_score, data_snapshot_id=snapshot, plots=plots,
        plot_artifacts=artifact_uris(run.info.run_id, {k: v for k, v in artifacts.items() if k in plots}),
        frames={"forecasts": prod.forecasts, "selection": prod.selection, "holdout": cand, "failures": failures,
                "skipped": prod.skipped},
        notes=[f"as-of per tenant: {as_of_by_tenant}", margin_note], warnings=warnings,
        wall_seconds=time.perf_counter() - started,
    )


def seasonal_naive_holdout_wape(sales: pd.DataFrame, holdout_days: int = HOLDOUT_DAYS) -> float:
    """The baseline alone (handy for tests and notebooks), with each tenant's own holdout window."""
    data = prepare_sales(sales)
    h = DemandHoldout(data, tenant_last_dates(data), holdout_days)
    keys = [k for k, y in h.train.items() if y.iloc[-ACTIVE_WITHIN_DAYS:].sum() > 0]
    frames = [f for f in (h.frame_for(k, SEASONAL_NAIVE) for k in keys) if len(f)]
    return pooled_wape(pd.concat(frames, ignore_index=True)) if frames else math.nan
