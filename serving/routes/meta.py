"""/v1/models (champions and their metrics) and /v1/tenants (what this key may read, with as-of dates)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from serving.errors import ERROR_RESPONSES
from serving.routes.common import Caller, MaybeSnapshot, PinnedSnapshot
from serving.schemas import ModelInfo, ModelList, Tenant, TenantList

router = APIRouter(prefix="/v1", tags=["models"], responses=ERROR_RESPONSES)


@router.get("/models", response_model=ModelList, summary="Champion version, metrics and training data of each model")
def list_models(request: Request, _: Caller, snap: MaybeSnapshot) -> ModelList:
    manager = request.app.state.models
    out = []
    for status in manager.status():
        slot = manager.slots[status["name"]]
        cur = slot.current
        message = None
        if cur is None:
            try:
                manager.get(slot.name)
            except Exception as exc:
                message = getattr(exc, "message", str(exc))
        elif status["status"] == "serving_previous":
            message = f"{slot.load_error}; v{cur.version} keeps serving"
        out.append(ModelInfo(
            name=slot.name, available=cur is not None, status=status["status"], message=message,
            champion_version=slot.champion_version, serving_version=cur.version if cur else None,
            trained_at=cur.trained_at if cur else None, training_seconds=cur.training_seconds if cur else None,
            loaded_at=cur.loaded_at if cur else None, data_snapshot_id=cur.data_snapshot_id if cur else None,
            validation_status=cur.validation_status if cur else None,
            headline_metrics=dict(cur.headline_metrics) if cur else {},
        ))
    return ModelList(snapshot_id=snap.snapshot_id if snap else None, models=out)


@router.get("/tenants", response_model=TenantList, tags=["customers"],
            summary="Tenants this key may read, with their as-of dates")
def list_tenants(who: Caller, snap: PinnedSnapshot) -> TenantList:
    counts = {r["tenant_id"]: r["n"] for r in snap.rows("select tenant_id, count(*) as n from {customers} "
                                                        "group by tenant_id")}
    products = {r["tenant_id"]: r["n"] for r in snap.rows("select tenant_id, count(*) as n from {products} "
                                                          "group by tenant_id")}
    items = [
        Tenant(tenant_id=t.tenant_id, as_of_date=t.as_of_date, as_of_source=t.as_of_source,
               first_transaction_date=t.first_transaction_date, last_transaction_date=t.last_transaction_date,
               customers=int(counts.get(t.tenant_id, 0)), products=int(products.get(t.tenant_id, 0)))
        for t in snap.tenants.values() if who.all_tenants or t.tenant_id == who.scope
    ]
    return TenantList(snapshot_id=snap.snapshot_id, items=items)
