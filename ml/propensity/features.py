"""Point-in-time customer features at a cutoff date.

Only transaction lines with `transaction_date < cutoff` (strictly before) are read, so nothing from the
cutoff day or later can reach the features; `tests/ml/test_propensity.py` proves it by mutating and
appending post-cutoff rows. Walk-in sales (null `customer_id`) are excluded. A customer gets a row when
they have at least one purchase (non-return) line before the cutoff.

Definitions (per tenant_id, customer_id, all "as seen at the cutoff"):

- purchase invoice: an invoice with at least one non-return line; its date is its earliest line date.
- recency_days: days from the last purchase to the last observed day (cutoff - 1 day), i.e. exactly the
  dbt `customer_rfm` mart's recency when built with `as_of_date = cutoff - 1 day` (its as-of day is
  inclusive; our cutoff is exclusive). A purchase the day before the cutoff has recency 0.
- frequency: number of purchase invoices. monetary: net value = purchases minus returns.
- r_score: 5 if recency < 8 days, 4 for 8-30, 3 for 31-60, 2 for 61-120, 1 above 120 (the dbt RFM mart bands).
- f_score / m_score: within the tenant, least(5, 1 + floor(5 * percent_rank)) with
  percent_rank = (rank - 1) / (n - 1) and SQL `rank()` (ties share the lowest rank) over ascending
  frequency / monetary; 0 when the tenant has a single customer, as SQL `percent_rank()` does.
- tenure_days: days from the first purchase to the last observed day (cutoff - 1 day).
- mean/std_interpurchase_days: gaps between distinct purchase dates (NaN with fewer than 2 / 3 dates);
  recency_ratio = recency_days / mean_interpurchase_days ("overdue" when well above 1).
- frequency_30d / _90d: purchase invoices in [cutoff-30d, cutoff) / [cutoff-90d, cutoff);
  frequency_prev_90d: in [cutoff-180d, cutoff-90d);
  frequency_trend_90d = (last90 - prev90) / (last90 + prev90), 0 when both are 0
  (bounded in [-1, 1] so one busy customer does not dominate).
- avg_basket_lines / avg_basket_value: mean lines and value per purchase invoice.
- return_rate: return lines / all lines. n_categories: distinct non-null categories bought.

NaNs are kept (HistGradientBoosting handles them natively and "no second purchase yet" is informative).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

RFM_COLUMNS: list[str] = ["r_score", "f_score", "m_score"]

FEATURE_COLUMNS: list[str] = [
    "recency_days",
    "frequency",
    "monetary",
    *RFM_COLUMNS,
    "tenure_days",
    "mean_interpurchase_days",
    "std_interpurchase_days",
    "recency_ratio",
    "frequency_30d",
    "frequency_90d",
    "frequency_prev_90d",
    "frequency_trend_90d",
    "avg_basket_lines",
    "avg_basket_value",
    "return_rate",
    "n_categories",
]

KEY_COLUMNS: list[str] = ["tenant_id", "customer_id"]


def to_day(value: Any) -> pd.Timestamp:
    """Normalise a date-like (date, datetime, str, Timestamp) to a naive midnight Timestamp."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return ts.normalize()


def prepare_transactions(transactions: pd.DataFrame) -> pd.DataFrame:
    """Known-customer lines with a day-resolution `day` column, a boolean `is_return` and signed `value`.

    `value` is positive for purchases and negative for returns whatever sign convention the source
    used for `amount` (some tills store returns as positive amounts with a return flag).
    """
    missing = [c for c in ("tenant_id", "invoice_id", "customer_id", "product_id", "quantity") if c not in transactions]
    if missing:
        raise ValueError(f"transactions are missing column(s): {', '.join(missing)}")
    df = transactions[transactions["customer_id"].notna()]
    df = df[df["customer_id"].astype(str).str.strip() != ""]
    date_col = "transaction_date" if "transaction_date" in df else "transaction_ts"
    day = pd.to_datetime(df[date_col])
    if getattr(day.dt, "tz", None) is not None:
        day = day.dt.tz_localize(None)
    quantity = pd.to_numeric(df["quantity"], errors="coerce").fillna(0)
    is_return = df["is_return"].fillna(False).astype(bool) if "is_return" in df else quantity < 0
    # `amount` is optional in the contract: blank means quantity x unit_price
    amount = pd.to_numeric(df["amount"], errors="coerce") if "amount" in df else pd.Series(np.nan, index=df.index)
    if "unit_price" in df:
        amount = amount.fillna(quantity * pd.to_numeric(df["unit_price"], errors="coerce"))
    amount = amount.fillna(0.0).abs()
    return pd.DataFrame(
        {
            "tenant_id": df["tenant_id"].astype(str).to_numpy(),
            "customer_id": df["customer_id"].astype(str).to_numpy(),
            "invoice_id": df["invoice_id"].astype(str).to_numpy(),
            "category": df["category"].to_numpy() if "category" in df else None,
            "day": day.dt.normalize().to_numpy(),
            "is_return": is_return.to_numpy(),
            "value": np.where(is_return.to_numpy(), -amount.to_numpy(), amount.to_numpy()),
        }
    )


def purchase_invoices(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per purchase invoice: tenant_id, customer_id, invoice_id, day, n_lines, value."""
    buys = lines[~lines["is_return"]]
    return (
        buys.groupby(["tenant_id", "customer_id", "invoice_id"], sort=False)
        .agg(day=("day", "min"), n_lines=("day", "size"), value=("value", "sum"))
        .reset_index()
    )


def r_score(recency_days: pd.Series) -> pd.Series:
    """Recency bands of the dbt RFM mart: 5 <8d, 4 8-30d, 3 31-60d, 2 61-120d, 1 >120d."""
    r = recency_days.to_numpy()
    return pd.Series(np.select([r < 8, r <= 30, r <= 60, r <= 120], [5, 4, 3, 2], default=1), index=recency_days.index)


def percent_rank_score(values: pd.Series, groups: pd.Series) -> pd.Series:
    """least(5, 1 + floor(5 * percent_rank)) within each group, SQL `rank()` semantics (ties -> min rank)."""
    rank = values.groupby(groups).rank(method="min", ascending=True)
    n = values.groupby(groups).transform("size")
    # (5 * (rank - 1)) / (n - 1), in the mart's order of operations: an exact integer quotient is exactly
    # representable, so floor() cannot land below it the way 5 * ((rank - 1) / (n - 1)) can
    scaled = ((5 * (rank - 1)) / (n - 1)).where(n > 1, 0.0)
    return np.minimum(5, 1 + np.floor(scaled)).astype(int)


def build_features(transactions: pd.DataFrame, cutoff: Any, *, prepared: bool = False) -> pd.DataFrame:
    """Features per (tenant_id, customer_id) from lines strictly before `cutoff`.

    Returns columns tenant_id, customer_id, cutoff (Timestamp) and FEATURE_COLUMNS, sorted by key.
    Pass `prepared=True` with the output of `prepare_transactions` to skip re-normalising the lines
    when building many cutoffs.
    """
    cutoff_ts = to_day(cutoff)
    lines = transactions if prepared else prepare_transactions(transactions)
    lines = lines[lines["day"] < cutoff_ts]
    inv = purchase_invoices(lines)
    out_cols = [*KEY_COLUMNS, "cutoff", *FEATURE_COLUMNS]
    if inv.empty:
        return pd.DataFrame(columns=out_cols)

    days_before = (cutoff_ts - inv["day"]).dt.days
    inv = inv.assign(
        in_30=days_before <= 30,
        in_90=days_before <= 90,
        in_prev_90=(days_before > 90) & (days_before <= 180),
    )
    g = inv.groupby(KEY_COLUMNS, sort=True)
    f = g.agg(
        first_day=("day", "min"),
        last_day=("day", "max"),
        frequency=("invoice_id", "size"),
        purchase_value=("value", "sum"),
        avg_basket_lines=("n_lines", "mean"),
        avg_basket_value=("value", "mean"),
        frequency_30d=("in_30", "sum"),
        frequency_90d=("in_90", "sum"),
        frequency_prev_90d=("in_prev_90", "sum"),
    )

    # gaps between distinct purchase days: several invoices on one day are one shopping occasion
    pdays = inv[[*KEY_COLUMNS, "day"]].drop_duplicates().sort_values([*KEY_COLUMNS, "day"])
    gaps = pdays.groupby(KEY_COLUMNS, sort=False)["day"].diff().dt.days
    gap_stats = gaps.groupby([pdays["tenant_id"], pdays["customer_id"]]).agg(["mean", "std"])
    gap_stats.index.names = KEY_COLUMNS

    line_stats = lines.groupby(KEY_COLUMNS, sort=True).agg(
        n_lines=("is_return", "size"), n_return_lines=("is_return", "sum"), net_value=("value", "sum")
    )
    buys = lines[~lines["is_return"]]
    n_cat = buys.groupby(KEY_COLUMNS, sort=True)["category"].nunique()

    f = f.join(gap_stats, how="left").join(line_stats, how="left").join(n_cat.rename("n_categories"), how="left")
    f = f.reset_index()
    f["cutoff"] = cutoff_ts
    last_observed = cutoff_ts - pd.Timedelta(days=1)
    f["recency_days"] = (last_observed - f["last_day"]).dt.days.astype(float)
    f["tenure_days"] = (last_observed - f["first_day"]).dt.days.astype(float)
    f["monetary"] = f["net_value"].astype(float)
    f["frequency"] = f["frequency"].astype(float)
    f["mean_interpurchase_days"] = f["mean"].astype(float)
    f["std_interpurchase_days"] = f["std"].astype(float)
    f["recency_ratio"] = f["recency_days"] / f["mean_interpurchase_days"].where(f["mean_interpurchase_days"] > 0)
    for c in ("frequency_30d", "frequency_90d", "frequency_prev_90d"):
        f[c] = f[c].astype(float)
    total = f["frequency_90d"] + f["frequency_prev_90d"]
    f["frequency_trend_90d"] = ((f["frequency_90d"] - f["frequency_prev_90d"]) / total.where(total > 0)).fillna(0.0)
    f["return_rate"] = f["n_return_lines"] / f["n_lines"]
    f["n_categories"] = f["n_categories"].fillna(0).astype(float)
    f["r_score"] = r_score(f["recency_days"])
    f["f_score"] = percent_rank_score(f["frequency"], f["tenant_id"])
    f["m_score"] = percent_rank_score(f["monetary"], f["tenant_id"])
    return f[out_cols].reset_index(drop=True)


def first_purchase_day(transactions: pd.DataFrame) -> dt.date | None:
    """Earliest purchase date among known customers (None when there is none)."""
    lines = prepare_transactions(transactions)
    buys = lines[~lines["is_return"]]
    return None if buys.empty else pd.Timestamp(buys["day"].min()).date()
