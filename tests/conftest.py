import os
from pathlib import Path

import pytest

# No telemetry or phone-home from the libraries under test (the machine has no network anyway).
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir on the embedded DuckDB stack, set in the environment for code that reads it."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("SMARTMARKET_DATA_DIR", str(d))
    monkeypatch.setenv("SMARTMARKET_WAREHOUSE", "duckdb")
    monkeypatch.delenv("SMARTMARKET_TENANTS", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # never log test runs to a real server
    return d
