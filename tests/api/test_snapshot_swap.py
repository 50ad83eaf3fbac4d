"""Snapshots published while requests are in flight: no errors, every response from exactly one snapshot; a
failed blocking check publishes nothing and the previous snapshot keeps serving."""

from __future__ import annotations

import csv
import io
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from smartmarket.config import load_settings
from smartmarket.snapshot import publish_snapshot
from tests.api.conftest import ApiServer, Keys, Pipeline, private_copy

pytestmark = pytest.mark.slow
JW = "jeweller_01"
FORMULA_ID = "=cmd|'calc'!A0"
FORMULA_REASON = "+SUM(1,2)"


def warehouse_copy(pipeline: Pipeline, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(pipeline.warehouse, directory / "warehouse.duckdb")
    return directory


def make_snapshot_b(data_dir: Path) -> None:
    """Change the copy so that every answer shows which snapshot it came from."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    try:
        drop = [r[0] for r in con.execute("select customer_id from marts.customer_rfm where tenant_id = ? "
                                          "order by customer_id limit 5", [JW]).fetchall()]
        con.execute("delete from marts.customer_rfm where tenant_id = ? and customer_id in (?, ?, ?, ?, ?)",
                    [JW, *drop])
        con.execute("update marts.customer_rfm set monetary = monetary + 1000 where tenant_id = ?", [JW])
        con.execute("insert into marts.customer_rfm select * replace (? as customer_id, ? as risk_reason) "
                    "from marts.customer_rfm where tenant_id = ? order by customer_id limit 1",
                    [FORMULA_ID, FORMULA_REASON, JW])
    finally:
        con.close()


def features_of(snapshot: Path) -> pd.DataFrame:
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        return con.execute("select * from customer_features").df()
    finally:
        con.close()


def settings_for(data_dir: Path):
    return load_settings({"SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": "duckdb"})


@pytest.fixture(scope="module")
def swap(api_pipeline: Pipeline, keys: Keys, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("swap")
    d = private_copy(api_pipeline, base / "server")
    a_dir = warehouse_copy(api_pipeline, base / "a")
    b_dir = warehouse_copy(api_pipeline, base / "b")
    make_snapshot_b(b_dir)
    # These tests read customers only: an empty registry lets the server start without loading any model.
    (base / "no_models").mkdir()
    server = ApiServer(d.data_dir, keys.file, base / "no_models" / "mlflow.db", base / "api.log").start()
    yield server, d, a_dir, b_dir, features_of(api_pipeline.snapshot)
    server.stop()


def expected_customers(data_dir: Path) -> dict[str, float]:
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return {cid: float(m) for cid, m in con.execute(
            "select customer_id, monetary from marts.customer_rfm where tenant_id = ?", [JW]).fetchall()}
    finally:
        con.close()


def test_new_snapshots_swap_in_under_load_and_no_response_mixes_two(swap, keys: Keys, snapshot_id: str) -> None:
    server, d, a_dir, b_dir, features = swap
    truth = {"a": expected_customers(a_dir), "b": expected_customers(b_dir)}
    assert len(truth["a"]) != len(truth["b"])
    source_of = {snapshot_id: "a"}
    results: list[tuple[str, str, object]] = []
    errors: list[str] = []
    stop = threading.Event()
    probe = next(c for c in truth["a"] if c in truth["b"])

    def worker(kind: str) -> None:
        with server.client(keys.by_tenant[JW]) as c:
            while not stop.is_set():
                try:
                    if kind == "list":
                        r = c.get("/v1/customers", params={"limit": 500, "sort": "monetary"})
                        body = r.json()
                        results.append((kind, body.get("snapshot_id"), body))
                    elif kind == "detail":
                        r = c.get(f"/v1/customers/{probe}")
                        results.append((kind, r.json().get("snapshot_id"), r.json()))
                    else:
                        r = c.get("/v1/export/customers.csv")
                        results.append((kind, r.headers.get("x-snapshot-id"), r.text))
                    if r.status_code != 200:
                        errors.append(f"{kind} {r.status_code} {r.text[:300]}")
                except Exception as exc:
                    errors.append(f"{kind} {exc!r}")

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in ("list", "list", "detail", "csv")]
    for t in threads:
        t.start()
    try:
        for i, which in enumerate("babab"):
            time.sleep(0.7)
            sid = f"test-{which}-{i}"
            source_of[sid] = which
            publish_snapshot(settings_for(a_dir if which == "a" else b_dir), source_run_id=None,
                             frames={"customer_features": features}, snapshot_id=sid, target=d.snapshot)
        deadline = time.monotonic() + 30
        while not any(s == "test-b-4" for _, s, _ in results):
            assert time.monotonic() < deadline, "the last snapshot was never served"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    served = {s for _, s, _ in results}
    assert served <= set(source_of) and {snapshot_id, "test-b-0", "test-b-4"} <= served, served
    assert len(served) >= 4, served
    for kind, sid, body in results:
        want = truth[source_of[sid]]
        if kind == "list":
            got = {i["customer_id"]: i["monetary"] for i in body["items"]}
            assert body["total"] == len(want) and got == pytest.approx(want), sid
        elif kind == "detail":
            assert body["monetary"] == pytest.approx(want[probe]), sid
        else:
            rows = list(csv.DictReader(io.StringIO(body)))
            got = {r["customer_id"]: float(r["monetary"]) for r in rows}
            neutralised = {("'" + c if c == FORMULA_ID else c): m for c, m in want.items()}
            assert got == pytest.approx(neutralised), sid


def test_csv_export_neutralises_formula_cells(swap, keys: Keys) -> None:
    server, d, _, b_dir, features = swap
    publish_snapshot(settings_for(b_dir), source_run_id=None, frames={"customer_features": features},
                     snapshot_id="test-formula", target=d.snapshot)
    with server.client(keys.by_tenant[JW]) as c:
        deadline = time.monotonic() + 30
        while c.get("/v1/segments").json()["snapshot_id"] != "test-formula":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        text = c.get("/v1/export/customers.csv").text
        detail = c.get("/v1/customers/" + FORMULA_ID).json()
    rows = {r["customer_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert "'" + FORMULA_ID in rows and FORMULA_ID not in rows
    assert rows["'" + FORMULA_ID]["risk_reason"] == "'" + FORMULA_REASON
    assert not [line for line in text.splitlines()[1:] if line[:1] in "=+-@\t\r"]
    assert detail["customer_id"] == FORMULA_ID  # JSON carries the data as it is
    assert detail["churn"]["reason"] == FORMULA_REASON


def gate_job():
    from orchestration.definitions import defs
    from orchestration.serving import SNAPSHOT_KEY

    job = dg.define_asset_job(
        "snapshot_behind_rfm_check",
        selection=dg.AssetSelection.assets(SNAPSHOT_KEY)
        | dg.AssetSelection.checks(dg.AssetCheckKey(dg.AssetKey(["marts", "customer_rfm"]), "gx_suite")))
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)


def test_failed_blocking_check_publishes_nothing_and_the_previous_snapshot_keeps_serving(
        swap, api_pipeline: Pipeline, keys: Keys, monkeypatch) -> None:
    server, d, *_ = swap
    # The server's own data dir gets a warehouse whose customer_rfm breaks the GX suite (a score of 7).
    shutil.copy(api_pipeline.warehouse, d.data_dir / "warehouse.duckdb")
    con = duckdb.connect(str(d.data_dir / "warehouse.duckdb"))
    con.execute("update marts.customer_rfm set churn_risk_score = 7 where customer_id = "
                "(select min(customer_id) from marts.customer_rfm)")
    con.close()
    monkeypatch.setenv("SMARTMARKET_DATA_DIR", str(d.data_dir))
    monkeypatch.setenv("SMARTMARKET_WAREHOUSE", "duckdb")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with server.client(keys.all) as c:
        before = c.get("/ready").json()["snapshot"]["snapshot_id"]
    inode = d.snapshot.stat().st_ino
    job = gate_job()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"gx_suite": False}
    assert not [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "serving"]
    assert d.snapshot.stat().st_ino == inode, "the snapshot file was replaced behind a failed check"
    time.sleep(1.0)
    with server.client(keys.all) as c:
        assert c.get("/ready").json()["snapshot"]["snapshot_id"] == before
    # Control: the same job on clean data publishes, and the server moves to it without a restart.
    shutil.copy(api_pipeline.warehouse, d.data_dir / "warehouse.duckdb")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    published = [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "serving"]
    new_id = published[0].materialization.metadata["snapshot_id"].value
    deadline = time.monotonic() + 30
    with server.client(keys.all) as c:
        while c.get("/ready").json()["snapshot"]["snapshot_id"] != new_id:
            assert time.monotonic() < deadline
            time.sleep(0.1)
