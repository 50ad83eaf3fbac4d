"""Freshness policies on raw assets and marts (README: warn after 26 h, fail after 50 h), evaluated for real.

Dagster 1.13 evaluates `FreshnessPolicy.time_window` in the freshness daemon
(`dagster._daemon.freshness.FreshnessDaemon.run_iteration`): for every asset node with a policy it
compares the age of the asset's last materialization in the instance with the windows and, when the
state changes, stores a FreshnessStateChange event (read back with
`instance.get_freshness_state_records`). The test runs that daemon iteration in process against a
workspace that loads the real code location (`orchestration.definitions:defs`), on a real SQLite
instance, with the clock moved forward past each window.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState, TimeWindowFreshnessPolicy

from smartmarket.config import PROJECT_ROOT

WARN, FAIL = timedelta(hours=26), timedelta(hours=50)
RAW_KINDS = ("transactions", "inventory", "metal_prices", "diamond_prices")
MART_MODELS = sorted(p.stem for p in (PROJECT_ROOT / "dbt_project" / "models" / "marts").glob("*.sql"))


@pytest.fixture(scope="module")
def specs() -> dict[dg.AssetKey, dg.AssetSpec]:
    from orchestration.definitions import defs

    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


@pytest.mark.parametrize("key", [dg.AssetKey(["raw", k]) for k in RAW_KINDS]
                         + [dg.AssetKey(["marts", m]) for m in MART_MODELS], ids=lambda k: k.to_user_string())
def test_raw_assets_and_marts_carry_the_documented_windows(specs, key: dg.AssetKey) -> None:
    assert key in specs, f"{key.to_user_string()} is not an asset of the code location"
    policy = specs[key].freshness_policy
    assert isinstance(policy, TimeWindowFreshnessPolicy), f"{key.to_user_string()}: {policy!r}"
    assert policy.warn_window is not None
    assert (policy.warn_window.to_timedelta(), policy.fail_window.to_timedelta()) == (WARN, FAIL)


def test_every_mart_is_covered(specs) -> None:
    # the mart list above comes from the model files, so a mart added without a policy fails here too
    marts = {k for k in specs if k.path[0] == "marts"}
    assert {dg.AssetKey(["marts", m]) for m in MART_MODELS} <= marts
    assert len(MART_MODELS) >= 10


@pytest.fixture
def workspace(data_dir: Path) -> Iterator[tuple[dg.DagsterInstance, object]]:
    """A real (SQLite) instance and the code location loaded in process, as the daemon sees them."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name="orchestration.definitions",
                             attribute="defs", working_directory=str(PROJECT_ROOT)),
        location_name="smartmarket")
    with dg.instance_for_test() as instance:
        assert instance.freshness_enabled
        with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as context:
            entry = next(iter(context.create_request_context().get_code_location_entries().values()))
            assert entry.code_location is not None, entry.load_error
            yield instance, context


def _evaluate(context: object, when: datetime | None = None) -> None:
    """One freshness daemon iteration, at `when` (frozen clock) or now."""
    from dagster._core.test_utils import freeze_time
    from dagster._daemon.freshness import FreshnessDaemon

    if when is None:
        list(FreshnessDaemon().run_iteration(context))
        return
    with freeze_time(when):
        list(FreshnessDaemon().run_iteration(context))


def _materialize(instance: dg.DagsterInstance, keys: list[dg.AssetKey], when: datetime) -> None:
    from dagster._core.test_utils import freeze_time

    with freeze_time(when):  # the event's timestamp is the (frozen) current time
        for key in keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))


def _states(instance: dg.DagsterInstance, keys: list[dg.AssetKey]) -> dict[str, FreshnessState]:
    records = instance.get_freshness_state_records(keys)
    return {k.to_user_string(): records[k].freshness_state if k in records else None for k in keys}


def test_a_stale_asset_is_reported_warn_then_fail(workspace) -> None:
    instance, context = workspace
    raw_tx = dg.AssetKey(["raw", "transactions"])
    rfm = dg.AssetKey(["marts", "customer_rfm"])
    never = dg.AssetKey(["raw", "inventory"])
    staging = dg.AssetKey(["staging", "stg_raw__transactions"])

    # last materialized three days ago
    t0 = datetime.now(UTC) - timedelta(hours=72)
    _materialize(instance, [raw_tx, rfm, staging], t0)

    _evaluate(context, t0 + timedelta(hours=1))
    assert _states(instance, [raw_tx, rfm, never, staging]) == {
        "raw/transactions": FreshnessState.PASS, "marts/customer_rfm": FreshnessState.PASS,
        # never materialized: cannot be judged yet; staging has no policy
        "raw/inventory": FreshnessState.UNKNOWN, "staging/stg_raw__transactions": FreshnessState.NOT_APPLICABLE,
    }

    # 26 h 1 min after the last materialization: past the warn window, inside the fail window
    _evaluate(context, t0 + WARN + timedelta(minutes=1))
    assert _states(instance, [raw_tx, rfm]) == {
        "raw/transactions": FreshnessState.WARN, "marts/customer_rfm": FreshnessState.WARN}

    # just inside 50 h it is still only a warning; past it the asset is failed (stale)
    _evaluate(context, t0 + FAIL - timedelta(minutes=1))
    assert _states(instance, [raw_tx])["raw/transactions"] == FreshnessState.WARN
    _evaluate(context, t0 + FAIL + timedelta(minutes=1))
    assert _states(instance, [raw_tx, rfm]) == {
        "raw/transactions": FreshnessState.FAIL, "marts/customer_rfm": FreshnessState.FAIL}

    # on the real clock now (72 h later) both are still stale; a new materialization of one makes it fresh
    _evaluate(context)
    assert _states(instance, [raw_tx, rfm]) == {
        "raw/transactions": FreshnessState.FAIL, "marts/customer_rfm": FreshnessState.FAIL}
    _materialize(instance, [raw_tx], datetime.now(UTC))
    _evaluate(context)
    assert _states(instance, [raw_tx, rfm]) == {
        "raw/transactions": FreshnessState.PASS, "marts/customer_rfm": FreshnessState.FAIL}
