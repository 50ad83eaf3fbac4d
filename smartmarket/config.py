"""Runtime settings, read from the environment when asked for (never at import time).

Everything has an embedded default so a fresh clone runs with no services:
DuckDB warehouse, SQLite Dagster storage and a local MLflow store, all under the data dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"

WAREHOUSE_KINDS = ("duckdb", "postgres")


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    @property
    def conninfo(self) -> str:
        parts = [f"host={self.host}", f"port={self.port}", f"user={self.user}", f"dbname={self.dbname}"]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse: str  # "duckdb" or "postgres"
    postgres: PostgresSettings
    mlflow_uri: str | None = None  # MLFLOW_TRACKING_URI; None = local SQLite store under the data dir

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        # MLflow 3.13+ refuses the plain file store: the embedded default is SQLite.
        return self.mlflow_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def dbt_target(self) -> str:
        return self.warehouse

    def dbt_env(self) -> dict[str, str]:
        """Environment variables that `dbt_project/profiles.yml` reads."""
        return {
            "SMARTMARKET_DBT_TARGET": self.dbt_target,
            "SMARTMARKET_DUCKDB_PATH": str(self.duckdb_path),
            "SMARTMARKET_PG_HOST": self.postgres.host,
            "SMARTMARKET_PG_PORT": str(self.postgres.port),
            "SMARTMARKET_PG_USER": self.postgres.user,
            "SMARTMARKET_PG_PASSWORD": self.postgres.password,
            "SMARTMARKET_PG_DATABASE": self.postgres.dbname,
        }


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from `env` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    warehouse = env.get("SMARTMARKET_WAREHOUSE", "duckdb").strip().lower()
    if warehouse not in WAREHOUSE_KINDS:
        raise ValueError(
            f"SMARTMARKET_WAREHOUSE={warehouse!r} is not supported; use one of {', '.join(WAREHOUSE_KINDS)}"
        )
    data_dir = Path(env.get("SMARTMARKET_DATA_DIR", PROJECT_ROOT / "data")).expanduser().resolve()
    port_text = env.get("SMARTMARKET_PG_PORT", "5432")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"SMARTMARKET_PG_PORT={port_text!r} is not a port number") from None
    postgres = PostgresSettings(
        host=env.get("SMARTMARKET_PG_HOST", "127.0.0.1"),
        port=port,
        user=env.get("SMARTMARKET_PG_USER", "postgres"),
        password=env.get("SMARTMARKET_PG_PASSWORD", ""),
        dbname=env.get("SMARTMARKET_PG_DATABASE", "smartmarket"),
    )
    mlflow_uri = env.get("MLFLOW_TRACKING_URI", "").strip() or None
    return Settings(data_dir=data_dir, warehouse=warehouse, postgres=postgres, mlflow_uri=mlflow_uri)
