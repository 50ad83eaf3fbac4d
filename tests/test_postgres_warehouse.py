"""The Postgres warehouse and Dagster's Postgres storage, on the local server (127.0.0.1:5432).

This is not the docker-compose stack: it runs ingestion and dbt (the `landing_refresh` job) in
process with SMARTMARKET_WAREHOUSE=postgres and docker/dagster.yaml as the instance config; MLflow,
the daemon and the webserver are not involved. The compose file itself is only checked for
consistency with the code.
"""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from smartmarket.config import PROJECT_ROOT, load_settings
from smartmarket.warehouse import Warehouse
from tests.dbt_support import require_postgres, throwaway_postgres_database

COMPOSE = PROJECT_ROOT / "docker-compose.yml"


def test_compose_file_is_consistent_with_the_code() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "dagster-webserver", "dagster-daemon", "api"}
    app_env = services["dagster-webserver"]["environment"]
    assert app_env == services["dagster-daemon"]["environment"]
    assert app_env["SMARTMARKET_WAREHOUSE"] == "postgres"
    # Every variable the instance config reads is provided by the stack.
    instance_yaml = (PROJECT_ROOT / "docker" / "dagster.yaml").read_text()
    for var in re.findall(r"\{env: (\w+)\}", instance_yaml):
        assert var in app_env, var
    # Every variable the settings read is documented in .env.example.
    documented = {line.split("=")[0] for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
                  if "=" in line and not line.startswith("#")}
    used = {k for k in app_env if k.startswith("SMARTMARKET_")}
    assert used <= documented, used - documented
    # No secret is committed: the password must come from the environment.
    assert "${POSTGRES_PASSWORD" in COMPOSE.read_text()
    assert services["postgres"]["healthcheck"]["test"]
    for name in ("dagster-webserver", "dagster-daemon"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


KINDS = ("transactions", "inventory", "metal_prices", "diamond_prices")


def _log_totals(wh: Warehouse, kind: str) -> dict[str, int]:
    df = wh.query_df(
        "select count(*) as files, coalesce(sum(rows_read), 0) as rows_read, "
        "coalesce(sum(rows_loaded), 0) as rows_loaded, coalesce(sum(rows_quarantined), 0) as rows_quarantined, "
        "coalesce(sum(rows_duplicate), 0) as rows_duplicate from raw._ingestion_log where kind = ?", (kind,))
    return {k: int(v) for k, v in df.iloc[0].items()}


def _counts(wh: Warehouse) -> dict[str, int]:
    tables = [f"raw.{k}" for k in KINDS] + [f"quarantine.{k}" for k in KINDS] + ["raw._ingestion_log"]
    return {t: wh.row_count(t) for t in tables}


def _assert_every_row_accounted_for(wh: Warehouse, report) -> None:
    counts = _counts(wh)
    for kind in KINDS:
        log = _log_totals(wh, kind)
        assert log["files"] == len(report.files[kind]), kind
        # every line the generator wrote was read, and each is loaded, quarantined or a skipped duplicate
        assert log["rows_read"] == report.rows[kind], kind
        assert log["rows_loaded"] == counts[f"raw.{kind}"], kind
        assert log["rows_quarantined"] == counts[f"quarantine.{kind}"], kind
        assert log["rows_read"] == log["rows_loaded"] + log["rows_quarantined"] + log["rows_duplicate"], kind


@pytest.fixture
def postgres_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway warehouse database and Dagster storage database, docker/dagster.yaml as the instance."""
    require_postgres()
    base = load_settings()
    with throwaway_postgres_database(base) as warehouse_db, throwaway_postgres_database(base) as dagster_db:
        data_dir = tmp_path / "data"
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(PROJECT_ROOT / "docker" / "dagster.yaml", home / "dagster.yaml")
        for key, value in {
            "SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": "postgres",
            "SMARTMARKET_PG_DATABASE": warehouse_db, "DAGSTER_PG_DATABASE": dagster_db,
            "SMARTMARKET_PG_HOST": base.postgres.host, "SMARTMARKET_PG_PORT": str(base.postgres.port),
            "SMARTMARKET_PG_USER": base.postgres.user, "SMARTMARKET_PG_PASSWORD": base.postgres.password,
            "DAGSTER_HOME": str(home),
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("SMARTMARKET_TENANTS", raising=False)
        monkeypatch.delenv("SMARTMARKET_MAX_QUARANTINE_SHARE", raising=False)
        yield data_dir


@pytest.mark.postgres
@pytest.mark.slow
def test_pipeline_on_postgres_with_postgres_dagster_storage(postgres_env: Path) -> None:
    from smartmarket.datagen import generate

    report = generate(postgres_env, size="tiny", seed=5)
    from orchestration.definitions import defs

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("landing_refresh").execute_in_process(instance=instance, raise_on_error=False)
        assert result.success, [e.message for e in result.get_step_failure_events()]
        failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
        assert failed == []
        assert instance.get_run_by_id(result.run_id) is not None  # stored in Postgres

    wh = Warehouse(load_settings())
    assert wh.kind == "postgres"
    _assert_every_row_accounted_for(wh, report)
    assert wh.row_count("raw.transactions") > 0
    assert wh.row_count("marts.customer_rfm") > 0
    assert wh.row_count("marts.fct_daily_product_sales") > 0


@pytest.mark.postgres
@pytest.mark.slow
def test_ingestion_on_postgres_accounts_for_defects_and_a_rerun_loads_nothing(postgres_env: Path) -> None:
    # Only the ingest assets: the injected unknown products fail the (blocking) product_references check
    # by design, which is not what this test is about.
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    report = generate(postgres_env, size="tiny", seed=5, defect_rate=0.02)
    assert report.defects["malformed_rows"] > 0
    # Identical lines inside one file are separate items (they load); a duplicate is a row delivered again
    # in another file, as when a till export is re-sent: copy one generated file under a new name.
    original = report.files["transactions"][0]
    redelivered = original.with_name("redelivered_" + original.name)
    shutil.copyfile(original, redelivered)
    report.files["transactions"].append(redelivered)
    report.rows["transactions"] += sum(1 for _ in redelivered.open()) - 1
    job = defs.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey(["raw", kind]) for kind in KINDS]

    with dg.DagsterInstance.get() as instance:
        first_run = job.execute_in_process(instance=instance, asset_selection=selection, raise_on_error=False)
        materialized = {e.asset_key for e in first_run.get_asset_materialization_events()}
        assert materialized == set(selection)
        wh = Warehouse(load_settings())
        _assert_every_row_accounted_for(wh, report)
        tx = _log_totals(wh, "transactions")
        assert tx["rows_quarantined"] > 0 and tx["rows_duplicate"] > 0  # the defects really reached ingestion
        first = _counts(wh)

        again = job.execute_in_process(instance=instance, asset_selection=selection, raise_on_error=False)
        assert _counts(wh) == first  # raw, quarantine and the ingestion log unchanged
        for kind in KINDS:
            meta = again.asset_materializations_for_node(f"raw__{kind}")[0].metadata
            assert meta["rows_loaded"].value == 0 and meta["rows_quarantined"].value == 0, kind
            assert meta["files_skipped"].value == meta["files_seen"].value == len(report.files[kind]), kind
        messages = [e.message for e in instance.all_logs(again.run_id) if e.message]
        for path in report.files["transactions"]:
            assert any(f"transactions/{path.name}: skipped" in m for m in messages), path.name
