"""Raw data-quality checks decided per tenant: holds, release, empty feeds, warnings vs errors, in Dagster too."""

from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from expectations.raw_batch import evaluate_raw_batch
from smartmarket.cli import main as cli
from smartmarket.config import load_settings
from smartmarket.held_batches import HELD_TABLE, holds, record_holds, release
from smartmarket.ingest.loader import ingest_kind
from smartmarket.warehouse import Warehouse
from tests.ingest_support import TX_HEADER, tx_line, write_landing

NOW = datetime(2026, 1, 15)
INV_HEADER = "snapshot_date,tenant_id,product_id,on_hand,unit_cost,lead_time_days"


def _inventory(data_dir: Path, stock: dict[str, list[str]], name: str = "inv.csv") -> None:
    lines = [INV_HEADER] + [f"2025-03-01,{t},{p},10,4.0,7" for t, products in stock.items() for p in products]
    write_landing(data_dir, "inventory", name, "\n".join(lines) + "\n")


def _sales(data_dir: Path, name: str, rows: list[str]) -> None:
    write_landing(data_dir, "transactions", name, "\n".join([TX_HEADER, *rows]) + "\n")


def _ingest(*kinds: str, now: datetime = NOW) -> None:
    for kind in kinds:
        ingest_kind(load_settings(), kind, now=now)


def test_shift_in_row_counts_is_a_warning_and_compares_with_the_batch_before(data_dir: Path) -> None:
    settings = load_settings()
    _inventory(data_dir, {"shop": ["P1"]})
    _sales(data_dir, "day1.csv", [tx_line(f"A{i}", ts="2025-03-01") for i in range(40)])
    _ingest("inventory", "transactions")
    assert evaluate_raw_batch(settings, "transactions", now=NOW).checks["row_count_shift"].passed

    _sales(data_dir, "day2.csv", [tx_line(f"B{i}", ts="2025-03-02") for i in range(6)])
    _ingest("transactions", now=datetime(2026, 1, 16))
    second = evaluate_raw_batch(settings, "transactions", now=NOW)

    shift = second.checks["row_count_shift"]
    assert not shift.passed and shift.severity == "warning"
    assert "rows fell 85% vs previous run: 6 vs 40" in shift.summary
    assert not second.blocked and second.held == {}  # a small batch is not bad data
    # Checking the same batch again compares it with the batch before it, not with itself.
    assert not evaluate_raw_batch(settings, "transactions", now=NOW).checks["row_count_shift"].passed
    assert second.checks["gx_suite"].result.evaluated_rows == 6


def test_a_single_tenant_over_the_limits_is_held_and_blocks(data_dir: Path) -> None:
    settings = load_settings()
    _inventory(data_dir, {"shop": ["P1"]})
    rows = [tx_line(f"I{i}") for i in range(20)] + [tx_line("BAD", unit_price="-1"), tx_line("U", product="ZZZ")]
    _sales(data_dir, "t.csv", rows)
    _ingest("inventory", "transactions")

    verdict = evaluate_raw_batch(settings, "transactions", now=NOW)

    assert verdict.blocked and set(verdict.held) == {"shop"}  # nothing else could flow on
    q = verdict.checks["quarantine_rate"]
    assert not q.passed and q.severity == "error"
    assert "tenant shop: 1 of 22 rows (4.55%) were quarantined, above the 1.00% allowed" in q.summary
    assert "quarantine.transactions" in q.queries["quarantined_rows_query"]
    refs = verdict.checks["product_references"]
    assert not refs.passed and refs.severity == "error"
    failure = refs.result.failures[0]
    assert failure.tenant_id == "shop" and failure.unexpected_count == 1
    assert failure.examples == [{"product_id": "ZZZ", "n_rows": 1}]
    held = verdict.checks["tenants_held"]
    assert not held.passed and held.severity == "error" and "shop" in held.summary


def test_unknown_products_under_the_share_warn_and_list_the_ids(data_dir: Path, monkeypatch) -> None:
    settings = load_settings()
    _inventory(data_dir, {"shop": ["P1"]})
    _sales(data_dir, "t.csv", [tx_line(f"I{i}") for i in range(99)] + [tx_line("U", product="NEW-1")])
    _ingest("inventory", "transactions")

    monkeypatch.setenv("SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE", "0.02")
    refs = evaluate_raw_batch(settings, "transactions", now=NOW).checks["product_references"]
    assert not refs.passed and refs.severity == "warning"  # listed, not blocking
    assert "NEW-1" in refs.summary and "1 of 100 sales rows, 1.00%, within the 2.00% allowed" in refs.summary
    listed = Warehouse(settings).query_df(refs.queries["unknown_products_query"])
    assert listed.to_dict("records") == [{"tenant_id": "shop", "product_id": "NEW-1", "n_rows": 1}]

    monkeypatch.setenv("SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE", "0.005")
    verdict = evaluate_raw_batch(settings, "transactions", now=NOW)
    assert verdict.blocked and "product_references" in verdict.held["shop"]
    # the threshold raised again: the batch passes on re-evaluation and its hold is released by the checks
    monkeypatch.setenv("SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE", "0.02")
    again = evaluate_raw_batch(settings, "transactions", now=NOW)
    assert not again.blocked and again.held == {}
    assert [h.released for h in holds(Warehouse(settings), "transactions")] == [True]

    monkeypatch.setenv("SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE", "two percent")
    with pytest.raises(ValueError, match="SMARTMARKET_MAX_UNKNOWN_PRODUCT_SHARE='two percent' is not a number"):
        evaluate_raw_batch(settings, "transactions", now=NOW)


def test_reference_rule_skips_sales_only_tenants_and_applies_once_they_send_inventory(data_dir: Path) -> None:
    settings = load_settings()
    _inventory(data_dir, {"north": ["P1"], "east": ["P1"]})
    _sales(data_dir, "t.csv", [tx_line(f"N{i}", tenant="north") for i in range(30)]
           + [tx_line(f"K{i}", tenant="kiosk", product="K9") for i in range(10)]
           + [tx_line(f"E{i}", tenant="east") for i in range(18)]
           + [tx_line(f"Z{i}", tenant="east", product="ZZZ") for i in range(2)])
    _ingest("inventory", "transactions")

    verdict = evaluate_raw_batch(settings, "transactions", now=NOW)

    refs = verdict.checks["product_references"]
    assert refs.passed  # on the part that flows on: north and kiosk
    assert refs.lists["not_applicable_tenants"] == ["kiosk"]
    assert "does not apply to kiosk: no inventory feed" in refs.summary
    assert set(verdict.held) == {"east"} and "ZZZ" in verdict.held["east"]
    held = verdict.checks["tenants_held"]
    assert not held.passed and held.severity == "error" and "1 of 3 tenant(s)" in held.summary
    assert not verdict.blocked

    # kiosk starts sending inventory (without K9): from now on the rule applies to it
    _inventory(data_dir, {"kiosk": ["K1"]}, name="kiosk_inv.csv")
    _ingest("inventory", now=datetime(2026, 1, 16))
    later = evaluate_raw_batch(settings, "transactions", now=NOW)
    assert later.checks["product_references"].lists["not_applicable_tenants"] == []
    assert set(later.held) == {"east", "kiosk"} and "K9" in later.held["kiosk"]


def test_empty_inventory_feed_warns_and_blocks_nothing(data_dir: Path) -> None:
    # Before: the 0-byte file failed quarantine_rate's no_rejected_files, the header-only file left
    # raw.inventory empty so product_references failed every sale; both blocking.
    settings = load_settings()
    write_landing(data_dir, "inventory", "empty.csv", "")
    write_landing(data_dir, "inventory", "header_only.csv", INV_HEADER + "\n")
    _sales(data_dir, "t.csv", [tx_line(f"A{i}") for i in range(5)])
    _ingest("inventory", "transactions")

    inventory = evaluate_raw_batch(settings, "inventory", now=NOW)
    sales = evaluate_raw_batch(settings, "transactions", now=NOW)

    q = inventory.checks["quarantine_rate"]
    assert not q.passed and q.severity == "warning"
    assert "inventory/empty.csv (empty file)" in q.summary and "inventory/header_only.csv (header only)" in q.summary
    for verdict in (inventory, sales):
        assert not verdict.blocked and verdict.held == {}
        assert [n for n, c in verdict.checks.items() if not c.passed and c.severity == "error"] == []
    assert sales.checks["product_references"].lists["not_applicable_tenants"] == ["shop"]


def test_a_gx_failure_is_pinned_on_the_tenant_whose_rows_break_it(data_dir: Path) -> None:
    settings = load_settings()
    good = [tx_line(f"A{i}", tenant="alpha") for i in range(10)]
    # a lower-case currency passes ingestion but breaks the suite's ISO 4217 rule
    bad = [tx_line(f"B{i}", tenant="beta").replace(",USD", ",usd") for i in range(10)]
    _sales(data_dir, "t.csv", good + bad)
    _ingest("transactions")

    verdict = evaluate_raw_batch(settings, "transactions", now=NOW)

    assert set(verdict.held) == {"beta"} and "currency" in verdict.held["beta"]
    gx = verdict.checks["gx_suite"]
    assert gx.passed and "held back (see tenants_held): beta" in gx.summary
    assert {f.tenant_id for f in gx.result.failures if f.severity == "critical"} == {"beta"}


def test_an_unreadable_file_holds_the_whole_batch(data_dir: Path) -> None:
    settings = load_settings()
    _sales(data_dir, "t.csv", [tx_line(f"A{i}", tenant="alpha") for i in range(10)]
           + [tx_line(f"B{i}", tenant="beta") for i in range(10)])
    write_landing(data_dir, "transactions", "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)
    _ingest("transactions")

    verdict = evaluate_raw_batch(settings, "transactions", now=NOW)

    assert verdict.blocked and set(verdict.held) == {"alpha", "beta"}
    assert "photo.csv rejected whole" in verdict.checks["quarantine_rate"].summary
    assert "nothing in it names a tenant" in verdict.held["alpha"]
    # released whole after review: the batch flows on, and the finding stays visible as accepted
    assert {h.tenant_id for h in release(Warehouse(settings), "transactions")} == {"alpha", "beta"}
    after = evaluate_raw_batch(settings, "transactions", now=NOW)
    q = after.checks["quarantine_rate"]
    assert not after.blocked and after.held == {}
    assert not q.passed and q.severity == "warning" and "[accepted] file photo.csv" in q.summary.replace(
        "transactions/", "")


def test_holds_are_idempotent_and_release_lets_the_tenant_through(data_dir: Path, capsys) -> None:
    settings = load_settings()
    wh = Warehouse(settings)
    _sales(data_dir, "t.csv", [tx_line(f"N{i}", tenant="north") for i in range(40)]
           + [tx_line(f"S{i}", tenant="south") for i in range(19)] + [tx_line("SX", tenant="south", quantity="0")])
    _ingest("transactions")

    first = evaluate_raw_batch(settings, "transactions", now=NOW)
    before = holds(wh, "transactions")
    again = evaluate_raw_batch(settings, "transactions", now=NOW)

    assert set(first.held) == set(again.held) == {"south"} and not first.blocked
    assert first.checks["quarantine_rate"].passed  # on north, the part that flows on
    assert holds(wh, "transactions") == before and wh.row_count(HELD_TABLE) == 1
    assert before[0].batch_ingested_at == NOW and not before[0].released

    assert cli(["held", "--kind", "transactions"]) == 0
    assert "south" in capsys.readouterr().out
    assert cli(["release", "--kind", "transactions", "--tenant", "nobody"]) == 1
    assert "nothing held matches transactions tenant nobody" in capsys.readouterr().err
    assert cli(["release", "--kind", "transactions", "--tenant", "south"]) == 0
    assert "released transactions" in capsys.readouterr().out

    after = evaluate_raw_batch(settings, "transactions", now=NOW)
    assert after.held == {} and after.checks["tenants_held"].passed
    q = after.checks["quarantine_rate"]
    assert not q.passed and q.severity == "warning" and "[accepted] tenant south" in q.summary
    assert cli(["held"]) == 0 and "no batch is held back" in capsys.readouterr().out


def test_price_batches_are_held_whole(data_dir: Path) -> None:
    settings = load_settings()
    lines = ["date,metal,purity,price_per_gram,currency,source",
             "2025-03-03,gold,999,60.0,EUR,lbma", "2025-03-04,gold,999,90.0,EUR,lbma"]  # +50% in a day
    write_landing(data_dir, "metal_prices", "gold.csv", "\n".join(lines) + "\n")
    _ingest("metal_prices")

    verdict = evaluate_raw_batch(settings, "metal_prices", now=NOW)

    assert verdict.blocked and list(verdict.held) == ["*"] and "tenants_held" not in verdict.checks
    assert not verdict.checks["gx_suite"].passed and verdict.checks["gx_suite"].severity == "error"
    assert [h.tenant_id for h in release(Warehouse(settings), "metal_prices")] == ["*"]
    after = evaluate_raw_batch(settings, "metal_prices", now=NOW)
    assert not after.blocked and after.checks["gx_suite"].severity == "warning"
    assert "[accepted]" in after.checks["gx_suite"].summary


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_staging_leaves_out_held_batches(engine: str, tmp_path: Path) -> None:
    import pandas as pd

    from smartmarket.dbt_cli import run_dbt
    from tests.dbt_support import INGESTED_AT, load_raw, make_settings, throwaway_postgres_database

    def build_and_count(settings) -> dict[str, int]:
        run_dbt(["run", "-s", "stg_raw__transactions", "stg_raw__metal_prices"], settings)
        wh = Warehouse(settings)
        counts = wh.query_df("select tenant_id, count(*) as n from staging.stg_raw__transactions group by 1")
        return {**dict(zip(counts["tenant_id"], counts["n"].astype(int), strict=True)),
                "metal": int(wh.scalar("select count(*) from staging.stg_raw__metal_prices"))}

    sales = pd.DataFrame([{"tenant_id": t, "invoice_id": f"{t}{i}", "transaction_ts": datetime(2025, 3, 1, 10),
                           "customer_id": "C1", "product_id": "P1", "quantity": 1, "unit_price": 2.0,
                           "amount": 2.0} for t in ("a", "b") for i in range(3)])
    metal = pd.DataFrame([{"date": datetime(2025, 3, 3), "metal": "gold", "purity": 999, "price_per_gram": 60.0,
                           "currency": "EUR", "source": "lbma"}])

    def scenario(settings) -> None:
        load_raw(settings, {"transactions": sales, "metal_prices": metal})
        wh = Warehouse(settings)
        assert not wh.table_exists(HELD_TABLE)
        assert build_and_count(settings) == {"a": 3, "b": 3, "metal": 1}  # no table yet: nothing left out
        record_holds(wh, "transactions", INGESTED_AT, {"b": "quarantine_rate: test"})
        record_holds(wh, "metal_prices", INGESTED_AT, {"*": "gx_suite: test"})
        assert build_and_count(settings) == {"a": 3, "metal": 0}
        release(wh, "transactions", tenant_id="b")
        assert build_and_count(settings) == {"a": 3, "b": 3, "metal": 0}

    if engine == "duckdb":
        scenario(make_settings(tmp_path / "data"))
    else:
        from tests.dbt_support import require_postgres

        require_postgres()
        with throwaway_postgres_database() as name:
            scenario(make_settings(tmp_path / "data", "postgres", name))


@pytest.mark.postgres
def test_holds_and_release_on_postgres(data_dir: Path, monkeypatch) -> None:
    from tests.dbt_support import require_postgres, throwaway_postgres_database

    require_postgres()
    with throwaway_postgres_database() as name:
        monkeypatch.setenv("SMARTMARKET_WAREHOUSE", "postgres")
        monkeypatch.setenv("SMARTMARKET_PG_DATABASE", name)
        settings = load_settings()
        _inventory(data_dir, {"north": ["P1"]})
        _sales(data_dir, "t.csv", [tx_line(f"N{i}", tenant="north") for i in range(40)]
               + [tx_line(f"K{i}", tenant="kiosk", product="K9") for i in range(10)]
               + [tx_line(f"S{i}", tenant="south") for i in range(19)] + [tx_line("SX", tenant="south", quantity="0")])
        _ingest("inventory", "transactions")

        first = evaluate_raw_batch(settings, "transactions", now=NOW)
        again = evaluate_raw_batch(settings, "transactions", now=NOW)

        assert set(first.held) == set(again.held) == {"south"} and not first.blocked
        assert first.checks["product_references"].lists["not_applicable_tenants"] == ["kiosk", "south"]
        assert Warehouse(settings).row_count(HELD_TABLE) == 1
        assert [h.tenant_id for h in release(Warehouse(settings), "transactions")] == ["south"]
        assert evaluate_raw_batch(settings, "transactions", now=NOW).held == {}


# -- in-process Dagster ------------------------------------------------------------------------------------
def _run(instance: dg.DagsterInstance, job: str = "landing_refresh"):
    from orchestration.definitions import defs

    return defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def _mixed_landing(data_dir: Path) -> None:
    """north: clean, with inventory; south: 5% quarantined; kiosk: sales only; east: an unknown product."""
    _inventory(data_dir, {"north": ["P1", "P2"], "south": ["P1", "P2"], "east": ["P1", "P2"]})
    write_landing(data_dir, "inventory", "empty.csv", "")
    rows = []
    for day in range(1, 21):
        ts = f"2025-03-{day:02d} 10:00:00"
        rows += [tx_line(f"N{day}", ts=ts, customer=f"N{day % 4}", product="P1", tenant="north"),
                 tx_line(f"K{day}", ts=ts, customer=f"K{day % 3}", product="K9", tenant="kiosk"),
                 tx_line(f"E{day}", ts=ts, customer=f"E{day % 3}", product="P2" if day > 2 else "GHOST",
                         tenant="east")]
        rows.append(tx_line(f"S{day}", ts=ts, customer=f"S{day % 3}", product="P2", tenant="south",
                            unit_price="-5" if day == 7 else "10.00"))
    _sales(data_dir, "sales.csv", rows)


@pytest.mark.slow
def test_one_tenants_bad_batch_is_held_while_the_others_build(data_dir: Path, capsys) -> None:
    from orchestration.demo import summarize

    _mixed_landing(data_dir)
    settings = load_settings()
    wh = Warehouse(settings)
    instance = dg.DagsterInstance.ephemeral()

    result = _run(instance)

    assert result.success, [e.message for e in result.get_step_failure_events()]
    ev = _evaluations(result)
    held = ev[("raw/transactions", "tenants_held")]
    assert not held.passed and held.severity == dg.AssetCheckSeverity.ERROR
    assert "2 of 4 tenant(s)" in held.description and "east" in held.description and "south" in held.description
    for name in ("gx_suite", "quarantine_rate", "product_references"):
        assert ev[("raw/transactions", name)].passed, ev[("raw/transactions", name)].description
    assert "does not apply to kiosk" in ev[("raw/transactions", "product_references")].description
    empty_feed = ev[("raw/inventory", "quarantine_rate")]
    assert not empty_feed.passed and empty_feed.severity == dg.AssetCheckSeverity.WARN

    staged = set(wh.query_df("select distinct tenant_id from staging.stg_raw__transactions")["tenant_id"])
    assert staged == {"north", "kiosk"}
    sold = wh.query_df("select tenant_id, sum(quantity_sold) as q from marts.fct_daily_product_sales group by 1")
    assert dict(zip(sold["tenant_id"], sold["q"].astype(int), strict=True)) == {"north": 20, "kiosk": 20}
    summary = summarize(result)
    assert summary.exit_code == 1 and any("tenants_held" in line for line in summary.errors)

    assert cli(["release", "--kind", "transactions", "--tenant", "south"]) == 0
    east_hold = [h for h in holds(wh, "transactions") if h.tenant_id == "east"]
    second = _run(instance)

    assert second.success
    ev2 = _evaluations(second)
    assert "1 of 4 tenant(s)" in ev2[("raw/transactions", "tenants_held")].description
    assert [h for h in holds(wh, "transactions") if h.tenant_id == "east"] == east_hold  # same decision
    staged = set(wh.query_df("select distinct tenant_id from staging.stg_raw__transactions")["tenant_id"])
    assert staged == {"north", "kiosk", "south"}
    assert wh.scalar("select sum(quantity_sold) from marts.fct_daily_product_sales where tenant_id = 'south'") == 19


@pytest.mark.slow
def test_failing_raw_check_blocks_downstream_in_the_same_run(data_dir: Path) -> None:
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    generate(data_dir, size="tiny", seed=2, defect_rate=0.05)
    result = defs.resolve_job_def("landing_refresh").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)

    evaluations = _evaluations(result)
    assert not evaluations[("raw/transactions", "quarantine_rate")].passed
    assert evaluations[("raw/transactions", "quarantine_rate")].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations[("raw/inventory", "gx_suite")].passed
    # the check step is the only one that failed, and it failed because the blocking check did...
    failures = result.get_step_failure_events()
    assert [e.step_key for e in failures] == ["raw_transactions_quality"]
    assert failures[0].event_specific_data.error.cls_name == "DagsterAssetCheckFailedError"
    # ...so the steps that build on the sales were never started (skipped), rather than run and failed
    started = {e.step_key for e in result.all_events if e.is_step_start}
    layer = result.job_def.asset_layer
    sales_steps = {str(layer.get_op_output_handle(dg.AssetKey(key)).node_handle)
                   for key in (["staging", "stg_raw__transactions"], ["marts", "fct_daily_product_sales"])}
    assert sales_steps and not sales_steps & started, (sales_steps, started)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["raw", "transactions"]) in materialized  # the good rows are loaded...
    downstream = dg.AssetSelection.assets(["raw", "transactions"]).downstream(include_self=False).resolve(
        defs.resolve_asset_graph())
    assert downstream and not downstream & materialized  # ...but nothing builds on them
    failed_meta = evaluations[("raw/transactions", "quarantine_rate")].metadata
    assert "quarantine.transactions" in failed_meta["quarantined_rows_query"].value


# -- the demo's verdict ------------------------------------------------------------------------------------
def _crafted_run(*, warn: bool, error: bool):
    """A real in-process run of one asset whose checks fail with the given severities (no warehouse)."""
    specs = [dg.AssetCheckSpec("warns", asset="thing"), dg.AssetCheckSpec("errors", asset="thing")]

    @dg.asset(check_specs=specs)
    def thing():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="warns", passed=not warn, severity=dg.AssetCheckSeverity.WARN,
                                  description="21 customers with negative spend")
        yield dg.AssetCheckResult(check_name="errors", passed=not error, severity=dg.AssetCheckSeverity.ERROR,
                                  description="tenant south held back")

    defs = dg.Definitions(assets=[thing], jobs=[dg.define_asset_job("crafted", selection=[thing])])
    return defs.resolve_job_def("crafted").execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                              raise_on_error=False)


def test_warnings_do_not_fail_the_demo_but_errors_do() -> None:
    from orchestration.demo import summarize

    only_warnings = summarize(_crafted_run(warn=True, error=False))
    assert only_warnings.exit_code == 0 and only_warnings.headline == "SUCCESS with 1 warning(s)"
    assert only_warnings.warnings == ["thing:warns: 21 customers with negative spend"]
    assert only_warnings.errors == []

    with_error = summarize(_crafted_run(warn=True, error=True))
    assert with_error.exit_code == 1 and with_error.headline == "FAILED"
    assert with_error.errors == ["thing:errors: tenant south held back"]

    clean = summarize(_crafted_run(warn=False, error=False))
    assert clean.exit_code == 0 and clean.headline == "SUCCESS" and len(clean.passed) == 2
