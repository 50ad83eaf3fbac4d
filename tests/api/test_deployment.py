"""`make serve`, the development key, the docker-compose `api` service and the documented settings agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from serving.__main__ import ensure_dev_key
from serving.auth import KeyStore
from serving.config import load_config
from smartmarket.config import PROJECT_ROOT

SOURCE_VARS = sorted({v for f in (PROJECT_ROOT / "serving").rglob("*.py")
                      for v in re.findall(r"SMARTMARKET_API_\w+", f.read_text())})


def documented(path: Path) -> set[str]:
    return set(re.findall(r"SMARTMARKET_API_\w+", path.read_text()))


def test_every_api_setting_is_documented_in_env_example_and_readme() -> None:
    assert {"SMARTMARKET_API_PORT", "SMARTMARKET_API_KEYS_FILE"} <= set(SOURCE_VARS)
    assert set(SOURCE_VARS) <= documented(PROJECT_ROOT / ".env.example")
    assert set(SOURCE_VARS) <= documented(PROJECT_ROOT / "README.md")


def test_compose_runs_the_api_from_the_same_image_with_the_stack_settings() -> None:
    services = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]
    api, web = services["api"], services["dagster-webserver"]
    assert api["image"] == web["image"] and api["command"].startswith("python -m serving")
    env = api["environment"]
    assert {k: v for k, v in env.items() if k in web["environment"]} == web["environment"]
    assert env["SMARTMARKET_API_KEYS_FILE"].startswith("/data/") and "/data" in api["volumes"][0]
    assert api["ports"] == ["127.0.0.1:${SMARTMARKET_API_PORT:-8000}:8000"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_make_serve_runs_the_api_module() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"^serve: .*\n\t\$\(VENV_BIN\)/python -m serving", makefile, re.M)
    out = subprocess.run([sys.executable, "-m", "serving", "--help"], capture_output=True, text=True, timeout=120,
                         cwd=PROJECT_ROOT)
    assert out.returncode == 0 and "--port" in out.stdout


def test_dev_key_is_created_once_printed_once_and_works(data_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("SMARTMARKET_API_KEYS_FILE", raising=False)
    config = load_config()
    ensure_dev_key(config)
    first = capsys.readouterr().out
    key = (data_dir / "dev_api_key").read_text().strip()
    assert key in first
    ensure_dev_key(config)
    again = capsys.readouterr().out
    assert key not in again and str(data_dir / "dev_api_key") in again
    assert KeyStore(config.keys_file).scope_of(key) == "*"
    assert key not in config.keys_file.read_text()
    # a dev key whose hash was removed from the keys file is replaced, not silently broken
    config.keys_file.write_text("")
    ensure_dev_key(config)
    new = (data_dir / "dev_api_key").read_text().strip()
    assert new != key and KeyStore(config.keys_file).scope_of(new) == "*"
