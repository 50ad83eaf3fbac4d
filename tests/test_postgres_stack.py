"""The docker-compose stack, mirrored on the local Postgres: warehouse and Dagster storage in Postgres.

docker-compose.yml cannot run here (no Docker engine), so this runs the same configuration
(docker/dagster.yaml, SMARTMARKET_WAREHOUSE=postgres) against 127.0.0.1:5432.
"""

import re
import shutil
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


@pytest.mark.postgres
@pytest.mark.slow
def test_pipeline_on_postgres_with_postgres_dagster_storage(tmp_path: Path, monkeypatch) -> None:
    require_postgres()
    from smartmarket.datagen import generate

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
        report = generate(data_dir, size="tiny", seed=5)
        from orchestration.definitions import defs

        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = defs.resolve_job_def("landing_refresh").execute_in_process(
                instance=instance, raise_on_error=False)
            assert result.success, [e.message for e in result.get_step_failure_events()]
            failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
            assert failed == []
            assert instance.get_run_by_id(result.run_id) is not None  # stored in Postgres

        settings = load_settings()
        wh = Warehouse(settings)
        assert wh.kind == "postgres"
        loaded = wh.row_count("raw.transactions")
        assert loaded + wh.row_count("quarantine.transactions") <= report.rows["transactions"]
        assert loaded > 0
        assert wh.row_count("marts.customer_rfm") > 0
        assert wh.row_count("marts.fct_daily_product_sales") > 0
