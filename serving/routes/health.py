"""/health (process alive), /ready (snapshot readable, registry reachable, which models serve)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serving.schemas import Health, KeysStatus, ModelStatus, Ready, RegistryStatus, SnapshotStatus

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="The process is alive")
def health() -> Health:
    return Health()


def readiness(request: Request) -> Ready:
    snapshots, models, keys = request.app.state.snapshots, request.app.state.models, request.app.state.keys
    snap = SnapshotStatus(**snapshots.status())
    registry = RegistryStatus(reachable=models.registry_error is None and models.last_poll is not None,
                              tracking_uri=models.tracking_uri, last_poll=models.last_poll,
                              error=models.registry_error)
    model_status = [ModelStatus(**m) for m in models.status()]
    key_status = KeysStatus(**keys.status())
    reasons, warnings = [], []
    if not snap.available:
        reasons.append(snap.error or "no snapshot")
    elif snap.error:
        warnings.append(f"serving snapshot {snap.snapshot_id}; a newer one could not be opened: {snap.error}")
    if not models.first_poll_done.is_set():
        reasons.append("loading the champion models from the registry")
    elif not registry.reachable:
        reasons.append(registry.error or "registry unreachable")
    if key_status.error:
        reasons.append(key_status.error)
    for m in model_status:
        if m.status == "serving_previous":
            warnings.append(f"{m.load_error}; v{m.serving_version} keeps serving")
        elif m.status == "load_failed":
            warnings.append(f"{m.load_error}; {m.name} predictions answer 503")
        elif m.status == "no_champion" and models.first_poll_done.is_set():
            warnings.append(f"{m.name} has no champion in the registry: its routes answer 503")
        elif m.status == "loading" and models.first_poll_done.is_set():
            warnings.append(f"{m.name} v{m.loading_version or m.champion_version} is loading")
    return Ready(status="not_ready" if reasons else "ready", reasons=reasons, warnings=warnings, snapshot=snap,
                 registry=registry, models=model_status, api_keys=key_status)


@router.get("/ready", response_model=Ready, summary="Ready to serve: snapshot, registry, models",
            responses={503: {"model": Ready, "description": "Not ready; `reasons` says why."}})
def ready(request: Request) -> JSONResponse:
    body = readiness(request)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.status == "ready" else 503)
