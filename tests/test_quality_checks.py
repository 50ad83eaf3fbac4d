"""Data-quality checks wired into Dagster: blocking raw checks, shift detection, quarantine share."""

from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from smartmarket.config import load_settings
from smartmarket.ingest.loader import ingest_kind
from smartmarket.quality import raw_check_results
from tests.ingest_support import TX_HEADER, tx_line, write_landing

NOW = datetime(2026, 1, 15)


def _inventory(data_dir: Path, products: list[str]) -> None:
    lines = ["snapshot_date,tenant_id,product_id,on_hand,unit_cost,lead_time_days"]
    lines += [f"2025-03-01,shop,{p},10,4.0,7" for p in products]
    write_landing(data_dir, "inventory", "inv.csv", "\n".join(lines) + "\n")


def test_a_day_with_far_fewer_rows_fails_the_shift_check(data_dir: Path) -> None:
    settings = load_settings()
    _inventory(data_dir, ["P1"])
    ingest_kind(settings, "inventory", now=NOW)
    write_landing(data_dir, "transactions", "day1.csv",
                  "\n".join([TX_HEADER, *[tx_line(f"A{i}", ts="2025-03-01") for i in range(40)]]) + "\n")
    ingest_kind(settings, "transactions", now=NOW)
    first = raw_check_results(settings, "transactions", now=NOW)
    assert first["row_count_shift"].success  # nothing to compare with yet

    write_landing(data_dir, "transactions", "day2.csv",
                  "\n".join([TX_HEADER, *[tx_line(f"B{i}", ts="2025-03-02") for i in range(6)]]) + "\n")
    ingest_kind(settings, "transactions", now=datetime(2026, 1, 16))
    second = raw_check_results(settings, "transactions", now=NOW)

    shift = second["row_count_shift"]
    assert not shift.success and shift.blocking
    assert any("85%" in f.message and "6" in f.message and "40" in f.message for f in shift.failures), \
        shift.summary()
    # Checking the same batch again compares it with the batch before it, not with itself.
    assert not raw_check_results(settings, "transactions", now=NOW)["row_count_shift"].success
    assert second["gx_suite"].evaluated_rows == 6


def test_quarantine_share_and_unknown_products_fail_by_name(data_dir: Path) -> None:
    settings = load_settings()
    _inventory(data_dir, ["P1"])
    ingest_kind(settings, "inventory", now=NOW)
    rows = [tx_line(f"I{i}") for i in range(20)] + [tx_line("BAD", unit_price="-1"), tx_line("U", product="ZZZ")]
    write_landing(data_dir, "transactions", "t.csv", "\n".join([TX_HEADER, *rows]) + "\n")
    ingest_kind(settings, "transactions", now=NOW)

    results = raw_check_results(settings, "transactions", now=NOW)

    q = results["quarantine_rate"]
    assert not q.success
    assert "1 of 22 rows (4.55%) were quarantined" in q.failures[0].message
    refs = results["product_references"]
    assert not refs.success
    assert refs.failures[0].unexpected_count == 1
    assert "ZZZ" in str(refs.failures[0].examples)


@pytest.mark.slow
def test_failing_raw_check_blocks_downstream_in_the_same_run(data_dir: Path) -> None:
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    generate(data_dir, size="tiny", seed=2, defect_rate=0.05)
    result = defs.resolve_job_def("landing_refresh").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)

    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert not evaluations[("raw/transactions", "quarantine_rate")].passed
    assert not evaluations[("raw/transactions", "product_references")].passed
    assert evaluations[("raw/inventory", "gx_suite")].passed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw/transactions" in materialized  # the good rows are loaded...
    assert not any(k.startswith(("staging/", "marts/")) for k in materialized)  # ...but nothing builds on them
    failed_meta = evaluations[("raw/transactions", "quarantine_rate")].metadata
    assert "quarantine.transactions" in failed_meta["quarantined_rows_query"].value
