"""The models against the generator's ground truth (no dbt, no Dagster: marts-like frames built in pandas).

`smartmarket.datagen` knows what it simulated: each product's expected daily demand, which customers churned
and when, and the noise-free diamond price function. These tests check the ML library where a wrong answer
would otherwise look plausible.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SEED = 42
HOLDOUT_DAYS = 28


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from smartmarket.datagen import generate

    out = tmp_path_factory.mktemp("ground_truth") / "data"
    generate(out, size="demo", seed=SEED)  # ~3 s; enough customers and diamonds for stable metrics
    return out


@pytest.fixture(scope="module")
def transactions(generated: Path) -> pd.DataFrame:
    files = sorted((generated / "landing" / "transactions").glob("*.csv"))
    tx = pd.concat([pd.read_csv(f, dtype={"customer_id": str, "invoice_id": str}) for f in files], ignore_index=True)
    tx["transaction_date"] = pd.to_datetime(tx["transaction_ts"]).dt.normalize()
    tx["is_return"] = tx["quantity"] < 0
    return tx


def _daily_sales(tx: pd.DataFrame) -> pd.DataFrame:
    """fct_daily_product_sales' quantity_sold (gross units sold per day), computed in pandas."""
    sold = tx[tx["quantity"] > 0]
    return (
        sold.groupby(["tenant_id", "product_id", "transaction_date"], as_index=False)["quantity"].sum()
        .rename(columns={"transaction_date": "sales_date", "quantity": "quantity_sold"})
    )


@pytest.mark.slow
def test_forecaster_beats_seasonal_naive_on_seasonal_fashion_demand(generated, transactions) -> None:
    from ml.forecasting import train_demand_forecaster
    from ml.forecasting.data import series_from_sales
    from ml.forecasting.models import SEASONAL_NAIVE, fit_model
    from ml.metrics_forecast import wape

    sales = _daily_sales(transactions[transactions["tenant_id"] == "fashion_01"])
    as_of = pd.Timestamp(sales["sales_date"].max())
    cut = as_of - pd.Timedelta(days=HOLDOUT_DAYS)  # December: Christmas run-up, strongly seasonal
    run = train_demand_forecaster(sales, as_of=cut, n_windows=2)
    train = series_from_sales(sales, as_of=cut)
    naive = []
    # The reference needs two weeks of history; products launched in the last weeks are compared elsewhere
    # (tests/ml/test_demand_training.py) against the short-history fallback.
    compared = [k for k in zip(run.selection["tenant_id"], run.selection["product_id"], strict=True)
                if len(train[k]) >= 14]
    for key in compared:
        fc = fit_model(SEASONAL_NAIVE, train[key]).forecast(HOLDOUT_DAYS)
        naive.append(fc.assign(tenant_id=key[0], product_id=key[1]))
    truth = pd.read_parquet(generated / "ground_truth" / "demand.parquet").rename(columns={"date": "forecast_date"})
    truth["forecast_date"] = pd.to_datetime(truth["forecast_date"])
    model = run.forecasts.assign(forecast_date=pd.to_datetime(run.forecasts["forecast_date"]))
    keys = ["tenant_id", "product_id", "forecast_date"]
    model = model[model["forecast_date"] <= as_of].merge(truth, on=keys)
    model = model[pd.MultiIndex.from_frame(model[["tenant_id", "product_id"]]).isin(compared)]
    base = pd.concat(naive).merge(truth, on=keys)
    assert len(compared) >= len(run.selection) - 5  # only the newest launches are left out
    assert len(model) == len(base) == HOLDOUT_DAYS * len(compared)
    # Scored against the TRUE expected demand, so sampling noise in the actuals cannot decide the comparison.
    model_wape = wape(model["expected_quantity"], model["yhat"])
    naive_wape = wape(base["expected_quantity"], base["yhat"])
    assert model_wape < 0.8 * naive_wape, (model_wape, naive_wape)
    assert set(run.selection["model"]) > {SEASONAL_NAIVE}  # the selection really chose per series


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known since the per-tenant as-of and the generator's pre-history returners "
                   "landed together: one customer the ground truth calls churned before the test's single global "
                   "cutoff carries a purchase label; the test's cutoff must become per tenant (open)")
def test_propensity_beats_rfm_only_on_customers_whose_state_is_known(generated, transactions) -> None:
    from sklearn.metrics import roc_auc_score

    from ml.propensity import build_dataset, fit_and_evaluate

    dataset = build_dataset(transactions)
    result = fit_and_evaluate(dataset, importance_repeats=0)
    truth = pd.read_parquet(generated / "ground_truth" / "customers.parquet")
    preds = result.test_predictions.merge(truth, on=["tenant_id", "customer_id"], how="inner")
    assert len(preds) == len(result.test_predictions)
    cutoff = dataset.test_cutoff
    # At the holdout cutoff the true state is known for customers who never churn (alive) and for those who
    # churned before it (gone); customers churning inside the label window are ambiguous and left out.
    churn = pd.to_datetime(preds["churn_date"])
    known = ~preds["churned"] | (churn < cutoff)
    sure = preds[known]
    assert sure["label"].nunique() == 2 and len(sure) > 500
    auc_model = roc_auc_score(sure["label"], sure["propensity"])
    auc_rfm = roc_auc_score(sure["label"], sure["rfm_propensity"])
    assert auc_model > auc_rfm, (auc_model, auc_rfm)
    # ... and it ranks the truly alive above the truly churned better than RFM does.
    alive = (~sure["churned"]).astype(int)
    assert roc_auc_score(alive, sure["propensity"]) > roc_auc_score(alive, sure["rfm_propensity"])
    # Churned-before-cutoff customers never buy again: the model should give them low propensities.
    gone = sure[sure["churned"]]
    assert gone["label"].sum() == 0
    assert gone["propensity"].mean() < 0.5 * sure.loc[~sure["churned"], "propensity"].mean()


@pytest.mark.slow
def test_diamond_intervals_cover_their_stated_rate_and_track_the_true_price(generated) -> None:
    from ml.diamond import fit_and_evaluate_diamond
    from smartmarket.datagen import true_diamond_price

    diamonds = pd.read_csv(generated / "landing" / "diamond_prices" / "diamond_prices.csv")
    result = fit_and_evaluate_diamond(diamonds.drop(columns=["date"]), coverage=0.9)
    pred = result.test_predictions
    n = len(pred)
    coverage = float(((pred["price_actual"] >= pred["lower"]) & (pred["price_actual"] <= pred["upper"])).mean())
    # Split conformal: >= 90% in expectation; with n test rows allow 4 binomial standard errors.
    se = np.sqrt(0.9 * 0.1 / n)
    assert 0.9 - 4 * se <= coverage <= 0.9 + 4 * se + 0.02, (coverage, n)
    # The point prediction is an estimate of the noise-free (median) price: closer to it than to the noisy one.
    true = true_diamond_price(result.test_frame.reset_index(drop=True))
    rel_err_true = np.median(np.abs(pred["price"].to_numpy() / true - 1))
    rel_err_obs = np.median(np.abs(pred["price"] / pred["price_actual"] - 1))
    assert rel_err_true < rel_err_obs
    assert result.metrics["test_mape"] < result.metrics["baseline_test_mape"]
