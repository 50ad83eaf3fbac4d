"""What the snapshot holds when the warehouse is not the full pipeline's: tables read by name, optional ones
absent, per-tenant as-of dates from marts.dim_tenants or from the marts; and how the API serves such a
snapshot when the registry has no champion at all (real HTTP, a few seconds)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from smartmarket.config import load_settings
from smartmarket.snapshot import SnapshotError, publish_snapshot
from tests.api.conftest import ApiServer, make_keys

MARTS = """
create schema marts;
create table marts.customer_rfm as select * from (values
  ('shop_a', 'c1', date '2025-03-31', date '2025-01-02', date '2025-03-30', 1, 3, 120.5, 5, 3, 3, 3.67, 'Potential',
   1, 0.5, 0.1, 'low', 'recent and regular buyer', true),
  ('shop_b', 'c1', date '2024-12-31', date '2024-01-05', date '2024-06-01', 213, 1, -40.0, 1, 1, 1, 1.0, 'Dormant',
   0, null, 0.58, 'medium', 'no purchase for 213 days', false)
) t(tenant_id, customer_id, as_of_date, first_purchase_date, last_purchase_date, recency_days, frequency, monetary,
    r_score, f_score, m_score, rfm_score, segment, frequency_last_90d, earlier_rate_per_90d, churn_risk_score,
    churn_risk_level, risk_reason, is_net_negative_flag_from_the_future);
create table marts.rfm_segment_summary as select * from (values
  ('shop_a', 'Potential', 1, 120.5, 120.5, 3.67, 1.0), ('shop_b', 'Dormant', 1, -40.0, -40.0, 1.0, 1.0)
) t(tenant_id, segment, customer_count, total_monetary, avg_monetary, avg_rfm_score, share_of_customers);
create table marts.product_sales_metrics as select * from (values
  ('shop_a', 'p1', date '2025-03-31', 2, 9, 30, 0.3, 45.0, date '2025-03-30', 1)
) t(tenant_id, product_id, as_of_date, sales_last_7d, sales_last_30d, days_observed_30d, avg_daily_sales_30d,
    revenue_last_30d, last_sale_date, days_since_last_sale);
create table marts.inventory_position as select * from (values
  ('shop_a', 'p1', date '2025-03-31', date '2025-03-30', 5, 2.5, 7, 12.5, 0.3, 16.7)
) t(tenant_id, product_id, as_of_date, snapshot_date, on_hand, unit_cost, lead_time_days, stock_value,
    avg_daily_sales_30d, days_of_cover);
"""


def warehouse(data_dir: Path, extra: str = "") -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"))
    con.execute(MARTS + extra)
    con.close()


def read(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def settings(data_dir: Path):
    return load_settings({"SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": "duckdb"})


def test_without_dim_tenants_each_tenant_keeps_its_own_as_of_from_the_marts(tmp_path: Path) -> None:
    warehouse(tmp_path)
    result = publish_snapshot(settings(tmp_path), source_run_id="run-1")
    path = Path(result.location)
    assert result.tenants == {"shop_a": "2025-03-31", "shop_b": "2024-12-31"}  # never one date for all
    assert "marts.dim_tenants absent" in result.as_of_source
    assert read(path, "select tenant_id, as_of_date, as_of_source like '%dim_tenants absent%' from tenants "
                      "order by 1") == [("shop_a", date(2025, 3, 31), True), ("shop_b", date(2024, 12, 31), True)]
    # new mart columns flow through by name; absent score tables leave typed nulls, absent tables are noted
    cols = [r[0] for r in read(path, "select column_name from information_schema.columns where table_name = "
                                     "'customers' order by ordinal_position")]
    assert "is_net_negative_flag_from_the_future" in cols and "propensity_30d" in cols
    assert read(path, "select count(*), count(propensity_30d) from customers") == [(2, 0)]
    tables = {r[0] for r in read(path, "select table_name from information_schema.tables")}
    assert {"forecasts", "forecast_summary", "metal_prices", "customer_features"}.isdisjoint(tables)
    assert any("forecasts left out" in n for n in result.notes)
    meta = read(path, "select snapshot_id, source_run_id from snapshot_meta")
    assert meta == [(result.snapshot_id, "run-1")]


def test_dim_tenants_is_the_authority_when_present(tmp_path: Path) -> None:
    warehouse(tmp_path, """
        create table marts.dim_tenants as select * from (values
          ('shop_a', date '2025-03-30', 'explicit', date '2024-01-01', date '2025-03-30'),
          ('shop_b', date '2024-12-31', 'last transaction', date '2024-01-05', date '2024-06-01')
        ) t(tenant_id, as_of_date, as_of_source, first_transaction_date, last_transaction_date);""")
    result = publish_snapshot(settings(tmp_path), source_run_id=None)
    assert result.tenants == {"shop_a": "2025-03-30", "shop_b": "2024-12-31"}
    assert result.as_of_source == "marts.dim_tenants"
    assert read(Path(result.location), "select tenant_id, as_of_source from tenants order by 1") == [
        ("shop_a", "explicit"), ("shop_b", "last transaction")]


def test_a_missing_required_mart_fails_the_publication_and_leaves_no_file(tmp_path: Path) -> None:
    warehouse(tmp_path, "drop table marts.rfm_segment_summary;")
    with pytest.raises(SnapshotError, match=r"marts\.rfm_segment_summary missing"):
        publish_snapshot(settings(tmp_path), source_run_id=None)
    assert not (tmp_path / "serving" / "snapshot.duckdb").exists()
    assert list((tmp_path / "serving").glob("*")) == []  # nothing half-written left behind


def test_api_serves_what_exists_and_names_what_does_not(tmp_path: Path) -> None:
    warehouse(tmp_path)
    publish_snapshot(settings(tmp_path), source_run_id=None, snapshot_id="partial")
    keys = make_keys(tmp_path)
    mlflow_db = tmp_path / "mlflow" / "mlflow.db"  # an empty registry: no model was ever trained
    mlflow_db.parent.mkdir()
    server = ApiServer(tmp_path, keys.file, mlflow_db, tmp_path / "api.log").start(timeout=120)
    try:
        ready = server.client().get("/ready").json()
        assert ready["status"] == "ready" and ready["snapshot"]["snapshot_id"] == "partial"
        assert {m["name"]: m["status"] for m in ready["models"]} == {
            "demand_forecaster": "no_champion", "purchase_propensity": "no_champion",
            "gold_price_forecaster": "no_champion", "diamond_price_regressor": "no_champion"}
        assert any("diamond_price_regressor has no champion" in w for w in ready["warnings"])
        with server.client(keys.by_tenant["jeweller_01"]) as c:
            # a key for a tenant this snapshot does not hold
            assert c.get("/v1/customers").status_code == 404
        with server.client(keys.all) as c:
            models = c.get("/v1/models").json()["models"]
            assert all(not m["available"] and "no champion" in m["message"] for m in models)
            a = c.get("/v1/customers/c1", params={"tenant_id": "shop_a"}).json()
            assert a["monetary"] == 120.5 and a["propensity"] is None and a["last_purchases"] == []
            b = c.get("/v1/customers/c1", params={"tenant_id": "shop_b"}).json()
            assert b["monetary"] == -40.0 and b["as_of_date"] == "2024-12-31"
            r = c.post("/v1/predict/diamond-price", json={"carat": 1, "cut": "Ideal", "color": "G", "clarity": "IF"})
            assert r.status_code == 503
            err = r.json()["error"]
            assert err["code"] == "model_unavailable" and "diamond_price_regressor has no champion" in err["message"]
            assert c.get("/v1/forecasts", params={"tenant_id": "shop_a"}).json()["error"]["code"] == \
                "forecasts_unavailable"
            assert c.get("/v1/prices/gold").status_code == 503
            r = c.get("/v1/products/p1/forecast", params={"tenant_id": "shop_a"})
            assert r.status_code == 503 and "demand_forecaster" in r.json()["error"]["message"]
            assert c.get("/v1/products/p2/forecast", params={"tenant_id": "shop_a"}).status_code == 404
    finally:
        server.stop()


def test_each_publication_is_a_new_file_behind_one_symlink_and_old_ones_go(tmp_path: Path) -> None:
    warehouse(tmp_path)
    for i in range(5):
        publish_snapshot(settings(tmp_path), source_run_id=None, snapshot_id=f"s-{i}")
    serving = tmp_path / "serving"
    assert sorted(f.name for f in serving.iterdir()) == ["snapshot-s-2.duckdb", "snapshot-s-3.duckdb",
                                                         "snapshot-s-4.duckdb", "snapshot.duckdb"]
    assert (serving / "snapshot.duckdb").readlink() == Path("snapshot-s-4.duckdb")
    assert read(serving / "snapshot.duckdb", "select snapshot_id from snapshot_meta") == [("s-4",)]
    with pytest.raises(ValueError, match="already published"):
        publish_snapshot(settings(tmp_path), source_run_id=None, snapshot_id="s-4")
