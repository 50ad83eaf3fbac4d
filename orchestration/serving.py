"""The `serving/snapshot` asset: publish what the prediction API reads, at the end of a run that passed its checks.

Thin wiring: ``smartmarket.snapshot`` builds and publishes, ``ml.serving_features`` computes the point-in-time
customer features. The asset depends on every table the snapshot copies, so Dagster's blocking checks on
those tables (dbt tests, the GX suites on marts and score tables) gate it: when one fails, this step does not
run and the API keeps serving the previous snapshot.

It depends on the ML *scoring* tables, not on the training assets: a model that cannot be trained (a grocer
has no gold prices) does not hold back the snapshot, and the API reports that model as unavailable.
"""

import dagster as dg

from orchestration.ingest import WAREHOUSE_TAGS
from orchestration.ml import FORECASTS_KEY, SCORES_KEY, TRANSACTION_SQL, read_frame
from orchestration.resources import WarehouseResource
from orchestration.transform import dbt_branches

SERVING_GROUP = "serving"
SNAPSHOT_KEY = dg.AssetKey(["serving", "snapshot"])
# The dbt models the snapshot reads; those this dbt project does not define (marts.dim_tenants until it
# lands) are simply not dependencies, and smartmarket.snapshot falls back for them.
DBT_SOURCES = [
    ("marts", "customer_rfm"), ("marts", "rfm_segment_summary"), ("marts", "product_sales_metrics"),
    ("marts", "inventory_position"), ("marts", "dim_products"), ("marts", "fct_metal_prices_daily"),
    ("marts", "dim_tenants"), ("intermediate", "int_customer_invoices"), ("staging", "stg_raw__transactions"),
]


def snapshot_deps() -> list[dg.AssetKey]:
    defined = {key for branch in dbt_branches.values() for key in branch.keys}
    return [dg.AssetKey(list(k)) for k in DBT_SOURCES if dg.AssetKey(list(k)) in defined] + [FORECASTS_KEY,
                                                                                               SCORES_KEY]


@dg.asset(
    key=SNAPSHOT_KEY, group_name=SERVING_GROUP, deps=snapshot_deps(), op_tags=WAREHOUSE_TAGS,
    kinds={"python"},
    description="The serving snapshot the API reads: per tenant customer RFM + churn + propensity, segment "
                "summary, products with sales metrics, inventory position and demand forecasts (intervals, "
                "stock-out risk), metal price history, point-in-time customer features, and snapshot_meta "
                "(snapshot id, as-of date per tenant, source run, model versions). Published atomically: a "
                "separate DuckDB file renamed into place, or a new Postgres schema registered in one "
                "transaction.",
)
def serving_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from ml.serving_features import customer_features_at
    from smartmarket.snapshot import publish_snapshot, tenant_as_of

    settings = warehouse.settings()
    as_of, source = tenant_as_of(settings)
    context.log.info(f"as-of dates ({source}): " + ", ".join(f"{t} {d}" for t, d in as_of.items()))
    features = customer_features_at(read_frame(warehouse, TRANSACTION_SQL), as_of)
    context.log.info(f"customer features for {len(features):,} customers")
    result = publish_snapshot(settings, source_run_id=context.run_id, frames={"customer_features": features})
    for note in result.notes:
        context.log.warning(note)
    context.log.info(f"published snapshot {result.snapshot_id} at {result.location} in {result.seconds:.1f} s")
    return dg.MaterializeResult(metadata={
        "snapshot_id": result.snapshot_id,
        "location": result.location,
        "as_of_source": result.as_of_source,
        "tenant_as_of": dg.MetadataValue.json(result.tenants),
        "model_versions": dg.MetadataValue.json(result.model_versions),
        "rows": dg.MetadataValue.json(result.rows),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in result.notes) or "none"),
        "publish_seconds": round(result.seconds, 2),
    })


defs = dg.Definitions(assets=[serving_snapshot])
