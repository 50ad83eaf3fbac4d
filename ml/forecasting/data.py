"""Turn the ``fct_daily_product_sales`` mart into one daily series per (tenant_id, product_id).

Forecast target: ``quantity_sold`` (gross units sold). Returns are booked on the day they come back, not on
the day the demand happened, so netting them would push demand down on arbitrary later days; replenishment
needs gross outflow anyway.
"""

from __future__ import annotations

import pandas as pd

TARGET = "quantity_sold"
SeriesKey = tuple[str, str]


def resolve_as_of(sales: pd.DataFrame, as_of: object | None = None) -> pd.Timestamp:
    """The forecast origin: ``as_of`` if given, else the latest sales_date in the frame."""
    if as_of is not None:
        return pd.Timestamp(as_of).normalize()
    if sales.empty:
        raise ValueError("sales frame is empty and no as_of date was given")
    return pd.Timestamp(pd.to_datetime(sales["sales_date"]).max()).normalize()


def series_from_sales(
    sales: pd.DataFrame, as_of: object | None = None, target: str = TARGET
) -> dict[SeriesKey, pd.Series]:
    """Daily series per (tenant_id, product_id), zero-filled from first sale to ``as_of`` inclusive.

    Rows after ``as_of`` are dropped so that a backfill run never sees the future. The mart is already
    zero-filled; re-doing it here keeps the library correct on any frame with the mart's columns.
    """
    missing = {"tenant_id", "product_id", "sales_date", target} - set(sales.columns)
    if missing:
        raise ValueError(f"sales frame is missing columns {sorted(missing)}")
    origin = resolve_as_of(sales, as_of)
    frame = sales[["tenant_id", "product_id", "sales_date", target]].copy()
    frame["sales_date"] = pd.to_datetime(frame["sales_date"]).dt.normalize()
    frame = frame[frame["sales_date"] <= origin]
    out: dict[SeriesKey, pd.Series] = {}
    for (tenant, product), grp in frame.groupby(["tenant_id", "product_id"], sort=True):
        daily = grp.groupby("sales_date")[target].sum().astype(float)
        idx = pd.date_range(daily.index.min(), origin, freq="D")
        out[(tenant, product)] = daily.reindex(idx, fill_value=0.0).clip(lower=0.0)
    return out
