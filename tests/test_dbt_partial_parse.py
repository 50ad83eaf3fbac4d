"""The partial-parse state kept per warehouse profile lets the next dbt invocation skip the full parse."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

from smartmarket.config import DBT_PROJECT_DIR, Settings
from smartmarket.dbt_cli import dbt_executable
from smartmarket.dbt_partial_parse import keep_partial_parse, partial_parse_cache, restore_partial_parse
from tests.dbt_support import make_settings


def _parse(settings: Settings, target: Path) -> str:
    project = str(DBT_PROJECT_DIR)
    env = {**os.environ, **settings.dbt_env(), "DBT_TARGET_PATH": str(target),
           "DBT_LOG_PATH": str(target / "logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run([dbt_executable(), "parse", "--project-dir", project, "--profiles-dir", project],
                          env=env, cwd=project, capture_output=True, text=True, check=True)
    return proc.stdout + proc.stderr


def test_kept_state_makes_the_next_invocation_parse_partially(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    assert not restore_partial_parse(settings, tmp_path / "first"), "nothing kept yet"
    first = _parse(settings, tmp_path / "first")
    assert "Starting full parse" in first
    assert keep_partial_parse(settings, tmp_path / "first")

    assert restore_partial_parse(settings, tmp_path / "second")
    second = _parse(settings, tmp_path / "second")
    assert "Unable to do partial parsing" not in second and "full parse" not in second, second[-2000:]


def test_state_is_kept_per_profile_without_secrets_in_its_name(tmp_path: Path) -> None:
    duck = make_settings(tmp_path)
    pg = make_settings(tmp_path, warehouse="postgres", pg_dbname="elsewhere")
    secret = replace(pg, postgres=replace(pg.postgres, password="s3cret-pw"))
    names = {partial_parse_cache(s).name for s in (duck, pg, secret)}
    assert len(names) == 3 and not any("s3cret" in n for n in names)

    target = tmp_path / "t"
    target.mkdir()
    (target / "partial_parse.msgpack").write_bytes(b"state")
    assert keep_partial_parse(duck, target)
    assert not restore_partial_parse(pg, tmp_path / "u"), "another warehouse's state is never reused"
    assert restore_partial_parse(duck, tmp_path / "v")
    assert (tmp_path / "v" / "partial_parse.msgpack").read_bytes() == b"state"
    assert [p.name for p in partial_parse_cache(duck).parent.iterdir()] == [partial_parse_cache(duck).name], \
        "no temporary file is left behind"
