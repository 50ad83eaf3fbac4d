"""What the raw data-quality checks read from the warehouse: the latest batch, per tenant.

A batch is the rows one ingestion run of a kind loaded (they share `_ingested_at`, and the run's
files share `ingested_at` in `raw._ingestion_log`). The checks answer "is today's data fit to use",
per tenant, so these helpers count loaded and quarantined rows per tenant and give the SQL a person
follows from a check to the rows. The rules themselves live in `expectations/`.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import PurePosixPath

import pandas as pd

from smartmarket.config import Settings
from smartmarket.contracts import DEFAULT_TENANT, contract_for
from smartmarket.held_batches import WHOLE_BATCH, has_tenants
from smartmarket.ingest.loader import LOG_TABLE
from smartmarket.warehouse import Warehouse

DEFAULT_MAX_QUARANTINE_SHARE = 0.01
DEFAULT_MAX_UNKNOWN_PRODUCT_SHARE = 0.01


def _share_setting(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number; write a share such as 0.01 (= 1%)") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={raw!r} is outside 0..1; write a share such as 0.01 (= 1%)")
    return value


def max_quarantine_share() -> float:
    """SMARTMARKET_MAX_QUARANTINE_SHARE: share of a tenant's batch rows that may be quarantined."""
    return _share_setting("SMARTMARKET_MAX_QUARANTINE_SHARE", DEFAULT_MAX_QUARANTINE_SHARE)


def max_unknown_product_share() -> float:
    """SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE: share of a tenant's sales rows whose product has no inventory record."""
    return _share_setting("SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE", DEFAULT_MAX_UNKNOWN_PRODUCT_SHARE)


def sql_literal(value: object) -> str:
    """A value as an SQL string literal (for queries shown to people, never executed here)."""
    text = pd.Timestamp(value).isoformat(sep=" ") if isinstance(value, datetime | pd.Timestamp) else str(value)
    return "'" + text.replace("'", "''") + "'"


def latest_batch_time(wh: Warehouse, kind: str) -> datetime | None:
    if not wh.table_exists(LOG_TABLE):
        return None
    value = wh.scalar(f"select max(ingested_at) from {LOG_TABLE} where kind = ?", (kind,))
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def latest_batch(wh: Warehouse, kind: str) -> tuple[pd.DataFrame, datetime | None]:
    """The rows the most recent ingestion run of `kind` loaded (may be empty)."""
    at = latest_batch_time(wh, kind)
    if at is None or not wh.table_exists(f"raw.{kind}"):
        return pd.DataFrame(), at
    return wh.query_df(f"select * from raw.{kind} where _ingested_at = ?", (pd.Timestamp(at).to_pydatetime(),)), at


def batch_files(wh: Warehouse, kind: str, at: datetime | None) -> pd.DataFrame:
    """The ingestion log rows of one batch: source_file, status, rows_read, rows_quarantined, message."""
    columns = ["source_file", "status", "rows_read", "rows_quarantined", "message"]
    if at is None or not wh.table_exists(LOG_TABLE):
        return pd.DataFrame(columns=columns)
    return wh.query_df(f"select {', '.join(columns)} from {LOG_TABLE} where kind = ? and ingested_at = ? "
                       "order by source_file", (kind, pd.Timestamp(at).to_pydatetime()))


def tenant_of(frame: pd.DataFrame, kind: str) -> pd.Series:
    """The tenant each row belongs to ('*' for kinds without tenants)."""
    if not has_tenants(kind):
        return pd.Series(WHOLE_BATCH, index=frame.index, dtype=object)
    if "tenant_id" not in frame.columns:
        return pd.Series(DEFAULT_TENANT, index=frame.index, dtype=object)
    return frame["tenant_id"].fillna(DEFAULT_TENANT).astype(str)


def quarantined_rows(settings: Settings, kind: str, at: datetime | None) -> pd.DataFrame:
    """One row per row of the batch that ingestion quarantined: _source_file, tenant_id.

    The quarantine keeps the record as it was in the file (source column names), so the tenant is
    read back through the file's mapping, exactly as ingestion would have typed it: the tenant
    column's value, else the mapping's default tenant, else `default`. `tenant_id` is None when the
    record cannot tell (a line with the wrong number of fields has no column names): the caller
    decides whom such rows count against.
    """
    wh = Warehouse(settings)
    empty = pd.DataFrame({"_source_file": pd.Series(dtype=object), "tenant_id": pd.Series(dtype=object)})
    table = contract_for(kind).quarantine_table
    if at is None or not wh.table_exists(table):
        return empty
    rows = wh.query_df(f"select _source_file, _raw_record from {table} where _ingested_at = ? "
                       "order by _source_file, _row_number", (pd.Timestamp(at).to_pydatetime(),))
    if rows.empty:
        return empty
    if not has_tenants(kind):
        return pd.DataFrame({"_source_file": rows["_source_file"], "tenant_id": WHOLE_BATCH})
    reader = _TenantReader(settings, kind)
    tenants = [reader.tenant(f, r) for f, r in zip(rows["_source_file"], rows["_raw_record"], strict=True)]
    return pd.DataFrame({"_source_file": rows["_source_file"], "tenant_id": pd.Series(tenants, dtype=object)})


class _TenantReader:
    """Reads the tenant of a quarantined record through its file's mapping (resolved once per layout)."""

    def __init__(self, settings: Settings, kind: str):
        from smartmarket.ingest.mapping import MappingError, load_mappings

        self.kind = kind
        self.contract = contract_for(kind)
        try:
            self.mappings = load_mappings([settings.data_dir / "mappings"])
        except (MappingError, OSError):
            # the ingestion run already reported the broken mapping; read records as canonical
            self.mappings = []
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str | None, str]] = {}

    def _plan(self, source_file: str, columns: tuple[str, ...]) -> tuple[str | None, str]:
        key = (source_file, columns)
        if key not in self._plans:
            from smartmarket.ingest.mapping import mapping_for
            from smartmarket.ingest.validate import plan_columns

            mapping = mapping_for(self.kind, PurePosixPath(source_file).name, self.mappings)
            column = plan_columns(list(columns), self.contract, mapping).source_for.get("tenant_id")
            default = mapping.defaults.get("tenant_id") or DEFAULT_TENANT
            self._plans[key] = (column, default)
        return self._plans[key]

    def tenant(self, source_file: str, raw_record: str | None) -> str | None:
        try:
            record = json.loads(raw_record) if raw_record else None
        except ValueError:
            return None
        if not isinstance(record, dict) or set(record) == {"fields"}:
            return None
        column, default = self._plan(source_file, tuple(record))
        value = record.get(column) if column else None
        text = str(value).strip() if value is not None else ""
        return text or default


def loaded_rows_per_tenant(wh: Warehouse, kind: str, at: datetime | None) -> pd.DataFrame:
    """(_source_file, tenant_id, n_rows) of the rows the batch loaded."""
    columns = {"_source_file": pd.Series(dtype=object), "tenant_id": pd.Series(dtype=object),
               "n_rows": pd.Series(dtype="int64")}
    if at is None or not wh.table_exists(f"raw.{kind}"):
        return pd.DataFrame(columns)
    tenant = "tenant_id" if has_tenants(kind) else f"{sql_literal(WHOLE_BATCH)}"
    frame = wh.query_df(f"select _source_file, {tenant} as tenant_id, count(*) as n_rows from raw.{kind} "
                        "where _ingested_at = ? group by 1, 2 order by 1, 2", (pd.Timestamp(at).to_pydatetime(),))
    frame["n_rows"] = frame["n_rows"].astype("int64")
    return frame


def quarantine_query(kind: str, at: datetime | None) -> str:
    """The SQL that shows a batch's quarantined rows, for people following a check to the bad data."""
    where = f" where _ingested_at = {sql_literal(at)}" if at is not None else ""
    return f"select * from quarantine.{kind}{where} order by _source_file, _row_number"


def unknown_products_query(at: datetime | None) -> str:
    """The SQL that lists every product sold in the batch without an inventory record in its tenant.

    Only tenants that send inventory at all are listed: for the others the rule does not apply.
    """
    batch = f"t._ingested_at = {sql_literal(at)}" if at is not None else "true"
    return ("select t.tenant_id, t.product_id, count(*) as n_rows from raw.transactions t "
            f"where {batch} "
            "and exists (select 1 from raw.inventory i where i.tenant_id = t.tenant_id) "
            "and not exists (select 1 from raw.inventory i where i.tenant_id = t.tenant_id "
            "and i.product_id = t.product_id) "
            "group by t.tenant_id, t.product_id order by n_rows desc, t.tenant_id, t.product_id")


def inventory_tenants(wh: Warehouse) -> set[str]:
    """Tenants that have sent any inventory record (the product reference rule applies to them)."""
    if not wh.table_exists("raw.inventory"):
        return set()
    return set(wh.query_df("select distinct tenant_id from raw.inventory")["tenant_id"].dropna().astype(str))


def inventory_products(wh: Warehouse, tenants: list[str]) -> pd.DataFrame:
    """(tenant_id, product_id) pairs the inventory knows, for `tenants` only."""
    if not tenants or not wh.table_exists("raw.inventory"):
        return pd.DataFrame({"tenant_id": pd.Series(dtype=object), "product_id": pd.Series(dtype=object)})
    marks = ", ".join("?" for _ in tenants)
    return wh.query_df(f"select distinct tenant_id, product_id from raw.inventory where tenant_id in ({marks})",
                       tuple(tenants))
