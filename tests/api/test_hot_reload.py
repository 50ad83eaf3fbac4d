"""A newly promoted champion is picked up under load without a failed request; a broken one never replaces the
old one, and /ready says why."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest

from tests.api.conftest import ApiServer, Keys, Pipeline, private_copy

pytestmark = pytest.mark.slow
DIAMOND = "diamond_price_regressor"
STONE = {"carat": 0.9, "cut": "Premium", "color": "H", "clarity": "SI1"}


@pytest.fixture(scope="module")
def reload_server(api_pipeline: Pipeline, keys: Keys, tmp_path_factory: pytest.TempPathFactory):
    d = private_copy(api_pipeline, tmp_path_factory.mktemp("reload"))
    server = ApiServer(d.data_dir, keys.file, d.mlflow_db, d.data_dir / "api.log").start()
    yield server, d
    server.stop()


def registry(db: Path):
    from ml.registry import configure_tracking

    return configure_tracking(f"sqlite:///{db}")


def log_diamond_version(api_pipeline: Pipeline, random_state: int) -> tuple[str, str, float]:
    """Train a real, different diamond model, log and register it; (version, model_id, its price for STONE)."""
    import mlflow

    from ml.diamond import DiamondPriceModel
    from ml.registry import log_sklearn_model
    from ml.training.common import pip_requirements
    from ml.training.diamond import diamonds_from_mart

    data = diamonds_from_mart(pd.DataFrame(api_pipeline.query("select * from marts.fct_diamond_prices")))
    model = DiamondPriceModel(random_state=random_state).fit(data)
    mlflow.set_experiment(DIAMOND)
    with mlflow.start_run(run_name=f"hot-reload-test-{random_state}"):
        info = log_sklearn_model(model, "model", data.drop(columns=["price"]).head(3),
                                 pip_requirements=pip_requirements("scikit-learn", "skops"))
    mv = mlflow.register_model(info.model_uri, DIAMOND)
    return str(mv.version), info.model_id, model.predict(pd.DataFrame([STONE]))["price"].iloc[0]


class Hammer:
    """Threads posting the same stone as fast as they can, recording (status, version, price) in order."""

    def __init__(self, server: ApiServer, key: str, threads: int = 6):
        self.server, self.key = server, key
        self.results: list[list[tuple[int, str | None, float | None]]] = [[] for _ in range(threads)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, i: int) -> None:
        with self.server.client(self.key) as c:
            while not self.stop.is_set():
                try:
                    r = c.post("/v1/predict/diamond-price", json=STONE)
                    body = r.json()
                    self.results[i].append((r.status_code, (body.get("model") or {}).get("version"),
                                            body.get("price")))
                except Exception as exc:  # a dropped connection is a failed request too
                    self.results[i].append((-1, repr(exc), None))

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def seen(self) -> set[str | None]:
        return {v for rows in self.results for _, v, _ in rows}

    def wait_for(self, version: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while version not in self.seen():
            assert time.monotonic() < deadline, f"v{version} never answered; saw {self.seen()}"
            time.sleep(0.2)
        time.sleep(1.0)  # keep the load on after the switch


def test_promoted_champion_takes_over_under_load_without_a_failed_request(reload_server, api_pipeline: Pipeline,
                                                                        keys: Keys) -> None:
    server, d = reload_server
    client = registry(d.mlflow_db)
    old = client.get_model_version_by_alias(DIAMOND, "champion")
    with server.client(keys.all) as c:
        old_price = c.post("/v1/predict/diamond-price", json=STONE).json()["price"]
    new_version, _, new_price = log_diamond_version(api_pipeline, random_state=7)
    assert abs(new_price - old_price) > 1e-6, "the new version must price differently to tell them apart"
    with Hammer(server, keys.all) as hammer:
        time.sleep(1.0)
        client.set_registered_model_alias(DIAMOND, "champion", new_version)
        hammer.wait_for(new_version)
    rows = [r for thread in hammer.results for r in thread]
    assert len(rows) > 50
    assert [r for r in rows if r[0] != 200] == []
    prices = {str(old.version): old_price, new_version: new_price}
    for _, version, price in rows:  # every answer names the version that computed it
        assert price == pytest.approx(prices[version], rel=1e-12)
    for thread in hammer.results:  # once a thread got the new version it never got the old one again
        versions = [v for _, v, _ in thread]
        assert versions == sorted(versions, key=lambda v: v == new_version)
    with server.client(keys.all) as c:
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
    assert models[DIAMOND]["serving_version"] == models[DIAMOND]["champion_version"] == new_version


def break_artifacts(client, model_id: str) -> None:
    """Delete the model's files but MLmodel: the registry entry looks fine, loading it fails."""
    location = Path(unquote(urlparse(client.get_logged_model(model_id).artifact_location).path))
    removed = 0
    for path in location.iterdir():
        if path.name != "MLmodel":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed += 1
    assert removed, f"nothing to remove under {location}"


def test_broken_new_version_keeps_the_old_one_serving_and_ready_says_why(reload_server, api_pipeline: Pipeline,
                                                                       keys: Keys) -> None:
    server, d = reload_server
    client = registry(d.mlflow_db)
    good = str(client.get_model_version_by_alias(DIAMOND, "champion").version)
    broken, model_id, _ = log_diamond_version(api_pipeline, random_state=8)
    break_artifacts(client, model_id)
    with Hammer(server, keys.all) as hammer:
        time.sleep(0.5)
        client.set_registered_model_alias(DIAMOND, "champion", broken)
        deadline = time.monotonic() + 120
        while True:
            ready = server.client().get("/ready")
            warnings = ready.json()["warnings"]
            if any(f"{DIAMOND} v{broken} failed to load" in w for w in warnings):
                break
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.3)
        time.sleep(1.0)
    assert ready.status_code == 200, "still serving: ready, with a warning"
    rows = [r for thread in hammer.results for r in thread]
    assert rows and {r[0] for r in rows} == {200}
    assert hammer.seen() == {good}
    model = next(m for m in ready.json()["models"] if m["name"] == DIAMOND)
    assert model["status"] == "serving_previous" and model["serving_version"] == good
    assert model["champion_version"] == broken and f"v{broken} failed to load" in model["load_error"]
    with server.client(keys.all) as c:
        info = next(m for m in c.get("/v1/models").json()["models"] if m["name"] == DIAMOND)
        assert info["status"] == "serving_previous" and f"v{good} keeps serving" in info["message"]
        # an operator rolls the alias back: the warning clears without a restart
        client.set_registered_model_alias(DIAMOND, "champion", good)
        deadline = time.monotonic() + 60
        while server.client().get("/ready").json()["warnings"]:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        info = next(m for m in c.get("/v1/models").json()["models"] if m["name"] == DIAMOND)
        assert info["status"] == "serving" and info["message"] is None
