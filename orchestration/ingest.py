"""Ingestion assets: one per landing kind, writing `raw.<kind>` and `quarantine.<kind>`."""


from datetime import timedelta

import dagster as dg

from orchestration.resources import WarehouseResource
from smartmarket.contracts import KINDS
from smartmarket.ingest.loader import KindResult, ingest_kind

INGEST_GROUP = "ingest"
# The pipeline runs daily at 02:00: a day plus slack before the UI flags an asset, two before it fails.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=50), warn_window=timedelta(hours=26))
# DuckDB allows one writer at a time: every asset that writes the warehouse shares this pool key.
WAREHOUSE_TAGS = {"dagster/concurrency_key": "warehouse"}


def raw_key(kind: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", kind])


def ingestion_metadata(result: KindResult, quarantine_table: str) -> dict[str, object]:
    meta: dict[str, object] = {**result.as_metadata(), "accounting_balanced": all(f.balanced for f in result.files),
                               "quarantine_table": quarantine_table}
    if result.files:
        lines = ["| file | status | read | loaded | quarantined | duplicates | note |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {f.source_file} | {f.status} | {f.rows_read:,} | {f.rows_loaded:,} | {f.rows_quarantined:,} | "
                  f"{f.rows_duplicate:,} | {f.message[:200]} |" for f in result.files[:200]]
        meta["files"] = dg.MetadataValue.md("\n".join(lines))
    reasons = result.reason_counts()
    if reasons:
        meta["quarantine_reasons"] = dg.MetadataValue.md(
            "\n".join(f"- {n:,} x {reason}" for reason, n in list(reasons.items())[:20]))
        examples = [e for f in result.files for e in f.examples][:10]
        meta["quarantine_examples"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in examples))
    return meta


def build_ingest_asset(kind: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(kind),
        group_name=INGEST_GROUP,
        description=f"New files from landing/{kind}/ validated against the {kind} contract: good rows in "
                    f"raw.{kind} (with lineage), rejected rows in quarantine.{kind} with a reason.",
        op_tags=WAREHOUSE_TAGS,
        kinds={"python", "csv"},
        freshness_policy=DAILY_FRESHNESS,
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        settings = warehouse.settings()
        result = ingest_kind(settings, kind, tenants=warehouse.tenants(), progress=context.log.info)
        for f in result.files:
            if f.status == "rejected":
                context.log.warning(f"rejected {f.message}")
        return dg.MaterializeResult(metadata=ingestion_metadata(result, f"quarantine.{kind}"))

    return _ingest


ingest_assets = [build_ingest_asset(kind) for kind in KINDS]
defs = dg.Definitions(assets=ingest_assets)
