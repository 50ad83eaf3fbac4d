"""Stock-out risk: hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ml.stockout import STOCKOUT_COLUMNS, stockout_risk

AS_OF = pd.Timestamp("2025-06-30")
Z80 = norm.ppf(0.9)


def _forecast(product: str, daily: float, sd: float = 0.0, days: int = 30) -> pd.DataFrame:
    dates = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=days)
    return pd.DataFrame(
        {
            "tenant_id": "t",
            "product_id": product,
            "forecast_date": dates.date,
            "yhat": daily,
            "yhat_lower_80": daily - Z80 * sd,
            "yhat_upper_80": daily + Z80 * sd,
        }
    )


def _inventory(rows: list[tuple[str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "tenant_id": "t",
                "product_id": p,
                "on_hand": on_hand,
                "lead_time_days": lead,
                "as_of_date": AS_OF,
            }
            for p, on_hand, lead in rows
        ]
    )


def test_constant_demand_stocks_out_on_day_five_and_reorders_lead_time_earlier():
    out = stockout_risk(_forecast("a", 5.0), _inventory([("a", 22, 3)])).iloc[0]
    # Cumulative demand 5, 10, 15, 20, 25: first exceeds 22 on day 5.
    assert out["days_until_stockout"] == 5
    assert out["stockout_date"] == (AS_OF + pd.Timedelta(days=5)).date()
    assert out["reorder_by_date"] == (AS_OF + pd.Timedelta(days=2)).date()
    # Deterministic forecast: 15 units over the 3-day lead time < 22 on hand.
    assert out["expected_demand_lead_time"] == pytest.approx(15.0)
    assert out["stockout_probability"] == 0.0
    assert list(stockout_risk(_forecast("a", 5.0), _inventory([("a", 22, 3)])).columns) == STOCKOUT_COLUMNS


def test_probability_is_the_normal_tail_of_summed_daily_demand():
    fc = _forecast("a", 5.0, sd=2.0)
    inv = _inventory([("a", 22, 5)])
    # Lead time 5: mean 25, independent variance 5 * 4 = 20.
    indep = stockout_risk(fc, inv).iloc[0]["stockout_probability"]
    assert indep == pytest.approx(norm.sf(22, loc=25, scale=np.sqrt(20)), abs=1e-6)
    # Fully correlated daily errors: sd 5 * 2 = 10, a flatter tail.
    corr = stockout_risk(fc, inv, error_correlation=1.0).iloc[0]["stockout_probability"]
    assert corr == pytest.approx(norm.sf(22, loc=25, scale=10.0), abs=1e-6)
    assert 0.5 < corr < indep


def test_reorder_date_is_clipped_at_as_of():
    out = stockout_risk(_forecast("a", 5.0), _inventory([("a", 7, 5)])).iloc[0]
    assert out["days_until_stockout"] == 2
    assert out["reorder_by_date"] == AS_OF.date()
    assert out["stockout_probability"] == 1.0  # 25 units over the lead time, 7 on hand, no uncertainty


def test_zero_stock_is_already_out():
    out = stockout_risk(_forecast("a", 5.0, sd=1.0), _inventory([("a", 0, 3)])).iloc[0]
    assert out["days_until_stockout"] == 0
    assert out["stockout_date"] == AS_OF.date()
    assert out["reorder_by_date"] == AS_OF.date()
    assert out["stockout_probability"] == 1.0


def test_no_sales_means_no_stockout():
    out = stockout_risk(_forecast("a", 0.0), _inventory([("a", 10, 7)])).iloc[0]
    assert pd.isna(out["days_until_stockout"])
    assert out["stockout_date"] is None and out["reorder_by_date"] is None
    assert out["stockout_probability"] == pytest.approx(0.0, abs=1e-9)


def test_slow_mover_beyond_horizon_and_missing_forecast():
    fc = pd.concat([_forecast("slow", 1.0, sd=0.5), _forecast("other", 2.0)])
    inv = _inventory([("slow", 100, 40), ("ghost", 5, 3)])
    out = stockout_risk(fc, inv).set_index("product_id")
    assert pd.isna(out.loc["slow", "days_until_stockout"])  # 30 units in 30 days < 100
    assert bool(out.loc["slow", "lead_time_truncated"])  # 40-day lead time > 30-day horizon
    assert out.loc["slow", "stockout_probability"] < 1e-6
    assert not out.loc["ghost", "has_forecast"]
    assert pd.isna(out.loc["ghost", "stockout_probability"])


def test_accepts_inventory_position_snapshot_date():
    inv = _inventory([("a", 22, 3)]).rename(columns={"as_of_date": "snapshot_date"})
    out = stockout_risk(_forecast("a", 5.0), inv).iloc[0]
    assert out["days_until_stockout"] == 5


def test_forecast_days_before_as_of_are_ignored():
    # The forecast starts 2 days before the inventory snapshot: those days are already in on_hand.
    fc = _forecast("a", 5.0)
    fc["forecast_date"] = (pd.to_datetime(fc["forecast_date"]) - pd.Timedelta(days=2)).dt.date
    out = stockout_risk(fc, _inventory([("a", 22, 3)])).iloc[0]
    assert out["days_until_stockout"] == 5
