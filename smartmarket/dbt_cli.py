"""Run the project's dbt CLI against the configured warehouse.

dbt runs in its own process (not dbtRunner in-process): DuckDB allows a single writer, and a separate
process releases the file lock the moment dbt exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from smartmarket.config import DBT_PROJECT_DIR, Settings

_TAIL_LINES = 60


class DbtError(RuntimeError):
    """dbt exited with an error; the message carries the command and the tail of dbt's output."""

    def __init__(self, args: list[str], returncode: int, output: str):
        self.args_ = args
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-_TAIL_LINES:])
        super().__init__(f"dbt {' '.join(args)} failed with exit code {returncode}:\n{tail}")


def dbt_executable() -> str:
    """The dbt next to the running interpreter (the venv's), falling back to PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    settings: Settings,
    vars: dict | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `dbt <args>` on the dbt project with the warehouse chosen by `settings`.

    Target paths and logs go under the data dir, so concurrent runs on different data dirs (tests,
    a second environment) never share dbt's `target/` state.
    """
    project = str(DBT_PROJECT_DIR)
    cmd = [dbt_executable(), *args, "--project-dir", project, "--profiles-dir", project]
    if vars:
        cmd += ["--vars", json.dumps(vars, default=str)]
    work_dir = settings.data_dir / "dbt"
    env = {
        **os.environ,
        **settings.dbt_env(),
        "DBT_TARGET_PATH": str(work_dir / "target"),
        "DBT_LOG_PATH": str(work_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    work_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, env=env, cwd=str(DBT_PROJECT_DIR), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise DbtError(args, proc.returncode, proc.stdout + proc.stderr)
    return proc
