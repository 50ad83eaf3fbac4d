"""Train, log, register and gate the gold price forecaster (registered name ``gold_price_forecaster``).

``ml.gold.forecast_gold_prices`` backtests the candidates (random walk, random walk with drift, AR) over 12
rolling origins and keeps the random walk unless a challenger beats it by 1%. Holdout for the gate: the final
origin (the last ``max_horizon`` days), where the chosen model is fitted on the prices up to the origin and
scored on MAPE over horizons 1..max_horizon and every purity. The champion is re-scored the same way with its
own chosen model. Baseline: the random walk on the same window. On daily gold it is hard to beat and is often
the chosen model itself, so the ``champion_beats_baseline`` check (not worse than the baseline; a tie passes,
as for every model) is only a warning, not an error, when a champion does worse than the random walk.
No gold prices, or too few for one backtest origin, raises ``InsufficientDataError`` (the asset skips).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from ml.training.common import (
    GOLD,
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

PRICE_COLUMNS = ["price_date", "metal", "purity", "price_per_gram"]


class GoldHoldout:
    """The final backtest origin: any model's MAPE over horizons 1..max_horizon and every purity."""

    def __init__(self, prices: pd.DataFrame, max_horizon: int, lookback_days: int):
        from ml.gold import gold_series

        self.series = gold_series(prices)
        self.max_horizon = max_horizon
        self.lookback_days = lookback_days
        self._raw: dict[str, pd.DataFrame] = {}

    def raw(self, model: str) -> pd.DataFrame:
        from ml.gold import backtest_gold

        if model not in self._raw:
            self._raw[model] = backtest_gold(self.series, [model], self.max_horizon, n_origins=1,
                                             lookback_days=self.lookback_days)
        return self._raw[model]

    def mape(self, model: str) -> float:
        raw = self.raw(model)
        return float(((raw["actual"] - raw["yhat"]).abs() / raw["actual"].abs()).mean())

    def coverage(self, model: str, level: int) -> float:
        raw = self.raw(model)
        return float(((raw["actual"] >= raw[f"lower_{level}"]) & (raw["actual"] <= raw[f"upper_{level}"])).mean())


def champion_model_name(model: Any) -> str:
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    return str(inner.chosen_model)


def _plot(holdout: GoldHoldout, model: str) -> Any:
    from ml.plots import forecast_vs_actual_plot

    raw = holdout.raw(model)
    purity = sorted(raw["purity"].unique(), key=lambda p: -float(p))[0]
    grp = raw[raw["purity"] == purity].sort_values("horizon")
    origin = pd.Timestamp(grp["origin"].iloc[0])
    dates = pd.date_range(origin + pd.Timedelta(days=1), periods=len(grp))
    hist = holdout.series[purity]
    hist = hist[hist.index <= origin].iloc[-120:]
    return forecast_vs_actual_plot(dates, grp["actual"], grp["yhat"], grp["lower_80"], grp["upper_80"],
                                   history_dates=hist.index, history=hist.to_numpy(),
                                   title=f"Gold {purity}: holdout forecast ({model}, 80% interval)")


def train_gold(
    prices: pd.DataFrame,
    *,
    tracking_uri: str,
    dagster_run_id: str | None = None,
    force: bool = False,
    max_horizon: int = 30,
    n_origins: int = 12,
    lookback_days: int = 730,
    plot_dir: Path | None = None,
) -> TrainingOutcome:
    """``prices``: ``marts.fct_metal_prices_daily`` (gold rows are selected here)."""
    import mlflow
    from mlflow.models import infer_signature

    from ml.gold import GOLD_INPUT_EXAMPLE, RANDOM_WALK, build_gold_pyfunc, forecast_gold_prices
    from ml.registry import git_commit, promote_if_better, register_run_model

    started = time.perf_counter()
    data = prices[PRICE_COLUMNS].copy()
    data["purity"] = data["purity"].astype(str)
    data["price_date"] = pd.to_datetime(data["price_date"]).dt.normalize()
    data = data.sort_values(["metal", "purity", "price_date"], ignore_index=True)
    result = forecast_gold_prices(data, max_horizon=max_horizon, n_origins=n_origins, lookback_days=lookback_days)
    holdout = GoldHoldout(data, max_horizon, lookback_days)
    chosen = result.chosen_model
    score, rw_score = holdout.mape(chosen), holdout.mape(RANDOM_WALK)
    metrics = {
        "holdout_mape": score,
        "holdout_coverage_80": holdout.coverage(chosen, 80),
        "holdout_coverage_95": holdout.coverage(chosen, 95),
        "backtest_mape": float(result.summary.loc[result.summary["model"] == chosen, "mape"].iloc[0]),
    }
    baseline = {"holdout_mape": rw_score, "holdout_coverage_80": holdout.coverage(RANDOM_WALK, 80),
                "backtest_mape": float(result.summary.loc[result.summary["model"] == RANDOM_WALK, "mape"].iloc[0])}
    lift = {"mape_reduction_vs_random_walk": relative_lift(score, rw_score, higher_is_better=False)}
    as_of = max(s.index[-1] for s in holdout.series.values()).date().isoformat()
    pyfunc = build_gold_pyfunc(result)
    purity = sorted(result.params)[0]
    example = GOLD_INPUT_EXAMPLE.assign(purity=[purity])
    signature = infer_signature(example, pyfunc.predict(None, example))

    with training_run(GOLD, tracking_uri, data=data, dagster_run_id=dagster_run_id) as (run, client, snapshot):
        mlflow.log_params({"as_of": as_of, "chosen_model": chosen, "choice_reason": result.reason[:500],
                           "max_horizon": max_horizon, "n_origins": n_origins, "lookback_days": lookback_days,
                           "baseline": RANDOM_WALK, "force_promotion": force, "purities": ",".join(result.params)})
        per_model = {f"backtest_mape_{r.model}": r.mape for r in result.summary.itertuples()}
        mlflow.log_metrics(clean_metrics({**metrics, **{f"baseline_{k}": v for k, v in baseline.items()}, **lift,
                                          **per_model}))
        log_table(result.comparison, "tables/backtest_comparison.csv")
        log_table(result.summary, "tables/backtest_summary.csv")
        log_table(holdout.raw(chosen), "tables/holdout_forecasts.csv")
        log_table(result.forecast, "tables/forecast.csv")
        artifacts = {"forecast_vs_actual": "plots/forecast_vs_actual.png"}
        plots = {"forecast_vs_actual": log_plot(_plot(holdout, chosen), artifacts["forecast_vs_actual"], plot_dir)}
        info = mlflow.pyfunc.log_model(name="model", python_model=pyfunc, signature=signature, input_example=example,
                                       pip_requirements=pip_requirements())
        champ_as_of = champion_tag(client, GOLD, "as_of")
        min_improvement, margin_note = freshness_min_improvement(champ_as_of, as_of)
        mv = register_run_model(info.model_uri, GOLD, tags={"as_of": as_of, "chosen_model": chosen,
                                                          "holdout_mape": f"{score:.6f}"},
                                data_snapshot=snapshot, git_sha=git_commit())
        decision = promote_if_better(
            GOLD, mv, score, higher_is_better=False, min_improvement=min_improvement, force=force,
            scorer=lambda m: holdout.mape(champion_model_name(m)), client=client, run_id=run.info.run_id,
        )
    version = str(mv.version)
    champ_version, champ_score = finish_outcome_scores(decision, version, higher_is_better=False)
    return TrainingOutcome(
        model_name=GOLD, version=version, run_id=run.info.run_id, decision=decision, metric_name="holdout_mape",
        higher_is_better=False, metrics=metrics, baseline_metrics=baseline, lift=lift, baseline_name="random walk",
        champion_version=champ_version, champion_score=champ_score, check_metric="holdout_mape",
        check_higher_is_better=False, champion_check_score=champ_score, baseline_check_score=rw_score,
        data_snapshot_id=snapshot, plots=plots, plot_artifacts=artifact_uris(run.info.run_id, artifacts),
        frames={"forecast": result.forecast},
        notes=[f"chosen model: {chosen} ({result.reason})", margin_note],
        warnings=[f"gold purity {p}: no forecaster, {why}" for p, why in result.skipped.items()],
        wall_seconds=time.perf_counter() - started,
    )


__all__ = ["GoldHoldout", "champion_model_name", "train_gold"]
