"""A thin warehouse adapter: the same calls on the embedded DuckDB file or on PostgreSQL.

Connections are opened per operation and closed straight after: DuckDB allows a single writer
process, and dbt runs in its own process between our writes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from smartmarket.config import Settings
from smartmarket.contracts import DATE, FLOAT, INTEGER, STRING, TIMESTAMP

_DUCKDB_TYPES = {STRING: "VARCHAR", INTEGER: "BIGINT", FLOAT: "DOUBLE", DATE: "DATE", TIMESTAMP: "TIMESTAMP"}
_POSTGRES_TYPES = {STRING: "TEXT", INTEGER: "BIGINT", FLOAT: "DOUBLE PRECISION", DATE: "DATE",
                   TIMESTAMP: "TIMESTAMP"}


def quote(name: str) -> str:
    """Quote an identifier the same way on both engines (contract columns include `date`, `table`)."""
    return '"' + name.replace('"', '""') + '"'


class Warehouse:
    """Runs SQL and bulk loads DataFrames on the configured engine."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.kind = settings.warehouse

    # -- connections -------------------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[Any]:
        """Open a connection, closed on exit (Postgres: committed on success, rolled back on error)."""
        if self.kind == "duckdb":
            import duckdb

            self.settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.settings.duckdb_path))
            try:
                yield con
            finally:
                con.close()
        else:
            import psycopg

            con = psycopg.connect(self.settings.postgres.conninfo, autocommit=False)
            try:
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.close()

    @contextmanager
    def transaction(self, con: Any) -> Iterator[None]:
        """Make everything done on `con` inside the block commit or roll back as one."""
        if self.kind == "duckdb":
            run(con, "begin transaction")
            try:
                yield
            except BaseException:
                run(con, "rollback")
                raise
            run(con, "commit")
        else:
            try:
                yield
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def column_type(self, logical_type: str) -> str:
        return (_DUCKDB_TYPES if self.kind == "duckdb" else _POSTGRES_TYPES)[logical_type]

    # -- queries -----------------------------------------------------------------------------------
    def execute(self, sql: str, params: tuple | None = None) -> None:
        with self.connect() as con:
            run(con, sql, params)

    def query_df(self, sql: str, params: tuple | None = None) -> pd.DataFrame:
        """Run a query and return its rows; write `?` for parameters on either engine."""
        with self.connect() as con:
            return self.query_on(con, sql, params)

    def query_on(self, con: Any, sql: str, params: tuple | None = None) -> pd.DataFrame:
        """`query_df` on a connection the caller holds (inside its transaction)."""
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")  # psycopg's placeholder; no SQL here has a literal '?'
        return _query_df(con, self.kind, sql, params)

    def scalar(self, sql: str, params: tuple | None = None) -> Any:
        df = self.query_df(sql, params)
        return None if df.empty else df.iat[0, 0]

    def table_exists(self, qualified: str) -> bool:
        schema, table = qualified.split(".", 1)
        return bool(self.scalar("select count(*) from information_schema.tables "
                                "where table_schema = ? and table_name = ?", (schema, table)))

    def row_count(self, qualified: str) -> int:
        if not self.table_exists(qualified):
            return 0
        return int(self.scalar(f"select count(*) from {qualified}"))

    # -- bulk load ---------------------------------------------------------------------------------
    def create_table(self, con: Any, qualified: str, columns: list[tuple[str, str]]) -> None:
        schema = qualified.split(".", 1)[0]
        cols = ", ".join(f"{quote(n)} {self.column_type(t)}" for n, t in columns)
        run(con, f"create schema if not exists {schema}")
        run(con, f"create table if not exists {qualified} ({cols})")

    def replace_table(self, qualified: str, df: pd.DataFrame, columns: list[tuple[str, str]]) -> int:
        """Atomically replace `qualified` with the rows of `df` (score tables written back by ML assets).

        `columns` gives each column's logical type (smartmarket.contracts), so both engines get the
        same schema whatever pandas inferred.
        """
        staging = qualified + "__new"
        with self.connect() as con:
            run(con, f"drop table if exists {staging}")
            self.create_table(con, staging, columns)
            if not df.empty:
                ordered = df[[c for c, _ in columns]]
                if self.kind == "duckdb":
                    con.register("_frame", ordered)
                    try:
                        run(con, f"insert into {staging} select * from _frame")
                    finally:
                        con.unregister("_frame")
                else:
                    _copy_into(con, staging, ordered)
            with self.transaction(con):
                run(con, f"drop table if exists {qualified}")
                run(con, f"alter table {staging} rename to {qualified.split('.', 1)[1]}")
            if self.kind == "postgres":
                con.commit()
        return len(df)

    def insert_new(self, con: Any, qualified: str, df: pd.DataFrame, key: list[str]) -> int:
        """Insert the rows of `df` whose `key` is not in `qualified` yet; return how many went in.

        `df` must have the table's columns in order. Rows with the same key inside `df` must have
        been dropped by the caller (the caller counts them as duplicates).
        """
        if df.empty:
            return 0
        cols = ", ".join(quote(c) for c in df.columns)
        match = " and ".join(f"t.{quote(k)} = s.{quote(k)}" for k in key)
        if self.kind == "duckdb":
            con.register("_incoming", df)
            try:
                # DuckDB answers an INSERT with the number of rows it inserted.
                inserted = con.execute(
                    f"insert into {qualified} ({cols}) select {cols} from _incoming s "
                    f"where not exists (select 1 from {qualified} t where {match})"
                ).fetchall()[0][0]
            finally:
                con.unregister("_incoming")
            return int(inserted)
        # One staging table per target: a connection may load several differently shaped tables.
        staging = "_incoming_" + qualified.replace(".", "_")
        con.execute(f"create temp table if not exists {staging} (like {qualified}) on commit drop")
        con.execute(f"truncate {staging}")
        _copy_into(con, staging, df)
        cur = con.execute(
            f"insert into {qualified} ({cols}) select {cols} from {staging} s "
            f"where not exists (select 1 from {qualified} t where {match})"
        )
        return int(cur.rowcount)


def run(con: Any, sql: str, params: tuple | None = None) -> None:
    """Execute a statement to completion on either engine (DuckDB 2 wants every result consumed)."""
    if type(con).__module__.lstrip("_") == "duckdb":
        con.execute(sql, params or ()).fetchall()
    else:
        con.execute(sql, params)


def _query_df(con: Any, kind: str, sql: str, params: tuple | None) -> pd.DataFrame:
    if kind == "duckdb":
        return con.execute(sql, params or ()).df()
    cur = con.execute(sql, params)
    if cur.description is None:
        return pd.DataFrame()
    names = [d.name for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=names)


def _copy_into(con: Any, table: str, df: pd.DataFrame) -> None:
    """COPY a DataFrame into a Postgres table through an in-memory CSV (far faster than INSERTs)."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f")
    cols = ", ".join(quote(c) for c in df.columns)
    with con.cursor() as cur, cur.copy(f"copy {table} ({cols}) from stdin with (format csv, null '\\N')") as cp:
        cp.write(buf.getvalue())
