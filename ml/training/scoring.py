"""Batch scoring with the registered champions: demand forecasts + stock-out risk, purchase propensity.

The callers load ``models:/<name>@champion`` through ``load_champion_model``, which resolves the alias to a
version number first and loads that exact version, so the version written next to every score is the one
that produced it even if the alias moves meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.forecasting.batch import FORECAST_COLUMNS
from ml.forecasting.data import series_from_sales

ACTIVE_WITHIN_DAYS = 90  # the forecasting library's definition of an active series
HORIZON_DAYS = 30

# Logical types (smartmarket.contracts) of the tables the scoring assets write.
DEMAND_FORECAST_COLUMNS: list[tuple[str, str]] = [
    ("tenant_id", "string"),
    ("product_id", "string"),
    ("forecast_date", "date"),
    ("horizon_day", "integer"),  # 1 = the day after forecast_origin
    ("forecast_origin", "date"),  # last day of the data the champion was fitted on
    ("model", "string"),  # per-series model chosen by the champion (seasonal_naive, moving_average, prophet)
    ("yhat", "float"),
    ("yhat_lower_80", "float"),
    ("yhat_upper_80", "float"),
    ("yhat_lower_95", "float"),
    ("yhat_upper_95", "float"),
    ("model_version", "string"),
    # Stock-out risk per product (ml.stockout, repeated on the product's rows; null without inventory):
    ("inventory_as_of_date", "date"),
    ("on_hand", "float"),
    ("lead_time_days", "integer"),
    ("days_until_stockout", "integer"),
    ("stockout_date", "date"),
    ("reorder_by_date", "date"),
    ("expected_demand_lead_time", "float"),
    ("stockout_probability", "float"),
]
PROPENSITY_SCORE_COLUMNS: list[tuple[str, str]] = [
    ("tenant_id", "string"),
    ("customer_id", "string"),
    ("as_of_date", "date"),  # last day of data the features saw; the 30-day window starts the day after
    ("propensity_30d", "float"),
    ("model_version", "string"),
]


@dataclass
class ScoringResult:
    frame: pd.DataFrame
    model_version: str
    notes: list[str] = field(default_factory=list)
    unscored: list[tuple[str, str]] = field(default_factory=list)


def load_champion_model(name: str, tracking_uri: str) -> tuple[Any, str]:
    """(model, version) of the current champion; raises LookupError when the model has no champion."""
    from ml.registry import configure_tracking, load_champion

    client = configure_tracking(tracking_uri)
    loaded = load_champion(name, client)
    if loaded is None:
        raise LookupError(f"registered model {name!r} has no 'champion' alias yet: run its training asset first")
    model, mv = loaded
    return model, str(mv.version)


def active_series(sales: pd.DataFrame, active_within_days: int = ACTIVE_WITHIN_DAYS) -> list[tuple[str, str]]:
    """(tenant_id, product_id) with at least one unit sold in the last ``active_within_days`` of the mart."""
    series = series_from_sales(sales)
    return [(str(t), str(p)) for (t, p), y in series.items() if y.iloc[-active_within_days:].sum() > 0]


def score_demand(
    champion_model: Any,
    sales: pd.DataFrame,
    inventory: pd.DataFrame,
    model_version: str,
    horizon_days: int = HORIZON_DAYS,
) -> ScoringResult:
    """Next ``horizon_days`` days per active product from the champion pyfunc, plus stock-out columns.

    Products the champion does not know (first sold after it was trained) are listed in ``unscored``.
    """
    from ml.stockout import stockout_risk

    inner = champion_model.unwrap_python_model() if hasattr(champion_model, "unwrap_python_model") else None
    known = set(inner.series) if inner is not None else None
    keys = active_series(sales)
    scored = [k for k in keys if known is None or k in known]
    unscored = [k for k in keys if known is not None and k not in known]
    notes = []
    if unscored:
        notes.append(f"{len(unscored)} active series unknown to champion v{model_version} (not forecast)")
    if not scored:
        return ScoringResult(pd.DataFrame(columns=[c for c, _ in DEMAND_FORECAST_COLUMNS]), model_version, notes,
                             unscored)
    request = pd.DataFrame({"tenant_id": [k[0] for k in scored], "product_id": [k[1] for k in scored],
                            "horizon_days": horizon_days})
    fc = pd.DataFrame(champion_model.predict(request))[FORECAST_COLUMNS]
    fc["forecast_date"] = pd.to_datetime(fc["forecast_date"])
    fc = fc.sort_values(["tenant_id", "product_id", "forecast_date"], ignore_index=True)
    fc["horizon_day"] = fc.groupby(["tenant_id", "product_id"]).cumcount() + 1
    fc["forecast_origin"] = fc["forecast_date"] - pd.to_timedelta(fc["horizon_day"], unit="D")
    fc["model_version"] = str(model_version)

    inv = inventory.copy()
    inv["tenant_id"] = inv["tenant_id"].astype(str)
    inv["product_id"] = inv["product_id"].astype(str)
    risk = stockout_risk(fc, inv) if len(inv) else pd.DataFrame(columns=["tenant_id", "product_id"])
    if len(risk):
        risk = risk[risk["has_forecast"]].rename(columns={"as_of_date": "inventory_as_of_date"})
        risk = risk.drop(columns=["has_forecast", "lead_time_truncated"])
    out = fc.merge(risk, on=["tenant_id", "product_id"], how="left")
    for col, kind in DEMAND_FORECAST_COLUMNS:
        if col not in out:
            out[col] = None
        if kind == "date":
            out[col] = pd.to_datetime(out[col]).dt.date
        elif kind == "integer":
            out[col] = pd.to_numeric(out[col]).astype("Int64")
        elif kind == "float":
            out[col] = pd.to_numeric(out[col]).astype(float)
    return ScoringResult(out[[c for c, _ in DEMAND_FORECAST_COLUMNS]], str(model_version), notes, unscored)


def score_propensity(champion_model: Any, transactions: pd.DataFrame, as_of: Any, model_version: str) -> ScoringResult:
    """P(purchase in the 30 days after ``as_of``) for every customer with a purchase up to ``as_of`` inclusive.

    ``as_of`` is the marts' as-of date (``customer_rfm.as_of_date``): features use every row up to and
    including it, exactly as the training features at a cutoff use the rows before the cutoff.
    """
    from ml.propensity import score_customers
    from ml.training.propensity import prepare_transactions

    as_of_day = pd.Timestamp(as_of).normalize()
    scores = score_customers(prepare_transactions(transactions), champion_model, as_of_day + pd.Timedelta(days=1))
    scores["as_of_date"] = as_of_day.date()
    scores["model_version"] = str(model_version)
    scores["propensity_30d"] = scores["propensity_30d"].astype(float)
    return ScoringResult(scores[[c for c, _ in PROPENSITY_SCORE_COLUMNS]], str(model_version))
