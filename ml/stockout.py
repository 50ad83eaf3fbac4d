"""Stock-out risk from daily demand forecasts and the current inventory position.

Day d of the forecast is the calendar day ``as_of_date + d``; only forecast rows after the as-of date count.

- ``days_until_stockout``: the first day whose cumulative forecast demand (yhat) strictly exceeds ``on_hand``;
  null when that does not happen within the forecast horizon. Zero (or negative) stock on hand is already a
  stock-out: 0 days, probability 1.
- ``stockout_probability``: P(demand over the lead time > on_hand). Daily demand is approximated as normal
  with mean yhat and standard deviation (upper_80 - lower_80) / (2 * 1.2816); the lead-time total is normal
  with the summed means and variance ``(1 - rho) * sum(sd_d^2) + rho * (sum sd_d)^2``. ``rho = 0`` (default)
  treats daily errors as independent, which understates risk when errors persist (a level shift the model
  missed); ``rho = 1`` is the fully correlated upper bound. A normal approximation ignores that demand is
  non-negative and integer; it is a ranking signal for replenishment, not an exact probability. Lead times
  longer than the forecast horizon are truncated to the horizon and flagged in ``lead_time_truncated``.
- ``reorder_by_date``: stock-out date minus lead time, clipped at the as-of date (meaning: order now).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

# stdlib NormalDist rather than scipy.stats: keeps the import fast for the Dagster code location.
Z80 = NormalDist().inv_cdf(0.9)
STOCKOUT_COLUMNS = [
    "tenant_id",
    "product_id",
    "as_of_date",
    "on_hand",
    "lead_time_days",
    "has_forecast",
    "days_until_stockout",
    "stockout_date",
    "reorder_by_date",
    "expected_demand_lead_time",
    "stockout_probability",
    "lead_time_truncated",
]


def _one(on_hand: float, lead: int, as_of: pd.Timestamp, fc: pd.DataFrame, rho: float) -> dict[str, object]:
    fc = fc[fc["forecast_date"] > as_of].sort_values("forecast_date")
    days = (fc["forecast_date"] - as_of).dt.days.to_numpy()
    yhat = np.clip(fc["yhat"].to_numpy(dtype=float), 0.0, None)
    sd = np.clip((fc["yhat_upper_80"] - fc["yhat_lower_80"]).to_numpy(dtype=float), 0.0, None) / (2 * Z80)

    if on_hand <= 0:
        stock_day: int | None = 0
    else:
        over = np.nonzero(np.cumsum(yhat) > on_hand)[0]
        stock_day = int(days[over[0]]) if len(over) else None
    stockout_date = as_of + pd.Timedelta(days=stock_day) if stock_day is not None else None
    reorder_by = max(stockout_date - pd.Timedelta(days=lead), as_of) if stockout_date is not None else None

    in_lead = days <= lead
    mean = float(yhat[in_lead].sum())
    s = sd[in_lead]
    var = (1.0 - rho) * float((s**2).sum()) + rho * float(s.sum()) ** 2
    if on_hand <= 0:
        prob = 1.0
    elif var <= 0.0:
        prob = 1.0 if mean > on_hand else 0.0
    else:
        prob = 1.0 - NormalDist(mean, math.sqrt(var)).cdf(on_hand)
    horizon = int(days.max()) if len(days) else 0
    return {
        "days_until_stockout": stock_day,
        "stockout_date": stockout_date.date() if stockout_date is not None else None,
        "reorder_by_date": reorder_by.date() if reorder_by is not None else None,
        "expected_demand_lead_time": mean,
        "stockout_probability": prob,
        "lead_time_truncated": lead > horizon,
    }


def stockout_risk(
    forecasts: pd.DataFrame,
    inventory: pd.DataFrame,
    as_of_column: str = "as_of_date",
    error_correlation: float = 0.0,
) -> pd.DataFrame:
    """One row per inventory row (STOCKOUT_COLUMNS).

    ``forecasts``: tenant_id, product_id, forecast_date, yhat, yhat_lower_80, yhat_upper_80 (batch output).
    ``inventory``: tenant_id, product_id, on_hand, lead_time_days and the as-of date in ``as_of_column``
    (falls back to ``snapshot_date``, the ``inventory_position`` mart's name). Products without a forecast
    (inactive, or too new) keep their row with ``has_forecast`` False and null risk fields.
    """
    if not 0.0 <= error_correlation <= 1.0:
        raise ValueError("error_correlation must be between 0 and 1")
    if as_of_column not in inventory.columns and "snapshot_date" in inventory.columns:
        as_of_column = "snapshot_date"
    missing = {"tenant_id", "product_id", "on_hand", "lead_time_days", as_of_column} - set(inventory.columns)
    if missing:
        raise ValueError(f"inventory frame is missing columns {sorted(missing)}")
    fc = forecasts.copy()
    fc["forecast_date"] = pd.to_datetime(fc["forecast_date"])
    groups = {key: grp for key, grp in fc.groupby(["tenant_id", "product_id"], sort=False)}

    rows = []
    for inv in inventory.itertuples(index=False):
        as_of = pd.Timestamp(getattr(inv, as_of_column)).normalize()
        lead = int(inv.lead_time_days) if pd.notna(inv.lead_time_days) else 0
        on_hand = float(inv.on_hand) if pd.notna(inv.on_hand) else 0.0
        base = {
            "tenant_id": inv.tenant_id,
            "product_id": inv.product_id,
            "as_of_date": as_of.date(),
            "on_hand": on_hand,
            "lead_time_days": lead,
        }
        key = (inv.tenant_id, inv.product_id)
        if key in groups:
            rows.append(
                {**base, "has_forecast": True, **_one(on_hand, lead, as_of, groups[key], error_correlation)}
            )
        else:
            rows.append({**base, "has_forecast": False})
    out = pd.DataFrame(rows, columns=STOCKOUT_COLUMNS)
    out["days_until_stockout"] = out["days_until_stockout"].astype("Int64")
    return out
