"""The API on Postgres: snapshots are versioned schemas registered in one transaction, answers equal DuckDB's.

The marts and score tables the pipeline built on DuckDB are copied into a throwaway Postgres database, the
snapshot is published there by the same `publish_snapshot`, and a second API process reads it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import duckdb
import pytest

from smartmarket.config import load_settings
from smartmarket.snapshot import SCHEMA_PREFIX, publish_snapshot, published_postgres_snapshots
from smartmarket.warehouse import Warehouse
from tests.api.conftest import ApiServer, Keys, Pipeline
from tests.api.test_snapshot_swap import features_of
from tests.dbt_support import require_postgres, throwaway_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
JW = "jeweller_01"
SOURCES = ["marts.customer_rfm", "marts.rfm_segment_summary", "marts.product_sales_metrics",
           "marts.inventory_position", "marts.dim_products", "marts.fct_metal_prices_daily", "ml.demand_forecasts",
           "ml.customer_propensity_scores", "intermediate.int_customer_invoices", "marts.dim_tenants"]


def pg_type(duck: str) -> str:
    duck = duck.upper()
    if duck.startswith("DECIMAL"):
        return duck.replace("DECIMAL", "numeric")
    return {"VARCHAR": "text", "DATE": "date", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double precision",
            "BOOLEAN": "boolean", "TIMESTAMP": "timestamp", "HUGEINT": "numeric"}.get(duck, "text")


def copy_tables(pipeline: Pipeline, pg) -> None:
    import psycopg

    src = duckdb.connect(str(pipeline.warehouse), read_only=True)
    try:
        with psycopg.connect(pg.postgres.conninfo) as con:
            for table in SOURCES:
                schema = table.split(".")[0]
                cols = src.execute(f"describe {table}").fetchall()
                con.execute(f"create schema if not exists {schema}")
                con.execute(f"create table {table} ({', '.join(f'{c[0]} {pg_type(c[1])}' for c in cols)})")
                rows = src.execute(f"select * from {table}").fetchall()
                with con.cursor().copy(f"copy {table} from stdin") as cp:
                    for row in rows:
                        cp.write_row(row)
    finally:
        src.close()


@pytest.fixture(scope="module")
def pg_api(api_pipeline: Pipeline, keys: Keys, tmp_path_factory: pytest.TempPathFactory):
    require_postgres()
    base = load_settings()
    with throwaway_postgres_database(base) as db:
        pg = replace(base, warehouse="postgres", postgres=replace(base.postgres, dbname=db))
        copy_tables(api_pipeline, pg)
        features = features_of(api_pipeline.snapshot)
        result = publish_snapshot(pg, source_run_id=None, frames={"customer_features": features},
                                  snapshot_id="pg-0")
        assert result.location == SCHEMA_PREFIX + "pg_0"
        tmp = tmp_path_factory.mktemp("pg_api")
        server = ApiServer(tmp, keys.file, api_pipeline.mlflow_db, tmp / "api.log", SMARTMARKET_WAREHOUSE="postgres",
                           SMARTMARKET_PG_HOST=pg.postgres.host, SMARTMARKET_PG_PORT=str(pg.postgres.port),
                           SMARTMARKET_PG_USER=pg.postgres.user, SMARTMARKET_PG_PASSWORD=pg.postgres.password,
                           SMARTMARKET_PG_DATABASE=db).start()
        try:
            yield server, pg, features
        finally:
            server.stop()


def without_snapshot(value):
    if isinstance(value, dict):
        return {k: without_snapshot(v) for k, v in value.items() if k != "snapshot_id"}
    if isinstance(value, list):
        return [without_snapshot(v) for v in value]
    return value


def test_postgres_answers_equal_duckdb_answers(pg_api, api: ApiServer, api_pipeline: Pipeline, keys: Keys) -> None:
    server, _, _ = pg_api
    customer = api_pipeline.query("select customer_id from marts.customer_rfm where tenant_id = ? "
                                  "order by customer_id limit 1", (JW,))[0]["customer_id"]
    product = api_pipeline.query("select product_id from ml.demand_forecasts where tenant_id = ? limit 1",
                                 (JW,))[0]["product_id"]
    gets = ["/v1/tenants", "/v1/customers?limit=500&sort=monetary", "/v1/customers?segment=Dormant&sort=propensity",
            f"/v1/customers/{customer}", "/v1/segments", "/v1/forecasts?limit=500",
            f"/v1/products/{product}/forecast?days=30", "/v1/prices/gold?days=40"]
    with server.client(keys.by_tenant[JW]) as pg, api.client(keys.by_tenant[JW]) as duck:
        assert pg.get("/ready").json()["snapshot"]["snapshot_id"] == "pg-0"
        assert pg.get("/ready").json()["snapshot"]["warehouse"] == "postgres"
        for path in gets:
            a, b = pg.get(path), duck.get(path)
            assert a.status_code == b.status_code == 200, (path, a.text)
            assert without_snapshot(a.json()) == without_snapshot(b.json()), path
            assert a.json().get("snapshot_id", "pg-0") == "pg-0"
        body = {"customer_ids": [customer]}
        a = pg.post("/v1/predict/purchase-propensity", json=body).json()
        b = duck.post("/v1/predict/purchase-propensity", json=body).json()
        assert without_snapshot(a) == without_snapshot(b)
        assert pg.get("/v1/export/customers.csv").text == duck.get("/v1/export/customers.csv").text
        assert pg.get("/v1/customers/nope").status_code == 404


def test_postgres_publications_swap_in_one_transaction_under_load(pg_api, keys: Keys) -> None:
    server, pg, features = pg_api
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def worker() -> None:
        with server.client(keys.by_tenant[JW]) as c:
            while not stop.is_set():
                try:
                    r = c.get("/v1/customers", params={"limit": 500})
                    if r.status_code != 200 or r.json()["total"] != len(r.json()["items"]):
                        errors.append(r.text[:300])
                    seen.append(r.json()["snapshot_id"])
                except Exception as exc:
                    errors.append(repr(exc))

    observed: list[tuple[str, int]] = []

    def raw_reader() -> None:
        # Outside the API: whatever schema the pointer names must already hold every table.
        import psycopg

        with psycopg.connect(pg.postgres.conninfo, autocommit=True) as con:
            while not stop.is_set():
                schema = con.execute("select schema_name from serving.published_snapshots "
                                     "order by published_at desc limit 1").fetchone()[0]
                n = con.execute("select count(*) from information_schema.tables where table_schema = %s",
                                (schema,)).fetchone()[0]
                observed.append((schema, n))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(3)]
    threads.append(threading.Thread(target=raw_reader, daemon=True))
    for t in threads:
        t.start()
    try:
        for i in range(1, 5):
            time.sleep(0.6)
            publish_snapshot(pg, source_run_id=None, frames={"customer_features": features}, snapshot_id=f"pg-{i}")
        deadline = time.monotonic() + 30
        while "pg-4" not in seen:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    assert set(seen) <= {f"pg-{i}" for i in range(5)} and len(set(seen)) >= 3
    wh = Warehouse(pg)
    complete = int(wh.scalar("select count(*) from information_schema.tables where table_schema = 'serving_pg_4'"))
    assert len({s for s, _ in observed}) >= 3
    assert {n for _, n in observed} == {complete}, "a reader saw a snapshot schema before all its tables"
    assert [s for s, _ in published_postgres_snapshots(wh)] == ["pg-4", "pg-3", "pg-2"]
    schemas = set(wh.query_df("select schema_name from information_schema.schemata where schema_name like "
                              "'serving\\_%'")["schema_name"])
    assert schemas == {"serving_pg_4", "serving_pg_3", "serving_pg_2"}
