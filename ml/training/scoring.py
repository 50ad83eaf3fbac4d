"""Batch scoring with the registered champions: demand forecasts + stock-out risk, purchase propensity.

The callers load ``models:/<name>@champion`` through ``load_champion_model``, which resolves the alias to a
version number first and loads that exact version, so the version written next to every score is the one
that produced it even if the alias moves meanwhile.

Per-tenant time: each tenant's products are forecast from the champion's origin for that tenant (the day
after the tenant's as-of when it was trained), stock-out risk counts days from that same origin, and each
customer is scored at its tenant's ``customer_rfm.as_of_date``. One series that cannot be forecast is listed
with the reason (``ScoringResult.unscored`` / ``reasons``), never fails the others. Empty inputs raise
``InsufficientDataError`` (the asset skips).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.errors import InsufficientDataError
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
    # how that model came about: backtest | short_history (too little history: the simple method it allows) |
    # fallback (the chosen model failed on this series) | unknown (a champion trained before this column)
    ("selection_basis", "string"),
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
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)  # why each unscored series has no rows


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
    """(tenant_id, product_id) with a unit sold in the last ``active_within_days`` up to the tenant's as-of."""
    series = series_from_sales(sales)
    return [(str(t), str(p)) for (t, p), y in series.items() if y.iloc[-active_within_days:].sum() > 0]


def _predict_isolated(champion_model: Any, request: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], str]]:
    """Predict the whole request at once; if that fails, series by series so one bad series costs only itself."""
    try:
        return pd.DataFrame(champion_model.predict(request)), {}
    except Exception:  # isolated below; the per-series errors are the useful ones
        pass
    frames, errors = [], {}
    for i in range(len(request)):
        row = request.iloc[[i]]
        key = (str(row["tenant_id"].iloc[0]), str(row["product_id"].iloc[0]))
        try:
            frames.append(pd.DataFrame(champion_model.predict(row)))
        except Exception as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"[:300]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FORECAST_COLUMNS)
    return frame, errors


def score_demand(
    champion_model: Any,
    sales: pd.DataFrame,
    inventory: pd.DataFrame,
    model_version: str,
    horizon_days: int = HORIZON_DAYS,
) -> ScoringResult:
    """Next ``horizon_days`` days per active product from the champion pyfunc, plus stock-out columns.

    Products the champion does not know (first sold after it was trained), or could not forecast, are listed
    in ``unscored`` with the reason in ``reasons``.
    """
    from ml.stockout import stockout_risk

    if sales.empty:
        raise InsufficientDataError("demand forecasts: the daily product sales are empty: nothing to forecast")
    inner = champion_model.unwrap_python_model() if hasattr(champion_model, "unwrap_python_model") else None
    known = set(inner.series) if inner is not None else None
    failed_in_training = dict(getattr(inner, "failed_series", {}) or {})
    keys = active_series(sales)
    if not keys:
        raise InsufficientDataError(f"demand forecasts: no product was sold in the last {ACTIVE_WITHIN_DAYS} days "
                                    "before its tenant's as-of: nothing to forecast")
    scored = [k for k in keys if known is None or k in known]
    reasons = {}
    for k in keys:
        if known is not None and k not in known:
            reasons[k] = (f"training could not forecast it ({failed_in_training[k]})" if k in failed_in_training
                          else f"unknown to champion v{model_version} (first active after it was trained)")
    request = pd.DataFrame({"tenant_id": [k[0] for k in scored], "product_id": [k[1] for k in scored],
                            "horizon_days": horizon_days})
    fc, errors = _predict_isolated(champion_model, request) if scored else (pd.DataFrame(columns=FORECAST_COLUMNS),
                                                                           {})
    reasons.update({k: f"champion v{model_version} failed: {e}" for k, e in errors.items()})
    unscored = [k for k in keys if k in reasons]
    notes = []
    if unscored:
        shown = "; ".join(f"{t}/{p}: {reasons[(t, p)]}" for t, p in unscored[:5])
        notes.append(f"{len(unscored)} active series not forecast by champion v{model_version} ({shown})")
    if fc.empty:
        return ScoringResult(pd.DataFrame(columns=[c for c, _ in DEMAND_FORECAST_COLUMNS]), model_version, notes,
                             unscored, reasons)
    if "selection_basis" not in fc:
        fc["selection_basis"] = "unknown"
    fc = fc[[*FORECAST_COLUMNS]].copy()
    fc["tenant_id"] = fc["tenant_id"].astype(str)
    fc["product_id"] = fc["product_id"].astype(str)
    fc["forecast_date"] = pd.to_datetime(fc["forecast_date"])
    fc = fc.sort_values(["tenant_id", "product_id", "forecast_date"], ignore_index=True)
    fc["horizon_day"] = fc.groupby(["tenant_id", "product_id"]).cumcount() + 1
    fc["forecast_origin"] = fc["forecast_date"] - pd.to_timedelta(fc["horizon_day"], unit="D")
    fc["model_version"] = str(model_version)

    inv = inventory.copy()
    inv["tenant_id"] = inv["tenant_id"].astype(str)
    inv["product_id"] = inv["product_id"].astype(str)
    risk = pd.DataFrame(columns=["tenant_id", "product_id"])
    if len(inv):
        # Days until stock-out count from the forecast's own origin (the tenant's as-of the champion was fitted
        # to), so forecast day 1 is stock-out day 1 whatever date the inventory mart carries.
        origins = fc.drop_duplicates(["tenant_id", "product_id"])[["tenant_id", "product_id", "forecast_origin"]]
        inv = inv.merge(origins, on=["tenant_id", "product_id"], how="left")
        inv["stockout_origin"] = inv["forecast_origin"].fillna(pd.to_datetime(
            inv["as_of_date"] if "as_of_date" in inv else inv["snapshot_date"]))
        risk = stockout_risk(fc, inv.drop(columns=["forecast_origin"]), as_of_column="stockout_origin")
        risk = risk[risk["has_forecast"]].drop(columns=["has_forecast", "lead_time_truncated", "as_of_date"])
        inv_dates = inv[["tenant_id", "product_id"]].assign(inventory_as_of_date=pd.to_datetime(
            inv["as_of_date"] if "as_of_date" in inv else inv["snapshot_date"]))
        risk = risk.merge(inv_dates, on=["tenant_id", "product_id"], how="left")
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
    return ScoringResult(out[[c for c, _ in DEMAND_FORECAST_COLUMNS]], str(model_version), notes, unscored, reasons)


def score_propensity(champion_model: Any, transactions: pd.DataFrame, as_of: Any, model_version: str) -> ScoringResult:
    """P(purchase in the 30 days after the as-of) for every customer with a purchase up to it inclusive.

    ``as_of`` is the marts' as-of: ``{tenant_id: customer_rfm.as_of_date}`` (each tenant at its own; tenants
    not listed are not scored) or one date for every tenant. Features use every row up to and including it,
    exactly as the training features at a cutoff use the rows before the cutoff.
    """
    from ml.propensity import score_customers
    from ml.training.propensity import prepare_transactions

    if isinstance(as_of, Mapping):
        if not as_of:
            raise InsufficientDataError("propensity scores: no customers in marts.customer_rfm: nothing to score")
        cutoff: Any = {str(t): pd.Timestamp(d).normalize() + pd.Timedelta(days=1) for t, d in as_of.items()}
    else:
        cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    scores = score_customers(prepare_transactions(transactions), champion_model, cutoff)
    # The table's as_of_date is the last day the features saw (the marts' as-of), not the window's first day.
    scores["as_of_date"] = (pd.to_datetime(scores["as_of_date"]) - pd.Timedelta(days=1)).dt.date
    scores["model_version"] = str(model_version)
    scores["propensity_30d"] = scores["propensity_30d"].astype(float)
    return ScoringResult(scores[[c for c, _ in PROPENSITY_SCORE_COLUMNS]], str(model_version))


@dataclass
class ForecastCompleteness:
    """The ``forecasts_complete_and_non_negative`` check's numbers (see ``forecast_completeness``)."""

    active_products: int
    missing_unexplained: list[tuple[str, str]]
    missing_explained: dict[tuple[str, str], str]
    products_with_wrong_row_count: int
    rows_with_negative_values: int
    rows_with_null_values: int

    @property
    def errors(self) -> bool:
        """Something is wrong with the rows written (or nothing was written): the check fails as an error."""
        return bool(self.missing_unexplained or self.products_with_wrong_row_count or self.rows_with_negative_values
                    or self.rows_with_null_values or self.active_products == 0)

    @property
    def warnings(self) -> bool:
        """Every written forecast is right, but some active products have none (each with its reason)."""
        return not self.errors and bool(self.missing_explained)


def forecast_completeness(frame: pd.DataFrame, expected: list[tuple[str, str]], horizon: int,
                          reasons: Mapping[tuple[str, str], str] | None = None) -> ForecastCompleteness:
    """Every active product has exactly ``horizon`` rows and every value is >= 0 and not null.

    An active product without rows is an error unless ``reasons`` says why it has none (the champion does not
    know it, or cannot forecast it): those are reported, as a warning, not hidden and not fatal.
    """
    reasons = reasons or {}
    keys = pd.MultiIndex.from_frame(frame[["tenant_id", "product_id"]].astype(str))
    counts = pd.Series(1, index=keys).groupby(level=[0, 1]).size() if len(frame) else pd.Series(dtype=int)
    present = set(counts.index) if len(counts) else set()
    missing = [k for k in expected if k not in present]
    value_cols = ["yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]
    values = frame[value_cols].apply(pd.to_numeric)
    return ForecastCompleteness(
        active_products=len(expected),
        missing_unexplained=[k for k in missing if k not in reasons],
        missing_explained={k: reasons[k] for k in missing if k in reasons},
        products_with_wrong_row_count=int((counts != horizon).sum()) if len(counts) else 0,
        rows_with_negative_values=int((values < 0).any(axis=1).sum()),
        rows_with_null_values=int(values.isna().any(axis=1).sum()),
    )
