"""Referential integrity between landing kinds (checks GX's single-batch suites cannot state).

Plain pandas, no GX import: returns the same SuiteResult shape as the suites so Dagster checks treat
both alike.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class ReferenceCheck:
    """The product reference rule on one batch, per tenant."""

    result: SuiteResult  # one failure per tenant with unknown products (critical above the share)
    per_tenant: pd.DataFrame  # tenant_id, rows, unknown_products, unknown_rows, unknown_share, applies
    not_applicable: list[str]  # tenants that send no inventory at all: the rule does not apply to them


def check_references(transactions: pd.DataFrame, inventory: pd.DataFrame, max_unknown_share: float = 0.0,
                     inventory_tenants: set[str] | None = None) -> ReferenceCheck:
    """Products sold have an inventory record in the same tenant, for tenants that send inventory.

    A shop that sends only sales is a normal tenant: the rule does not apply to it (listed in
    `not_applicable`). For the others, a tenant whose sales rows with an unknown product exceed
    `max_unknown_share` of its rows fails (critical); fewer unknown products are a warning that still
    lists them. Each failure carries its tenant, the count of unknown products and rows, and up to
    five examples {product_id, n_rows}, the most sold first. `inventory_tenants` (default: the
    tenants present in `inventory`) says which tenants send inventory.
    """
    known_tenants = (set(inventory_tenants) if inventory_tenants is not None
                     else set(_tenant_product(inventory)["tenant_id"]))
    sold = _tenant_product(transactions[transactions["product_id"].notna()])
    rows = sold.groupby("tenant_id").size().rename("rows")
    missing = unknown_products(transactions, inventory)
    missing = missing[missing["tenant_id"].isin(known_tenants)]
    per_tenant = pd.DataFrame({"rows": rows}).join(
        missing.groupby("tenant_id").agg(unknown_products=("product_id", "size"), unknown_rows=("n_rows", "sum")))
    per_tenant = per_tenant.fillna(0).astype("int64").rename_axis("tenant_id").reset_index()
    per_tenant["unknown_share"] = per_tenant["unknown_rows"] / per_tenant["rows"].where(per_tenant["rows"] > 0)
    per_tenant["unknown_share"] = per_tenant["unknown_share"].fillna(0.0)
    per_tenant["applies"] = per_tenant["tenant_id"].isin(known_tenants)
    failures: list[Failure] = []
    for t in per_tenant[per_tenant["applies"] & (per_tenant["unknown_rows"] > 0)].itertuples(index=False):
        mine = missing[missing["tenant_id"] == t.tenant_id]
        examples = mine.head(MAX_EXAMPLES)[["product_id", "n_rows"]].to_dict("records")
        shown = ", ".join(f"{e['product_id']} ({e['n_rows']} rows)" for e in examples)
        over = t.unknown_share > max_unknown_share
        limit = f"{'above' if over else 'within'} the {max_unknown_share:.2%} allowed"
        failures.append(Failure(
            expectation="product_ids_have_inventory_record",
            columns=["tenant_id", "product_id"],
            severity="critical" if over else "warning",
            message=(f"tenant {t.tenant_id}: {t.unknown_products} product id(s) sold have no inventory record "
                     f"({t.unknown_rows} of {t.rows} sales rows, {t.unknown_share:.2%}, {limit}); e.g. {shown}"),
            unexpected_count=int(t.unknown_rows),
            unexpected_percent=100.0 * float(t.unknown_share),
            element_count=int(t.rows),
            examples=_jsonable(examples),
            observed_value={"unknown_products": int(t.unknown_products), "rows": int(t.unknown_rows)},
            why="sales of products the shop has never stocked point at a bad product id or a missing "
                "inventory file",
            kwargs={"max_unknown_share": max_unknown_share},
            tenant_id=str(t.tenant_id),
        ))
    failures.sort(key=lambda f: (f.severity != "critical", -(f.unexpected_count or 0), f.tenant_id))
    n_rows = int(per_tenant.loc[per_tenant["applies"], "rows"].sum())
    result = SuiteResult(suite="references:transactions->inventory", success=not failures, evaluated_rows=n_rows,
                         n_expectations=int(per_tenant["applies"].sum()), n_failed=len(failures),
                         failures=failures)
    not_applicable = sorted(per_tenant.loc[~per_tenant["applies"], "tenant_id"].astype(str))
    return ReferenceCheck(result, per_tenant, not_applicable)
