"""Settings of the API process, read from the environment once at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from smartmarket.api_keys import keys_file
from smartmarket.config import Settings, load_settings
from smartmarket.snapshot import snapshot_path


def _float(env: dict[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{name}={text!r} must be above 0")
    return value


def _int(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an integer") from None


@dataclass(frozen=True)
class ServingConfig:
    settings: Settings  # warehouse kind, Postgres connection, data dir, MLflow URI
    keys_file: Path
    snapshot_file: Path  # embedded snapshot (DuckDB)
    host: str
    port: int
    workers: int
    model_poll_seconds: float  # how often the `champion` aliases are checked
    snapshot_poll_seconds: float  # how often a newer published snapshot is looked for
    postgres_pool_size: int

    @property
    def tracking_uri(self) -> str:
        return self.settings.mlflow_tracking_uri


def load_config(env: dict[str, str] | None = None) -> ServingConfig:
    env = dict(os.environ if env is None else env)
    settings = load_settings(env)
    port = _int(env, "SMARTMARKET_API_PORT", 8000)
    if not 0 < port < 65536:
        raise ValueError(f"SMARTMARKET_API_PORT={port} is not a TCP port")
    return ServingConfig(
        settings=settings,
        keys_file=keys_file(env),
        snapshot_file=snapshot_path(settings),
        host=env.get("SMARTMARKET_API_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=port,
        workers=max(1, _int(env, "SMARTMARKET_API_WORKERS", 1)),
        model_poll_seconds=_float(env, "SMARTMARKET_API_MODEL_POLL_SECONDS", 10.0),
        snapshot_poll_seconds=_float(env, "SMARTMARKET_API_SNAPSHOT_POLL_SECONDS", 2.0),
        postgres_pool_size=max(1, _int(env, "SMARTMARKET_API_PG_POOL_SIZE", 8)),
    )
