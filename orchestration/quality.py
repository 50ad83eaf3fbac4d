"""Data-quality asset checks: Great Expectations suites (GX 1.x, run by expectations/) and batch rules.

Raw checks are decided per tenant (expectations.raw_batch): a tenant whose part of the batch fails a
blocking rule is held back from staging and named by `tenants_held` (ERROR, not blocking), while the
other tenants flow on. A blocking check fails (and Dagster skips everything downstream of the kind)
only when nothing of the batch can flow on. Warnings never block.
"""

import dagster as dg

from orchestration.ingest import WAREHOUSE_TAGS, raw_key
from orchestration.resources import WarehouseResource
from smartmarket.contracts import KINDS
from smartmarket.held_batches import has_tenants

PER_TENANT = (" Decided per tenant: a tenant that fails is held back (see tenants_held) and the others flow on; "
              "the check fails, skipping everything downstream, only when every tenant is held.")
# name -> (description, blocking)
RAW_CHECKS = {
    "gx_suite": ("Great Expectations suite raw_{kind} on the latest ingestion batch: types, ranges, "
                 "allowed values, uniqueness and business rules.", True),
    "quarantine_rate": ("Share of each tenant's rows in the latest batch that ingestion quarantined stays under "
                        "SMARTMARKET_MAX_QUARANTINE_SHARE (default 1%), and no file was rejected whole (an empty "
                        "file only warns).", True),
    "product_references": ("Products sold have an inventory record in their tenant: a tenant fails when more "
                           "than SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE (default 1%) of its sales rows name an "
                           "unknown product. Does not apply to tenants that send no inventory (sales-only "
                           "shops); applies to a tenant once it does.", True),
    "row_count_shift": ("Row counts and distributions of the latest batch against the batch before it, in total "
                        "and per tenant. Warnings only: a batch's size says nothing about whether its rows are "
                        "right.", False),
    "tenants_held": ("Fails (ERROR, not blocking) when a tenant's part of the latest batch is held back from "
                     "staging by a blocking check; names each held tenant and why. Release after review with "
                     "`smartmarket release --kind {kind} --tenant <tenant>`.", False),
}
BATCH_LEVEL = " Metal and diamond prices have no tenant: the batch is decided, and held, as a whole."
# (asset key, table, suite): marts guard the models; the score tables guard the apps that read them.
TABLE_SUITES = [
    (("marts", "customer_rfm"), "marts.customer_rfm", "customer_rfm"),
    (("marts", "fct_daily_product_sales"), "marts.fct_daily_product_sales", "fct_daily_product_sales"),
    (("marts", "inventory_position"), "marts.inventory_position", "inventory_position"),
    (("ml", "demand_forecasts"), "ml.demand_forecasts", "demand_forecasts"),
    (("ml", "customer_propensity_scores"), "ml.customer_propensity_scores", "customer_propensity_scores"),
]
MAX_TABLE_ROWS = 50


def _md_table(frame) -> str:
    """A small DataFrame as a markdown table (values shortened, pipes escaped)."""
    head = frame.head(MAX_TABLE_ROWS)
    cells = [[str(v).replace("|", "/").replace("\n", " ")[:300] for v in row] for row in head.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, head.columns)) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    if len(frame) > MAX_TABLE_ROWS:
        lines.append(f"\n{len(frame) - MAX_TABLE_ROWS} more rows not shown")
    return "\n".join(lines)


def _failures_md(failures) -> str:
    lines = ["| severity | tenant | check | columns | unexpected rows | examples |", "|---|---|---|---|---|---|"]
    for f in failures[:30]:
        examples = ", ".join(str(e) for e in (f.examples or [])[:5]).replace("|", "/")[:200]
        count = "" if f.unexpected_count is None else f"{f.unexpected_count:,}"
        lines.append(f"| {f.severity} | {f.tenant_id or 'batch'} | {f.expectation} | {', '.join(f.columns)} | "
                     f"{count} | {examples} |")
    return "\n".join(lines)


def check_result(result, query: str | None = None) -> dg.AssetCheckResult:
    """A SuiteResult as a Dagster check result: what failed, how many rows, examples, where to look."""
    severity = dg.AssetCheckSeverity.ERROR if result.blocking else dg.AssetCheckSeverity.WARN
    metadata: dict[str, dg.MetadataValue] = {
        "evaluated_rows": dg.MetadataValue.int(int(result.evaluated_rows)),
        "expectations": dg.MetadataValue.int(int(result.n_expectations)),
        "failed": dg.MetadataValue.int(int(result.n_failed)),
        "summary": dg.MetadataValue.md(result.summary().replace("\n- ", "\n\n- ")),
    }
    if result.failures:
        metadata["failures"] = dg.MetadataValue.md(_failures_md(result.failures))
    if query:
        metadata["quarantined_rows_query"] = dg.MetadataValue.text(query)
    return dg.AssetCheckResult(passed=bool(result.success), severity=severity, metadata=metadata,
                               description=result.summary()[:1000])


def outcome_result(outcome, verdict, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """A raw check's CheckOutcome as a Dagster check result, with the tenants, queries and batch it judged."""
    result = outcome.result
    metadata: dict[str, dg.MetadataValue] = {
        "evaluated_rows": dg.MetadataValue.int(int(result.evaluated_rows)),
        "failed": dg.MetadataValue.int(int(result.n_failed)),
        "summary": dg.MetadataValue.md(outcome.summary.replace("\n- ", "\n\n- ")),
        "held_tenants": dg.MetadataValue.text(", ".join(sorted(verdict.held)) or "none"),
    }
    if verdict.batch_ingested_at is not None:
        metadata["batch_ingested_at"] = dg.MetadataValue.text(verdict.batch_ingested_at.isoformat(sep=" "))
    if result.failures:
        metadata["failures"] = dg.MetadataValue.md(_failures_md(result.failures))
    for name, frame in outcome.tables.items():
        if len(frame):
            metadata[name] = dg.MetadataValue.md(_md_table(frame))
    for name, sql in outcome.queries.items():
        metadata[name] = dg.MetadataValue.text(sql)
    for name, values in outcome.lists.items():
        metadata[name] = dg.MetadataValue.text(", ".join(values) or "none")
    severity = dg.AssetCheckSeverity.ERROR if outcome.severity == "error" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(check_name=outcome.name, asset_key=asset_key, passed=bool(outcome.passed),
                               severity=severity, metadata=metadata, description=outcome.summary[:2000])


def raw_check_names(kind: str) -> list[str]:
    names = ["gx_suite", "quarantine_rate"]
    if kind == "transactions":
        names.append("product_references")
    names.append("row_count_shift")
    if has_tenants(kind):
        names.append("tenants_held")
    return names


def build_raw_checks(kind: str) -> dg.AssetChecksDefinition:
    names = raw_check_names(kind)
    specs = []
    for name in names:
        text, blocking = RAW_CHECKS[name]
        if blocking:
            text += PER_TENANT if has_tenants(kind) else BATCH_LEVEL
        # the reference rule reads the inventory: in a run that ingests both, it waits for that ingest
        deps = [raw_key("inventory")] if name == "product_references" else None
        specs.append(dg.AssetCheckSpec(name, asset=raw_key(kind), blocking=blocking, additional_deps=deps,
                                       description=text.format(kind=kind)))

    # The checks record holds in the warehouse: they take the warehouse slot like every writer.
    @dg.multi_asset_check(specs=specs, name=f"raw_{kind}_quality", op_tags=WAREHOUSE_TAGS)
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        from expectations.raw_batch import evaluate_raw_batch

        verdict = evaluate_raw_batch(warehouse.settings(), kind, progress=context.log.info)
        if verdict.held:
            context.log.warning(f"{kind}: held back from staging: " + "; ".join(
                f"{t}: {why[:300]}" for t, why in sorted(verdict.held.items())))
        for name in names:
            yield outcome_result(verdict.checks[name], verdict, raw_key(kind))

    return _checks


def build_table_check(key: tuple[str, ...], table: str, suite: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(list(key)), name="gx_suite", blocking=True,
                    description=f"Great Expectations suite {suite} on {table}.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from expectations.runner import validate_table

        return check_result(validate_table(warehouse.settings(), table, suite))

    return _check


quality_checks = [build_raw_checks(kind) for kind in KINDS] + [
    build_table_check(key, table, suite) for key, table, suite in TABLE_SUITES]
defs = dg.Definitions(asset_checks=quality_checks)
