"""Batch scoring: P(buy within 30 days) for every known customer at its tenant's as-of date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ml.propensity.features import build_features, prepare_transactions, to_day

SCORE_COLUMNS = ["tenant_id", "customer_id", "as_of_date", "propensity_30d", "model_version"]


def _features_at(lines: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """Features per customer: at one cutoff for everyone, or at each tenant's own cutoff (a mapping)."""
    if not isinstance(as_of, Mapping):
        return build_features(lines, to_day(as_of), prepared=True)
    cutoffs = {str(t): to_day(d) for t, d in as_of.items()}
    parts = [build_features(grp, cutoffs[str(t)], prepared=True)
             for t, grp in lines.groupby("tenant_id", sort=True) if str(t) in cutoffs]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else build_features(lines.iloc[:0], pd.Timestamp(0),
                                                                          prepared=True)


def score_customers(transactions: pd.DataFrame, model: Any, as_of: Any) -> pd.DataFrame:
    """DataFrame(tenant_id, customer_id, as_of_date, propensity_30d, model_version).

    ``as_of`` is the first day of the predicted window: one date for every tenant, or ``{tenant_id: date}``
    (each tenant at its own; tenants not in the mapping are not scored). Features use rows strictly before
    it, exactly as at training time; ``as_of_date`` is that date. `model` is anything with
    `predict_proba(features_df)` — a fitted `PropensityModel` or the champion from `registry.load_champion`.
    `model_version` is left empty (None) for the caller to fill with the registry version it actually loaded.
    """
    feats = _features_at(prepare_transactions(transactions), as_of)
    if feats.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    proba = np.asarray(model.predict_proba(feats))[:, 1]
    return pd.DataFrame(
        {
            "tenant_id": feats["tenant_id"].to_numpy(),
            "customer_id": feats["customer_id"].to_numpy(),
            "as_of_date": pd.to_datetime(feats["cutoff"]).dt.date.to_numpy(),
            "propensity_30d": proba.astype(float),
            "model_version": pd.Series([None] * len(feats), dtype=object),
        }
    )[SCORE_COLUMNS]
