"""The SmartMarket code location: merges each domain's definitions and binds the shared resources."""

import dagster as dg

from orchestration import automation, ingest, transform
from orchestration.resources import WarehouseResource

_fresh = automation.freshness_checks(
    [a.key for a in ingest.ingest_assets] + [k for k in transform.dbt_models.keys if k.path[0] == "marts"])

defs = dg.Definitions.merge(
    ingest.defs,
    transform.defs,
    automation.defs,
    dg.Definitions(asset_checks=_fresh, sensors=[automation.freshness_sensor(_fresh)]),
    dg.Definitions(resources={"warehouse": WarehouseResource(), "dbt": transform.dbt_resource()}),
)
