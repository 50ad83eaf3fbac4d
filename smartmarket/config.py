"""Runtime settings, read from the environment when asked for (never at import time).

Everything has an embedded default so a fresh clone runs with no services:
DuckDB warehouse, SQLite Dagster storage and a local MLflow store, all under the data dir.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"

WAREHOUSE_KINDS = ("duckdb", "postgres")
# Ingestion plausibility bounds (README "Configuration"). A billion is far above any real price or line
# total and far below what decimal(18,2) marts and their sums can hold.
DEFAULT_MAX_MONEY = 1_000_000_000.0
DEFAULT_EARLIEST_DATE = date(1900, 1, 1)  # also catches Excel's zero date (1899-12-30)


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
    max_money: float = DEFAULT_MAX_MONEY  # SMARTMARKET_MAX_MONEY: largest plausible money value in raw
    earliest_date: date = DEFAULT_EARLIEST_DATE  # SMARTMARKET_EARLIEST_DATE: earliest plausible date in raw

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
    return Settings(data_dir=data_dir, warehouse=warehouse, postgres=postgres, mlflow_uri=mlflow_uri,
                    max_money=_max_money(env), earliest_date=_earliest_date(env))


def _max_money(env: dict[str, str]) -> float:
    text = env.get("SMARTMARKET_MAX_MONEY", "").strip()
    if not text:
        return DEFAULT_MAX_MONEY
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"SMARTMARKET_MAX_MONEY={text!r} is not a positive number (e.g. 1000000000 or 1e9)")
    return value


def _earliest_date(env: dict[str, str]) -> date:
    text = env.get("SMARTMARKET_EARLIEST_DATE", "").strip()
    if not text:
        return DEFAULT_EARLIEST_DATE
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"SMARTMARKET_EARLIEST_DATE={text!r} is not an ISO date (YYYY-MM-DD)") from None
    if value.year < 1678:
        # pandas timestamps (nanoseconds) start in 1677: an earlier bound could not be checked
        raise ValueError(f"SMARTMARKET_EARLIEST_DATE={text!r} is before 1678-01-01, the earliest date supported")
    return value
