"""The FastAPI application: wires settings, API keys, the snapshot manager and the model manager to the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI

from serving import errors
from serving.auth import KeyStore
from serving.config import ServingConfig, load_config
from serving.models import ModelManager
from serving.routes import customers, demand, health, meta, predict
from serving.routes.common import reject_unknown_query
from serving.snapshots import SnapshotManager

DESCRIPTION = """
Predictions from the current champion models and data from the latest published snapshot of the SmartMarket
pipeline.

- **Auth**: every `/v1` route takes `Authorization: Bearer <key>`. A key reads one tenant, or all of them
  (`*`, then pass `tenant_id`). Create one with `smartmarket api-key create --tenant <tenant_id>`.
- **Consistency**: each response comes from one snapshot (`snapshot_id`); predictions and forecasts name the
  model and version that made them.
- **Errors**: always `{"error": {"code", "message", "details"}}`; a 4xx message says what to fix.
"""


def _version() -> str:
    try:
        return version("smartmarket")
    except PackageNotFoundError:  # running from a source tree without the project installed
        return "0"


def create_app(config: ServingConfig | None = None) -> FastAPI:
    config = config or load_config()
    settings = config.settings
    snapshots = SnapshotManager(settings.warehouse, config.snapshot_file, settings.postgres.conninfo,
                                config.postgres_pool_size, config.snapshot_poll_seconds)
    models = ModelManager(config.tracking_uri, config.model_poll_seconds)
    models.on_swap(lambda name: demand.forecast_cache.clear() if name == demand.DEMAND else None)
    models.on_swap(lambda name: predict.gold_cache.clear() if name == predict.GOLD else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        snapshots.start()
        models.start()
        try:
            yield
        finally:
            models.stop()
            snapshots.stop()

    app = FastAPI(title="SmartMarket API", version=_version(), description=DESCRIPTION, lifespan=lifespan,
                  dependencies=[Depends(reject_unknown_query)])
    app.state.config = config
    app.state.keys = KeyStore(config.keys_file)
    app.state.snapshots = snapshots
    app.state.models = models
    errors.install(app)
    for module in (health, meta, customers, demand, predict):
        app.include_router(module.router)
    return app
