"""Customers: list with filters and sorting, one customer, segment summary, CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from serving.csv_export import csv_lines
from serving.errors import ERROR_RESPONSES, NOT_FOUND, invalid, json_error, not_found
from serving.routes.common import CallerTenant, PinnedSnapshot, clean_id
from serving.schemas import (
    MAX_OFFSET,
    MAX_PAGE,
    SEGMENT_ORDER,
    ChurnLevel,
    ChurnRisk,
    Customer,
    CustomerList,
    CustomerSort,
    CustomerSummary,
    ModelRef,
    Order,
    PropensityScore,
    Purchase,
    Segment,
    SegmentList,
    SegmentSummary,
)
from serving.snapshots import TenantInfo

router = APIRouter(prefix="/v1", tags=["customers"], responses={**ERROR_RESPONSES, **NOT_FOUND})

SORT_COLUMNS = {
    CustomerSort.customer_id: "customer_id", CustomerSort.recency: "recency_days",
    CustomerSort.frequency: "frequency", CustomerSort.monetary: "monetary", CustomerSort.rfm_score: "rfm_score",
    CustomerSort.propensity: "propensity_30d", CustomerSort.churn_risk: "churn_risk_score",
}
# Without an explicit order: smallest first for ids and recency (most recent buyers), largest first otherwise.
ASCENDING_BY_DEFAULT = {CustomerSort.customer_id, CustomerSort.recency}
SUMMARY_COLUMNS = ["customer_id", "as_of_date", "segment", "recency_days", "frequency", "monetary", "r_score",
                   "f_score", "m_score", "rfm_score", "churn_risk_score", "churn_risk_level", "propensity_30d"]
DETAIL_COLUMNS = [*SUMMARY_COLUMNS, "first_purchase_date", "last_purchase_date", "frequency_last_90d",
                  "risk_reason", "propensity_model_version", "propensity_as_of_date"]
EXPORT_COLUMNS = ["customer_id", "segment", "rfm_score", "r_score", "f_score", "m_score", "recency_days",
                  "frequency", "monetary", "churn_risk_score", "churn_risk_level", "risk_reason", "propensity_30d",
                  "first_purchase_date", "last_purchase_date", "as_of_date"]

SegmentParam = Annotated[Segment | None, Query(description="Only customers in this RFM segment.")]
ChurnParam = Annotated[ChurnLevel | None, Query(description="Only customers with this churn risk level.")]
OrderParam = Annotated[Order | None, Query(description="asc or desc; default asc for customer_id and recency, desc "
                                                       "for the others.")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, 1 to {MAX_PAGE}.")]
OffsetParam = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip, at most {MAX_OFFSET}.")]
IdParam = Annotated[str, Path(min_length=1, max_length=200)]


def _filters(t: TenantInfo, segment: Segment | None, churn: ChurnLevel | None) -> tuple[str, list[Any]]:
    where, params = ["tenant_id = ?"], [t.tenant_id]
    if segment is not None:
        where.append("segment = ?")
        params.append(segment.value)
    if churn is not None:
        where.append("churn_risk_level = ?")
        params.append(churn.value)
    return " and ".join(where), params


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


@router.get("/customers", response_model=CustomerList, summary="Customers with RFM, churn risk and propensity")
def list_customers(
    t: CallerTenant,
    snap: PinnedSnapshot,
    segment: SegmentParam = None,
    churn_risk_level: ChurnParam = None,
    sort: Annotated[CustomerSort, Query(description="Sort key; ties break on customer_id.")] = CustomerSort.customer_id,
    order: OrderParam = None,
    limit: LimitParam = 50,
    offset: OffsetParam = 0,
) -> CustomerList:
    column = SORT_COLUMNS[sort]
    if not snap.has("customers", column):
        raise invalid(f"sort={sort.value} is not available: snapshot {snap.snapshot_id} has no {column} column")
    direction = (order or (Order.asc if sort in ASCENDING_BY_DEFAULT else Order.desc)).value
    where, params = _filters(t, segment, churn_risk_level)
    total = int(snap.scalar(f"select count(*) from {{customers}} where {where}", params) or 0)
    rows = snap.rows(f"select {snap.cols('customers', SUMMARY_COLUMNS)} from {{customers}} where {where} "
                     f"order by {column} {direction} nulls last, customer_id asc limit ? offset ?",
                     [*params, limit, offset])
    items = [CustomerSummary(**{**r, **{k: _int(r[k]) for k in ("recency_days", "frequency", "r_score", "f_score",
                                                                  "m_score")}}) for r in rows]
    return CustomerList(tenant_id=t.tenant_id, as_of_date=t.as_of_date, snapshot_id=snap.snapshot_id, total=total,
                        limit=limit, offset=offset, items=items)


@router.get("/customers/{customer_id}", response_model=Customer,
            summary="One customer: RFM, segment, churn risk and reason, propensity, last purchases")
def get_customer(customer_id: IdParam, t: CallerTenant, snap: PinnedSnapshot) -> Customer:
    cid = clean_id(customer_id)
    rows = snap.rows(f"select {snap.cols('customers', DETAIL_COLUMNS)} from {{customers}} "
                     "where tenant_id = ? and customer_id = ?", [t.tenant_id, cid]) if cid else []
    if not rows:
        raise not_found("customer", customer_id)
    r = rows[0]
    purchases: list[Purchase] = []
    if snap.has("customer_purchases"):
        purchases = [Purchase(**p) for p in snap.rows(
            "select invoice_id, invoice_date, net_amount from {customer_purchases} "
            "where tenant_id = ? and customer_id = ? order by invoice_date desc, invoice_id desc",
            [t.tenant_id, cid])]
    propensity = None
    if r["propensity_30d"] is not None:
        mv = r["propensity_model_version"]
        propensity = PropensityScore(probability_30d=r["propensity_30d"], as_of_date=r["propensity_as_of_date"],
                                     model=ModelRef(name="purchase_propensity", version=str(mv)) if mv else None)
    return Customer(
        tenant_id=t.tenant_id, customer_id=str(r["customer_id"]), snapshot_id=snap.snapshot_id,
        as_of_date=r["as_of_date"], first_purchase_date=r["first_purchase_date"],
        last_purchase_date=r["last_purchase_date"], recency_days=_int(r["recency_days"]),
        frequency=_int(r["frequency"]), frequency_last_90d=_int(r["frequency_last_90d"]), monetary=r["monetary"],
        r_score=_int(r["r_score"]), f_score=_int(r["f_score"]), m_score=_int(r["m_score"]),
        rfm_score=r["rfm_score"], segment=r["segment"],
        churn=ChurnRisk(score=r["churn_risk_score"], level=r["churn_risk_level"], reason=r["risk_reason"]),
        propensity=propensity, last_purchases=purchases,
    )


@router.get("/segments", response_model=SegmentList, summary="Customers and value per RFM segment")
def list_segments(t: CallerTenant, snap: PinnedSnapshot) -> SegmentList:
    cols = ["segment", "customer_count", "total_monetary", "avg_monetary", "avg_rfm_score", "share_of_customers"]
    rows = snap.rows(f"select {snap.cols('segments', cols)} from {{segments}} where tenant_id = ?", [t.tenant_id])
    rank = {s: i for i, s in enumerate(SEGMENT_ORDER)}
    rows.sort(key=lambda r: (rank.get(r["segment"], len(rank)), str(r["segment"])))
    return SegmentList(tenant_id=t.tenant_id, as_of_date=t.as_of_date, snapshot_id=snap.snapshot_id,
                       items=[SegmentSummary(**{**r, "customer_count": int(r["customer_count"] or 0)})
                              for r in rows])


class CSVResponse(StreamingResponse):
    media_type = "text/csv"


@router.get("/export/customers.csv", response_class=CSVResponse,
            summary="All matching customers as CSV (streamed; formula-like text cells neutralised)",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "CSV with a header row; the X-Snapshot-Id header names the snapshot."},
                       **{code: json_error(spec["description"]) for code, spec in {**ERROR_RESPONSES,
                                                                                 **NOT_FOUND}.items()}})
def export_customers(t: CallerTenant, snap: PinnedSnapshot, segment: SegmentParam = None,
                     churn_risk_level: ChurnParam = None) -> CSVResponse:
    where, params = _filters(t, segment, churn_risk_level)
    sql = (f"select {snap.cols('customers', EXPORT_COLUMNS)} from {{customers}} where {where} "
           "order by customer_id")

    def batches() -> Iterator[list[list[Any]]]:
        # The snapshot stays pinned until this generator is exhausted: the request scope ends after it.
        for _, rows in snap.stream(sql, params):
            yield rows

    name = f"customers-{t.tenant_id}-{segment.value if segment else 'all'}-{snap.snapshot_id}.csv"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return CSVResponse(csv_lines(EXPORT_COLUMNS, batches()), media_type="text/csv; charset=utf-8",
                       headers={"Content-Disposition": f'attachment; filename="{safe}"',
                                "X-Snapshot-Id": snap.snapshot_id})
