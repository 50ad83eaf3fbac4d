"""Binary-classification metrics and calibration tables (plain numpy/sklearn; no MLflow, no Dagster)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _as_arrays(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=int).ravel()
    p = np.asarray(proba, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but proba has {p.size}")
    if y.size == 0:
        raise ValueError("cannot compute metrics on an empty sample")
    return y, p


def best_f1_threshold(y_true: Any, proba: Any) -> tuple[float, float]:
    """Threshold on `proba` that maximises F1 (predict positive when proba >= threshold).

    Call this on training / validation predictions only: choosing it on the holdout would make the
    holdout F1 optimistic.
    """
    from sklearn.metrics import precision_recall_curve

    y, p = _as_arrays(y_true, proba)
    if y.sum() == 0:
        return 0.5, 0.0
    precision, recall, thresholds = precision_recall_curve(y, p)
    # the last precision/recall pair has no threshold (it is the "predict nothing" point)
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def confusion_counts(y_true: Any, proba: Any, threshold: float) -> dict[str, int]:
    y, p = _as_arrays(y_true, proba)
    pred = p >= threshold
    return {
        "tp": int(np.sum(pred & (y == 1))),
        "fp": int(np.sum(pred & (y == 0))),
        "tn": int(np.sum(~pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
    }


def confusion_table(y_true: Any, proba: Any, threshold: float) -> pd.DataFrame:
    """2x2 confusion matrix as a DataFrame (rows = actual, columns = predicted)."""
    c = confusion_counts(y_true, proba, threshold)
    return pd.DataFrame(
        [[c["tn"], c["fp"]], [c["fn"], c["tp"]]],
        index=pd.Index(["actual_0", "actual_1"], name="actual"),
        columns=pd.Index(["predicted_0", "predicted_1"], name="predicted"),
    )


def top_fraction_lift(y_true: Any, proba: Any, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` scored rows divided by the overall positive rate."""
    y, p = _as_arrays(y_true, proba)
    base = y.mean()
    if base == 0:
        return math.nan
    k = max(1, math.ceil(fraction * y.size))
    # stable sort so ties are broken the same way on every run
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / base)


def classification_metrics(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), Brier, log loss, and threshold metrics.

    AUCs are NaN when only one class is present (they are undefined, not 0.5).
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y, p = _as_arrays(y_true, proba)
    both = 0 < y.sum() < y.size
    c = confusion_counts(y, p, threshold)
    precision = c["tp"] / (c["tp"] + c["fp"]) if (c["tp"] + c["fp"]) else 0.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if (c["tp"] + c["fn"]) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if (precision + recall) else 0.0
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    return {
        "n": float(y.size),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "threshold": float(threshold),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((c["tp"] + c["tn"]) / y.size),
        "top_decile_lift": top_fraction_lift(y, p, 0.1),
        **{k: float(v) for k, v in c.items()},
    }


def calibration_table(y_true: Any, proba: Any, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Reliability table: per probability bin, the mean prediction vs the observed positive rate.

    `strategy="quantile"` gives bins of equal size (useful when scores bunch up near the base rate);
    `"uniform"` gives equal-width bins on [0, 1]. Empty bins are dropped. `ci_low`/`ci_high` are a
    Wilson 95% interval on the observed rate so a reader can tell noise from miscalibration.
    """
    y, p = _as_arrays(y_true, proba)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
        if edges.size < 2:
            edges = np.array([p.min(), p.max() + 1e-12])
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    # interior edges only, so the lowest and highest predictions land in the first and last bins
    idx = np.digitize(p, edges[1:-1], right=True)
    rows = []
    z = 1.96
    for b in range(edges.size - 1):
        mask = idx == b
        n = int(mask.sum())
        if n == 0:
            continue
        rate = float(y[mask].mean())
        centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        rows.append(
            {
                "bin": b,
                "bin_low": float(edges[b]),
                "bin_high": float(edges[b + 1]),
                "n": n,
                "mean_predicted": float(p[mask].mean()),
                "observed_rate": rate,
                "ci_low": max(0.0, centre - half),
                "ci_high": min(1.0, centre + half),
            }
        )
    return pd.DataFrame(rows)


def expected_calibration_error(table: pd.DataFrame) -> float:
    """Sample-weighted mean |observed - predicted| over the bins of a `calibration_table`."""
    if table.empty:
        return math.nan
    w = table["n"] / table["n"].sum()
    return float((w * (table["observed_rate"] - table["mean_predicted"]).abs()).sum())
