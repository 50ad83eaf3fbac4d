"""Turn the ``fct_daily_product_sales`` mart into one daily series per (tenant_id, product_id).

Forecast target: ``quantity_sold`` (gross units sold). Returns are booked on the day they come back, not on
the day the demand happened, so netting them would push demand down on arbitrary later days; replenishment
needs gross outflow anyway.

Each tenant has its own as-of date (ARCHITECTURE.md): the mart zero-fills a tenant's products up to that
tenant's as-of, so the latest ``sales_date`` of a tenant's rows IS its as-of. Series of one tenant end on its
as-of, never on another tenant's: a shop whose uploads stop three weeks before the others gets no three weeks
of invented zeros. ``as_of`` arguments below take the same three forms everywhere:

- ``None``: every tenant ends on its own latest ``sales_date``;
- one date: a cap for every tenant (a backfill: nothing after it is read); a tenant whose data ends earlier
  still ends on its own last date;
- a mapping ``{tenant_id: date}``: exactly that date for those tenants (the mart's as-of, or a holdout cut),
  zero-filled up to it; tenants not in the mapping end on their own latest date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

TARGET = "quantity_sold"
SeriesKey = tuple[str, str]
AsOf = Any  # None | date-like | Mapping[str, date-like]  (see the module docstring)


def tenant_last_dates(sales: pd.DataFrame, date_column: str = "sales_date") -> dict[str, pd.Timestamp]:
    """Latest date per tenant in the frame (str tenant ids -> midnight Timestamps)."""
    if sales.empty:
        return {}
    days = pd.to_datetime(sales[date_column]).dt.normalize()
    last = days.groupby(sales["tenant_id"].astype(str).to_numpy()).max()
    return {str(t): pd.Timestamp(d) for t, d in last.items()}


def resolve_tenant_as_of(sales: pd.DataFrame, as_of: AsOf = None) -> dict[str, pd.Timestamp]:
    """Per-tenant as-of for every tenant in ``sales`` (see the module docstring for the forms of ``as_of``)."""
    own = tenant_last_dates(sales)
    if as_of is None:
        return own
    if isinstance(as_of, Mapping):
        given = {str(t): pd.Timestamp(d).normalize() for t, d in as_of.items()}
        return {t: given.get(t, d) for t, d in own.items()}
    cap = pd.Timestamp(as_of).normalize()
    return {t: min(d, cap) for t, d in own.items()}


def resolve_as_of(sales: pd.DataFrame, as_of: object | None = None) -> pd.Timestamp:
    """The latest tenant as-of (one date for labels and params); ``as_of`` as in ``resolve_tenant_as_of``."""
    if as_of is not None and not isinstance(as_of, Mapping) and sales.empty:
        return pd.Timestamp(as_of).normalize()
    per_tenant = resolve_tenant_as_of(sales, as_of)
    if not per_tenant:
        raise ValueError("sales frame is empty and no as_of date was given")
    return max(per_tenant.values())


def series_from_sales(
    sales: pd.DataFrame, as_of: AsOf = None, target: str = TARGET
) -> dict[SeriesKey, pd.Series]:
    """Daily series per (tenant_id, product_id), zero-filled from first sale to the tenant's as-of inclusive.

    Rows after the tenant's as-of are dropped so that a backfill run never sees the future. The mart is
    already zero-filled; re-doing it here keeps the library correct on any frame with the mart's columns.
    A product first sold after its tenant's as-of has no series.
    """
    missing = {"tenant_id", "product_id", "sales_date", target} - set(sales.columns)
    if missing:
        raise ValueError(f"sales frame is missing columns {sorted(missing)}")
    frame = sales[["tenant_id", "product_id", "sales_date", target]].copy()
    frame["tenant_id"] = frame["tenant_id"].astype(str)
    frame["sales_date"] = pd.to_datetime(frame["sales_date"]).dt.normalize()
    ends = resolve_tenant_as_of(frame, as_of)
    frame = frame[frame["sales_date"] <= frame["tenant_id"].map(ends)]
    out: dict[SeriesKey, pd.Series] = {}
    for (tenant, product), grp in frame.groupby(["tenant_id", "product_id"], sort=True):
        daily = grp.groupby("sales_date")[target].sum().astype(float)
        idx = pd.date_range(daily.index.min(), ends[tenant], freq="D")
        out[(tenant, product)] = daily.reindex(idx, fill_value=0.0).clip(lower=0.0)
    return out
