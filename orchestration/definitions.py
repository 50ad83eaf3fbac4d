"""The SmartMarket code location: merges each domain's definitions and binds the shared resources."""

import dagster as dg

from orchestration import automation, ingest, ml, quality, serving, transform
from orchestration.resources import WarehouseResource

defs = dg.Definitions.merge(
    ingest.defs,
    transform.defs,
    ml.defs,
    quality.defs,
    serving.defs,
    automation.defs,
    dg.Definitions(resources={"warehouse": WarehouseResource(), "dbt": transform.dbt_resource()}),
)
