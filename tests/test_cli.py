"""The `smartmarket` command and the Postgres test gate."""

import subprocess
import sys
from pathlib import Path

import pytest

from smartmarket.cli import main
from tests.dbt_support import require_postgres
from tests.ingest_support import TX_HEADER, tx_line, write_landing


def test_generate_then_ingest_reports_the_accounting(data_dir: Path, capsys) -> None:
    assert main(["generate", "--size", "tiny", "--seed", "1", "--out", str(data_dir)]) == 0
    assert main(["ingest", "--kind", "metal_prices"]) == 0
    out = capsys.readouterr().out
    assert "metal_prices: read 3,294 = loaded 3,294 + quarantined 0 + duplicates 0" in out


def test_ingest_exits_1_and_names_the_bad_row(data_dir: Path, capsys) -> None:
    write_landing(data_dir, "transactions", "t.csv", "\n".join([TX_HEADER, tx_line("A"), tx_line("B", quantity="x")]))
    assert main(["ingest", "--kind", "transactions"]) == 1
    assert "transactions/t.csv row 2: quantity 'x' is not an integer" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("smartmarket")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ingest" in proc.stdout


def test_postgres_tests_skip_with_a_reason_outside_ci(monkeypatch) -> None:
    monkeypatch.setenv("SMARTMARKET_PG_PORT", "1")  # nothing listens there
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL at 127\.0\.0\.1:1 .* is not reachable"):
        require_postgres()


def test_postgres_tests_fail_in_ci_when_the_server_is_missing(monkeypatch) -> None:
    monkeypatch.setenv("SMARTMARKET_PG_PORT", "1")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_postgres()
