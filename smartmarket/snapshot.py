"""The serving snapshot: a consistent, read-only copy of what the prediction API reads.

Built at the end of a pipeline run (the ``serving/snapshot`` asset) from the marts and the ``ml.*`` score
tables, and published atomically so the API sees the previous snapshot or the new one, never half of each:

- embedded (DuckDB): a separate DuckDB file per snapshot, ``<data dir>/serving/snapshot-<id>.duckdb``,
  written aside; then the symlink ``<data dir>/serving/snapshot.duckdb`` is renamed onto it. The API never
  opens the warehouse file (DuckDB takes one writer); it holds the snapshot file open read-only and moves to
  the new one between requests. The last ``KEEP_EMBEDDED_SNAPSHOTS`` files are kept.
- Postgres: every snapshot is its own schema ``serving_<id>``, built and registered in
  ``serving.published_snapshots`` in ONE transaction; the API reads the newest registered schema. The last
  ``KEEP_POSTGRES_SNAPSHOTS`` schemas are kept so a request that started on an older one can finish.

Source tables and columns are read by name from the warehouse catalog: new columns flow through, and an
absent optional table (no forecasts yet, no ``marts.dim_tenants``) is recorded in the notes and left out
instead of failing the run. The tables the API cannot work without are ``REQUIRED_SOURCES``.

Per-tenant as-of dates come from ``marts.dim_tenants`` when it exists, else from the ``as_of_date`` columns
of the marts (``as_of_source`` in ``tenants`` and ``snapshot_meta`` says which).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from smartmarket.config import Settings
from smartmarket.contracts import DATE, FLOAT, INTEGER, STRING, TIMESTAMP
from smartmarket.warehouse import Warehouse, quote, run

SNAPSHOT_FILE = "snapshot.duckdb"
POINTER_TABLE = "serving.published_snapshots"
SCHEMA_PREFIX = "serving_"
KEEP_POSTGRES_SNAPSHOTS = 3
KEEP_EMBEDDED_SNAPSHOTS = 3
# How long cleanup waits for a reader still on an old schema before leaving it for the next publish.
DROP_LOCK_TIMEOUT = "5s"
PURCHASES_PER_CUSTOMER = 10
# A product's stock-out warning: probability of running out within the supplier lead time at or above this.
STOCKOUT_WARNING_PROBABILITY = 0.5

REQUIRED_SOURCES = ("marts.customer_rfm", "marts.rfm_segment_summary", "marts.product_sales_metrics",
                    "marts.inventory_position")
SOURCE_SCHEMAS = ("marts", "ml", "intermediate", "staging")
_SNAPSHOT_ID = re.compile(r"^[0-9a-z_-]{1,60}$")


class SnapshotError(RuntimeError):
    """The snapshot cannot be built from this warehouse (a required table or column is missing)."""


def serving_dir(settings: Settings) -> Path:
    return settings.data_dir / "serving"


def snapshot_path(settings: Settings) -> Path:
    """The published embedded snapshot the API reads (a symlink to the current ``snapshot-<id>.duckdb``)."""
    return serving_dir(settings) / SNAPSHOT_FILE


def new_snapshot_id(source_run_id: str | None = None, now: datetime | None = None) -> str:
    """``<UTC time>-<8 hex>``: sortable by publication time, unique per publication."""
    now = now or datetime.now(UTC)
    suffix = (source_run_id or uuid.uuid4().hex).replace("-", "")[:8].lower()
    return f"{now:%Y%m%dt%H%M%S}z-{suffix}"


def schema_for(snapshot_id: str) -> str:
    return SCHEMA_PREFIX + snapshot_id.replace("-", "_")


# ---------------------------------------------------------------------------------------------------- catalog


@dataclass
class Catalog:
    """Columns (in order) of every table and view in the source schemas, by ``schema.table``."""

    columns: dict[str, list[str]]

    def has(self, table: str, *cols: str) -> bool:
        return table in self.columns and all(c in self.columns[table] for c in cols)

    def col(self, table: str, name: str, sql_type: str, alias: str | None = None) -> str:
        """``alias.name`` when the column exists, else a typed NULL under the same name."""
        if name in self.columns.get(table, []):
            return f"{alias}.{quote(name)}" if alias else quote(name)
        return f"cast(null as {sql_type}) as {quote(name)}"


def read_catalog(wh: Warehouse, con: Any) -> Catalog:
    placeholders = ", ".join("?" for _ in SOURCE_SCHEMAS)
    df = wh.query_on(con, "select table_schema, table_name, column_name from information_schema.columns "
                          f"where table_schema in ({placeholders}) "
                          "order by table_schema, table_name, ordinal_position", SOURCE_SCHEMAS)
    columns: dict[str, list[str]] = {}
    for schema, table, column in df.itertuples(index=False):
        columns.setdefault(f"{schema}.{table}", []).append(str(column))
    return Catalog(columns)


# ---------------------------------------------------------------------------------------------------- queries


def tenants_sql(cat: Catalog) -> tuple[str, str]:
    """(SELECT of tenant_id, as_of_date, as_of_source, first/last_transaction_date, as-of source)."""
    if cat.has("marts.dim_tenants", "tenant_id", "as_of_date"):
        t = "marts.dim_tenants"
        source = cat.col(t, "as_of_source", "varchar", "d") if cat.has(t, "as_of_source") else \
            "cast('marts.dim_tenants' as varchar) as as_of_source"
        sql = (f"select d.tenant_id, d.as_of_date, {source}, "
               f"{cat.col(t, 'first_transaction_date', 'date', 'd')}, "
               f"{cat.col(t, 'last_transaction_date', 'date', 'd')} from {t} d")
        return sql, "marts.dim_tenants"
    marts = [t for t in ("marts.customer_rfm", "marts.product_sales_metrics", "marts.inventory_position")
             if cat.has(t, "tenant_id", "as_of_date")]
    if not marts:
        raise SnapshotError("no per-tenant as-of date: neither marts.dim_tenants nor an as_of_date column in "
                            "marts.customer_rfm / product_sales_metrics / inventory_position")
    source = f"max(as_of_date) of {', '.join(marts)} (marts.dim_tenants absent)"
    union = " union all ".join(f"select tenant_id, as_of_date from {t}" for t in marts)
    if cat.has("marts.dim_products", "tenant_id", "first_sale_date", "last_sale_date"):
        dates = ("left join (select tenant_id, min(first_sale_date) as first_transaction_date, "
                 "max(last_sale_date) as last_transaction_date from marts.dim_products group by tenant_id) p "
                 "on p.tenant_id = a.tenant_id")
        first_last = "p.first_transaction_date, p.last_transaction_date"
    else:
        dates = ""
        first_last = "cast(null as date) as first_transaction_date, cast(null as date) as last_transaction_date"
    sql = (f"select a.tenant_id, a.as_of_date, cast({_literal(source)} as varchar) as as_of_source, {first_last} "
           f"from (select tenant_id, max(as_of_date) as as_of_date from ({union}) u group by tenant_id) a {dates}")
    return sql, source


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _all_but(cat: Catalog, table: str, alias: str, exclude: Iterable[str]) -> str:
    skip = set(exclude)
    return ", ".join(f"{alias}.{quote(c)}" for c in cat.columns[table] if c not in skip)


def customers_sql(cat: Catalog) -> str:
    """Every column of marts.customer_rfm plus the customer's purchase propensity (null when not scored)."""
    extra = ("propensity_30d", "propensity_model_version", "propensity_as_of_date")
    rfm = _all_but(cat, "marts.customer_rfm", "r", extra)
    s = "ml.customer_propensity_scores"
    if cat.has(s, "tenant_id", "customer_id", "propensity_30d"):
        mv = "s.model_version" if cat.has(s, "model_version") else "cast(null as varchar)"
        as_of = "s.as_of_date" if cat.has(s, "as_of_date") else "cast(null as date)"
        scores = (f"s.propensity_30d, cast({mv} as varchar) as propensity_model_version, "
                  f"{as_of} as propensity_as_of_date")
        join = f"left join {s} s on s.tenant_id = r.tenant_id and s.customer_id = r.customer_id"
    else:
        scores = ("cast(null as double precision) as propensity_30d, cast(null as varchar) as "
                  "propensity_model_version, cast(null as date) as propensity_as_of_date")
        join = ""
    return f"select {rfm}, {scores} from marts.customer_rfm r {join} order by r.tenant_id, r.customer_id"


def purchases_sql(cat: Catalog) -> str | None:
    t = "intermediate.int_customer_invoices"
    if not cat.has(t, "tenant_id", "customer_id", "invoice_id", "invoice_date", "net_amount", "is_purchase"):
        return None
    return ("select tenant_id, customer_id, invoice_id, invoice_date, net_amount from ("
            "select tenant_id, customer_id, invoice_id, invoice_date, net_amount, row_number() over ("
            "partition by tenant_id, customer_id order by invoice_date desc, invoice_id desc) as purchase_rank "
            f"from {t} where is_purchase) ranked where purchase_rank <= {PURCHASES_PER_CUSTOMER} "
            "order by tenant_id, customer_id, invoice_date desc, invoice_id desc")


def products_sql(cat: Catalog) -> str:
    """Every (tenant_id, product_id) any product mart knows: the universe the API's 404s are decided on."""
    sources = [t for t in ("marts.dim_products", "marts.product_sales_metrics", "marts.inventory_position")
               if cat.has(t, "tenant_id", "product_id")]
    union = " union ".join(f"select tenant_id, product_id from {t}" for t in sources)
    return f"select tenant_id, product_id from ({union}) u order by tenant_id, product_id"


def forecast_summary_sql(cat: Catalog) -> str | None:
    """One row per forecast product: demand over the horizon and the stock-out risk (repeated per row)."""
    t = "ml.demand_forecasts"
    if not cat.has(t, "tenant_id", "product_id", "yhat"):
        return None

    def agg(fn: str, name: str, sql_type: str, out: str | None = None) -> str:
        out = out or name
        return f"{fn}({quote(name)}) as {quote(out)}" if cat.has(t, name) else \
            f"cast(null as {sql_type}) as {quote(out)}"

    week = ("sum(case when horizon_day <= 7 then yhat else 0 end)" if cat.has(t, "horizon_day")
            else "cast(null as double precision)")
    probability = (f"coalesce(max(stockout_probability) >= {STOCKOUT_WARNING_PROBABILITY}, false)"
                   if cat.has(t, "stockout_probability") else "false")
    parts = [
        "tenant_id", "product_id", "count(*) as horizon_days", "sum(yhat) as expected_units",
        f"{week} as expected_units_7d",
        agg("min", "forecast_origin", "date"), agg("max", "model", "varchar", "series_model"),
        agg("max", "model_version", "varchar"), agg("max", "inventory_as_of_date", "date"),
        agg("max", "on_hand", "double precision"), agg("max", "lead_time_days", "bigint"),
        agg("min", "days_until_stockout", "bigint"), agg("min", "stockout_date", "date"),
        agg("min", "reorder_by_date", "date"), agg("max", "expected_demand_lead_time", "double precision"),
        agg("max", "stockout_probability", "double precision"), f"{probability} as stockout_warning",
    ]
    return f"select {', '.join(parts)} from {t} group by tenant_id, product_id order by tenant_id, product_id"


@dataclass
class Plan:
    """What a publication will copy: snapshot table -> SELECT over the warehouse, plus what was left out."""

    tables: dict[str, str]
    as_of_source: str
    notes: list[str] = field(default_factory=list)


def plan_snapshot(cat: Catalog) -> Plan:
    missing = [t for t in REQUIRED_SOURCES if t not in cat.columns]
    if missing:
        raise SnapshotError(f"cannot build the serving snapshot: {', '.join(missing)} missing from the warehouse "
                            "(run the dbt models first)")
    for table, needed in {"marts.customer_rfm": ("tenant_id", "customer_id"),
                          "marts.rfm_segment_summary": ("tenant_id", "segment")}.items():
        absent = [c for c in needed if not cat.has(table, c)]
        if absent:
            raise SnapshotError(f"{table} has no column(s) {', '.join(absent)}")
    tenants, as_of_source = tenants_sql(cat)
    notes = []
    if not cat.has("marts.dim_tenants"):
        notes.append(f"marts.dim_tenants absent: as-of dates from {as_of_source}")
    tables = {
        "tenants": tenants,
        "customers": customers_sql(cat),
        "segments": "select * from marts.rfm_segment_summary order by tenant_id, segment",
        "products": products_sql(cat),
        "product_sales_metrics": "select * from marts.product_sales_metrics order by tenant_id, product_id",
        "inventory_position": "select * from marts.inventory_position order by tenant_id, product_id",
    }
    optional: dict[str, tuple[str | None, str]] = {
        "customer_purchases": (purchases_sql(cat), "intermediate.int_customer_invoices"),
        "dim_products": ("select * from marts.dim_products order by tenant_id, product_id"
                         if cat.has("marts.dim_products", "tenant_id", "product_id") else None, "marts.dim_products"),
        "forecasts": ("select * from ml.demand_forecasts order by tenant_id, product_id, forecast_date"
                      if cat.has("ml.demand_forecasts", "tenant_id", "product_id", "forecast_date") else None,
                      "ml.demand_forecasts"),
        "forecast_summary": (forecast_summary_sql(cat), "ml.demand_forecasts"),
        "metal_prices": ("select * from marts.fct_metal_prices_daily order by metal, purity, price_date"
                         if cat.has("marts.fct_metal_prices_daily", "price_date", "metal", "purity",
                                    "price_per_gram") else None, "marts.fct_metal_prices_daily"),
    }
    if not cat.has("ml.customer_propensity_scores", "tenant_id", "customer_id", "propensity_30d"):
        notes.append("ml.customer_propensity_scores absent: customers published without propensity")
    for name, (sql, source) in optional.items():
        if sql is None:
            notes.append(f"{name} left out: {source} absent or lacks its key columns")
        else:
            tables[name] = sql
    return Plan(tables, as_of_source, notes)


def model_versions_sql(cat: Catalog) -> dict[str, str]:
    """Registered model -> SELECT of the distinct versions whose output this snapshot holds."""
    out = {}
    if cat.has("ml.demand_forecasts", "model_version"):
        out["demand_forecaster"] = "select distinct model_version from ml.demand_forecasts"
    if cat.has("ml.customer_propensity_scores", "model_version"):
        out["purchase_propensity"] = "select distinct model_version from ml.customer_propensity_scores"
    return out


# ---------------------------------------------------------------------------------------------------- publish


@dataclass
class PublishResult:
    snapshot_id: str
    location: str  # the file (embedded) or the schema (Postgres)
    rows: dict[str, int]
    tenants: dict[str, str]  # tenant -> as-of date (ISO)
    as_of_source: str
    model_versions: dict[str, list[str]]
    notes: list[str]
    seconds: float


def tenant_as_of(settings: Settings) -> tuple[dict[str, date], str]:
    """Each tenant's as-of date as the next snapshot will publish it, and where it comes from."""
    wh = Warehouse(settings)
    with wh.connect() as con:
        cat = read_catalog(wh, con)
        sql, source = tenants_sql(cat)
        df = wh.query_on(con, sql)
    return {str(t): pd.Timestamp(d).date() for t, d in zip(df["tenant_id"], df["as_of_date"], strict=True)
            if pd.notna(d)}, source


def publish_snapshot(
    settings: Settings,
    *,
    source_run_id: str | None,
    frames: dict[str, pd.DataFrame] | None = None,
    snapshot_id: str | None = None,
    target: Path | None = None,
) -> PublishResult:
    """Build the snapshot from the warehouse of ``settings`` and publish it atomically.

    ``frames`` are extra tables computed in Python (the point-in-time customer features). ``target``
    overrides the embedded snapshot file (default ``snapshot_path(settings)``).
    """
    started = time.perf_counter()
    snapshot_id = snapshot_id or new_snapshot_id(source_run_id)
    if not _SNAPSHOT_ID.match(snapshot_id):
        raise ValueError(f"snapshot id {snapshot_id!r} must be 1-60 characters of 0-9, a-z, '-' or '_'")
    wh = Warehouse(settings)
    frames = {k: v for k, v in (frames or {}).items() if v is not None}
    with wh.connect() as con:
        cat = read_catalog(wh, con)
        plan = plan_snapshot(cat)
        versions = {name: sorted(str(v) for v in wh.query_on(con, sql).iloc[:, 0].dropna())
                    for name, sql in model_versions_sql(cat).items()}
        if wh.kind == "duckdb":
            final = target or snapshot_path(settings)
            rows, tenants, written = _publish_duckdb(wh, con, plan, frames, snapshot_id, source_run_id, versions,
                                                     final)
            location = str(written)
        else:
            rows, tenants = _publish_postgres(wh, con, plan, frames, snapshot_id, source_run_id, versions)
            location = schema_for(snapshot_id)
    notes = list(plan.notes)
    if wh.kind == "postgres":
        dropped, problem = drop_old_postgres_snapshots(wh)
        if dropped:
            notes.append(f"dropped old snapshot schema(s): {', '.join(dropped)}")
        if problem:
            notes.append(problem)
    return PublishResult(snapshot_id, location, rows, tenants, plan.as_of_source, versions, notes,
                         time.perf_counter() - started)


def _meta_frame(snapshot_id: str, source_run_id: str | None, kind: str, plan: Plan, tenants: dict[str, str],
                versions: dict[str, list[str]], rows: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame([{
        "snapshot_id": snapshot_id,
        "published_at": datetime.now(UTC).replace(tzinfo=None),
        "source_run_id": source_run_id or "",
        "warehouse": kind,
        "as_of_source": plan.as_of_source,
        "tenant_as_of": json.dumps(tenants, sort_keys=True),
        "model_versions": json.dumps(versions, sort_keys=True),
        "table_rows": json.dumps(rows, sort_keys=True),
        "notes": json.dumps(plan.notes),
    }])


def _tenants_of(wh: Warehouse, con: Any, table: str) -> dict[str, str]:
    df = wh.query_on(con, f"select tenant_id, as_of_date from {table} order by tenant_id")
    return {str(t): str(pd.Timestamp(d).date()) if pd.notna(d) else "" for t, d in df.itertuples(index=False)}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish_duckdb(wh: Warehouse, con: Any, plan: Plan, frames: dict[str, pd.DataFrame], snapshot_id: str,
                    source_run_id: str | None, versions: dict[str, list[str]],
                    final: Path) -> tuple[dict[str, int], dict[str, str], Path]:
    """Write ``snapshot-<id>.duckdb`` aside, then point ``final`` (a symlink) at it with one rename.

    Every snapshot gets a file name of its own because DuckDB shares one database instance per path within a
    process: a reader that reopened the same path after a rename-in-place would be handed the old data.
    """
    directory = final.parent
    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*directory.glob(".snapshot-*.tmp*"), *directory.glob(".snapshot-*.link")]:
        stale.unlink(missing_ok=True)  # left by a publication that died half-way; never published
    versioned = directory / f"snapshot-{snapshot_id}.duckdb"
    if versioned.exists():
        raise ValueError(f"snapshot {snapshot_id} was already published ({versioned}); use a new snapshot id")
    tmp = directory / f".snapshot-{snapshot_id}.tmp"
    alias = "serving_next"
    run(con, f"attach {_literal(str(tmp))} as {alias}")
    try:
        rows = {}
        for name, sql in plan.tables.items():
            run(con, f"create table {alias}.main.{name} as {sql}")
            rows[name] = int(con.execute(f"select count(*) from {alias}.main.{name}").fetchall()[0][0])
        for name, frame in frames.items():
            con.register("_snapshot_frame", frame)
            try:
                run(con, f"create table {alias}.main.{name} as select * from _snapshot_frame")
            finally:
                con.unregister("_snapshot_frame")
            rows[name] = len(frame)
        tenants = _tenants_of(wh, con, f"{alias}.main.tenants")
        meta = _meta_frame(snapshot_id, source_run_id, "duckdb", plan, tenants, versions, rows)
        con.register("_snapshot_meta", meta)
        try:
            run(con, f"create table {alias}.main.snapshot_meta as select * from _snapshot_meta")
        finally:
            con.unregister("_snapshot_meta")
        run(con, f"checkpoint {alias}")
    finally:
        run(con, f"detach {alias}")
    link = directory / f".snapshot-{snapshot_id}.link"
    try:
        _fsync(tmp)
        os.replace(tmp, versioned)
        os.symlink(versioned.name, link)  # relative: the data dir may move
        # The rename is the publication: readers see the old target or the new one, never a partial file.
        os.replace(link, final)
        _fsync(directory)
    finally:
        tmp.unlink(missing_ok=True)
        link.unlink(missing_ok=True)
    _drop_old_files(directory, keep={versioned.name})
    return rows, tenants, versioned


def _drop_old_files(directory: Path, keep: set[str], n: int = KEEP_EMBEDDED_SNAPSHOTS) -> None:
    """Delete all but the newest ``n`` snapshot files (an API still reading one keeps its open handle)."""
    files = sorted(directory.glob("snapshot-*.duckdb"), key=lambda f: f.stat().st_mtime_ns, reverse=True)
    for old in files[n:]:
        if old.name not in keep:
            old.unlink(missing_ok=True)
            Path(str(old) + ".wal").unlink(missing_ok=True)


_LOGICAL = {"f": FLOAT, "i": INTEGER, "u": INTEGER, "M": TIMESTAMP}


def _columns_of(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Logical column types of a frame headed for Postgres (booleans must be cast to int by the caller)."""
    cols = []
    for name, dtype in frame.dtypes.items():
        kind = _LOGICAL.get(dtype.kind, STRING)
        values = frame[name].dropna()
        if dtype.kind == "O" and len(values) and values.map(lambda v: isinstance(v, date)).all():
            kind = DATE
        cols.append((str(name), kind))
    return cols


def _publish_postgres(wh: Warehouse, con: Any, plan: Plan, frames: dict[str, pd.DataFrame], snapshot_id: str,
                      source_run_id: str | None,
                      versions: dict[str, list[str]]) -> tuple[dict[str, int], dict[str, str]]:
    from smartmarket.warehouse import _copy_into

    schema = schema_for(snapshot_id)
    # Everything below is one transaction: the pointer row and the complete schema become visible together.
    con.commit()
    with wh.transaction(con):
        run(con, "create schema if not exists serving")
        run(con, f"create table if not exists {POINTER_TABLE} (snapshot_id text primary key, schema_name text "
                 "not null, published_at timestamp not null, source_run_id text)")
        run(con, f"create schema {schema}")
        rows = {}
        for name, sql in plan.tables.items():
            run(con, f"create table {schema}.{name} as {sql}")
            rows[name] = int(con.execute(f"select count(*) from {schema}.{name}").fetchall()[0][0])
        for name, frame in frames.items():
            frame = frame.astype({c: int for c in frame.columns if frame[c].dtype.kind == "b"})
            wh.create_table(con, f"{schema}.{name}", _columns_of(frame))
            if len(frame):
                _copy_into(con, f"{schema}.{name}", frame)
            rows[name] = len(frame)
        for name in ("customers", "customer_purchases", "customer_features", "products", "forecasts",
                     "forecast_summary", "product_sales_metrics", "inventory_position", "dim_products"):
            if name in rows:
                key = "customer_id" if name.startswith("customer") else "product_id"
                run(con, f"create index on {schema}.{name} (tenant_id, {key})")
        tenants = _tenants_of(wh, con, f"{schema}.tenants")
        meta = _meta_frame(snapshot_id, source_run_id, "postgres", plan, tenants, versions, rows)
        wh.create_table(con, f"{schema}.snapshot_meta", _columns_of(meta))
        _copy_into(con, f"{schema}.snapshot_meta", meta)
        run(con, f"insert into {POINTER_TABLE} (snapshot_id, schema_name, published_at, source_run_id) "
                 "values (%s, %s, %s, %s)", (snapshot_id, schema, meta["published_at"].iloc[0], source_run_id))
    return rows, tenants


def published_postgres_snapshots(wh: Warehouse) -> list[tuple[str, str]]:
    """(snapshot_id, schema) newest first; empty when nothing was ever published."""
    if not wh.table_exists(POINTER_TABLE):
        return []
    df = wh.query_df(f"select snapshot_id, schema_name from {POINTER_TABLE} "
                     "order by published_at desc, snapshot_id desc")
    return list(df.itertuples(index=False, name=None))


def drop_old_postgres_snapshots(wh: Warehouse, keep: int = KEEP_POSTGRES_SNAPSHOTS) -> tuple[list[str], str]:
    """Drop snapshot schemas beyond the newest ``keep``; a schema a reader still holds is left for next time."""
    dropped: list[str] = []
    for snapshot_id, schema in published_postgres_snapshots(wh)[keep:]:
        try:
            with wh.connect() as con:
                run(con, f"set local lock_timeout = {_literal(DROP_LOCK_TIMEOUT)}")
                run(con, f"drop schema if exists {schema} cascade")
                run(con, f"delete from {POINTER_TABLE} where snapshot_id = %s", (snapshot_id,))
            dropped.append(schema)
        except Exception as exc:  # a reader still holds it: retried at the next publication
            return dropped, f"kept old snapshot schema {schema} for now ({type(exc).__name__}: {exc})"
    return dropped, ""
