"""Dependencies shared by the routes: the pinned snapshot, the caller's tenant, the loaded models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from serving.auth import Principal, principal
from serving.errors import invalid, not_found
from serving.models import ModelManager
from serving.snapshots import Snapshot, SnapshotManager, TenantInfo


def pinned_snapshot(request: Request) -> Iterator[Snapshot]:
    """The snapshot this request reads from start to end, released after the response is sent."""
    manager: SnapshotManager = request.app.state.snapshots
    snap = manager.acquire()
    try:
        yield snap
    finally:
        snap.release()


def optional_snapshot(request: Request) -> Iterator[Snapshot | None]:
    """Like ``pinned_snapshot`` for routes that can answer without one (model predictions)."""
    manager: SnapshotManager = request.app.state.snapshots
    try:
        snap = manager.acquire()
    except Exception:
        yield None
        return
    try:
        yield snap
    finally:
        snap.release()


def models(request: Request) -> ModelManager:
    return request.app.state.models


Caller = Annotated[Principal, Depends(principal)]
PinnedSnapshot = Annotated[Snapshot, Depends(pinned_snapshot)]
MaybeSnapshot = Annotated[Snapshot | None, Depends(optional_snapshot)]
TenantParam = Annotated[str | None, Query(
    min_length=1, max_length=200,
    description="The tenant to read. Optional with a tenant's key (it reads its own tenant); required with an "
                "all-tenants (`*`) key when the snapshot holds several.")]


def clean_id(value: str) -> str | None:
    """None for ids no row can have (control characters): they are simply not found."""
    return None if any(ord(ch) < 32 for ch in value) else value


def resolve_tenant(who: Principal, tenant_id: str | None, snap: Snapshot) -> TenantInfo:
    if not who.all_tenants:
        if tenant_id is not None and tenant_id != who.scope:
            raise not_found("tenant", tenant_id)
        tenant_id = who.scope
    elif tenant_id is None:
        if len(snap.tenants) == 1:
            return next(iter(snap.tenants.values()))
        shown = ", ".join(sorted(snap.tenants)[:20])
        raise invalid(f"tenant_id is required with an all-tenants key: pass ?tenant_id=<one of {shown}>",
                      tenants=sorted(snap.tenants)[:200])
    info = snap.tenants.get(tenant_id) if clean_id(tenant_id) else None
    if info is None:
        raise not_found("tenant", tenant_id)
    return info


def tenant(who: Caller, snap: PinnedSnapshot, tenant_id: TenantParam = None) -> TenantInfo:
    return resolve_tenant(who, tenant_id, snap)


CallerTenant = Annotated[TenantInfo, Depends(tenant)]


def _query_names(dependant: Any) -> set[str]:
    names = {f.alias for f in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_ALLOWED_QUERY: dict[int, set[str]] = {}


def reject_unknown_query(request: Request) -> None:
    """A misspelt parameter (``?segmnt=Loyal``) is a 422 naming it, not a silently unfiltered answer."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    allowed = _ALLOWED_QUERY.get(id(route))
    if allowed is None:
        allowed = _ALLOWED_QUERY[id(route)] = _query_names(dependant)
    unknown = sorted({k for k in request.query_params if k not in allowed})
    if unknown:
        takes = ", ".join(sorted(allowed)) or "no query parameters"
        raise invalid(f"unknown query parameter(s) {', '.join(repr(u) for u in unknown)}; this route takes: {takes}",
                      unknown=unknown, allowed=sorted(allowed))
