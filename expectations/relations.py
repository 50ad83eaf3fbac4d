"""Referential integrity between landing kinds (checks GX's single-batch suites cannot state).

Plain pandas, no GX import: returns the same SuiteResult shape as the suites so Dagster checks treat
both alike.
"""

from __future__ import annotations

import pandas as pd

from expectations.runner import MAX_EXAMPLES, Failure, SuiteResult, _jsonable
from smartmarket.contracts import DEFAULT_TENANT


def _tenant_product(df: pd.DataFrame) -> pd.DataFrame:
    tenant = df["tenant_id"] if "tenant_id" in df.columns else pd.Series(DEFAULT_TENANT, index=df.index)
    return pd.DataFrame({"tenant_id": tenant.fillna(DEFAULT_TENANT).astype(str),
                         "product_id": df["product_id"].astype(str)})


def unknown_products(transactions: pd.DataFrame, inventory: pd.DataFrame) -> pd.DataFrame:
    """(tenant_id, product_id, n_rows) for every product sold with no inventory record in its tenant.

    Sorted by n_rows descending, then ids; rows with a null product_id are not counted here (the
    raw suite's not-null expectation reports them).
    """
    sold = _tenant_product(transactions[transactions["product_id"].notna()])
    known = _tenant_product(inventory[inventory["product_id"].notna()]).drop_duplicates()
    counts = sold.value_counts(["tenant_id", "product_id"]).rename("n_rows").reset_index()
    merged = counts.merge(known.assign(_known=True), on=["tenant_id", "product_id"], how="left")
    missing = merged[merged["_known"].isna()].drop(columns="_known")
    return missing.sort_values(["n_rows", "tenant_id", "product_id"], ascending=[False, True, True],
                               ignore_index=True)


def check_references(transactions: pd.DataFrame, inventory: pd.DataFrame) -> SuiteResult:
    """Every product sold has an inventory record in the same tenant.

    unexpected_count is the number of transaction rows that reference an unknown product; the
    failure's observed_value gives per-tenant counts of unknown products and rows, and examples
    list the worst offenders as {tenant_id, product_id, n_rows}.
    """
    missing = unknown_products(transactions, inventory)
    n_rows = int(transactions["product_id"].notna().sum())
    failures: list[Failure] = []
    if not missing.empty:
        bad_rows = int(missing["n_rows"].sum())
        per_tenant = (missing.groupby("tenant_id")
                      .agg(unknown_products=("product_id", "size"), rows=("n_rows", "sum")))
        examples = missing.head(MAX_EXAMPLES).to_dict("records")
        shown = ", ".join(f"{e['tenant_id']}/{e['product_id']} ({e['n_rows']} rows)" for e in examples)
        failures.append(Failure(
            expectation="product_ids_have_inventory_record",
            columns=["tenant_id", "product_id"],
            severity="critical",
            message=(f"{len(missing)} product ids sold have no inventory record in their tenant "
                     f"({bad_rows} of {n_rows} transaction rows); e.g. {shown}"),
            unexpected_count=bad_rows,
            unexpected_percent=100.0 * bad_rows / n_rows if n_rows else 0.0,
            examples=_jsonable(examples),
            observed_value=_jsonable(per_tenant.to_dict("index")),
            why="sales of products the shop has never stocked point at a bad product id or a missing "
                "inventory file",
        ))
    return SuiteResult(suite="references:transactions->inventory", success=not failures,
                       evaluated_rows=n_rows, n_expectations=1, n_failed=len(failures), failures=failures)
