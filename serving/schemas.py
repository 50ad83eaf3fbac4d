"""Request and response models: the OpenAPI schema is generated from these, limits included."""

from __future__ import annotations

from datetime import date as Date  # a field below is called `date`
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS
from smartmarket.snapshot import STOCKOUT_WARNING_PROBABILITY

MAX_PAGE = 500
MAX_BATCH = 500
MAX_OFFSET = 1_000_000
MAX_FORECAST_DAYS = 90
MAX_PRICE_HISTORY_DAYS = 3660
PROPENSITY_HORIZON_DAYS = 30

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelRef(BaseModel):
    name: str = Field(description="Registered MLflow model name.")
    version: str = Field(description="Registered version that produced this answer.")


# ---------------------------------------------------------------------------------------------------- health


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class SnapshotStatus(BaseModel):
    available: bool
    snapshot_id: str | None
    published_at: datetime | None
    location: str
    warehouse: str
    as_of_source: str | None = Field(description="Where the per-tenant as-of dates come from.")
    tenants: dict[str, Date | None] = Field(description="As-of date per tenant.")
    model_versions: dict[str, list[str]] | None = Field(description="Versions whose scores the snapshot holds.")
    error: str | None


class RegistryStatus(BaseModel):
    reachable: bool
    tracking_uri: str
    last_poll: datetime | None
    error: str | None


class ModelStatus(BaseModel):
    name: str
    available: bool
    status: Literal["serving", "serving_previous", "loading", "no_champion", "load_failed"] = Field(
        description="serving_previous: the champion failed to load and the previous version keeps serving.")
    champion_version: str | None = Field(description="Version the registry's `champion` alias points at.")
    serving_version: str | None = Field(description="Version this process answers with.")
    loading_version: str | None
    load_error: str | None


class KeysStatus(BaseModel):
    file: str
    keys: int
    ignored_lines: list[str]
    error: str | None


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    reasons: list[str] = Field(description="Why the API is not ready (empty when ready).")
    warnings: list[str] = Field(description="Degraded but serving: a model without champion, a failed reload...")
    snapshot: SnapshotStatus
    registry: RegistryStatus
    models: list[ModelStatus]
    api_keys: KeysStatus


# ---------------------------------------------------------------------------------------------------- models


class ModelInfo(BaseModel):
    name: str
    available: bool
    status: str
    message: str | None = Field(description="Why the model is not available, or why an update did not load.")
    champion_version: str | None
    serving_version: str | None
    trained_at: datetime | None = Field(description="Start of the MLflow training run of the serving version.")
    training_seconds: float | None
    loaded_at: datetime | None
    data_snapshot_id: str | None = Field(description="Content hash of the data the serving version trained on.")
    validation_status: str | None = Field(description="Champion gate outcome: passed, forced...")
    headline_metrics: dict[str, float | None]


class ModelList(BaseModel):
    snapshot_id: str | None
    models: list[ModelInfo]


# ---------------------------------------------------------------------------------------------------- tenants


class Tenant(BaseModel):
    tenant_id: str
    as_of_date: Date | None
    as_of_source: str
    first_transaction_date: Date | None
    last_transaction_date: Date | None
    customers: int
    products: int


class TenantList(BaseModel):
    snapshot_id: str
    items: list[Tenant]


# ---------------------------------------------------------------------------------------------------- customers


class Segment(StrEnum):
    champion = "Champion"
    loyal = "Loyal"
    potential = "Potential"
    at_risk = "At-Risk"
    dormant = "Dormant"


SEGMENT_ORDER = [s.value for s in Segment]


class ChurnLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class CustomerSort(StrEnum):
    customer_id = "customer_id"
    recency = "recency"
    frequency = "frequency"
    monetary = "monetary"
    rfm_score = "rfm_score"
    propensity = "propensity"
    churn_risk = "churn_risk"


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


class CustomerSummary(BaseModel):
    customer_id: str
    as_of_date: Date | None
    segment: str | None
    recency_days: int | None
    frequency: int | None
    monetary: float | None = Field(description="Net revenue including returns.")
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_score: float | None
    churn_risk_score: float | None
    churn_risk_level: str | None
    propensity_30d: float | None = Field(description="P(purchase in the 30 days after the as-of date).")


class CustomerList(BaseModel):
    tenant_id: str
    as_of_date: Date | None
    snapshot_id: str
    total: int = Field(description="Customers matching the filters (all pages).")
    limit: int
    offset: int
    items: list[CustomerSummary]


class ChurnRisk(BaseModel):
    score: float | None
    level: str | None
    reason: str | None


class PropensityScore(BaseModel):
    probability_30d: float
    as_of_date: Date | None
    model: ModelRef | None = Field(description="The purchase_propensity version that scored it in the pipeline.")


class Purchase(BaseModel):
    invoice_id: str
    invoice_date: Date
    net_amount: float


class Customer(BaseModel):
    tenant_id: str
    customer_id: str
    snapshot_id: str
    as_of_date: Date | None
    first_purchase_date: Date | None
    last_purchase_date: Date | None
    recency_days: int | None
    frequency: int | None
    frequency_last_90d: int | None
    monetary: float | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_score: float | None
    segment: str | None
    churn: ChurnRisk
    propensity: PropensityScore | None
    last_purchases: list[Purchase] = Field(description="The most recent purchase invoices (at most 10).")


class SegmentSummary(BaseModel):
    segment: str
    customer_count: int
    total_monetary: float | None
    avg_monetary: float | None
    avg_rfm_score: float | None
    share_of_customers: float | None


class SegmentList(BaseModel):
    tenant_id: str
    as_of_date: Date | None
    snapshot_id: str
    items: list[SegmentSummary]


# ---------------------------------------------------------------------------------------------------- demand


class ForecastSort(StrEnum):
    product_id = "product_id"
    stockout_probability = "stockout_probability"
    days_until_stockout = "days_until_stockout"
    expected_units = "expected_units"


class ForecastItem(BaseModel):
    product_id: str
    product_name: str | None
    category: str | None
    model_version: str | None
    series_model: str | None = Field(description="Per-series model the champion chose (prophet, seasonal_naive...).")
    forecast_origin: Date | None = Field(description="Last day of data the forecast starts after.")
    horizon_days: int
    expected_units: float = Field(description="Forecast units over the whole horizon.")
    expected_units_7d: float | None
    on_hand: float | None
    lead_time_days: int | None
    inventory_as_of_date: Date | None
    days_until_stockout: int | None
    stockout_date: Date | None
    reorder_by_date: Date | None
    expected_demand_lead_time: float | None
    stockout_probability: float | None
    stockout_warning: bool = Field(
        description=f"stockout_probability >= {STOCKOUT_WARNING_PROBABILITY} within the supplier lead time.")


class ForecastList(BaseModel):
    tenant_id: str
    as_of_date: Date | None
    snapshot_id: str
    models: list[ModelRef] = Field(description="demand_forecaster version(s) that made these forecasts.")
    total: int
    limit: int
    offset: int
    items: list[ForecastItem]


class ForecastDay(BaseModel):
    date: Date
    horizon_day: int
    yhat: float = Field(description="Expected units sold that day.")
    yhat_lower_80: float
    yhat_upper_80: float
    yhat_lower_95: float
    yhat_upper_95: float


class StockoutRisk(BaseModel):
    inventory_as_of_date: Date | None
    on_hand: float
    lead_time_days: int
    days_until_stockout: int | None = Field(description="First day cumulative demand exceeds stock; null if never.")
    stockout_date: Date | None
    reorder_by_date: Date | None
    expected_demand_lead_time: float
    probability: float = Field(description="P(demand over the lead time > on hand).")
    warning: bool
    lead_time_truncated: bool = Field(description="The lead time is longer than the requested days.")


class ProductForecast(BaseModel):
    tenant_id: str
    product_id: str
    product_name: str | None
    snapshot_id: str
    model: ModelRef
    series_model: str
    selection_reason: str | None
    forecast_origin: Date
    days: int
    daily: list[ForecastDay]
    stockout: StockoutRisk | None = Field(description="Null when the snapshot has no inventory for the product.")


# ---------------------------------------------------------------------------------------------------- predictions


class PropensityRequest(Strict):
    customer_ids: list[Identifier] = Field(min_length=1, max_length=MAX_BATCH,
                                           description=f"1 to {MAX_BATCH} customer ids of the tenant.")


class PropensityPrediction(BaseModel):
    customer_id: str
    probability: float = Field(description=f"P(purchase in the {PROPENSITY_HORIZON_DAYS} days after the as-of date).")
    label: bool = Field(description="probability >= threshold.")


class PropensityResponse(BaseModel):
    tenant_id: str
    as_of_date: Date | None
    horizon_days: int
    snapshot_id: str
    model: ModelRef
    threshold: float = Field(description="Decision threshold of this model version (best F1 on training cutoffs).")
    predictions: list[PropensityPrediction]


class GoldPriceRequest(Strict):
    date: Date = Field(description="Day to price: a published day (observed price) or up to the model's horizon "
                                   "after its last price (forecast).")
    purity: int = Field(ge=1, le=1000, description="Fineness in parts per thousand, e.g. 999, 916, 750, 585.")
    weight_grams: float = Field(gt=0, le=1_000_000, description="Weight of the piece in grams.")


class PriceInterval(BaseModel):
    level: float = Field(description="Coverage, e.g. 0.8.")
    price_per_gram_lower: float
    price_per_gram_upper: float
    total_lower: float
    total_upper: float


class GoldPriceResponse(BaseModel):
    date: Date
    purity: int
    weight_grams: float
    currency: str | None
    basis: Literal["forecast", "observed"]
    price_per_gram: float
    total_price: float
    intervals: list[PriceInterval] = Field(description="80% and 95% intervals (zero width for observed prices).")
    horizon_days: int | None = Field(description="Days after the model's last price (forecasts only).")
    forecast_origin: Date = Field(description="Last price day the model saw.")
    observed_price_date: Date | None = Field(description="Quote used for an observed price (latest on or before).")
    series_model: str | None = Field(description="Per-purity model: random_walk, random_walk_drift, ar...")
    model: ModelRef
    snapshot_id: str | None


class GoldPricePoint(BaseModel):
    date: Date
    price_per_gram: float
    ma_7d: float = Field(description="Mean of the quotes in the 7 days ending on this date.")
    ma_30d: float = Field(description="Mean of the quotes in the 30 days ending on this date.")


class GoldSeries(BaseModel):
    purity: int
    currency: str | None
    points: list[GoldPricePoint]


class GoldHistory(BaseModel):
    snapshot_id: str
    days: int
    start_date: Date | None
    end_date: Date | None
    series: list[GoldSeries]


Cut = Literal[DIAMOND_CUTS]  # type: ignore[valid-type]
Color = Literal[DIAMOND_COLORS]  # type: ignore[valid-type]
Clarity = Literal[DIAMOND_CLARITIES]  # type: ignore[valid-type]
Dimension = Annotated[float | None, Field(gt=0, le=1000)]


class DiamondPriceRequest(Strict):
    carat: float = Field(gt=0, le=100, description="Weight in carats (> 0).")
    cut: Cut  # type: ignore[valid-type]
    color: Color  # type: ignore[valid-type]
    clarity: Clarity  # type: ignore[valid-type]
    depth: Dimension = Field(default=None, description="Total depth percentage (optional).")
    table: Dimension = Field(default=None, description="Table width percentage (optional).")
    x: Dimension = Field(default=None, description="Length in mm (optional).")
    y: Dimension = Field(default=None, description="Width in mm (optional).")
    z: Dimension = Field(default=None, description="Depth in mm (optional).")


class DiamondInterval(BaseModel):
    lower: float
    upper: float
    coverage: float


class DiamondPriceResponse(BaseModel):
    price: float = Field(description="Median price estimate.")
    interval: DiamondInterval
    basis: Literal["four_cs_and_dimensions", "four_cs"] = Field(
        description="four_cs: priced from carat, cut, color and clarity alone (wider interval); dimensions are "
                    "used only when all those the model was trained with are given.")
    dimensions_used: list[str]
    model: ModelRef
    snapshot_id: str | None

