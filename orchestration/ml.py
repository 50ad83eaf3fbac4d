"""ML assets: train + register + gate the four models, and score with their champions.

Thin wiring: the logic lives in ``ml.training`` (plain Python). mlflow / sklearn / prophet / ``ml.training`` are
imported inside the asset bodies so the code location loads in seconds.

Training assets (``ml/<registered model name>``) read their marts into pandas (the warehouse connection is
closed before training starts), train, log and register a new MLflow version, and move the ``champion`` alias
only when the new version beats the champion re-scored on the same holdout -- or when an operator sets
``force_promotion`` (logged as such in MLflow and in the materialization metadata).

Scoring assets load ``models:/<name>@champion`` (resolved to a version number first), write ``ml.*`` tables and
report the version they loaded. They write the warehouse, so they share the single-writer concurrency key.
"""

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from orchestration.ingest import WAREHOUSE_TAGS
from orchestration.resources import WarehouseResource
from smartmarket.config import load_settings

if TYPE_CHECKING:
    import pandas as pd

    from ml.training.common import TrainingOutcome

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
    n_jobs: int = Field(default=1, description="Worker processes for per-series work (demand forecaster only).")


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


def plot_markdown(plots: dict[str, Path]) -> dg.MetadataValue:
    """The logged plots embedded as base64 PNGs (they are also MLflow artifacts of the run)."""
    from ml.training.common import png_data_uri

    parts = [f"**{name}**\n\n![{name}]({png_data_uri(path)})" for name, path in plots.items() if Path(path).exists()]
    return dg.MetadataValue.md("\n\n".join(parts) or "no plot")


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
    meta["plots"] = plot_markdown(outcome.plots)
    meta["plot_paths"] = dg.MetadataValue.json({k: str(v) for k, v in outcome.plots.items()})
    return meta


def baseline_check(outcome: "TrainingOutcome", key: dg.AssetKey, severity: dg.AssetCheckSeverity,
                   note: str = "") -> dg.AssetCheckResult:
    direction = "higher" if outcome.check_higher_is_better else "lower"
    champ = outcome.champion_check_score
    desc = (f"champion v{outcome.champion_version} {outcome.check_metric} "
            f"{'none' if champ is None else f'{champ:.6g}'} vs {outcome.check_baseline_name or outcome.baseline_name} "
            f"{outcome.baseline_check_score:.6g} on the same holdout ({direction} is better){note}")
    return dg.AssetCheckResult(
        asset_key=key,
        check_name="champion_beats_baseline",
        passed=outcome.champion_beats_baseline,
        severity=severity,
        description=desc,
        metadata={"champion_version": outcome.champion_version or "none", "champion_score": _num(champ),
                  "baseline_score": _num(outcome.baseline_check_score), "metric": outcome.check_metric},
    )


def _baseline_spec(key: dg.AssetKey, baseline: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "champion_beats_baseline", asset=key,
        description=f"The champion (after this run's gate) beats the honest baseline ({baseline}) on this run's "
                    "holdout.",
    )


def _log_outcome(context: dg.AssetExecutionContext, outcome: "TrainingOutcome") -> None:
    d = outcome.decision
    context.log.info(
        f"{outcome.model_name} v{outcome.version} ({outcome.wall_seconds:.1f} s): "
        f"{'PROMOTED' if d.promote else 'not promoted'}{' (FORCED by operator)' if d.forced else ''}: {d.reason}")


# ---------------------------------------------------------------------------------------------------- training


@dg.asset(
    key=DEMAND_KEY, group_name=ML_GROUP, deps=[SALES], kinds={"python", "mlflow", "prophet"}, op_tags=MLFLOW_TAGS,
    check_specs=[_baseline_spec(DEMAND_KEY, "seasonal naive")],
    description="Per-series demand forecaster (seasonal naive / moving average / Prophet chosen by backtest), "
                "registered as `demand_forecaster`; champion gate on the held-out last window's WAPE.",
)
def demand_forecaster(context: dg.AssetExecutionContext, config: DemandTrainingConfig,
                      warehouse: WarehouseResource, mlflow: MlflowResource) -> dg.MaterializeResult:
    from ml.training.demand import train_demand

    sales = read_frame(warehouse, "select tenant_id, product_id, sales_date, quantity_sold "
                                  "from marts.fct_daily_product_sales")
    outcome = train_demand(sales, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                           force=config.force_promotion, n_windows=config.n_windows, window_days=config.window_days,
                           holdout_days=config.holdout_days, n_jobs=config.n_jobs)
    _log_outcome(context, outcome)
    return dg.MaterializeResult(metadata=outcome_metadata(outcome),
                                check_results=[baseline_check(outcome, DEMAND_KEY, dg.AssetCheckSeverity.ERROR)])


@dg.asset(
    key=PROPENSITY_KEY, group_name=ML_GROUP, deps=[TRANSACTIONS, RFM], kinds={"python", "mlflow", "sklearn"},
    op_tags=MLFLOW_TAGS, check_specs=[_baseline_spec(PROPENSITY_KEY, "base rate, Brier score")],
    description="Calibrated purchase-propensity classifier (buys in the next 30 days), registered as "
                "`purchase_propensity`; champion gate on the holdout cutoff's ROC-AUC.",
)
def purchase_propensity(context: dg.AssetExecutionContext, config: TrainingConfig,
                        warehouse: WarehouseResource, mlflow: MlflowResource) -> dg.MaterializeResult:
    from ml.training.propensity import train_propensity

    transactions = read_frame(warehouse, TRANSACTION_SQL)
    outcome = train_propensity(transactions, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                               force=config.force_promotion)
    _log_outcome(context, outcome)
    return dg.MaterializeResult(metadata=outcome_metadata(outcome),
                                check_results=[baseline_check(outcome, PROPENSITY_KEY, dg.AssetCheckSeverity.ERROR)])


@dg.asset(
    key=GOLD_KEY, group_name=ML_GROUP, deps=[METAL_PRICES], kinds={"python", "mlflow"}, op_tags=MLFLOW_TAGS,
    check_specs=[dg.AssetCheckSpec(
        "champion_beats_baseline", asset=GOLD_KEY,
        description="The champion is at least as good as the random walk on the holdout (a tie passes: the random "
                    "walk is often the champion itself). WARN only: daily gold prices are close to a random walk, "
                    "which may honestly win.")],
    description="Gold price forecaster per purity (random walk unless a challenger beats it by 1% in backtests), "
                "registered as `gold_price_forecaster`; champion gate on the holdout window's MAPE.",
)
def gold_price_forecaster(context: dg.AssetExecutionContext, config: TrainingConfig,
                          warehouse: WarehouseResource, mlflow: MlflowResource) -> dg.MaterializeResult:
    from ml.training.gold import train_gold

    prices = read_frame(warehouse, "select price_date, metal, purity, price_per_gram "
                                   "from marts.fct_metal_prices_daily where lower(metal) = 'gold'")
    outcome = train_gold(prices, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                         force=config.force_promotion)
    _log_outcome(context, outcome)
    check = baseline_check(outcome, GOLD_KEY, dg.AssetCheckSeverity.WARN,
                           note="; a tie passes (the champion may be the random walk itself) and a random walk "
                                "winning is plausible on daily gold, hence a warning")
    return dg.MaterializeResult(metadata=outcome_metadata(outcome), check_results=[check])


@dg.asset(
    key=DIAMOND_KEY, group_name=ML_GROUP, deps=[DIAMOND_PRICES], kinds={"python", "mlflow", "sklearn"},
    op_tags=MLFLOW_TAGS, check_specs=[_baseline_spec(DIAMOND_KEY, "carat power law")],
    description="Diamond price regressor (gradient boosting on log price, split-conformal intervals), registered "
                "as `diamond_price_regressor`; champion gate on the held-out MAPE.",
)
def diamond_price_regressor(context: dg.AssetExecutionContext, config: TrainingConfig,
                            warehouse: WarehouseResource, mlflow: MlflowResource) -> dg.MaterializeResult:
    from ml.training.diamond import train_diamond

    diamonds = read_frame(warehouse, "select * from marts.fct_diamond_prices")
    outcome = train_diamond(diamonds, tracking_uri=mlflow.uri(), dagster_run_id=context.run_id,
                            force=config.force_promotion)
    _log_outcome(context, outcome)
    return dg.MaterializeResult(metadata=outcome_metadata(outcome),
                                check_results=[baseline_check(outcome, DIAMOND_KEY, dg.AssetCheckSeverity.ERROR)])


# ---------------------------------------------------------------------------------------------------- scoring


def forecasts_check(frame: "pd.DataFrame", expected: list[tuple[str, str]], horizon: int) -> dg.AssetCheckResult:
    """Every active product has exactly ``horizon`` rows and every forecast value is >= 0."""
    counts = frame.groupby(["tenant_id", "product_id"]).size()
    missing = [k for k in expected if k not in counts.index]
    wrong = counts[counts != horizon]
    value_cols = ["yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"]
    negative = int((frame[value_cols] < 0).any(axis=1).sum())
    nulls = int(frame[value_cols].isna().any(axis=1).sum())
    passed = not missing and wrong.empty and negative == 0 and nulls == 0 and len(expected) > 0
    return dg.AssetCheckResult(
        asset_key=FORECASTS_KEY, check_name="forecasts_complete_and_non_negative", passed=passed,
        metadata={"active_products": len(expected), "missing_products": len(missing),
                  "products_with_wrong_row_count": len(wrong), "rows_with_negative_values": negative,
                  "rows_with_null_values": nulls,
                  "examples": dg.MetadataValue.text(", ".join(f"{t}/{p}" for t, p in missing[:10]) or "none")},
    )


@dg.asset(
    key=FORECASTS_KEY, group_name=ML_GROUP, deps=[DEMAND_KEY, SALES, INVENTORY], op_tags=WAREHOUSE_TAGS,
    kinds={"python", "mlflow"},
    check_specs=[dg.AssetCheckSpec("forecasts_complete_and_non_negative", asset=FORECASTS_KEY,
                                   description="Every active product has exactly 30 forecast rows, all values >= 0.")],
    description="Table ml.demand_forecasts: the next 30 days per active product from the `demand_forecaster` "
                "champion, with stock-out risk (days until stock-out, probability within the lead time, reorder-by "
                "date) from the latest inventory position.",
)
def demand_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     mlflow: MlflowResource) -> dg.MaterializeResult:
    from ml.training.common import DEMAND
    from ml.training.scoring import (
        DEMAND_FORECAST_COLUMNS,
        HORIZON_DAYS,
        active_series,
        load_champion_model,
        score_demand,
    )

    sales = read_frame(warehouse, "select tenant_id, product_id, sales_date, quantity_sold "
                                  "from marts.fct_daily_product_sales")
    inventory = read_frame(warehouse, "select * from marts.inventory_position")
    model, version = load_champion_model(DEMAND, mlflow.uri())
    context.log.info(f"loaded {DEMAND} v{version} (champion)")
    result = score_demand(model, sales, inventory, version, horizon_days=HORIZON_DAYS)
    for note in result.notes:
        context.log.warning(note)
    wh = warehouse.client()
    n = wh.replace_table("ml.demand_forecasts", result.frame, DEMAND_FORECAST_COLUMNS)
    written = wh.query_df("select tenant_id, product_id, yhat, yhat_lower_80, yhat_upper_80, yhat_lower_95, "
                          "yhat_upper_95 from ml.demand_forecasts")
    check = forecasts_check(written, active_series(sales), HORIZON_DAYS)
    frame = result.frame
    at_risk = frame.drop_duplicates(["tenant_id", "product_id"])
    at_risk = at_risk[at_risk["stockout_probability"].fillna(0) >= 0.5]
    return dg.MaterializeResult(
        metadata={
            "model_version": version, "registered_model": DEMAND, "rows": n,
            "products": int(frame[["tenant_id", "product_id"]].drop_duplicates().shape[0]),
            "forecast_origin": str(frame["forecast_origin"].min()) if n else "none",
            "products_unknown_to_champion": len(result.unscored),
            "products_stockout_probability_ge_50pct": len(at_risk),
            "table": "ml.demand_forecasts",
        },
        check_results=[check],
    )


@dg.asset(
    key=SCORES_KEY, group_name=ML_GROUP, deps=[PROPENSITY_KEY, TRANSACTIONS, RFM], op_tags=WAREHOUSE_TAGS,
    kinds={"python", "mlflow"},
    check_specs=[dg.AssetCheckSpec("scores_valid", asset=SCORES_KEY,
                                   description="Every customer of marts.customer_rfm is scored exactly once, "
                                               "with a propensity between 0 and 1.")],
    description="Table ml.customer_propensity_scores: P(purchase in the 30 days after the as-of date) per known "
                "customer from the `purchase_propensity` champion.",
)
def customer_propensity_scores(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                               mlflow: MlflowResource) -> dg.MaterializeResult:
    from ml.training.common import PROPENSITY
    from ml.training.scoring import PROPENSITY_SCORE_COLUMNS, load_champion_model, score_propensity

    transactions = read_frame(warehouse, TRANSACTION_SQL)
    rfm = read_frame(warehouse, "select tenant_id, customer_id, as_of_date from marts.customer_rfm")
    if rfm.empty:
        raise ValueError("marts.customer_rfm is empty: nothing to score")
    as_of = rfm["as_of_date"].max()
    model, version = load_champion_model(PROPENSITY, mlflow.uri())
    context.log.info(f"loaded {PROPENSITY} v{version} (champion)")
    result = score_propensity(model, transactions, as_of, version)
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
    return dg.MaterializeResult(
        metadata={
            "model_version": version, "registered_model": PROPENSITY, "rows": n, "as_of_date": str(as_of)[:10],
            "mean_propensity_30d": _num(float(p.mean()) if len(p) else math.nan),
            "table": "ml.customer_propensity_scores",
        },
        check_results=[check],
    )


training_assets = [demand_forecaster, purchase_propensity, gold_price_forecaster, diamond_price_regressor]
scoring_assets = [demand_forecasts, customer_propensity_scores]
defs = dg.Definitions(assets=[*training_assets, *scoring_assets], resources={"mlflow": MlflowResource()})
