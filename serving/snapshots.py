"""The published snapshot, as the API reads it: one snapshot per request, a newer one picked up between requests.

Each request pins the current snapshot when it starts and releases it when its response has been sent (a
streamed CSV included), so every query of one request reads the same snapshot. A background thread looks
for a newer publication and swaps it in; the previous one is closed when its last request is done.

- DuckDB: ``<data dir>/serving/snapshot.duckdb`` is a symlink the pipeline renames onto each new
  ``snapshot-<id>.duckdb``; the target is opened read-only, and an open handle keeps reading its file even
  after the pipeline deleted it as too old.
- Postgres: the newest row of ``serving.published_snapshots`` names an immutable schema; queries name that
  schema explicitly. The publisher keeps the last few schemas, so a pinned one outlives its request.

SQL is written once for both engines: tables as ``{customers}``, parameters as ``?``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from serving.errors import unavailable
from smartmarket.snapshot import POINTER_TABLE

log = logging.getLogger("smartmarket.api")


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    as_of_date: date | None
    as_of_source: str
    first_transaction_date: date | None
    last_transaction_date: date | None


def _plain(value: Any) -> Any:
    """DB values as JSON-ready Python: decimals to float, datetimes at midnight stay datetimes for pydantic."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class Snapshot:
    """One published snapshot. Subclasses run SQL on their engine."""

    kind = ""

    def __init__(self, location: str):
        self.location = location
        self.snapshot_id = ""
        self.meta: dict[str, Any] = {}
        self.columns: dict[str, list[str]] = {}
        self.tenants: dict[str, TenantInfo] = {}
        self._refs = 0
        self._retired = False
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------
    def _load_catalog(self) -> None:
        meta = self.rows("select * from {snapshot_meta}")
        if len(meta) != 1:
            raise RuntimeError(f"snapshot at {self.location} has {len(meta)} snapshot_meta rows, expected 1")
        self.meta = meta[0]
        self.snapshot_id = str(self.meta["snapshot_id"])
        self.columns = self._table_columns()
        for row in self.rows("select * from {tenants} order by tenant_id"):
            tid = str(row["tenant_id"])
            self.tenants[tid] = TenantInfo(tid, _day(row.get("as_of_date")), str(row.get("as_of_source") or ""),
                                           _day(row.get("first_transaction_date")),
                                           _day(row.get("last_transaction_date")))

    def acquire(self) -> None:
        with self._lock:
            self._refs += 1

    def release(self) -> None:
        with self._lock:
            self._refs -= 1
            close = self._retired and self._refs == 0
        if close:
            self.close()

    def retire(self) -> None:
        with self._lock:
            self._retired = True
            close = self._refs == 0
        if close:
            self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    # -- catalog --------------------------------------------------------------------------------------
    def has(self, table: str, *cols: str) -> bool:
        return table in self.columns and all(c in self.columns[table] for c in cols)

    def cols(self, table: str, wanted: Sequence[str], alias: str = "") -> str:
        """Select-list of ``wanted`` columns; a column the snapshot lacks reads as NULL under its name."""
        have = self.columns.get(table, [])
        prefix = f"{alias}." if alias else ""
        return ", ".join(f'{prefix}"{c}"' if c in have else f'null as "{c}"' for c in wanted)

    def table(self, name: str) -> str:
        raise NotImplementedError

    def sql(self, text: str) -> str:
        return text.format_map(_Tables(self))

    @property
    def published_at(self) -> datetime | None:
        value = self.meta.get("published_at")
        if not isinstance(value, datetime):
            return None
        # Stored as naive UTC (both engines); clients get an RFC 3339 time with its offset.
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def meta_json(self, key: str) -> Any:
        try:
            return json.loads(self.meta.get(key) or "null")
        except (TypeError, ValueError):
            return None

    # -- queries --------------------------------------------------------------------------------------
    def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        names, data = self._execute(self.sql(text), tuple(params))
        return [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in data]

    def scalar(self, text: str, params: Sequence[Any] = ()) -> Any:
        _, data = self._execute(self.sql(text), tuple(params))
        return _plain(data[0][0]) if data else None

    def stream(self, text: str, params: Sequence[Any] = (), batch: int = 1000) -> Iterator[tuple[list[str], list]]:
        raise NotImplementedError

    def _execute(self, sql: str, params: tuple) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError

    def _table_columns(self) -> dict[str, list[str]]:
        raise NotImplementedError


class _Tables(dict):
    def __init__(self, snap: Snapshot):
        super().__init__()
        self.snap = snap

    def __missing__(self, key: str) -> str:
        return self.snap.table(key)


class DuckDBSnapshot(Snapshot):
    kind = "duckdb"

    def __init__(self, path: Path):
        import duckdb

        super().__init__(str(path))
        self.con = duckdb.connect(str(path), read_only=True)
        try:
            self._load_catalog()
        except BaseException:
            self.con.close()
            raise

    def table(self, name: str) -> str:
        return name

    def _execute(self, sql: str, params: tuple) -> tuple[list[str], list[tuple]]:
        # One cursor per query: a DuckDB connection must not be shared by threads, its cursors can.
        cur = self.con.cursor()
        try:
            res = cur.execute(sql, params)
            return [d[0] for d in res.description], res.fetchall()
        finally:
            cur.close()

    def stream(self, text: str, params: Sequence[Any] = (), batch: int = 1000) -> Iterator[tuple[list[str], list]]:
        cur = self.con.cursor()
        try:
            res = cur.execute(self.sql(text), tuple(params))
            names = [d[0] for d in res.description]
            while chunk := res.fetchmany(batch):
                yield names, [[_plain(v) for v in row] for row in chunk]
        finally:
            cur.close()

    def _table_columns(self) -> dict[str, list[str]]:
        _, data = self._execute("select table_name, column_name from information_schema.columns "
                                    "where table_catalog = current_database() and table_schema = 'main' "
                                    "order by table_name, ordinal_position", ())
        out: dict[str, list[str]] = {}
        for table, column in data:
            out.setdefault(str(table), []).append(str(column))
        return out

    def close(self) -> None:
        with suppress(Exception):
            self.con.close()


class PostgresPool:
    """A few autocommit connections reused across requests (each query is its own statement-level snapshot)."""

    def __init__(self, conninfo: str, size: int):
        self.conninfo, self.size = conninfo, size
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.Semaphore(size)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg

        if not self._slots.acquire(timeout=30):
            raise unavailable("database_busy", "all warehouse connections are busy; retry shortly")
        con = None
        try:
            try:
                con = self._idle.get_nowait()
            except queue.Empty:
                con = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            yield con
        except BaseException:
            if con is not None:
                with suppress(Exception):
                    con.close()
                con = None
            raise
        finally:
            if con is not None and not con.closed:
                self._idle.put(con)
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                con = self._idle.get_nowait()
            except queue.Empty:
                return
            with suppress(Exception):
                con.close()


class PostgresSnapshot(Snapshot):
    kind = "postgres"

    def __init__(self, pool: PostgresPool, schema: str):
        super().__init__(schema)
        self.pool, self.schema = pool, schema
        self._load_catalog()

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def _execute(self, sql: str, params: tuple) -> tuple[list[str], list[tuple]]:
        with self.pool.connection() as con:
            cur = con.execute(sql.replace("?", "%s"), params)
            return [d.name for d in cur.description], cur.fetchall()

    def stream(self, text: str, params: Sequence[Any] = (), batch: int = 1000) -> Iterator[tuple[list[str], list]]:
        with self.pool.connection() as con:
            cur = con.cursor()
            rows: list = []
            names: list[str] = []
            for row in cur.stream(self.sql(text).replace("?", "%s"), tuple(params)):
                if not names:
                    names = [d.name for d in cur.description]
                rows.append([_plain(v) for v in row])
                if len(rows) >= batch:
                    yield names, rows
                    rows = []
            if rows:
                yield names, rows

    def _table_columns(self) -> dict[str, list[str]]:
        _, data = self._execute("select table_name, column_name from information_schema.columns "
                                    "where table_schema = %s order by table_name, ordinal_position", (self.schema,))
        out: dict[str, list[str]] = {}
        for table, column in data:
            out.setdefault(str(table), []).append(str(column))
        return out


class SnapshotManager:
    """Holds the current snapshot and swaps in newer ones between requests."""

    def __init__(self, kind: str, snapshot_file: Path, conninfo: str, pool_size: int, poll_seconds: float):
        self.kind = kind
        self.snapshot_file = snapshot_file
        self.poll_seconds = poll_seconds
        self.pool = PostgresPool(conninfo, pool_size) if kind == "postgres" else None
        self._current: Snapshot | None = None
        self._stamp: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.last_check: datetime | None = None
        self.switches = 0

    # -- polling --------------------------------------------------------------------------------------
    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="snapshot-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self._lock:
            current, self._current = self._current, None
        if current:
            current.retire()
        if self.pool:
            self.pool.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.refresh()

    def refresh(self) -> None:
        """Open the newest published snapshot if it is not the current one; keep the current one on failure."""
        try:
            stamp, opener = self._latest()
        except Exception as exc:
            self.error = f"cannot look for a published snapshot: {type(exc).__name__}: {exc}"
            return
        finally:
            self.last_check = datetime.now(UTC)
        if stamp is None:
            self.error = self._missing_message()
            return
        if stamp == self._stamp:
            return
        started = time.perf_counter()
        try:
            snap = opener()
        except Exception as exc:
            self.error = f"published snapshot {stamp} cannot be read: {type(exc).__name__}: {exc}"
            log.warning(self.error)
            return
        with self._lock:
            old, self._current, self._stamp = self._current, snap, stamp
            self.switches += old is not None
        self.error = None
        if old is not None:
            old.retire()
        log.info("serving snapshot %s (%s) opened in %.0f ms", snap.snapshot_id, snap.location,
                 1000 * (time.perf_counter() - started))

    def _latest(self) -> tuple[Any, Any]:
        if self.kind == "duckdb":
            try:
                # The published name is a symlink to snapshot-<id>.duckdb: open the target, whose path is new
                # for every snapshot (DuckDB hands out one database instance per path within a process).
                target = self.snapshot_file.resolve(strict=True)
                st = target.stat()
            except FileNotFoundError:
                return None, None
            return (str(target), st.st_ino, st.st_mtime_ns), lambda: DuckDBSnapshot(target)
        assert self.pool is not None
        with self.pool.connection() as con:
            exists = con.execute("select to_regclass(%s) is not null", (POINTER_TABLE,)).fetchone()[0]
            if not exists:
                return None, None
            row = con.execute(f"select snapshot_id, schema_name from {POINTER_TABLE} "
                              "order by published_at desc, snapshot_id desc limit 1").fetchone()
        if row is None:
            return None, None
        schema = str(row[1])
        return schema, lambda: PostgresSnapshot(self.pool, schema)

    def _missing_message(self) -> str:
        where = self.snapshot_file if self.kind == "duckdb" else POINTER_TABLE
        return (f"no snapshot published yet ({where}): run the pipeline (`make demo`, or the serving/snapshot "
                "asset in the Dagster UI)")

    # -- requests -------------------------------------------------------------------------------------
    def acquire(self) -> Snapshot:
        with self._lock:
            snap = self._current
            if snap is not None:
                snap.acquire()
        if snap is None:
            raise unavailable("snapshot_unavailable", self.error or self._missing_message())
        return snap

    def current(self) -> Snapshot | None:
        return self._current

    def status(self) -> dict[str, Any]:
        snap = self._current
        return {
            "available": snap is not None,
            "snapshot_id": snap.snapshot_id if snap else None,
            "published_at": snap.published_at if snap else None,
            "location": snap.location if snap else (str(self.snapshot_file) if self.kind == "duckdb"
                                                      else POINTER_TABLE),
            "warehouse": self.kind,
            "as_of_source": (snap.meta.get("as_of_source") if snap else None),
            "tenants": {t: (i.as_of_date.isoformat() if i.as_of_date else None) for t, i in snap.tenants.items()}
            if snap else {},
            "model_versions": snap.meta_json("model_versions") if snap else {},
            "error": self.error,
        }
