"""Train, log, register and gate the purchase-propensity classifier (registered name ``purchase_propensity``).

Data: transaction lines (``staging.stg_raw__transactions``). ``ml.propensity.build_dataset`` builds point-in-time
examples at several training cutoffs and holds out the latest complete 30-day label window; the gate metric is
the holdout ROC-AUC, and the current champion is re-scored on exactly those holdout rows. Baselines on the same
holdout: the base rate (a constant: the ``champion_beats_baseline`` check compares Brier scores with it) and the
RFM-only logistic regression (the approach most shops start from; its ROC-AUC lift is logged and reported).

Per-tenant time: ``tenant_as_of`` is each tenant's last included day (``customer_rfm.as_of_date``; default:
its last transaction date), so each tenant's holdout is its own last complete 30 days and its training
cutoffs step back from there. Too little data raises ``InsufficientDataError`` (the asset skips).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.training.common import (
    MAX_TAG_CHARS,
    PROPENSITY,
    TrainingOutcome,
    artifact_uris,
    clean_metrics,
    finish_outcome_scores,
    log_plot,
    log_table,
    pip_requirements,
    training_run,
)

TRANSACTION_COLUMNS = [
    "tenant_id", "invoice_id", "transaction_date", "customer_id", "product_id", "category", "quantity",
    "unit_price", "amount", "is_return",
]
MIN_IMPROVEMENT = 1e-9  # ROC-AUC; the same data gives the same model, so only a real gain moves the champion
HEADLINE = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift", "f1", "base_rate", "n")


def prepare_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in TRANSACTION_COLUMNS if c in transactions.columns]
    data = transactions[cols].copy()
    for c in ("tenant_id", "invoice_id", "customer_id", "product_id"):
        if c in data:
            data[c] = data[c].astype("string").astype(object).where(data[c].notna(), None)
    return data


def exclusive_as_of(tenant_as_of: Mapping[str, Any] | None) -> dict[str, pd.Timestamp] | None:
    """Inclusive last days per tenant (the marts' as-of) -> the first day after each (the features' cutoff)."""
    if tenant_as_of is None:
        return None
    return {str(t): pd.Timestamp(d).normalize() + pd.Timedelta(days=1) for t, d in tenant_as_of.items()}


def train_propensity(
    transactions: pd.DataFrame,
    *,
    tracking_uri: str,
    tenant_as_of: Mapping[str, Any] | None = None,
    dagster_run_id: str | None = None,
    force: bool = False,
    horizon_days: int = 30,
    max_train_cutoffs: int = 12,
    importance_repeats: int = 3,
    random_state: int = 0,
    plot_dir: Path | None = None,
) -> TrainingOutcome:
    import mlflow
    from sklearn.metrics import brier_score_loss

    from ml.plots import calibration_plot, feature_importance_plot
    from ml.propensity import build_dataset, fit_and_evaluate
    from ml.propensity.model import holdout_roc_auc
    from ml.registry import git_commit, log_sklearn_model, promote_if_better, register_run_model

    started = time.perf_counter()
    data = prepare_transactions(transactions)
    dataset = build_dataset(data, exclusive_as_of(tenant_as_of), horizon_days=horizon_days,
                            max_train_cutoffs=max_train_cutoffs)
    result = fit_and_evaluate(dataset, random_state=random_state, importance_repeats=importance_repeats)
    m = result.metrics
    test = dataset.test
    metrics = {k: m[f"test_{k}"] for k in HEADLINE}
    metrics["expected_calibration_error"] = m["test_expected_calibration_error"]
    baseline = {f"base_rate_{k}": m[f"base_rate_test_{k}"] for k in ("roc_auc", "pr_auc", "brier", "log_loss")}
    baseline.update({f"rfm_{k}": m[f"rfm_test_{k}"] for k in ("roc_auc", "pr_auc", "brier", "top_decile_lift")})
    lift = {
        "roc_auc_lift_vs_rfm": m["roc_auc_lift_vs_rfm"],
        "pr_auc_ratio_vs_rfm": m["pr_auc_lift_vs_rfm"],
        "brier_skill_vs_base_rate": m["brier_skill_vs_base_rate"],
    }
    score = float(m["test_roc_auc"])
    y_test = test["label"].to_numpy(dtype=int)
    champion_brier: dict[str, float] = {}

    def scorer(model: Any) -> float:
        # The champion on the candidate's holdout: ROC-AUC for the gate, Brier for the baseline check.
        p = np.asarray(model.predict_proba(test))[:, 1]
        champion_brier["brier"] = float(brier_score_loss(y_test, p))
        return holdout_roc_auc(model, test)

    as_of_by_tenant = {t: (d - pd.Timedelta(days=1)).date().isoformat() for t, d in sorted(
        dataset.tenant_as_of.items())}
    snapshot_frame = data.assign(as_of=data["tenant_id"].map(as_of_by_tenant))
    with training_run(PROPENSITY, tracking_uri, data=snapshot_frame, dagster_run_id=dagster_run_id) as (
        run, client, snapshot,
    ):
        params = {k: v for k, v in result.params.items() if v is not None}
        mlflow.log_params({**params, "force_promotion": force, "importance_repeats": importance_repeats,
                           "max_train_cutoffs": max_train_cutoffs,
                           "baselines": "base rate (DummyClassifier prior); RFM-only logistic regression"})
        mlflow.log_metrics(clean_metrics({**m, **{f"headline_{k}": v for k, v in metrics.items()}}))
        log_table(result.calibration, "tables/calibration.csv")
        log_table(result.confusion.reset_index(), "tables/confusion.csv")
        log_table(result.importance, "tables/permutation_importance.csv")
        log_table(result.test_predictions, "tables/holdout_predictions.csv")
        log_table(pd.DataFrame([dataset.summary()]), "tables/dataset_summary.csv")
        artifacts = {"calibration": "plots/calibration.png"}
        plots = {"calibration": log_plot(calibration_plot(result.calibration), artifacts["calibration"], plot_dir)}
        if not result.importance.empty:
            fig = feature_importance_plot(result.importance["feature"], result.importance["importance_mean"],
                                          result.importance["importance_std"],
                                          title="Permutation importance (holdout ROC-AUC drop)")
            artifacts["feature_importance"] = "plots/feature_importance.png"
            plots["feature_importance"] = log_plot(fig, artifacts["feature_importance"], plot_dir)
        example = test[result.model.feature_columns].head(5).reset_index(drop=True)
        info = log_sklearn_model(result.model, "model", example, pyfunc_predict_fn="predict_proba",
                                 pip_requirements=pip_requirements("scikit-learn", "skops"))
        # The label window starts the day after the as-of: the tag is the last day the data covers.
        as_of_text = (dataset.as_of - pd.Timedelta(days=1)).date().isoformat()
        tags = {"as_of": as_of_text, "holdout_roc_auc": f"{score:.6f}"}
        tenant_json = json.dumps(as_of_by_tenant, separators=(",", ":"))
        if len(tenant_json) <= MAX_TAG_CHARS:
            tags["as_of_by_tenant"] = tenant_json
        mv = register_run_model(info.model_uri, PROPENSITY, tags=tags,
                                data_snapshot=snapshot, git_sha=git_commit())
        decision = promote_if_better(PROPENSITY, mv, score, higher_is_better=True, min_improvement=MIN_IMPROVEMENT,
                                     force=force, scorer=scorer, client=client, run_id=run.info.run_id)
    version = str(mv.version)
    champ_version, champ_score = finish_outcome_scores(decision, version, higher_is_better=True)
    if decision.promote:
        champ_brier: float | None = metrics["brier"]
    else:
        champ_brier = champion_brier.get("brier", math.nan) if champ_version is not None else None
    return TrainingOutcome(
        model_name=PROPENSITY, version=version, run_id=run.info.run_id, decision=decision,
        metric_name="holdout_roc_auc", higher_is_better=True, metrics=metrics, baseline_metrics=baseline, lift=lift,
        baseline_name="base rate (Brier) and RFM-only logistic regression (ROC-AUC)",
        champion_version=champ_version, champion_score=champ_score,
        check_metric="holdout_brier", check_higher_is_better=False, champion_check_score=champ_brier,
        baseline_check_score=float(m["base_rate_test_brier"]), data_snapshot_id=snapshot,
        check_baseline_name="base rate", plots=plots, plot_artifacts=artifact_uris(run.info.run_id, artifacts),
        frames={"holdout_predictions": result.test_predictions},
        notes=[f"as-of per tenant (last day of data): {as_of_by_tenant}; holdout = each tenant's customers at "
               f"its cutoff (as-of minus {horizon_days - 1} days), label window {horizon_days} days"],
        wall_seconds=time.perf_counter() - started,
    )
