"""The API under test: a real pipeline run on `tiny`, then uvicorn processes serving what it produced.

`api_pipeline` runs the whole asset graph once per session (about 1-2 minutes); every API test reads its
warehouse, MLflow registry and published snapshot. Tests that change the registry or publish snapshots get
their own copy of the registry database and serving directory (`ServerDir`), so the read-only tests always
see the pipeline's output.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from smartmarket.api_keys import append_key
from smartmarket.config import PROJECT_ROOT

TENANTS = ("jeweller_01", "grocer_01", "fashion_01")


@dataclass
class Pipeline:
    data_dir: Path
    result: Any  # dagster ExecuteInProcessResult

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def snapshot(self) -> Path:
        return self.data_dir / "serving" / "snapshot.duckdb"

    @property
    def mlflow_db(self) -> Path:
        return self.data_dir / "mlflow" / "mlflow.db"

    def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        import duckdb

        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            con.close()


@pytest.fixture(scope="session")
def api_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    import dagster as dg

    reuse = os.environ.get("SMARTMARKET_TEST_API_PIPELINE_DIR", "").strip()
    if reuse:
        # Local iteration only: the data dir of an earlier run of this fixture, with this code (the tests treat
        # it as read-only). Never set in CI.
        yield Pipeline(Path(reuse), None)
        return
    data_dir = tmp_path_factory.mktemp("api_pipeline") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("SMARTMARKET_DATA_DIR", str(data_dir))
    mp.setenv("SMARTMARKET_WAREHOUSE", "duckdb")
    mp.delenv("SMARTMARKET_TENANTS", raising=False)
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # never log test runs to a real server
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    generate(data_dir, size="tiny", seed=11)
    result = defs.resolve_job_def("smartmarket_pipeline").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    mp.undo()
    assert result.success, [e.message for e in result.get_step_failure_events()]
    yield Pipeline(data_dir, result)


@dataclass
class Keys:
    file: Path
    all: str
    by_tenant: dict[str, str]


def make_keys(directory: Path) -> Keys:
    path = directory / "api_keys.txt"
    everything = append_key(path, "*")
    return Keys(path, everything, {t: append_key(path, t) for t in TENANTS})


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("keys"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """uvicorn in its own process, as `make serve` runs it, on a free port."""

    def __init__(self, data_dir: Path, keys_file: Path, mlflow_db: Path, log: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.env = {
            **os.environ,
            "SMARTMARKET_DATA_DIR": str(data_dir), "SMARTMARKET_WAREHOUSE": "duckdb",
            "SMARTMARKET_API_KEYS_FILE": str(keys_file),
            "MLFLOW_TRACKING_URI": f"sqlite:///{mlflow_db}",
            "SMARTMARKET_API_MODEL_POLL_SECONDS": "0.5", "SMARTMARKET_API_SNAPSHOT_POLL_SECONDS": "0.2",
            "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1",
            **env,
        }
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> ApiServer:
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log()
            try:
                r = httpx.get(self.url + "/ready", timeout=5)
                last = r.json()
                if r.status_code == 200:
                    return last
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.5)
        raise AssertionError(f"API not ready after {timeout} s: {last}\n{self.log()}")

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def log(self) -> str:
        return self.log_path.read_text()[-5000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()


@dataclass
class ServerDir:
    """A data dir of its own for a server whose registry or snapshot a test changes."""

    data_dir: Path
    mlflow_db: Path

    @property
    def snapshot(self) -> Path:
        return self.data_dir / "serving" / "snapshot.duckdb"


def private_copy(pipeline: Pipeline, directory: Path) -> ServerDir:
    data_dir = directory / "data"
    (data_dir / "serving").mkdir(parents=True)
    (data_dir / "mlflow").mkdir()
    shutil.copy(pipeline.snapshot, data_dir / "serving" / "snapshot.duckdb")
    # Artifacts stay where the pipeline wrote them: the registry rows hold absolute artifact URIs.
    shutil.copy(pipeline.mlflow_db, data_dir / "mlflow" / "mlflow.db")
    return ServerDir(data_dir, data_dir / "mlflow" / "mlflow.db")


@pytest.fixture(scope="session")
def api(api_pipeline: Pipeline, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The server on the pipeline's own output, for tests that only read."""
    log = tmp_path_factory.mktemp("api_logs") / "api.log"
    server = ApiServer(api_pipeline.data_dir, keys.file, api_pipeline.mlflow_db, log).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def snapshot_id(api_pipeline: Pipeline) -> str:
    if api_pipeline.result is None:  # a reused data dir: the id it published
        import duckdb

        con = duckdb.connect(str(api_pipeline.snapshot), read_only=True)
        try:
            return str(con.execute("select snapshot_id from snapshot_meta").fetchone()[0])
        finally:
            con.close()
    events = [e for e in api_pipeline.result.get_asset_materialization_events()
              if e.asset_key.to_user_string() == "serving/snapshot"]
    assert len(events) == 1, "the pipeline run did not publish a snapshot"
    return str(events[0].materialization.metadata["snapshot_id"].value)
