"""The whole asset graph, in-process, on the tiny data set; definitions, sensor and schedule."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from smartmarket.config import PROJECT_ROOT, load_settings
from smartmarket.warehouse import Warehouse


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """One full pipeline run on `tiny`, shared by the assertions below (it takes about a minute)."""
    data_dir = tmp_path_factory.mktemp("pipeline") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("SMARTMARKET_DATA_DIR", str(data_dir))
    mp.setenv("SMARTMARKET_WAREHOUSE", "duckdb")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # never log test runs to a real server
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    report = generate(data_dir, size="tiny", seed=11)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("smartmarket_pipeline")
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    yield result, report, load_settings(), job, instance
    mp.undo()


@pytest.mark.slow
def test_every_asset_materializes_and_every_check_passes(tiny_run) -> None:
    result, _, _, job, _ = tiny_run
    assert result.success, [e.message for e in result.get_step_failure_events()]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    expected = set(job.asset_layer.asset_graph.get_all_asset_keys())
    assert expected <= materialized, expected - materialized
    checks = result.get_asset_check_evaluations()
    assert len(checks) >= 20, "dbt tests should surface as asset checks"
    failed = [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in checks if not c.passed]
    assert failed == []


@pytest.mark.slow
def test_ingestion_metadata_accounts_for_every_row(tiny_run) -> None:
    result, report, _, _, _ = tiny_run
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    for kind, rows in report.rows.items():
        m = meta[f"raw/{kind}"]
        assert m["rows_read"].value == rows
        assert m["rows_read"].value == (m["rows_loaded"].value + m["rows_quarantined"].value
                                        + m["rows_duplicate"].value)


@pytest.mark.slow
def test_rerun_on_the_same_files_changes_nothing(tiny_run) -> None:
    _, _, settings, job, instance = tiny_run
    wh = Warehouse(settings)
    tables = ["raw.transactions", "raw.inventory", "raw.metal_prices", "raw.diamond_prices",
              "marts.customer_rfm", "marts.fct_daily_product_sales"]
    before = {t: wh.row_count(t) for t in tables}
    again = job.execute_in_process(instance=instance, raise_on_error=False)
    assert again.success
    assert {t: wh.row_count(t) for t in tables} == before
    loaded_again = sum(e.materialization.metadata["rows_loaded"].value
                       for e in again.get_asset_materialization_events()
                       if e.asset_key.path[0] == "raw")
    assert loaded_again == 0


def test_code_location_validates_from_the_workspace_file() -> None:
    env = {**os.environ, "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_code_location_loads_under_dagster_dev_without_the_venv_on_path() -> None:
    # `make ui` runs .venv/bin/dagster dev without activating the venv: dbt is not on PATH.
    env = {**os.environ, "DAGSTER_IS_DEV_CLI": "1", "PATH": "/usr/bin:/bin"}
    code = "import orchestration.definitions as d; d.defs.resolve_all_job_defs()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_definitions_have_groups_schedule_and_sensor() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"ingest", "staging", "marts"} <= groups
    schedule = defs.resolve_schedule_def("daily_pipeline")
    assert schedule.cron_schedule == "0 2 * * *"
    assert defs.resolve_sensor_def("landing_zone_sensor") is not None


def test_landing_sensor_requests_a_run_only_for_new_files(data_dir: Path) -> None:
    from orchestration.automation import landing_zone_sensor
    from orchestration.definitions import defs

    folder = data_dir / "landing" / "inventory"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("snapshot_date,tenant_id,product_id,on_hand,unit_cost,lead_time_days\n")

    first = landing_zone_sensor(dg.build_sensor_context(definitions=defs))
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags["smartmarket/kinds"] == "inventory"

    quiet = landing_zone_sensor(dg.build_sensor_context(cursor=first.cursor, definitions=defs))
    assert isinstance(quiet, dg.SkipReason)

    (data_dir / "landing" / "metal_prices").mkdir()
    (data_dir / "landing" / "metal_prices" / "b.csv").write_text("date\n")
    third = landing_zone_sensor(dg.build_sensor_context(cursor=first.cursor, definitions=defs))
    assert third.run_requests[0].tags["smartmarket/kinds"] == "metal_prices"
    assert set(json.loads(third.cursor)["metal_prices"]) == {"metal_prices/b.csv"}
