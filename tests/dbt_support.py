"""Helpers for dbt tests: raw tables from the contracts, throwaway Postgres databases, reachability."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from smartmarket.config import Settings, load_settings
from smartmarket.contracts import CONTRACTS, LINEAGE_COLUMNS
from smartmarket.warehouse import Warehouse

INGESTED_AT = datetime(2024, 1, 1, 0, 0, 0)


def make_settings(data_dir: Path, warehouse: str = "duckdb", pg_dbname: str | None = None) -> Settings:
    """Settings for a test: data under `data_dir`, Postgres connection from the environment."""
    env = {k: v for k, v in os.environ.items() if k.startswith("SMARTMARKET_PG_")}
    env |= {"SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": warehouse}
    settings = load_settings(env)
    if pg_dbname is not None:
        settings = replace(settings, postgres=replace(settings.postgres, dbname=pg_dbname))
    return settings


def with_lineage(kind: str, df: pd.DataFrame, source_file: str | None = None) -> pd.DataFrame:
    """`df` (contract columns, optional ones may be missing) in raw-table column order with lineage filled."""
    contract = CONTRACTS[kind]
    out = pd.DataFrame(index=df.index)
    for col in contract.columns:
        if col.name in df.columns:
            out[col.name] = df[col.name]
        else:
            out[col.name] = col.default
    out["_source_file"] = source_file or f"{kind}.csv"
    out["_row_number"] = range(1, len(df) + 1)
    out["_row_hash"] = [
        hashlib.sha256("|".join(map(str, row)).encode()).hexdigest()[:32]
        for row in out[contract.names].itertuples(index=False)
    ]
    out["_ingested_at"] = INGESTED_AT
    out["_extra_columns"] = None
    return out.reset_index(drop=True)


def load_raw(settings: Settings, frames: dict[str, pd.DataFrame]) -> None:
    """Create every raw.<kind> table (dbt sources need all four) and insert the given frames."""
    warehouse = Warehouse(settings)
    for kind, contract in CONTRACTS.items():
        # one connection (one transaction) per table, as ingestion loads one kind at a time
        with warehouse.connect() as con:
            columns = [(c.name, c.type) for c in contract.columns] + list(LINEAGE_COLUMNS)
            warehouse.create_table(con, contract.raw_table, columns)
            if kind in frames:
                rows = with_lineage(kind, frames[kind])
                # identical business rows are one row, as at ingestion (insert_new expects them dropped)
                rows = rows.drop_duplicates("_row_hash").reset_index(drop=True)
                warehouse.insert_new(con, contract.raw_table, rows, ["_row_hash"])


def postgres_unreachable_reason(settings: Settings | None = None) -> str | None:
    """None when the Postgres server answers, else why not."""
    settings = settings or load_settings()
    pg = settings.postgres
    try:
        import psycopg

        with psycopg.connect(replace(pg, dbname="postgres").conninfo, connect_timeout=3) as con:
            con.execute("select 1")
    except Exception as exc:
        return f"PostgreSQL at {pg.host}:{pg.port} (user {pg.user}) is not reachable: {exc}".strip()
    return None


def require_postgres(settings: Settings | None = None) -> None:
    """Skip the calling test when Postgres is down; fail instead in CI, where it must be there."""
    reason = postgres_unreachable_reason(settings)
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so Postgres integration tests must run)")
    pytest.skip(reason)


@contextmanager
def throwaway_postgres_database(settings: Settings | None = None) -> Iterator[str]:
    """Create `smartmarket_test_<random>` on the configured server, yield its name, drop it afterwards."""
    import psycopg

    settings = settings or load_settings()
    admin = replace(settings.postgres, dbname="postgres").conninfo
    name = f"smartmarket_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            # dbt may leave an idle connection behind for a moment; force it off so the drop cannot fail
            con.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty Postgres database for one test (skips, or fails in CI, when Postgres is down)."""
    require_postgres()
    with throwaway_postgres_database() as name:
        yield name
