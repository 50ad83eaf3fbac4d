"""ML assets end to end on `tiny`: train + register + gate, score with the champions, re-run, force.

One full pipeline run (module fixture), then two cheap follow-ups on the same data and instance: the four
training assets again (the gate must keep every champion: same data, same models, no improvement), and the
diamond model with `force_promotion=True` (the operator override moves the alias and is recorded as forced).
"""

import dagster as dg
import pytest

from smartmarket.config import load_settings
from smartmarket.warehouse import Warehouse

MODELS = {
    "demand_forecaster": "ml/demand_forecaster",
    "purchase_propensity": "ml/purchase_propensity",
    "gold_price_forecaster": "ml/gold_price_forecaster",
    "diamond_price_regressor": "ml/diamond_price_regressor",
}
TRAINING_KEYS = [dg.AssetKey.from_user_string(k) for k in MODELS.values()]
DIAMOND_OP = "ml__diamond_price_regressor"


def _materializations(result) -> dict[str, dict]:
    return {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}


def _value(meta: dict, key: str):
    return meta[key].value if hasattr(meta[key], "value") else meta[key]


@pytest.fixture(scope="module")
def ml_runs(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("ml_pipeline") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("SMARTMARKET_DATA_DIR", str(data_dir))
    mp.setenv("SMARTMARKET_WAREHOUSE", "duckdb")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.delenv("SMARTMARKET_TENANTS", raising=False)
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    generate(data_dir, size="tiny", seed=11)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("smartmarket_pipeline")
    first = job.execute_in_process(instance=instance, raise_on_error=False)
    again = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=TRAINING_KEYS)
    forced = job.execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey(["ml", "diamond_price_regressor"])],
        run_config={"ops": {DIAMOND_OP: {"config": {"force_promotion": True}}}},
    )
    settings = load_settings()
    yield {"first": first, "again": again, "forced": forced, "settings": settings, "instance": instance}
    mp.undo()


def _client(settings):
    from ml.registry import configure_tracking

    return configure_tracking(settings.mlflow_tracking_uri)


@pytest.mark.slow
def test_first_run_trains_registers_and_scores(ml_runs) -> None:
    first = ml_runs["first"]
    assert first.success, [e.message for e in first.get_step_failure_events()]
    meta = _materializations(first)
    for name, key in MODELS.items():
        m = meta[key]
        assert _value(m, "registered_model") == name
        assert _value(m, "registered_version") == "1"
        assert _value(m, "promoted") is True and _value(m, "forced") is False
        assert "no champion yet" in _value(m, "promotion_reason")
        assert _value(m, "mlflow_run_id")
        assert "data:image/png;base64," in _value(m, "plots")
    for key in ("ml/demand_forecasts", "ml/customer_propensity_scores"):
        assert _value(meta[key], "model_version") == "1"
        assert _value(meta[key], "rows") > 0

    client = _client(ml_runs["settings"])
    for name in MODELS:
        assert client.get_model_version_by_alias(name, "champion") is not None
        first_version = client.get_model_version(name, "1")
        assert first_version.tags["validation_status"] == "passed"
        run = client.get_run(first_version.run_id)
        assert {"git_commit", "dagster_run_id", "data_snapshot_id"} <= set(run.data.tags)
        assert run.data.tags["dagster_run_id"] == first.run_id
        assert client.get_experiment(run.info.experiment_id).name == name


@pytest.mark.slow
def test_demand_training_reports_progress_in_the_dagster_log(ml_runs) -> None:
    logs = [e for e in ml_runs["instance"].all_logs(ml_runs["first"].run_id) if e.step_key == "ml__demand_forecaster"]
    lines = [e.user_message for e in logs]
    fit = [m for m in lines if m.startswith("demand: backtest, select and fit at the holdout cut")]
    assert fit and "series/s" in fit[0] and "left" in fit[0], lines[:20]
    assert any("done," in m for m in fit)
    assert any(m.startswith("demand: refit the chosen models on the full history") for m in lines)


@pytest.mark.slow
def test_score_tables_are_populated_and_their_checks_pass(ml_runs) -> None:
    first = ml_runs["first"]
    wh = Warehouse(ml_runs["settings"])
    forecasts = wh.query_df("select * from ml.demand_forecasts")
    scores = wh.query_df("select * from ml.customer_propensity_scores")
    rfm = wh.query_df("select tenant_id, customer_id from marts.customer_rfm")
    assert len(forecasts) > 0 and forecasts.groupby(["tenant_id", "product_id"]).size().eq(30).all()
    assert {"days_until_stockout", "stockout_probability", "reorder_by_date", "model_version",
            "selection_basis"} <= set(forecasts)
    assert set(forecasts["selection_basis"]) <= {"backtest", "short_history", "fallback"}
    # Each tenant's forecasts start the day after its own last sales date.
    sales_end = wh.query_df("select tenant_id, max(sales_date) as d from marts.fct_daily_product_sales group by 1")
    origin = forecasts.groupby("tenant_id")["forecast_origin"].min()
    assert {str(t): str(d)[:10] for t, d in origin.items()} == {
        str(t): str(d)[:10] for t, d in zip(sales_end["tenant_id"], sales_end["d"], strict=True)}
    assert (forecasts["yhat"] >= 0).all() and set(forecasts["model_version"]) == {"1"}
    assert len(scores) == len(rfm) and scores["propensity_30d"].between(0, 1).all()
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in first.get_asset_check_evaluations()}
    assert checks[("ml/demand_forecasts", "forecasts_complete_and_non_negative")].passed
    assert checks[("ml/customer_propensity_scores", "scores_valid")].passed
    for key in MODELS.values():
        assert (key, "champion_beats_baseline") in checks
    failed = [f"{k}:{n} {c.description}" for (k, n), c in checks.items() if not c.passed]
    assert failed == []


@pytest.mark.slow
def test_rerun_on_identical_data_registers_but_keeps_the_champions(ml_runs) -> None:
    again = ml_runs["again"]
    assert again.success, [e.message for e in again.get_step_failure_events()]
    meta = _materializations(again)
    client = _client(ml_runs["settings"])
    for name, key in MODELS.items():
        m = meta[key]
        assert _value(m, "registered_version") == "2"
        assert _value(m, "promoted") is False, _value(m, "promotion_reason")
        assert _value(m, "forced") is False
        assert _value(m, "compared_with_version") == "1"
        assert _value(m, "new_score") == pytest.approx(_value(m, "champion_score_before"))
        assert "champion kept" in _value(m, "promotion_reason")
        assert _value(m, "champion_version") == "1"  # (the forced run below later moves the diamond alias)
        if name != "diamond_price_regressor":
            assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        assert client.get_model_version(name, "2").tags["validation_status"] == "rejected"


@pytest.mark.slow
def test_forced_promotion_moves_the_champion_and_is_recorded(ml_runs) -> None:
    forced = ml_runs["forced"]
    assert forced.success, [e.message for e in forced.get_step_failure_events()]
    m = _materializations(forced)["ml/diamond_price_regressor"]
    assert _value(m, "registered_version") == "3"
    assert _value(m, "promoted") is True and _value(m, "forced") is True
    assert "forced by operator" in _value(m, "promotion_reason")
    client = _client(ml_runs["settings"])
    champion = client.get_model_version_by_alias("diamond_price_regressor", "champion")
    assert str(champion.version) == "3"
    assert champion.tags["forced"] == "true" and champion.tags["validation_status"] == "forced"
    assert client.get_run(champion.run_id).data.params["promotion_forced"] == "True"


# ---------------------------------------------------------------------------------------------------- skips

ML_KEYS = [*TRAINING_KEYS, dg.AssetKey(["ml", "demand_forecasts"]), dg.AssetKey(["ml", "customer_propensity_scores"])]


@pytest.fixture(scope="module")
def jeweller_runs(tmp_path_factory: pytest.TempPathFactory):
    """A jeweller-only landing zone (metal and diamond prices, no transactions, no inventory)."""
    import shutil

    data_dir = tmp_path_factory.mktemp("ml_jeweller") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("SMARTMARKET_DATA_DIR", str(data_dir))
    mp.setenv("SMARTMARKET_WAREHOUSE", "duckdb")
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.delenv("SMARTMARKET_TENANTS", raising=False)
    from orchestration.definitions import defs
    from smartmarket.datagen import generate

    generate(data_dir, size="tiny", seed=11)
    for kind in ("transactions", "inventory"):
        shutil.rmtree(data_dir / "landing" / kind)
    instance = dg.DagsterInstance.ephemeral()
    # The warehouse is built by the real ingest + dbt assets. The raw transactions checks are left out: how
    # they treat an absent sales feed is theirs to decide (issue 13, item 1), and with them failing nothing
    # downstream would be built for the ML assets to read.
    build = (dg.AssetSelection.all() - dg.AssetSelection.groups("ml")
             - dg.AssetSelection.checks_for_assets(dg.AssetKey(["raw", "transactions"])))
    build_defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[dg.define_asset_job("build", selection=build)]))
    warehouse = build_defs.resolve_job_def("build").execute_in_process(instance=instance, raise_on_error=False)
    ml = defs.resolve_job_def("smartmarket_pipeline").execute_in_process(
        instance=instance, raise_on_error=False, asset_selection=ML_KEYS)
    yield {"warehouse": warehouse, "ml": ml, "instance": instance}
    mp.undo()


def _observations(result) -> dict[str, dict]:
    events = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    return {e.asset_key.to_user_string(): {k: v.value for k, v in obs.metadata.items()}
            for e in events for obs in [e.event_specific_data.asset_observation]}


@pytest.mark.slow
def test_jeweller_without_sales_trains_its_price_models_and_skips_the_rest_green(jeweller_runs) -> None:
    built = set(_materializations(jeweller_runs["warehouse"]))
    assert {"marts/fct_daily_product_sales", "marts/customer_rfm", "marts/fct_metal_prices_daily"} <= built
    ml = jeweller_runs["ml"]
    assert ml.success, [e.message for e in ml.get_step_failure_events()]
    assert set(_materializations(ml)) == {"ml/gold_price_forecaster", "ml/diamond_price_regressor"}
    obs = _observations(ml)
    assert obs["ml/demand_forecaster"]["skipped"] is True
    assert "daily product sales are empty" in obs["ml/demand_forecaster"]["skipped_reason"]
    assert obs["ml/purchase_propensity"]["skipped"] is True
    assert "no transactions with a customer_id" in obs["ml/purchase_propensity"]["skipped_reason"]
    skipped_steps = {e.step_key for e in ml.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert {"ml__demand_forecasts", "ml__customer_propensity_scores"} <= skipped_steps
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in ml.get_asset_check_evaluations()}
    assert not [k for k, c in checks.items() if not c.passed]
    assert ("ml/demand_forecaster", "champion_beats_baseline") not in checks  # not evaluated: shown as skipped
    assert checks[("ml/gold_price_forecaster", "champion_beats_baseline")].passed
    assert "a tie passes" in checks[("ml/gold_price_forecaster", "champion_beats_baseline")].description


@pytest.mark.parametrize(("model", "metric", "higher"), [
    ("demand_forecaster", "holdout_wape", False),
    ("purchase_propensity", "holdout_brier", False),
    ("gold_price_forecaster", "holdout_mape", False),
    ("diamond_price_regressor", "holdout_mape", False),
    ("any higher-is-better metric", "holdout_roc_auc", True),
])
def test_champion_equal_to_its_baseline_passes_for_every_model(model, metric, higher) -> None:
    from ml.registry import PromotionDecision
    from ml.training.common import SCORE_TOLERANCE, TrainingOutcome
    from orchestration.ml import DEMAND_KEY, baseline_check

    def outcome(champion: float, baseline: float) -> TrainingOutcome:
        d = PromotionDecision(promote=True, forced=False, reason="r", new_score=champion, champion_score=None,
                              champion_version=None)
        return TrainingOutcome(
            model_name=model, version="1", run_id="run", decision=d, metric_name=metric, higher_is_better=higher,
            metrics={}, baseline_metrics={}, lift={}, baseline_name="baseline", champion_version="1",
            champion_score=champion, check_metric=metric, check_higher_is_better=higher,
            champion_check_score=champion, baseline_check_score=baseline, data_snapshot_id="s")

    worse = 0.2 if not higher else 0.1
    tie = outcome(0.15, 0.15)
    assert tie.champion_not_worse_than_baseline
    assert outcome(0.15, 0.15 + (SCORE_TOLERANCE / 2) * (1 if higher else -1)).champion_not_worse_than_baseline
    assert not outcome(worse, 0.15).champion_not_worse_than_baseline
    assert not outcome(float("nan"), 0.15).champion_not_worse_than_baseline
    check = baseline_check(tie, DEMAND_KEY, dg.AssetCheckSeverity.ERROR)
    assert check.passed and check.check_name == "champion_beats_baseline"
    assert "a tie passes" in check.description and "not worse than the baseline" in check.description
    assert not baseline_check(outcome(worse, 0.15), DEMAND_KEY, dg.AssetCheckSeverity.ERROR).passed
