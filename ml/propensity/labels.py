"""Labels: does the customer buy (a non-return invoice) within [cutoff, cutoff + horizon)?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ml.propensity.features import KEY_COLUMNS, prepare_transactions, to_day


def build_labels(
    transactions: pd.DataFrame,
    cutoff: Any,
    customers: pd.DataFrame,
    *,
    horizon_days: int = 30,
    prepared: bool = False,
) -> pd.DataFrame:
    """`customers` (tenant_id, customer_id, ...) with an int `label` column added.

    label = 1 when the customer has a non-return line dated in [cutoff, cutoff + horizon_days).
    Only rows inside that window are read; the caller must make sure the window is complete
    (cutoff + horizon <= as-of date), otherwise late buyers are silently labelled 0.
    """
    start = to_day(cutoff)
    end = start + pd.Timedelta(days=horizon_days)
    lines = transactions if prepared else prepare_transactions(transactions)
    window = lines[(lines["day"] >= start) & (lines["day"] < end) & ~lines["is_return"]]
    buyers = window[KEY_COLUMNS].drop_duplicates().assign(label=1)
    keys = customers[KEY_COLUMNS].astype(str)
    out = customers.assign(**{k: keys[k] for k in KEY_COLUMNS}).merge(buyers, on=KEY_COLUMNS, how="left")
    out["label"] = out["label"].fillna(0).astype(int)
    return out
