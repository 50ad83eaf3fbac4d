"""Batch scoring: P(buy within 30 days) for every known customer at the as-of date."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml.propensity.features import build_features, to_day


def score_customers(transactions: pd.DataFrame, model: Any, as_of: Any) -> pd.DataFrame:
    """DataFrame(tenant_id, customer_id, as_of_date, propensity_30d, model_version).

    Features use rows strictly before `as_of` (the first day of the predicted window), exactly as at
    training time. `model` is anything with `predict_proba(features_df)` — a fitted `PropensityModel`
    or the champion from `registry.load_champion`. `model_version` is left empty (None) for the caller
    to fill with the registry version it actually loaded.
    """
    as_of_ts = to_day(as_of)
    feats = build_features(transactions, as_of_ts)
    cols = ["tenant_id", "customer_id", "as_of_date", "propensity_30d", "model_version"]
    if feats.empty:
        return pd.DataFrame(columns=cols)
    proba = np.asarray(model.predict_proba(feats))[:, 1]
    return pd.DataFrame(
        {
            "tenant_id": feats["tenant_id"].to_numpy(),
            "customer_id": feats["customer_id"].to_numpy(),
            "as_of_date": as_of_ts.date(),
            "propensity_30d": proba.astype(float),
            "model_version": pd.Series([None] * len(feats), dtype=object),
        }
    )[cols]
