"""Champion models, loaded from the MLflow registry by alias and swapped in without a restart.

A background thread polls ``<name>@champion`` for every registered model. When the alias points at another
version, that version is loaded aside (``models:/<name>@champion``, checked against the version the alias
resolved to, so the version reported is the one loaded), then swapped in with one assignment: a request
that already holds the old model finishes on it, the next one gets the new one. A version that fails to
load leaves the old one serving; the failure is reported by /ready and /v1/models, and retried later in
case it was transient (a registry or artifact store hiccup).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from serving.errors import unavailable

log = logging.getLogger("smartmarket.api")
RETRY_FAILED_SECONDS = 60.0


class AliasMoved(Exception):
    """The alias moved while a version was loading: not a failure, the next poll loads the new target."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    model: Any  # the native object: DiamondPriceModel, PropensityModel, or the pyfunc PythonModel
    run_id: str | None
    loaded_at: datetime
    trained_at: datetime | None
    training_seconds: float | None
    data_snapshot_id: str | None
    validation_status: str | None
    headline_metrics: dict[str, float | None]
    load_seconds: float


@dataclass
class ModelSlot:
    name: str
    current: LoadedModel | None = None
    champion_version: str | None = None  # where the alias pointed at the last successful poll
    loading_version: str | None = None
    load_error: str | None = None  # the last failed load (the old version, if any, keeps serving)
    failed_version: str | None = None
    failed_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def status(self) -> str:
        if self.current is not None:
            if self.load_error and self.failed_version == self.champion_version:
                return "serving_previous"
            return "serving"
        if self.load_error:
            return "load_failed"
        if self.champion_version is None:
            return "no_champion"
        return "loading"


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


class ModelManager:
    def __init__(self, tracking_uri: str, poll_seconds: float, names: tuple[str, ...] | None = None):
        from ml.registry import MODEL_NAMES

        self.tracking_uri = tracking_uri
        self.poll_seconds = poll_seconds
        self.slots = {n: ModelSlot(n) for n in (names or MODEL_NAMES)}
        self.registry_error: str | None = "registry not polled yet"
        self.last_poll: datetime | None = None
        self.first_poll_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._swap_listeners: list[Any] = []

    def on_swap(self, callback: Any) -> None:
        """Call ``callback(name)`` after a new version of ``name`` took over (caches keyed by version)."""
        self._swap_listeners.append(callback)

    # -- polling --------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self.first_poll_done.set()
            self._stop.wait(self.poll_seconds)

    def _registry(self) -> Any:
        if self._client is None:
            from ml.registry import configure_tracking

            self._client = configure_tracking(self.tracking_uri)
        return self._client

    def poll_once(self) -> None:
        from ml.registry import champion_version

        try:
            client = self._registry()
            champions = {name: champion_version(name, client) for name in self.slots}
        except Exception as exc:
            self.registry_error = f"MLflow registry at {self.tracking_uri} unreachable: {type(exc).__name__}: {exc}"
            log.warning(self.registry_error)
            return
        finally:
            self.last_poll = datetime.now(UTC)
        self.registry_error = None
        for name, mv in champions.items():
            if self._stop.is_set():
                return
            slot = self.slots[name]
            slot.champion_version = None if mv is None else str(mv.version)
            if mv is None or (slot.current is not None and slot.current.version == str(mv.version)):
                if mv is not None and slot.failed_version and slot.failed_version != str(mv.version):
                    slot.load_error = slot.failed_version = None
                continue
            version = str(mv.version)
            if slot.failed_version == version and time.monotonic() - slot.failed_at < RETRY_FAILED_SECONDS:
                continue
            self._load(slot, mv)

    def _load(self, slot: ModelSlot, mv: Any) -> None:
        version = str(mv.version)
        slot.loading_version = version
        started = time.perf_counter()
        try:
            loaded = self._load_version(slot.name, mv, started)
        except AliasMoved:
            return
        except Exception as exc:
            slot.load_error = f"{slot.name} v{version} failed to load: {type(exc).__name__}: {exc}"[:2000]
            slot.failed_version, slot.failed_at = version, time.monotonic()
            keeping = f"; still serving v{slot.current.version}" if slot.current else ""
            log.error(slot.load_error + keeping)
            return
        finally:
            slot.loading_version = None
        previous = slot.current
        slot.current = loaded  # the swap: requests read slot.current once and keep what they got
        slot.load_error = slot.failed_version = None
        log.info("%s v%s serving (loaded in %.1f s%s)", slot.name, version, loaded.load_seconds,
                 f", replaced v{previous.version}" if previous else "")
        for callback in self._swap_listeners:
            try:
                callback(slot.name)
            except Exception:  # a cache that fails to clear must not undo the swap
                log.exception("swap listener failed for %s", slot.name)

    def _load_version(self, name: str, mv: Any, started: float) -> LoadedModel:
        import mlflow.pyfunc

        from ml.registry import CHAMPION_ALIAS, HEADLINE_METRICS

        client = self._registry()
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION_ALIAS}")
        meta = pyfunc.metadata
        loaded_ids = {getattr(meta, "model_id", None), getattr(meta, "run_id", None)} - {None}
        expected_ids = {str(mv.source).removeprefix("models:/"), mv.run_id} - {None}
        if loaded_ids and expected_ids and not loaded_ids & expected_ids:
            raise AliasMoved(f"{name}@{CHAMPION_ALIAS} moved while v{mv.version} was loading")
        from mlflow.exceptions import MlflowException

        try:  # a python_function model (demand, gold) is the PythonModel itself; sklearn ones are wrapped
            native = pyfunc.unwrap_python_model()
        except MlflowException:
            native = pyfunc.get_raw_model()
        run = client.get_run(mv.run_id) if mv.run_id else None
        metrics = run.data.metrics if run else {}
        trained_at = training = None
        if run is not None:
            trained_at = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
            if run.info.end_time:
                training = (run.info.end_time - run.info.start_time) / 1000
        tags = mv.tags or {}
        return LoadedModel(
            name=name, version=str(mv.version), model=native, run_id=mv.run_id, loaded_at=datetime.now(UTC),
            trained_at=trained_at, training_seconds=training, data_snapshot_id=tags.get("data_snapshot_id"),
            validation_status=tags.get("validation_status"),
            headline_metrics={k: _finite(metrics[k]) for k in HEADLINE_METRICS.get(name, ()) if k in metrics},
            load_seconds=time.perf_counter() - started,
        )

    # -- requests -------------------------------------------------------------------------------------
    def get(self, name: str) -> LoadedModel:
        slot = self.slots[name]
        current = slot.current
        if current is not None:
            return current
        if slot.load_error:
            message = f"model {name} is not available: {slot.load_error}"
        elif not self.first_poll_done.is_set() or slot.champion_version is not None:
            message = f"model {name} is still loading; retry in a few seconds (see /ready)"
        elif self.registry_error:
            message = f"model {name} is not available: {self.registry_error}"
        else:
            message = (f"model {name} has no champion in the registry yet: run its training asset (the "
                       "smartmarket_pipeline job) first, or this deployment has no data for it")
        raise unavailable("model_unavailable", message, model=name)

    def status(self) -> list[dict[str, Any]]:
        out = []
        for slot in self.slots.values():
            cur = slot.current
            out.append({
                "name": slot.name, "available": cur is not None, "status": slot.status,
                "champion_version": slot.champion_version, "serving_version": cur.version if cur else None,
                "loading_version": slot.loading_version, "load_error": slot.load_error,
            })
        return out
