"""Calibrated purchase-propensity classifier, its baselines, and the holdout evaluation.

Model: HistGradientBoostingClassifier (handles the NaN features natively) wrapped in
CalibratedClassifierCV (isotonic, 3 folds) so `propensity_30d` can be read as a probability.
Baselines, evaluated on the same holdout:
- base rate: a constant equal to the training positive rate (DummyClassifier "prior");
- RFM-only: logistic regression on the r/f/m scores, the approach most shops start from.

The decision threshold maximises F1 on out-of-fold predictions over the TRAINING cutoffs (folds grouped
by cutoff, so a fold never scores a cutoff it trained on); the holdout never influences it.

`PropensityModel` deliberately does not subclass sklearn's BaseEstimator: importing sklearn at module
import time costs seconds and the Dagster code location imports this package. It exposes the sklearn
estimator API that MLflow and callers use (fit / predict / predict_proba / classes_).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.errors import InsufficientDataError
from ml.metrics_classification import (
    best_f1_threshold,
    calibration_table,
    classification_metrics,
    confusion_table,
    expected_calibration_error,
)
from ml.propensity.dataset import PropensityDataset
from ml.propensity.features import FEATURE_COLUMNS, RFM_COLUMNS


def _thread_limit(n_threads: int | None) -> Any:
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return nullcontext() if n_threads is None else threadpool_limits(limits=n_threads, user_api="openmp")


class PropensityModel:
    """Calibrated gradient-boosting classifier over a fixed list of feature columns.

    `predict_proba(df)` selects its own columns from a wider DataFrame (e.g. the output of
    `build_features`), so a champion trained on a different feature list still scores correctly.
    `predict` applies `threshold` (set from training-cutoff predictions by `fit_and_evaluate`).
    """

    def __init__(
        self,
        feature_columns: list[str] | None = None,
        random_state: int = 0,
        calibration_method: str = "isotonic",
        calibration_cv: int = 3,
        threshold: float = 0.5,
        n_threads: int | None = 1,
    ) -> None:
        self.feature_columns = list(feature_columns or FEATURE_COLUMNS)
        self.random_state = random_state
        self.calibration_method = calibration_method
        self.calibration_cv = calibration_cv
        self.threshold = threshold
        # OpenMP threads for the trees. 1 by default: at this data size threading gains little, while
        # OpenMP busy-waiting under CPU contention (parallel Dagster steps) made fits 20x slower.
        # None = let OpenMP use every core.
        self.n_threads = n_threads
        self.classes_ = np.array([0, 1])
        self.estimator_: Any = None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "feature_columns": self.feature_columns,
            "random_state": self.random_state,
            "calibration_method": self.calibration_method,
            "calibration_cv": self.calibration_cv,
            "threshold": self.threshold,
            "n_threads": self.n_threads,
        }

    def _x(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_columns if c not in X.columns]
        if missing:
            raise ValueError(f"propensity input is missing feature column(s): {', '.join(missing)}")
        return X[self.feature_columns].astype(float)

    def fit(self, X: pd.DataFrame, y: Any) -> PropensityModel:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.ensemble import HistGradientBoostingClassifier

        y_arr = np.asarray(y, dtype=int)
        if len(np.unique(y_arr)) < 2:
            only = int(y_arr[0]) if len(y_arr) else "-"
            raise InsufficientDataError(
                f"training labels contain a single class ({len(y_arr)} examples, all {only}): nothing to learn")
        hgb = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=200,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=10,
            random_state=self.random_state,
        )
        self.estimator_ = CalibratedClassifierCV(hgb, method=self.calibration_method, cv=self.calibration_cv)
        with _thread_limit(self.n_threads):
            self.estimator_.fit(self._x(X), y_arr)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.estimator_ is None:
            raise RuntimeError("PropensityModel is not fitted")
        with _thread_limit(getattr(self, "n_threads", 1)):
            return self.estimator_.predict_proba(self._x(X))

    def predict_propensity(self, X: pd.DataFrame) -> np.ndarray:
        """P(buy within the horizon) as a 1-D array."""
        return self.predict_proba(X)[:, 1]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_propensity(X) >= self.threshold).astype(int)


def fit_rfm_baseline(train: pd.DataFrame) -> Any:
    """Logistic regression on the r/f/m scores (standardised) — the common RFM-only approach."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(train[RFM_COLUMNS].astype(float), train["label"].astype(int))
    return model


def fit_base_rate(train: pd.DataFrame) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="prior").fit(np.zeros((len(train), 1)), train["label"].astype(int))


def out_of_fold_propensity(train: pd.DataFrame, feature_columns: list[str], random_state: int = 0) -> np.ndarray:
    """Out-of-fold P(buy) for every training row, folds grouped by cutoff (3 folds at most).

    With per-tenant cutoffs the group is the cutoff step (the same position in time in every tenant), so a
    fold never scores a period it trained on in another tenant either.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    y = train["label"].to_numpy(dtype=int)
    groups = train["cutoff_step" if "cutoff_step" in train else "cutoff"].to_numpy()
    n_groups = len(np.unique(groups))
    if n_groups >= 2:
        splits = GroupKFold(n_splits=min(3, n_groups)).split(train, y, groups)
    else:
        splits = StratifiedKFold(n_splits=3, shuffle=True, random_state=random_state).split(train, y)
    oof = np.full(len(train), np.nan)
    for fit_idx, pred_idx in splits:
        m = PropensityModel(feature_columns, random_state=random_state)
        m.fit(train.iloc[fit_idx], y[fit_idx])
        oof[pred_idx] = m.predict_propensity(train.iloc[pred_idx])
    return oof


def permutation_importance_table(
    model: PropensityModel, X: pd.DataFrame, y: Any, n_repeats: int = 3, random_state: int = 0
) -> pd.DataFrame:
    """Drop in holdout ROC-AUC when each feature is shuffled (feature, importance_mean, importance_std)."""
    from sklearn.metrics import roc_auc_score

    from ml.importance import permutation_importance_table as importance_table

    def auc(est: Any, X_: pd.DataFrame, y_: Any) -> float:
        return float(roc_auc_score(y_, est.predict_proba(X_)[:, 1]))

    cols = model.feature_columns
    return importance_table(model, X[cols], np.asarray(y, dtype=int), auc, n_repeats, random_state)


def holdout_roc_auc(model: Any, test: pd.DataFrame) -> float:
    """Score any propensity model (e.g. the loaded champion) on a holdout frame: the promotion metric."""
    from sklearn.metrics import roc_auc_score

    p = np.asarray(model.predict_proba(test))[:, 1]
    return float(roc_auc_score(test["label"].astype(int), p))


@dataclass
class PropensityResult:
    model: PropensityModel
    rfm_model: Any
    base_model: Any
    threshold: float
    metrics: dict[str, float]  # flat, MLflow-ready
    calibration: pd.DataFrame  # model calibration on the holdout
    confusion: pd.DataFrame  # model confusion matrix on the holdout at `threshold`
    importance: pd.DataFrame
    test_predictions: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def promotion_score(self) -> float:
        """Holdout ROC-AUC (higher is better): what `registry.decide_promotion` compares."""
        return self.metrics["test_roc_auc"]


# Each fold of the out-of-fold threshold and of the 3-fold calibration must see both classes.
MIN_CLASS_EXAMPLES = 20


def require_both_classes(train: pd.DataFrame, test: pd.DataFrame, minimum: int = MIN_CLASS_EXAMPLES) -> None:
    """InsufficientDataError (with the counts) when a class is too rare to train or the holdout has one class."""
    pos, n = int(train["label"].sum()), len(train)
    if min(pos, n - pos) < minimum:
        raise InsufficientDataError(
            f"purchase propensity: the training examples have {pos} buyers and {n - pos} non-buyers; the "
            f"calibrated classifier needs at least {minimum} of each")
    t_pos, t_n = int(test["label"].sum()), len(test)
    if t_pos in (0, t_n):
        raise InsufficientDataError(
            f"purchase propensity: the holdout has {t_n} customers and {t_pos} of them bought: with a single "
            "class ROC-AUC (the gate metric) is undefined")


def fit_and_evaluate(
    dataset: PropensityDataset, *, random_state: int = 0, importance_repeats: int = 3
) -> PropensityResult:
    """Train the model and both baselines on the training cutoffs; evaluate everything on the holdout."""
    train, test = dataset.train, dataset.test
    if train.empty or test.empty:
        raise InsufficientDataError(f"purchase propensity: empty {'training' if train.empty else 'holdout'} set: "
                                    f"{dataset.summary()}")
    require_both_classes(train, test)
    cols = dataset.feature_columns
    y_train = train["label"].to_numpy(dtype=int)
    y_test = test["label"].to_numpy(dtype=int)

    oof = out_of_fold_propensity(train, cols, random_state)
    threshold, oof_f1 = best_f1_threshold(y_train, oof)
    model = PropensityModel(cols, random_state=random_state, threshold=threshold).fit(train, y_train)
    rfm = fit_rfm_baseline(train)
    base = fit_base_rate(train)

    p_model = model.predict_propensity(test)
    p_rfm = rfm.predict_proba(test[RFM_COLUMNS].astype(float))[:, 1]
    p_base = base.predict_proba(np.zeros((len(test), 1)))[:, 1]
    rfm_threshold, _ = best_f1_threshold(y_train, rfm.predict_proba(train[RFM_COLUMNS].astype(float))[:, 1])

    m_model = classification_metrics(y_test, p_model, threshold)
    m_rfm = classification_metrics(y_test, p_rfm, rfm_threshold)
    m_base = classification_metrics(y_test, p_base, 0.5)
    m_oof = classification_metrics(y_train, oof, threshold)
    calib = calibration_table(y_test, p_model)

    metrics: dict[str, float] = {}
    metrics.update({f"test_{k}": v for k, v in m_model.items()})
    metrics.update({f"rfm_test_{k}": v for k, v in m_rfm.items()})
    metrics.update({f"base_rate_test_{k}": m_base[k] for k in ("roc_auc", "pr_auc", "brier", "log_loss")})
    metrics.update({f"train_oof_{k}": m_oof[k] for k in ("roc_auc", "pr_auc", "brier", "f1")})
    metrics["train_oof_best_f1"] = oof_f1
    metrics["test_expected_calibration_error"] = expected_calibration_error(calib)
    metrics["roc_auc_lift_vs_rfm"] = m_model["roc_auc"] - m_rfm["roc_auc"]
    metrics["pr_auc_lift_vs_rfm"] = (
        m_model["pr_auc"] / m_rfm["pr_auc"] if m_rfm["pr_auc"] and not math.isnan(m_rfm["pr_auc"]) else math.nan
    )
    metrics["brier_skill_vs_base_rate"] = 1.0 - m_model["brier"] / m_base["brier"] if m_base["brier"] else math.nan

    preds = test[["tenant_id", "customer_id", "cutoff", "label"]].assign(
        propensity=p_model, rfm_propensity=p_rfm, base_rate_propensity=p_base
    )
    importance = (
        permutation_importance_table(model, test, y_test, n_repeats=importance_repeats, random_state=random_state)
        if importance_repeats > 0 and 0 < y_test.sum() < len(y_test)
        else pd.DataFrame(columns=["feature", "importance_mean", "importance_std"])
    )
    params = {
        "model": "CalibratedClassifierCV(HistGradientBoostingClassifier, isotonic, cv=3)",
        "feature_columns": ",".join(cols),
        "threshold": threshold,
        "threshold_source": "max F1 on out-of-fold training-cutoff predictions",
        "random_state": random_state,
        **dataset.summary(),
    }
    return PropensityResult(
        model=model,
        rfm_model=rfm,
        base_model=base,
        threshold=threshold,
        metrics=metrics,
        calibration=calib,
        confusion=confusion_table(y_test, p_model, threshold),
        importance=importance,
        test_predictions=preds,
        params=params,
    )
