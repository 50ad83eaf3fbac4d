"""Point-in-time customer features the serving snapshot publishes for the propensity prediction route.

The API runs the *current* `purchase_propensity` champion in-process on these rows, so a newly promoted
champion answers at once without recomputing features from transactions per request. Each tenant's features
are taken at its own as-of date: rows up to and including the as-of day, exactly as
`ml.training.scoring.score_propensity` scores (cutoff = as-of + 1 day, exclusive).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from ml.propensity.features import FEATURE_COLUMNS, build_features

KEY = ["tenant_id", "customer_id"]


def customer_features_at(transactions: pd.DataFrame, as_of_by_tenant: Mapping[str, date]) -> pd.DataFrame:
    """tenant_id, customer_id, as_of_date and FEATURE_COLUMNS for every customer with a purchase by the as-of.

    Tenants absent from ``as_of_by_tenant`` are left out (they have no as-of date in the snapshot).
    """
    from ml.training.propensity import prepare_transactions

    columns = [*KEY, "as_of_date", *FEATURE_COLUMNS]
    data = prepare_transactions(transactions)
    frames = []
    for tenant, as_of in sorted(as_of_by_tenant.items()):
        part = data[data["tenant_id"] == tenant]
        if part.empty:
            continue
        feats = build_features(part, pd.Timestamp(as_of) + pd.Timedelta(days=1))
        if feats.empty:
            continue
        feats = feats.drop(columns=["cutoff"])
        feats.insert(2, "as_of_date", pd.Timestamp(as_of).date())
        frames.append(feats)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float if c in FEATURE_COLUMNS else object) for c in columns})
    out = pd.concat(frames, ignore_index=True)[columns]
    out[FEATURE_COLUMNS] = out[FEATURE_COLUMNS].astype(float)
    out["tenant_id"] = out["tenant_id"].astype(str)
    out["customer_id"] = out["customer_id"].astype(str)
    return out.sort_values(KEY, ignore_index=True)
