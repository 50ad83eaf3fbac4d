"""Demand: forecast list with stock-out risk (from the snapshot), one product's daily forecast (champion)."""

from __future__ import annotations

import threading
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query, Request

from serving.cache import LRU
from serving.errors import ERROR_RESPONSES, NOT_FOUND, ApiError, not_found, unavailable
from serving.models import LoadedModel
from serving.routes.common import CallerTenant, PinnedSnapshot, clean_id
from serving.schemas import (
    MAX_FORECAST_DAYS,
    MAX_OFFSET,
    MAX_PAGE,
    ForecastDay,
    ForecastItem,
    ForecastList,
    ForecastSort,
    ModelRef,
    Order,
    ProductForecast,
    StockoutRisk,
)
from serving.snapshots import Snapshot, TenantInfo
from smartmarket.snapshot import STOCKOUT_WARNING_PROBABILITY

DEMAND = "demand_forecaster"
router = APIRouter(prefix="/v1", tags=["demand"], responses={**ERROR_RESPONSES, **NOT_FOUND})

ITEM_COLUMNS = ["product_id", "model_version", "series_model", "forecast_origin", "horizon_days", "expected_units",
                "expected_units_7d", "on_hand", "lead_time_days", "inventory_as_of_date", "days_until_stockout",
                "stockout_date", "reorder_by_date", "expected_demand_lead_time", "stockout_probability",
                "stockout_warning"]
SORT_COLUMNS = {ForecastSort.product_id: "product_id", ForecastSort.stockout_probability: "stockout_probability",
                ForecastSort.days_until_stockout: "days_until_stockout",
                ForecastSort.expected_units: "expected_units"}
ASCENDING_BY_DEFAULT = {ForecastSort.product_id, ForecastSort.days_until_stockout}
INVENTORY_COLUMNS = ["tenant_id", "product_id", "as_of_date", "snapshot_date", "on_hand", "lead_time_days"]

# Forecasts depend only on (model version, tenant, product, days), stock-out risk also on the snapshot:
# computed once, then served from memory.
forecast_cache = LRU(4096)
stockout_cache = LRU(4096)
# Prophet draws its intervals from numpy's global RNG (seeded per call and restored), so two forecasts must
# not run at once or they would disturb each other's draws.
_predict_lock = threading.Lock()


def _forecasts_available(snap: Snapshot) -> None:
    if not snap.has("forecast_summary"):
        raise unavailable("forecasts_unavailable", f"snapshot {snap.snapshot_id} has no demand forecasts: "
                          "ml.demand_forecasts did not exist when it was published")


def _product_name(snap: Snapshot, t: TenantInfo, product_id: str) -> tuple[str | None, str | None]:
    if not snap.has("dim_products"):
        return None, None
    rows = snap.rows(f"select {snap.cols('dim_products', ['product_name', 'category'])} from {{dim_products}} "
                     "where tenant_id = ? and product_id = ?", [t.tenant_id, product_id])
    return (rows[0]["product_name"], rows[0]["category"]) if rows else (None, None)


@router.get("/forecasts", response_model=ForecastList,
            summary="Demand forecast and stock-out risk per product (as published in the snapshot)")
def list_forecasts(
    t: CallerTenant,
    snap: PinnedSnapshot,
    product_id: Annotated[str | None, Query(min_length=1, max_length=200, description="Only this product.")] = None,
    stockout_warning_only: Annotated[bool, Query(
        description=f"Only products whose stock-out probability within the supplier lead time is "
                    f">= {STOCKOUT_WARNING_PROBABILITY}.")] = False,
    sort: Annotated[ForecastSort, Query(description="Sort key; ties on product_id.")] = (
        ForecastSort.stockout_probability),
    order: Annotated[Order | None, Query(description="Default asc for product_id and days_until_stockout, desc for "
                                                     "the others.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, 1 to {MAX_PAGE}.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip, at most {MAX_OFFSET}.")] = 0,
) -> ForecastList:
    _forecasts_available(snap)
    where, params = ["f.tenant_id = ?"], [t.tenant_id]
    if product_id is not None:
        where.append("f.product_id = ?")
        params.append(product_id if clean_id(product_id) else "")
    if stockout_warning_only:
        where.append("f.stockout_warning")
    cond = " and ".join(where)
    column = SORT_COLUMNS[sort]
    direction = (order or (Order.asc if sort in ASCENDING_BY_DEFAULT else Order.desc)).value
    names = (f"{snap.cols('dim_products', ['product_name', 'category'], 'p')}" if snap.has("dim_products")
             else "null as product_name, null as category")
    join = ("left join {dim_products} p on p.tenant_id = f.tenant_id and p.product_id = f.product_id"
            if snap.has("dim_products") else "")
    total = int(snap.scalar(f"select count(*) from {{forecast_summary}} f where {cond}", params) or 0)
    rows = snap.rows(f"select {snap.cols('forecast_summary', ITEM_COLUMNS, 'f')}, {names} from {{forecast_summary}} f "
                     f"{join} where {cond} order by f.{column} {direction} nulls last, f.product_id asc "
                     "limit ? offset ?", [*params, limit, offset])
    versions = snap.rows("select distinct model_version from {forecast_summary} where tenant_id = ? "
                         "and model_version is not null order by model_version", [t.tenant_id])
    items = [ForecastItem(**{**r, "horizon_days": int(r["horizon_days"]),
                             "stockout_warning": bool(r["stockout_warning"]),
                             "lead_time_days": _int(r["lead_time_days"]),
                             "days_until_stockout": _int(r["days_until_stockout"])}) for r in rows]
    return ForecastList(tenant_id=t.tenant_id, as_of_date=t.as_of_date, snapshot_id=snap.snapshot_id,
                        models=[ModelRef(name=DEMAND, version=str(v["model_version"])) for v in versions],
                        total=total, limit=limit, offset=offset, items=items)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _forecast(model: LoadedModel, tenant_id: str, product_id: str, days: int) -> pd.DataFrame:
    native = model.model
    series = getattr(native, "series", None)
    if series is not None and (tenant_id, product_id) not in series:
        raise ApiError(404, "no_forecast", f"product {product_id!r} has no demand forecast: {DEMAND} "
                       f"v{model.version} has no model for it (no sale in its last 90 days of training data, or "
                       "first sold after it was trained)", {"product_id": product_id, "model_version": model.version})

    def compute() -> pd.DataFrame:
        request = pd.DataFrame({"tenant_id": [tenant_id], "product_id": [product_id], "horizon_days": [days]})
        with _predict_lock:
            frame = pd.DataFrame(native.predict(None, request))
        frame["forecast_date"] = pd.to_datetime(frame["forecast_date"])
        return frame.sort_values("forecast_date", ignore_index=True)

    return forecast_cache.get_or_compute((model.version, tenant_id, product_id, days), compute)


def _stockout(snap: Snapshot, t: TenantInfo, product_id: str, fc: pd.DataFrame) -> StockoutRisk | None:
    from ml.stockout import stockout_risk

    if not snap.has("inventory_position", "on_hand"):
        return None
    rows = snap.rows(f"select {snap.cols('inventory_position', INVENTORY_COLUMNS)} from {{inventory_position}} "
                     "where tenant_id = ? and product_id = ?", [t.tenant_id, product_id])
    if not rows or (rows[0]["as_of_date"] is None and rows[0]["snapshot_date"] is None):
        return None
    inv = pd.DataFrame(rows)
    if inv["as_of_date"].isna().all():
        inv = inv.drop(columns=["as_of_date"])
    risk = stockout_risk(fc.assign(tenant_id=t.tenant_id, product_id=product_id), inv).iloc[0]

    def opt(value: Any) -> Any:
        return None if pd.isna(value) else value

    probability = float(risk["stockout_probability"])
    return StockoutRisk(
        inventory_as_of_date=opt(risk["as_of_date"]), on_hand=float(risk["on_hand"]),
        lead_time_days=int(risk["lead_time_days"]),
        days_until_stockout=None if pd.isna(risk["days_until_stockout"]) else int(risk["days_until_stockout"]),
        stockout_date=opt(risk["stockout_date"]), reorder_by_date=opt(risk["reorder_by_date"]),
        expected_demand_lead_time=float(risk["expected_demand_lead_time"]), probability=probability,
        warning=probability >= STOCKOUT_WARNING_PROBABILITY, lead_time_truncated=bool(risk["lead_time_truncated"]),
    )


@router.get("/products/{product_id}/forecast", response_model=ProductForecast,
            summary="Daily demand forecast with 80/95% intervals and stock-out risk (runs the champion)")
def product_forecast(
    request: Request,
    product_id: Annotated[str, Path(min_length=1, max_length=200)],
    t: CallerTenant,
    snap: PinnedSnapshot,
    days: Annotated[int, Query(ge=1, le=MAX_FORECAST_DAYS, description=f"Days ahead, 1 to {MAX_FORECAST_DAYS}.")] = 30,
) -> ProductForecast:
    pid = clean_id(product_id)
    exists = pid and snap.scalar("select count(*) from {products} where tenant_id = ? and product_id = ?",
                                 [t.tenant_id, pid])
    if not exists:
        raise not_found("product", product_id)
    model = request.app.state.models.get(DEMAND)
    fc = _forecast(model, t.tenant_id, pid, days)
    name, _ = _product_name(snap, t, pid)
    origin = (fc["forecast_date"].iloc[0] - pd.Timedelta(days=1)).date()
    daily = [ForecastDay(date=r.forecast_date.date(), horizon_day=i + 1, yhat=r.yhat, yhat_lower_80=r.yhat_lower_80,
                         yhat_upper_80=r.yhat_upper_80, yhat_lower_95=r.yhat_lower_95, yhat_upper_95=r.yhat_upper_95)
             for i, r in enumerate(fc.itertuples(index=False))]
    return ProductForecast(
        tenant_id=t.tenant_id, product_id=pid, product_name=name, snapshot_id=snap.snapshot_id,
        model=ModelRef(name=DEMAND, version=model.version), series_model=str(fc["model"].iloc[0]),
        selection_reason=fc["selection_reason"].iloc[0] if "selection_reason" in fc else None,
        forecast_origin=origin, days=days, daily=daily,
        stockout=stockout_cache.get_or_compute((snap.snapshot_id, model.version, t.tenant_id, pid, days),
                                               lambda: _stockout(snap, t, pid, fc)),
    )
