"""Train, log, register and gate the diamond price regressor (registered name ``diamond_price_regressor``).

Data: ``marts.fct_diamond_prices`` (columns renamed to the landing contract's carat, cut, color, clarity, depth,
table, x, y, z). ``ml.diamond.fit_and_evaluate_diamond`` holds out a random 20% test split; the gate metric is
the held-out MAPE (scale-free, so big stones do not dominate) and the champion is re-scored on those rows.
Honest baseline: the carat power law (log price on log carat) fitted on the same training rows.
No diamonds, or fewer than ``ml.diamond.min_diamonds()``, raises ``InsufficientDataError`` (the asset skips).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.training.common import (
    DIAMOND,
    TrainingOutcome,
    artifact_uris,
    clean_metrics,
    finish_outcome_scores,
    log_plot,
    log_table,
    pip_requirements,
    relative_lift,
    training_run,
)

MART_RENAMES = {"table_pct": "table", "length_mm": "x", "width_mm": "y", "depth_mm": "z"}
MODEL_COLUMNS = ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z", "price"]
MIN_IMPROVEMENT = 1e-9  # MAPE as a fraction


def diamonds_from_mart(mart: pd.DataFrame) -> pd.DataFrame:
    """The mart's rows with the contract's column names, in a stable order (for the snapshot id)."""
    df = mart.rename(columns=MART_RENAMES)
    cols = [c for c in MODEL_COLUMNS if c in df.columns]
    key = [c for c in ("diamond_id",) if c in df.columns]
    out = df.sort_values(key).reset_index(drop=True) if key else df.reset_index(drop=True)
    return out[cols].astype({c: float for c in cols if c not in ("cut", "color", "clarity")})


def permutation_importance_table(model: Any, test: pd.DataFrame, repeats: int = 3, seed: int = 0) -> pd.DataFrame:
    """Rise in holdout MAPE when each input column is shuffled."""
    from ml.diamond import holdout_mape
    from ml.importance import permutation_importance_table as importance_table

    def neg_mape(est: Any, X_: pd.DataFrame, y_: Any) -> float:
        return -holdout_mape(est, X_.assign(price=np.asarray(y_)))

    return importance_table(model, test.drop(columns=["price"]), test["price"], neg_mape, repeats, seed)


def train_diamond(
    diamonds: pd.DataFrame,
    *,
    tracking_uri: str,
    dagster_run_id: str | None = None,
    force: bool = False,
    coverage: float = 0.9,
    random_state: int = 0,
    importance_repeats: int = 2,
    plot_dir: Path | None = None,
) -> TrainingOutcome:
    """``diamonds``: the mart (or any frame with the contract's columns and price)."""
    import mlflow

    from ml.diamond import fit_and_evaluate_diamond, holdout_mape
    from ml.plots import feature_importance_plot, residuals_plot
    from ml.registry import git_commit, log_sklearn_model, promote_if_better, register_run_model

    started = time.perf_counter()
    data = diamonds_from_mart(diamonds)
    result = fit_and_evaluate_diamond(data, coverage=coverage, random_state=random_state)
    m = result.metrics
    test = result.test_frame
    score = float(result.promotion_score)
    metrics = {k: m[f"test_{k}"] for k in ("mape", "r2", "rmse", "r2_log")}
    metrics.update({"interval_coverage": m["interval_coverage"], "coverage_target": coverage,
                    "interval_median_relative_width": m["interval_median_relative_width"], "n_test": m["n_test"]})
    baseline = {k: m[f"baseline_test_{k}"] for k in ("mape", "r2", "rmse", "r2_log")}
    lift = {"mape_reduction_vs_power_law": relative_lift(score, baseline["mape"], higher_is_better=False)}
    importance = (permutation_importance_table(result.model, test, importance_repeats, random_state)
                  if importance_repeats > 0 else pd.DataFrame())

    with training_run(DIAMOND, tracking_uri, data=data, dagster_run_id=dagster_run_id) as (run, client, snapshot):
        mlflow.log_params({**result.params, "force_promotion": force, "n_rows": len(data)})
        mlflow.log_metrics(clean_metrics({**m, **lift}))
        log_table(result.test_predictions, "tables/holdout_predictions.csv")
        comparison = pd.DataFrame([{"model": "gradient boosting (champion candidate)", **metrics},
                                   {"model": "carat power law (baseline)", **baseline}])
        log_table(comparison, "tables/baseline_comparison.csv")
        pred = result.test_predictions
        artifacts = {"residuals": "plots/residuals.png"}
        plots = {"residuals": log_plot(residuals_plot(pred["price_actual"], pred["price"], title="Diamond price",
                                                      log_scale=True), artifacts["residuals"], plot_dir)}
        if not importance.empty:
            log_table(importance, "tables/permutation_importance.csv")
            fig = feature_importance_plot(importance["feature"], importance["importance_mean"],
                                          importance["importance_std"], title="Permutation importance (MAPE rise)")
            artifacts["feature_importance"] = "plots/feature_importance.png"
            plots["feature_importance"] = log_plot(fig, artifacts["feature_importance"], plot_dir)
        example = test.drop(columns=["price"]).head(5).reset_index(drop=True)
        info = log_sklearn_model(result.model, "model", example, pyfunc_predict_fn="predict",
                                 pip_requirements=pip_requirements("scikit-learn", "skops"))
        mv = register_run_model(info.model_uri, DIAMOND, tags={"holdout_mape": f"{score:.6f}"},
                                data_snapshot=snapshot, git_sha=git_commit())
        decision = promote_if_better(DIAMOND, mv, score, higher_is_better=False, min_improvement=MIN_IMPROVEMENT,
                                     force=force, scorer=lambda model: holdout_mape(model, test), client=client,
                                     run_id=run.info.run_id)
    version = str(mv.version)
    champ_version, champ_score = finish_outcome_scores(decision, version, higher_is_better=False)
    return TrainingOutcome(
        model_name=DIAMOND, version=version, run_id=run.info.run_id, decision=decision,
        metric_name="holdout_mape", higher_is_better=False, metrics=metrics, baseline_metrics=baseline, lift=lift,
        baseline_name="carat power law", champion_version=champ_version, champion_score=champ_score,
        check_metric="holdout_mape", check_higher_is_better=False, champion_check_score=champ_score,
        baseline_check_score=baseline["mape"], data_snapshot_id=snapshot, plots=plots,
        plot_artifacts=artifact_uris(run.info.run_id, artifacts),
        frames={"holdout_predictions": result.test_predictions}, wall_seconds=time.perf_counter() - started,
    )
