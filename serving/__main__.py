"""``python -m serving`` (``make serve``): run the API with uvicorn on the embedded stack or as configured.

On the embedded default (no SMARTMARKET_API_KEYS_FILE) a development key for every tenant is created on the
first start, printed once and kept in ``<data dir>/dev_api_key`` (never committed: the data dir is ignored).
"""

from __future__ import annotations

import argparse
import os
import sys

from serving.config import load_config
from smartmarket.api_keys import ALL_TENANTS, append_key, hash_key, read_keys


def ensure_dev_key(config) -> None:  # type: ignore[no-untyped-def]
    path = config.settings.data_dir / "dev_api_key"
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        entries = read_keys(config.keys_file).entries if config.keys_file.exists() else []
        known = any(e.digest == hash_key(key) for e in entries)
        if known:
            print(f"Development API key (all tenants): in {path}")
            return
    key = append_key(config.keys_file, ALL_TENANTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    print("Development API key for every tenant (shown once; also saved in "
          f"{path}, its hash in {config.keys_file}):\n  {key}")


def log_config() -> dict:
    """uvicorn's logging, plus the API's own logger (model swaps, snapshot switches, load failures)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["smartmarket"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="default SMARTMARKET_API_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default SMARTMARKET_API_PORT or 8000")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default SMARTMARKET_API_WORKERS or 1)")
    parser.add_argument("--no-dev-key", action="store_true", help="do not create the development key")
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = args.host or config.host, args.port or config.port
    if not args.no_dev_key and not os.environ.get("SMARTMARKET_API_KEYS_FILE", "").strip():
        ensure_dev_key(config)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"SmartMarket API on http://{shown}:{port}  (interactive docs: http://{shown}:{port}/docs)", flush=True)
    import uvicorn

    uvicorn.run("serving.app:create_app", factory=True, host=host, port=port,
                workers=args.workers or config.workers, log_config=log_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
