"""Predictions that run a champion in-process: purchase propensity, gold price, diamond price."""

from __future__ import annotations

from collections import deque
from datetime import date, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request

from serving.cache import LRU
from serving.errors import ERROR_RESPONSES, NOT_FOUND, invalid, not_found, unavailable
from serving.routes.common import Caller, CallerTenant, MaybeSnapshot, PinnedSnapshot, clean_id
from serving.schemas import (
    MAX_PRICE_HISTORY_DAYS,
    PROPENSITY_HORIZON_DAYS,
    DiamondInterval,
    DiamondPriceRequest,
    DiamondPriceResponse,
    GoldHistory,
    GoldPricePoint,
    GoldPriceRequest,
    GoldPriceResponse,
    GoldSeries,
    ModelRef,
    PriceInterval,
    PropensityPrediction,
    PropensityRequest,
    PropensityResponse,
)
from serving.snapshots import Snapshot

PROPENSITY, GOLD, DIAMOND = "purchase_propensity", "gold_price_forecaster", "diamond_price_regressor"
DIMENSIONS = ("depth", "table", "x", "y", "z")
router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
gold_cache = LRU(1024)


# ---------------------------------------------------------------------------------------------------- propensity


@router.post("/predict/purchase-propensity", response_model=PropensityResponse, tags=["customers"],
             responses=NOT_FOUND,
             summary="P(purchase in the next 30 days) for up to 500 customers, from the current champion")
def predict_propensity(body: PropensityRequest, request: Request, t: CallerTenant,
                       snap: PinnedSnapshot) -> PropensityResponse:
    model = request.app.state.models.get(PROPENSITY)
    if not snap.has("customer_features", "customer_id"):
        raise unavailable("features_unavailable", f"snapshot {snap.snapshot_id} has no customer features; the "
                          "next pipeline run publishes them")
    native = model.model
    needed = list(getattr(native, "feature_columns", []))
    absent = [c for c in needed if not snap.has("customer_features", c)]
    if absent:
        raise unavailable("features_unavailable", f"{PROPENSITY} v{model.version} needs feature(s) "
                          f"{', '.join(absent)} that snapshot {snap.snapshot_id} lacks; the next pipeline run "
                          "publishes them", missing_features=absent)
    wanted = list(dict.fromkeys(i for i in body.customer_ids if clean_id(i)))
    rows = []
    if wanted:
        marks = ", ".join("?" for _ in wanted)
        rows = snap.rows(f"select {snap.cols('customer_features', ['customer_id', *needed])} "
                         f"from {{customer_features}} where tenant_id = ? and customer_id in ({marks})",
                         [t.tenant_id, *wanted])
    found = {str(r["customer_id"]): r for r in rows}
    missing = [i for i in dict.fromkeys(body.customer_ids) if i not in found]
    if missing:
        raise not_found("customer", missing[0], missing_ids=missing[:100])
    frame = pd.DataFrame([found[i] for i in body.customer_ids])
    probability = native.predict_proba(frame[needed].astype(float))[:, 1]
    threshold = float(getattr(native, "threshold", 0.5))
    return PropensityResponse(
        tenant_id=t.tenant_id, as_of_date=t.as_of_date, horizon_days=PROPENSITY_HORIZON_DAYS,
        snapshot_id=snap.snapshot_id, model=ModelRef(name=PROPENSITY, version=model.version), threshold=threshold,
        predictions=[PropensityPrediction(customer_id=i, probability=float(p), label=bool(p >= threshold))
                     for i, p in zip(body.customer_ids, probability, strict=True)],
    )


# ---------------------------------------------------------------------------------------------------- gold


def _gold_quote(snap: Snapshot | None, purity: int, on: date) -> tuple[dict[str, Any] | None, date | None]:
    """(latest published gold quote on or before ``on``, last published day) for the purity."""
    if snap is None or not snap.has("metal_prices"):
        return None, None
    last = snap.scalar("select max(price_date) from {metal_prices} where lower(metal) = 'gold' and purity = ?",
                       [purity])
    rows = snap.rows(f"select {snap.cols('metal_prices', ['price_date', 'price_per_gram', 'currency'])} "
                     "from {metal_prices} where lower(metal) = 'gold' and purity = ? and price_date <= ? "
                     "order by price_date desc limit 1", [purity, on])
    return (rows[0] if rows else None), (last.date() if hasattr(last, "date") else last)


def _as_date(value: Any) -> date:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


@router.post("/predict/gold-price", response_model=GoldPriceResponse, tags=["jeweller"],
             summary="Gold price for a purity and weight on a date: observed, or forecast by the champion")
def predict_gold(body: GoldPriceRequest, request: Request, _: Caller, snap: MaybeSnapshot) -> GoldPriceResponse:
    model = request.app.state.models.get(GOLD)
    native = model.model
    params: dict[str, dict[str, Any]] = getattr(native, "params", {})
    key = str(body.purity)
    if key not in params:
        known = ", ".join(sorted(params, key=lambda p: -float(p)))
        raise invalid(f"purity {body.purity} has no gold price model; use one of: {known}",
                      known_purities=[int(p) for p in params if p.isdigit()])
    origin = date.fromisoformat(str(params[key]["last_date"])[:10])
    horizon_max = int(getattr(native, "max_horizon", 30))
    quote, last_published = _gold_quote(snap, body.purity, body.date)
    common = {"date": body.date, "purity": body.purity, "weight_grams": body.weight_grams,
              "forecast_origin": origin, "series_model": params[key].get("model"),
              "model": ModelRef(name=GOLD, version=model.version),
              "snapshot_id": snap.snapshot_id if snap else None}
    if quote is not None and last_published is not None and body.date <= last_published:
        price = float(quote["price_per_gram"])
        total = price * body.weight_grams
        return GoldPriceResponse(
            **common, currency=quote["currency"], basis="observed", price_per_gram=price, total_price=total,
            intervals=[PriceInterval(level=lv, price_per_gram_lower=price, price_per_gram_upper=price,
                                     total_lower=total, total_upper=total) for lv in (0.8, 0.95)],
            horizon_days=None, observed_price_date=_as_date(quote["price_date"]))
    horizon = (body.date - origin).days
    if horizon < 1 or horizon > horizon_max:
        first = snap.scalar("select min(price_date) from {metal_prices} where lower(metal) = 'gold' and "
                            "purity = ?", [body.purity]) if snap is not None and snap.has("metal_prices") else None
        history = f"published prices cover {_as_date(first)} to {last_published}; " if first else ""
        raise invalid(f"no gold price for purity {body.purity} on {body.date}: {history}the model forecasts "
                      f"{origin + timedelta(days=1)} to {origin + timedelta(days=horizon_max)}",
                      forecast_from=str(origin + timedelta(days=1)),
                      forecast_to=str(origin + timedelta(days=horizon_max)))

    def compute() -> dict[str, float]:
        frame = native.predict(None, pd.DataFrame({"purity": [key], "horizon_days": [horizon]}))
        return frame.iloc[-1].to_dict()

    row = gold_cache.get_or_compute((model.version, key, horizon), compute)
    w = body.weight_grams
    currency = None
    if snap is not None and snap.has("metal_prices", "currency"):
        currency = snap.scalar("select currency from {metal_prices} where lower(metal) = 'gold' and purity = ? "
                               "order by price_date desc limit 1", [body.purity])
    return GoldPriceResponse(
        **common, currency=currency, basis="forecast", price_per_gram=float(row["yhat"]),
        total_price=float(row["yhat"]) * w,
        intervals=[PriceInterval(level=lv / 100, price_per_gram_lower=float(row[f"yhat_lower_{lv}"]),
                                 price_per_gram_upper=float(row[f"yhat_upper_{lv}"]),
                                 total_lower=float(row[f"yhat_lower_{lv}"]) * w,
                                 total_upper=float(row[f"yhat_upper_{lv}"]) * w) for lv in (80, 95)],
        horizon_days=horizon, observed_price_date=None)


@router.get("/prices/gold", response_model=GoldHistory, tags=["jeweller"], responses=NOT_FOUND,
            summary="Published gold prices per purity with 7- and 30-day moving averages")
def gold_history(
    _: Caller,
    snap: PinnedSnapshot,
    days: Annotated[int, Query(ge=1, le=MAX_PRICE_HISTORY_DAYS, description=f"Days of history ending on the last "
                                                                            f"published day, 1 to "
                                                                            f"{MAX_PRICE_HISTORY_DAYS}.")] = 90,
    purity: Annotated[int | None, Query(ge=1, le=1000, description="Only this purity (e.g. 916).")] = None,
) -> GoldHistory:
    if not snap.has("metal_prices"):
        raise unavailable("prices_unavailable", f"snapshot {snap.snapshot_id} has no metal prices")
    where, params = "lower(metal) = 'gold'", []
    if purity is not None:
        where += " and purity = ?"
        params.append(purity)
    end = snap.scalar(f"select max(price_date) from {{metal_prices}} where {where}", params)
    if end is None:
        if purity is not None:
            raise not_found("gold purity", str(purity))
        return GoldHistory(snapshot_id=snap.snapshot_id, days=days, start_date=None, end_date=None, series=[])
    end = _as_date(end)
    start = end - timedelta(days=days - 1)
    rows = snap.rows(f"select {snap.cols('metal_prices', ['purity', 'price_date', 'price_per_gram', 'currency'])} "
                     f"from {{metal_prices}} where {where} and price_date >= ? and price_date <= ? "
                     "order by purity desc, price_date", [*params, start - timedelta(days=29), end])
    series: dict[int, GoldSeries] = {}
    windows: dict[int, tuple[deque, deque]] = {}
    for r in rows:
        p, day, price = int(r["purity"]), _as_date(r["price_date"]), float(r["price_per_gram"])
        s = series.setdefault(p, GoldSeries(purity=p, currency=r["currency"], points=[]))
        w7, w30 = windows.setdefault(p, (deque(), deque()))
        for window, span in ((w7, 7), (w30, 30)):
            window.append((day, price))
            while window[0][0] <= day - timedelta(days=span):
                window.popleft()
        if day >= start:
            s.currency = r["currency"] or s.currency
            s.points.append(GoldPricePoint(date=day, price_per_gram=price, ma_7d=sum(v for _, v in w7) / len(w7),
                                           ma_30d=sum(v for _, v in w30) / len(w30)))
    return GoldHistory(snapshot_id=snap.snapshot_id, days=days, start_date=start, end_date=end,
                       series=[s for s in series.values() if s.points])


# ---------------------------------------------------------------------------------------------------- diamond


@router.post("/predict/diamond-price", response_model=DiamondPriceResponse, tags=["jeweller"],
             summary="Diamond price and interval from the four Cs (dimensions optional), by the champion")
def predict_diamond(body: DiamondPriceRequest, request: Request, _: Caller,
                    snap: MaybeSnapshot) -> DiamondPriceResponse:
    model = request.app.state.models.get(DIAMOND)
    native = model.model
    dims = {k: getattr(body, k) for k in DIMENSIONS}
    try:
        q = native.quote(body.carat, body.cut, body.color, body.clarity, **dims)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    used = [c for c in getattr(native, "optional_columns_", []) if dims.get(c) is not None] if q.uses_dimensions \
        else []
    return DiamondPriceResponse(
        price=q.price, interval=DiamondInterval(lower=q.lower, upper=q.upper, coverage=q.coverage),
        basis="four_cs_and_dimensions" if q.uses_dimensions and used else "four_cs", dimensions_used=used,
        model=ModelRef(name=DIAMOND, version=model.version), snapshot_id=snap.snapshot_id if snap else None)
