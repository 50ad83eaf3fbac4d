"""Data-quality asset checks: Great Expectations suites (GX 1.x, run by expectations/) and batch rules.

Checks on raw data block: when one fails, the dbt and ML assets downstream do not run in that run.
"""

import dagster as dg

from orchestration.ingest import raw_key
from orchestration.resources import WarehouseResource
from smartmarket.contracts import KINDS

RAW_CHECKS = {
    "gx_suite": ("Great Expectations suite raw_{kind} on the latest ingestion batch: types, ranges, "
                 "allowed values, uniqueness and business rules.", True),
    "quarantine_rate": ("Share of the latest batch's rows that ingestion quarantined stays under "
                        "SMARTMARKET_MAX_QUARANTINE_SHARE (default 1%), and no file was rejected whole.", True),
    "row_count_shift": ("Row counts and distributions of the latest batch against the batch before it "
                        "(80% fewer rows than usual is an error; other shifts warn).", False),
}
# (asset key, table, suite): marts guard the models; the score tables guard the apps that read them.
TABLE_SUITES = [
    (("marts", "customer_rfm"), "marts.customer_rfm", "customer_rfm"),
    (("marts", "fct_daily_product_sales"), "marts.fct_daily_product_sales", "fct_daily_product_sales"),
    (("marts", "inventory_position"), "marts.inventory_position", "inventory_position"),
    (("ml", "demand_forecasts"), "ml.demand_forecasts", "demand_forecasts"),
    (("ml", "customer_propensity_scores"), "ml.customer_propensity_scores", "customer_propensity_scores"),
]


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
        lines = ["| severity | check | columns | unexpected rows | examples |", "|---|---|---|---|---|"]
        for f in result.failures[:30]:
            examples = ", ".join(str(e) for e in (f.examples or [])[:5]).replace("|", "/")[:200]
            count = "" if f.unexpected_count is None else f"{f.unexpected_count:,}"
            lines.append(f"| {f.severity} | {f.expectation} | {', '.join(f.columns)} | {count} | {examples} |")
        metadata["failures"] = dg.MetadataValue.md("\n".join(lines))
    if query:
        metadata["quarantined_rows_query"] = dg.MetadataValue.text(query)
    return dg.AssetCheckResult(passed=bool(result.success), severity=severity, metadata=metadata,
                               description=result.summary()[:1000])


def build_raw_checks(kind: str) -> dg.AssetChecksDefinition:
    names = list(RAW_CHECKS) + (["product_references"] if kind == "transactions" else [])
    specs = [dg.AssetCheckSpec(name, asset=raw_key(kind), blocking=RAW_CHECKS.get(name, ("", True))[1],
                               description=RAW_CHECKS.get(name, (
                                   "Every product sold has an inventory record in the same tenant.", True))[0]
                               .format(kind=kind))
             for name in names]

    @dg.multi_asset_check(specs=specs, name=f"raw_{kind}_quality")
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        from smartmarket.quality import latest_batch_time, quarantine_query, raw_check_results

        settings = warehouse.settings()
        results = raw_check_results(settings, kind)
        query = quarantine_query(kind, latest_batch_time(warehouse.client(), kind))
        for name in names:
            result = check_result(results[name], query)
            yield dg.AssetCheckResult(check_name=name, asset_key=raw_key(kind), passed=result.passed,
                                      severity=result.severity, metadata=result.metadata,
                                      description=result.description)

    return _checks


def build_table_check(key: tuple[str, ...], table: str, suite: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(list(key)), name="gx_suite", blocking=True,
                    description=f"Great Expectations suite {suite} on {table}.")
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from smartmarket.quality import table_check_result

        return check_result(table_check_result(warehouse.settings(), table, suite))

    return _check


quality_checks = [build_raw_checks(kind) for kind in KINDS] + [
    build_table_check(key, table, suite) for key, table, suite in TABLE_SUITES]
defs = dg.Definitions(asset_checks=quality_checks)
