"""ML assets: train + register + gate the four models, and score with their champions.

Thin wiring: the logic lives in ``ml.training`` (plain Python). mlflow / sklearn / prophet / ``ml.training`` are
imported inside the asset bodies so the code location loads in seconds.

Training assets (``ml/<registered model name>``) read their marts into pandas (the warehouse connection is
closed before training starts), train, log and register a new MLflow version, and move the ``champion`` alias
only when the new version beats the champion re-scored on the same holdout -- or when an operator sets
``force_promotion`` (logged as such in MLflow and in the materialization metadata).

Scoring assets load ``models:/<name>@champion`` (resolved to a version number first), write ``ml.*`` tables and
report the version they loaded. They write the warehouse, so they share the single-writer concurrency key.

Skips: a model whose input is empty or too small (a grocer has no metal prices, a new shop two weeks of sales)
raises ``ml.errors.InsufficientDataError``. The asset then ends successfully WITHOUT a materialization
(``skippable_asset``): it logs the reason as a warning and records an ``AssetObservation`` with
``skipped = true`` and ``skipped_reason`` (shown on the asset's page in the UI). Its checks are not evaluated
(Dagster shows them as skipped, never as failed) and the assets downstream of it are skipped by Dagster in the
same run, so a jeweller-only or sales-only landing zone runs green.
"""

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from orchestration.ingest import WAREHOUSE_TAGS
from orchestration.resources import WarehouseResource
from smartmarket.config import load_settings

if TYPE_CHECKING:
    import pandas as pd

    from ml.training.common import TrainingOutcome
    from ml.training.scoring import ForecastCompleteness

ML_GROUP = "ml"
# MLflow's embedded SQLite store takes one writer at a time: the jobs in automation.py limit this key to 1.
MLFLOW_TAGS = {"dagster/concurrency_key": "mlflow"}

SALES = dg.AssetKey(["marts", "fct_daily_product_sales"])
INVENTORY = dg.AssetKey(["marts", "inventory_position"])
RFM = dg.AssetKey(["marts", "customer_rfm"])
METAL_PRICES = dg.AssetKey(["marts", "fct_metal_prices_daily"])
DIAMOND_PRICES = dg.AssetKey(["marts", "fct_diamond_prices"])
TRANSACTIONS = dg.AssetKey(["staging", "stg_raw__transactions"])

DEMAND_KEY = dg.AssetKey(["ml", "demand_forecaster"])
PROPENSITY_KEY = dg.AssetKey(["ml", "purchase_propensity"])
GOLD_KEY = dg.AssetKey(["ml", "gold_price_forecaster"])
DIAMOND_KEY = dg.AssetKey(["ml", "diamond_price_regressor"])
FORECASTS_KEY = dg.AssetKey(["ml", "demand_forecasts"])
SCORES_KEY = dg.AssetKey(["ml", "customer_propensity_scores"])

SALES_SQL = "select tenant_id, product_id, sales_date, quantity_sold from marts.fct_daily_product_sales"
# Each tenant's as-of as the marts computed it (customer_rfm carries it per customer; one value per tenant).
RFM_AS_OF_SQL = "select tenant_id, max(as_of_date) as as_of_date from marts.customer_rfm group by tenant_id"
TRANSACTION_SQL = (
    "select tenant_id, invoice_id, transaction_date, customer_id, product_id, category, quantity, unit_price, "
    "amount, is_return from staging.stg_raw__transactions"
)


# ---------------------------------------------------------------------------------------------------- resources


class MlflowResource(dg.ConfigurableResource):
    """Where models are tracked and registered.

    Leave ``tracking_uri`` empty to use MLFLOW_TRACKING_URI, else the embedded SQLite store under the data dir.
    """

    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking/registry URI; empty = MLFLOW_TRACKING_URI or the local store")

    def uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        settings = load_settings()
        if settings.mlflow_uri is None:
            settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
        return settings.mlflow_tracking_uri


# ---------------------------------------------------------------------------------------------------- config


class TrainingConfig(dg.Config):
    force_promotion: bool = Field(
        default=False,
        description="Operator override: make the new version champion even if it does not beat the current "
                    "champion on the holdout. The override is logged (MLflow run params and version tags, "
                    "materialization metadata) as forced.",
    )
    n_jobs: int = Field(
        default=1,
        description="Worker processes for the per-series work of the demand forecaster (backtest, selection, "
                    "fit; ignored by the other models). 1 = in the step's own process. More pays off with many "
                    "Prophet series: each worker costs ~1-2 s to start and one core; on a shared machine keep it "
                    "at or below the free cores.",
    )


class DemandTrainingConfig(TrainingConfig):
    n_windows: int = Field(default=2, description="Rolling-origin backtest windows used to choose each series' model.")
    window_days: int = Field(default=28, description="Length of each backtest window, in days.")
    holdout_days: int = Field(default=28, description="Held-out last days the champion gate scores on.")


# ---------------------------------------------------------------------------------------------------- helpers


def read_frame(warehouse: WarehouseResource, sql: str, attempts: int = 6) -> "pd.DataFrame":
    """Query into pandas and close the connection; retry while another process holds DuckDB's write lock."""
    for attempt in range(attempts):
        try:
            return warehouse.client().query_df(sql)
        except Exception as exc:  # duckdb.IOException: "Could not set lock on file"
            if "lock" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(2.0 * (attempt + 1))
    raise AssertionError("unreachable")


def _num(value: Any) -> dg.MetadataValue:
    if value is None:
        return dg.MetadataValue.text("none")
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    return dg.MetadataValue.float(float(value))


def plot_markdown(plots: dict[str, bytes]) -> dg.MetadataValue:
    """The logged plots embedded as base64 PNGs (they are also MLflow artifacts of the run)."""
    from ml.training.common import png_data_uri

    parts = [f"**{name}**\n\n![{name}]({png_data_uri(png)})" for name, png in plots.items()]
    return dg.MetadataValue.md("\n\n".join(parts) or "no plot")


def skippable_asset(key: dg.AssetKey, *, deps: list[dg.AssetKey], kinds: set[str], op_tags: dict[str, str],
                    check_specs: list[dg.AssetCheckSpec], description: str) -> Any:
    """An asset that may end without materializing (see the module docstring), with optional check results.

    ``@dg.asset`` makes check outputs required, so a skip would fail the step; a one-asset ``multi_asset``
    with ``skippable=True`` and ``can_subset=True`` lets the asset and its checks go unreported, which Dagster
    shows as not materialized / check skipped. The op keeps the ``@asset`` name (``ml__<name>``) so run config
    by op name is unchanged.
    """
    return dg.multi_asset(
        name=key.to_python_identifier(),
        specs=[dg.AssetSpec(key, deps=deps, kinds=kinds, group_name=ML_GROUP, description=description,
                            skippable=True)],
        check_specs=check_specs, can_subset=True, op_tags=op_tags,
    )


def selected_checks(context: dg.AssetExecutionContext,
                    results: list[dg.AssetCheckResult]) -> list[dg.AssetCheckResult]:
    """Only the check results this run selected (a subset run may leave a check out)."""
    keys = context.selected_asset_check_keys
    return [r for r in results if dg.AssetCheckKey(r.asset_key, r.check_name) in keys]


def asset_not_selected(context: dg.AssetExecutionContext, key: dg.AssetKey) -> bool:
    """True (and logged) when only the checks were selected: they need this step's fresh result to evaluate."""
    if key in context.selected_asset_keys:
        return False
    context.log.warning(f"{key.to_user_string()} not selected: its checks are evaluated when it materializes")
    return True


def skipped(context: dg.AssetExecutionContext, key: dg.AssetKey, reason: str) -> Iterator[dg.AssetObservation]:
    """End a ``skippable_asset`` without materializing it, saying why (log + observation)."""
    context.log.warning(f"{key.to_user_string()} skipped (not materialized): {reason}")
    yield dg.AssetObservation(asset_key=key, metadata={
        "skipped": dg.MetadataValue.bool(True),
        "skipped_reason": dg.MetadataValue.text(reason),
    })


def outcome_metadata(outcome: "TrainingOutcome") -> dict[str, Any]:
    d = outcome.decision
    meta: dict[str, Any] = {
        "registered_model": outcome.model_name,
        "registered_version": outcome.version,
        "mlflow_run_id": outcome.run_id,
        "data_snapshot_id": outcome.data_snapshot_id,
        "gate_metric": outcome.metric_name,
        "promoted": d.promote,
        "forced": d.forced,
        "promotion_reason": dg.MetadataValue.text(d.reason),
        "new_score": _num(d.new_score),
        "champion_score_before": _num(d.champion_score),
        "compared_with_version": d.champion_version or "none",
        "champion_version": outcome.champion_version or "none",
        "champion_score": _num(outcome.champion_score),
        "baseline": outcome.baseline_name,
        "check_metric": outcome.check_metric,
        "champion_check_score": _num(outcome.champion_check_score),
        "baseline_check_score": _num(outcome.baseline_check_score),
        "training_seconds": round(outcome.wall_seconds, 1),
    }
    meta.update({f"metric/{k}": _num(v) for k, v in outcome.metrics.items()})
    meta.update({f"baseline/{k}": _num(v) for k, v in outcome.baseline_metrics.items()})
    meta.update({f"lift/{k}": _num(v) for k, v in outcome.lift.items()})
    if outcome.notes:
        meta["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in outcome.notes))
    meta["problems"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in outcome.warnings) or "none")
    meta["plots"] = plot_markdown(outcome.plots)
    meta["plot_artifacts"] = dg.MetadataValue.json(outcome.plot_artifacts)
    return meta


# The check keeps its historical name (its history in the UI, alerts and the demo refer to it); the rule is
# "not worse than", the same for every model (ml.training.common.not_worse_than).
BASELINE_CHECK = "champion_beats_baseline"


def baseline_check(outcome: "TrainingOutcome", key: dg.AssetKey, severity: dg.AssetCheckSeverity,
                   note: str = "") -> dg.AssetCheckResult:
    direction = "higher" if outcome.check_higher_is_better else "lower"
    champ = outcome.champion_check_score
    passed = outcome.champion_not_worse_than_baseline
    desc = (f"champion v{outcome.champion_version} {outcome.check_metric} "
            f"{'none' if champ is None else f'{champ:.6g}'} vs {outcome.check_baseline_name or outcome.baseline_name} "
            f"{outcome.baseline_check_score:.6g} on the same holdout ({direction} is better; a tie passes): "
            f"{'not worse than' if passed else 'WORSE than'} the baseline{note}")
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=BASELINE_CHECK,
        passed=passed,
        severity=severity,
        description=desc,
        metadata={"champion_version": outcome.champion_version or "none", "champion_score": _num(champ),
                  "baseline_score": _num(outcome.baseline_check_score), "metric": outcome.check_metric},
    )


def _baseline_spec(key: dg.AssetKey, baseline: str, extra: str = "") -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        BASELINE_CHECK, asset=key,
        description=f"The champion (after this run's gate) is not worse than the honest baseline ({baseline}) on "
                    f"this run's holdout; a tie passes (the baseline may honestly be the best model).{extra} Not "
                    "evaluated (skipped) when the model is skipped for lack of data.",
    )


def _log_outcome(context: dg.AssetExecutionContext, outcome: "TrainingOutcome") -> None:
    d = outcome.decision
    context.log.info(
        f"{outcome.model_name} v{outcome.version} ({outcome.wall_seconds:.1f} s): "
        f"{'PROMOTED' if d.promote else 'not promoted'}{' (FORCED by operator)' if d.forced else ''}: {d.reason}")
    for warning in outcome.warnings:
        context.log.warning(warning)


def _rfm_as_of(frame: "pd.DataFrame") -> dict[str, Any]:
    """{tenant_id: as_of_date} from RFM_AS_OF_SQL's rows."""
    return {str(t): d for t, d in zip(frame["tenant_id"], frame["as_of_date"], strict=True)}


# ---------------------------------------------------------------------------------------------------- training


@skippable_asset(
    DEMAND_KEY, deps=[SALES], kinds={"python", "mlflow", "prophet"}, op_tags=MLFLOW_TAGS,
    check_specs=[_baseline_spec(DEMAND_KEY, "seasonal naive")],
    description="Per-series demand forecaster (seasonal naive / moving average / Prophet chosen by backtest), "
                "registered as `demand_forecaster`; champion gate on each tenant's held-out last window (pooled "
                "WAPE). Skipped, with the reason, when there are no sales or too little history.",
)
def demand_forecaster(context: dg.AssetExecutionContext, config: DemandTrainingConfig,
                      warehouse: WarehouseResource, mlflow: MlflowResource) -> Iterator[Any]:
    if asset_not_selected(context, DEMAND_KEY):
        return
    from ml.errors import InsufficientDataError
    from ml.training.demand import train_demand

    sales = read_frame(warehouse, SALES_SQL)
    try:
        outcome = train_demand(sales, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                               force=config.force_promotion, n_windows=config.n_windows,
                               window_days=config.window_days, holdout_days=config.holdout_days,
                               n_jobs=config.n_jobs, log=context.log.info)
    except InsufficientDataError as exc:
        yield from skipped(context, DEMAND_KEY, exc.reason)
        return
    _log_outcome(context, outcome)
    yield dg.MaterializeResult(asset_key=DEMAND_KEY, metadata=outcome_metadata(outcome),
                               check_results=selected_checks(
                                   context, [baseline_check(outcome, DEMAND_KEY, dg.AssetCheckSeverity.ERROR)]))


@skippable_asset(
    PROPENSITY_KEY, deps=[TRANSACTIONS, RFM], kinds={"python", "mlflow", "sklearn"},
    op_tags=MLFLOW_TAGS, check_specs=[_baseline_spec(PROPENSITY_KEY, "base rate, Brier score")],
    description="Calibrated purchase-propensity classifier (buys in the next 30 days), registered as "
                "`purchase_propensity`; champion gate on each tenant's holdout cutoff (ROC-AUC). Skipped, with "
                "the reason, when there are no known customers or too little history.",
)
def purchase_propensity(context: dg.AssetExecutionContext, config: TrainingConfig,
                        warehouse: WarehouseResource, mlflow: MlflowResource) -> Iterator[Any]:
    if asset_not_selected(context, PROPENSITY_KEY):
        return
    from ml.errors import InsufficientDataError
    from ml.training.propensity import train_propensity

    transactions = read_frame(warehouse, TRANSACTION_SQL)
    tenant_as_of = _rfm_as_of(read_frame(warehouse, RFM_AS_OF_SQL))
    try:
        outcome = train_propensity(transactions, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                                   force=config.force_promotion, tenant_as_of=tenant_as_of or None)
    except InsufficientDataError as exc:
        yield from skipped(context, PROPENSITY_KEY, exc.reason)
        return
    _log_outcome(context, outcome)
    yield dg.MaterializeResult(asset_key=PROPENSITY_KEY, metadata=outcome_metadata(outcome),
                               check_results=selected_checks(
                                   context, [baseline_check(outcome, PROPENSITY_KEY, dg.AssetCheckSeverity.ERROR)]))


@skippable_asset(
    GOLD_KEY, deps=[METAL_PRICES], kinds={"python", "mlflow"}, op_tags=MLFLOW_TAGS,
    check_specs=[_baseline_spec(GOLD_KEY, "random walk",
                                extra=" WARN only: daily gold prices are close to a random walk, which may "
                                      "honestly win.")],
    description="Gold price forecaster per purity (random walk unless a challenger beats it by 1% in backtests), "
                "registered as `gold_price_forecaster`; champion gate on the holdout window's MAPE. Skipped, "
                "with the reason, when there are no gold prices or too few.",
)
def gold_price_forecaster(context: dg.AssetExecutionContext, config: TrainingConfig,
                          warehouse: WarehouseResource, mlflow: MlflowResource) -> Iterator[Any]:
    if asset_not_selected(context, GOLD_KEY):
        return
    from ml.errors import InsufficientDataError
    from ml.training.gold import train_gold

    prices = read_frame(warehouse, "select price_date, metal, purity, price_per_gram "
                                   "from marts.fct_metal_prices_daily where lower(metal) = 'gold'")
    try:
        outcome = train_gold(prices, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                             force=config.force_promotion)
    except InsufficientDataError as exc:
        yield from skipped(context, GOLD_KEY, exc.reason)
        return
    _log_outcome(context, outcome)
    check = baseline_check(outcome, GOLD_KEY, dg.AssetCheckSeverity.WARN,
                           note="; a random walk winning is plausible on daily gold, hence a warning")
    yield dg.MaterializeResult(asset_key=GOLD_KEY, metadata=outcome_metadata(outcome),
                               check_results=selected_checks(context, [check]))


@skippable_asset(
    DIAMOND_KEY, deps=[DIAMOND_PRICES], kinds={"python", "mlflow", "sklearn"},
    op_tags=MLFLOW_TAGS, check_specs=[_baseline_spec(DIAMOND_KEY, "carat power law")],
    description="Diamond price regressor (gradient boosting on log price, split-conformal intervals), registered "
                "as `diamond_price_regressor`; champion gate on the held-out MAPE. Skipped, with the reason, "
                "when there are no diamond prices or too few.",
)
def diamond_price_regressor(context: dg.AssetExecutionContext, config: TrainingConfig,
                            warehouse: WarehouseResource, mlflow: MlflowResource) -> Iterator[Any]:
    if asset_not_selected(context, DIAMOND_KEY):
        return
    from ml.errors import InsufficientDataError
    from ml.training.diamond import train_diamond

    diamonds = read_frame(warehouse, "select * from marts.fct_diamond_prices")
    try:
        outcome = train_diamond(diamonds, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                                force=config.force_promotion)
    except InsufficientDataError as exc:
        yield from skipped(context, DIAMOND_KEY, exc.reason)
        return
    _log_outcome(context, outcome)
    yield dg.MaterializeResult(asset_key=DIAMOND_KEY, metadata=outcome_metadata(outcome),
                               check_results=selected_checks(
                                   context, [baseline_check(outcome, DIAMOND_KEY, dg.AssetCheckSeverity.ERROR)]))


# ---------------------------------------------------------------------------------------------------- scoring


def forecasts_check(c: "ForecastCompleteness", horizon: int) -> dg.AssetCheckResult:
    """Errors fail the check; active products without a forecast but with a reason only warn (listed)."""
    severity = dg.AssetCheckSeverity.WARN if c.warnings else dg.AssetCheckSeverity.ERROR
    examples = [f"{t}/{p}: not explained" for t, p in c.missing_unexplained[:10]]
    examples += [f"{t}/{p}: {why}" for (t, p), why in list(c.missing_explained.items())[:10]]
    if c.errors:
        desc = (f"{len(c.missing_unexplained)} active products missing without a reason, "
                f"{c.products_with_wrong_row_count} with a row count other than {horizon}, "
                f"{c.rows_with_negative_values} rows negative, {c.rows_with_null_values} rows null "
                f"({c.active_products} active products)")
    elif c.warnings:
        desc = (f"every forecast written is complete and non-negative; {len(c.missing_explained)} of "
                f"{c.active_products} active products have no forecast, each with its reason")
    else:
        desc = f"all {c.active_products} active products have {horizon} non-negative forecast rows"
    return dg.AssetCheckResult(
        asset_key=FORECASTS_KEY, check_name="forecasts_complete_and_non_negative",
        passed=not c.errors and not c.warnings, severity=severity, description=desc,
        metadata={"active_products": c.active_products,
                  "missing_products_unexplained": len(c.missing_unexplained),
                  "missing_products_with_reason": len(c.missing_explained),
                  "products_with_wrong_row_count": c.products_with_wrong_row_count,
                  "rows_with_negative_values": c.rows_with_negative_values,
                  "rows_with_null_values": c.rows_with_null_values,
                  "examples": dg.MetadataValue.md("\n".join(f"- {e}" for e in examples) or "none")},
    )


@skippable_asset(
    FORECASTS_KEY, deps=[DEMAND_KEY, SALES, INVENTORY], op_tags=WAREHOUSE_TAGS,
    kinds={"python", "mlflow"},
    check_specs=[dg.AssetCheckSpec(
        "forecasts_complete_and_non_negative", asset=FORECASTS_KEY,
        description="Every active product has exactly 30 forecast rows, all values >= 0 (an error otherwise); "
                    "active products the champion cannot forecast are listed with the reason (a warning).")],
    description="Table ml.demand_forecasts: the next 30 days per active product from the `demand_forecaster` "
                "champion, starting the day after each tenant's as-of, with `selection_basis` (backtest / "
                "short_history / fallback) and stock-out risk (days until stock-out, probability within the lead "
                "time, reorder-by date) counted from the same origin. Skipped when there are no sales.",
)
def demand_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     mlflow: MlflowResource) -> Iterator[Any]:
    if asset_not_selected(context, FORECASTS_KEY):
        return
    from ml.errors import InsufficientDataError
    from ml.training.common import DEMAND
    from ml.training.scoring import (
        DEMAND_FORECAST_COLUMNS,
        HORIZON_DAYS,
        active_series,
        forecast_completeness,
        load_champion_model,
        score_demand,
    )

    sales = read_frame(warehouse, SALES_SQL)
    inventory = read_frame(warehouse, "select * from marts.inventory_position")
    model, version = load_champion_model(DEMAND, mlflow.uri())
    context.log.info(f"loaded {DEMAND} v{version} (champion)")
    try:
        result = score_demand(model, sales, inventory, version, horizon_days=HORIZON_DAYS)
    except InsufficientDataError as exc:
        yield from skipped(context, FORECASTS_KEY, exc.reason)
        return
    for note in result.notes:
        context.log.warning(note)
    wh = warehouse.client()
    n = wh.replace_table("ml.demand_forecasts", result.frame, DEMAND_FORECAST_COLUMNS)
    written = wh.query_df("select tenant_id, product_id, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, "
                          "yhat_upper_95 from ml.demand_forecasts")
    completeness = forecast_completeness(written, active_series(sales), HORIZON_DAYS, result.reasons)
    frame = result.frame
    at_risk = frame.drop_duplicates(["tenant_id", "product_id"])
    at_risk = at_risk[at_risk["stockout_probability"].fillna(0) >= 0.5]
    origins = frame.groupby("tenant_id")["forecast_origin"].min() if n else None
    yield dg.MaterializeResult(
        asset_key=FORECASTS_KEY,
        metadata={
            "model_version": version, "registered_model": DEMAND, "rows": n,
            "products": int(frame[["tenant_id", "product_id"]].drop_duplicates().shape[0]),
            "forecast_origin": str(frame["forecast_origin"].min()) if n else "none",
            "forecast_origin_by_tenant": dg.MetadataValue.json(
                {str(t): str(d) for t, d in origins.items()} if origins is not None else {}),
            "products_by_selection_basis": dg.MetadataValue.json(
                {str(k): int(v) for k, v in frame.drop_duplicates(["tenant_id", "product_id"])["selection_basis"]
                 .value_counts().items()} if n else {}),
            "products_unknown_to_champion": len(result.unscored),
            "products_stockout_probability_ge_50pct": len(at_risk),
            "table": "ml.demand_forecasts",
        },
        check_results=selected_checks(context, [forecasts_check(completeness, HORIZON_DAYS)]),
    )


@skippable_asset(
    SCORES_KEY, deps=[PROPENSITY_KEY, TRANSACTIONS, RFM], op_tags=WAREHOUSE_TAGS,
    kinds={"python", "mlflow"},
    check_specs=[dg.AssetCheckSpec("scores_valid", asset=SCORES_KEY,
                                   description="Every customer of marts.customer_rfm is scored exactly once, "
                                               "with a propensity between 0 and 1.")],
    description="Table ml.customer_propensity_scores: P(purchase in the 30 days after the tenant's as-of date) per "
                "known customer from the `purchase_propensity` champion. Skipped when there are no customers.",
)
def customer_propensity_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                               mlflow: MlflowResource) -> Iterator[Any]:
    if asset_not_selected(context, SCORES_KEY):
        return
    from ml.errors import InsufficientDataError
    from ml.training.common import PROPENSITY
    from ml.training.scoring import PROPENSITY_SCORE_COLUMNS, load_champion_model, score_propensity

    rfm = read_frame(warehouse, "select tenant_id, customer_id, as_of_date from marts.customer_rfm")
    if rfm.empty:
        yield from skipped(context, SCORES_KEY, "marts.customer_rfm has no customers: nothing to score")
        return
    transactions = read_frame(warehouse, TRANSACTION_SQL)
    as_of = _rfm_as_of(rfm.groupby("tenant_id", as_index=False)["as_of_date"].max())
    model, version = load_champion_model(PROPENSITY, mlflow.uri())
    context.log.info(f"loaded {PROPENSITY} v{version} (champion); as-of per tenant {as_of}")
    try:
        result = score_propensity(model, transactions, as_of, version)
    except InsufficientDataError as exc:
        yield from skipped(context, SCORES_KEY, exc.reason)
        return
    wh = warehouse.client()
    n = wh.replace_table("ml.customer_propensity_scores", result.frame, PROPENSITY_SCORE_COLUMNS)
    written = wh.query_df("select s.tenant_id, s.customer_id, s.propensity_30d, r.customer_id is not null as in_rfm "
                          "from ml.customer_propensity_scores s left join marts.customer_rfm r "
                          "on r.tenant_id = s.tenant_id and r.customer_id = s.customer_id")
    n_rfm = len(rfm)
    dupes = int(written.duplicated(["tenant_id", "customer_id"]).sum())
    not_in_rfm = int((~written["in_rfm"].astype(bool)).sum())
    scored = set(zip(written["tenant_id"], written["customer_id"], strict=True))
    unscored = sum(1 for k in zip(rfm["tenant_id"], rfm["customer_id"], strict=True) if k not in scored)
    p = written["propensity_30d"]
    out_of_range = int((p.isna() | (p < 0) | (p > 1)).sum())
    check = dg.AssetCheckResult(
        asset_key=SCORES_KEY, check_name="scores_valid",
        passed=dupes == 0 and unscored == 0 and out_of_range == 0 and not_in_rfm == 0,
        metadata={"rfm_customers": n_rfm, "scored_rows": len(written), "duplicates": dupes,
                  "rfm_customers_not_scored": unscored, "scored_not_in_rfm": not_in_rfm,
                  "out_of_range_or_null": out_of_range},
    )
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "model_version": version, "registered_model": PROPENSITY, "rows": n,
            "as_of_date": str(max(as_of.values()))[:10],
            "as_of_date_by_tenant": dg.MetadataValue.json({t: str(d)[:10] for t, d in as_of.items()}),
            "mean_propensity_30d": _num(float(p.mean()) if len(p) else math.nan),
            "table": "ml.customer_propensity_scores",
        },
        check_results=selected_checks(context, [check]),
    )


training_assets = [demand_forecaster, purchase_propensity, gold_price_forecaster, diamond_price_regressor]
scoring_assets = [demand_forecasts, customer_propensity_scores]
defs = dg.Definitions(assets=[*training_assets, *scoring_assets], resources={"mlflow": MlflowResource()})
