"""Purchase propensity: point-in-time features, labels, datasets, model vs baselines, scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from ml.metrics_classification import best_f1_threshold, calibration_table, classification_metrics
from ml.propensity import (
    FEATURE_COLUMNS,
    build_dataset,
    build_features,
    build_labels,
    fit_and_evaluate,
    score_customers,
)

START = pd.Timestamp("2024-01-01")
DAYS = 548
CATEGORIES = ["rings", "chains", "bangles", "earrings", "coins"]


def make_transactions(n_customers: int = 900, seed: int = 1) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Customers with a known latent state: a gamma-distributed purchase rate, a join date and a real
    dropout date (exponential lifetime). Alive customers buy as a Poisson process; dead ones never
    again. Also walk-in sales (no customer_id) and ~4% return lines."""
    rng = np.random.default_rng(seed)
    rows = []
    inv = 0
    for i in range(n_customers):
        tenant = "t1" if i % 2 == 0 else "t2"
        join = rng.uniform(0, DAYS * 0.85)
        rate = rng.gamma(shape=0.9, scale=1 / 25)  # purchases per day, mean ~1 a month
        dropout = join + rng.exponential(250)
        end = min(dropout, DAYS)
        t = join
        while True:
            t += rng.exponential(1 / rate)
            if t >= end:
                break
            inv += 1
            day = START + pd.Timedelta(days=int(t))
            for _ in range(rng.integers(1, 4)):
                q = int(rng.integers(1, 3))
                price = float(np.round(rng.lognormal(4, 0.5), 2))
                ret = bool(rng.random() < 0.04)
                qty = -q if ret else q
                cat = CATEGORIES[rng.integers(5)]
                rows.append(
                    (
                        tenant,
                        f"I{inv}",
                        day,
                        f"C{i}",
                        f"P{rng.integers(50)}",
                        cat,
                        qty,
                        price,
                        qty * price,
                        ret,
                    )
                )
    for k in range(300):
        day = START + pd.Timedelta(days=int(rng.uniform(0, DAYS)))
        rows.append(("t1", f"W{k}", day, None, "P1", "coins", 1, 10.0, 10.0, False))
    cols = ["tenant_id", "invoice_id", "transaction_date", "customer_id", "product_id", "category"]
    df = pd.DataFrame(rows, columns=[*cols, "quantity", "unit_price", "amount", "is_return"])
    df["transaction_ts"] = df["transaction_date"] + pd.Timedelta(hours=12)
    return df, START + pd.Timedelta(days=DAYS)


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, pd.Timestamp]:
    return make_transactions()


@pytest.fixture(scope="module")
def dataset(synthetic):
    tx, as_of = synthetic
    return build_dataset(tx, as_of, max_train_cutoffs=6)


@pytest.fixture(scope="module")
def result(dataset):
    return fit_and_evaluate(dataset, importance_repeats=2)


# ------------------------------------------------------------------ leakage


def test_features_ignore_changed_and_appended_rows_on_or_after_cutoff(synthetic):
    tx, _ = synthetic
    cutoff = pd.Timestamp("2025-01-15")
    before = build_features(tx, cutoff)
    assert len(before) > 100

    later = tx["transaction_date"] >= cutoff
    assert (tx["transaction_date"] == cutoff).any(), "the cutoff day itself must be exercised"
    mutated = tx.copy()
    mutated.loc[later, "quantity"] = mutated.loc[later, "quantity"] * 7
    mutated.loc[later, "amount"] = mutated.loc[later, "amount"] * 13 + 1
    mutated.loc[later, "is_return"] = ~mutated.loc[later, "is_return"]
    pdt.assert_frame_equal(build_features(mutated, cutoff), before)

    existing = tx.loc[tx["customer_id"].notna(), ["tenant_id", "customer_id"]].drop_duplicates().head(50)
    appended = pd.DataFrame(
        {
            "tenant_id": [*existing["tenant_id"], "t1"],
            "invoice_id": [f"NEW{i}" for i in range(len(existing) + 1)],
            "transaction_date": [cutoff] * len(existing) + [cutoff + pd.Timedelta(days=40)],
            "customer_id": [*existing["customer_id"], "BRAND_NEW"],
            "product_id": "P9",
            "category": "watches",
            "quantity": 3,
            "unit_price": 999.0,
            "amount": 2997.0,
            "is_return": False,
        }
    )
    appended["transaction_ts"] = appended["transaction_date"]
    grown = pd.concat([tx, appended], ignore_index=True)
    pdt.assert_frame_equal(build_features(grown, cutoff), before)

    # labels DO see the post-cutoff rows: the 50 appended buyers on the cutoff day are now all positive
    labels_before = build_labels(tx, cutoff, before)
    labels_after = build_labels(grown, cutoff, before)
    assert labels_after["label"].sum() > labels_before["label"].sum()
    changed = labels_after.merge(existing, on=["tenant_id", "customer_id"])
    assert (changed["label"] == 1).all()

    # and removing every post-cutoff purchase makes every label 0
    assert build_labels(tx[~later], cutoff, before)["label"].sum() == 0


def test_labels_window_is_half_open_and_ignores_returns():
    base = {"tenant_id": "t", "product_id": "p", "category": "c", "unit_price": 10.0}
    tx = pd.DataFrame(
        [
            {**base, "invoice_id": "a", "customer_id": "x", "transaction_date": "2024-01-01", "quantity": 1},
            {**base, "invoice_id": "b", "customer_id": "y", "transaction_date": "2024-01-01", "quantity": 1},
            {**base, "invoice_id": "c", "customer_id": "z", "transaction_date": "2024-01-01", "quantity": 1},
            # x buys on the cutoff day (inside), y only on cutoff + 30 (outside), z only returns
            {**base, "invoice_id": "d", "customer_id": "x", "transaction_date": "2024-02-01", "quantity": 1},
            {**base, "invoice_id": "e", "customer_id": "y", "transaction_date": "2024-03-02", "quantity": 1},
            {**base, "invoice_id": "f", "customer_id": "z", "transaction_date": "2024-02-05", "quantity": -1},
        ]
    )
    tx["amount"] = tx["quantity"] * tx["unit_price"]
    tx["is_return"] = tx["quantity"] < 0
    feats = build_features(tx, "2024-02-01")
    labels = build_labels(tx, "2024-02-01", feats).set_index("customer_id")["label"]
    assert labels.to_dict() == {"x": 1, "y": 0, "z": 0}


# ------------------------------------------------------------------ feature definitions


def _lines(spec: list[tuple]) -> pd.DataFrame:
    rows = []
    for tenant, cust, inv, day, qty, price, cat in spec:
        rows.append(
            {
                "tenant_id": tenant,
                "invoice_id": inv,
                "transaction_date": pd.Timestamp(day),
                "customer_id": cust,
                "product_id": "p",
                "category": cat,
                "quantity": qty,
                "unit_price": price,
                "amount": qty * price,
                "is_return": qty < 0,
            }
        )
    return pd.DataFrame(rows)


def test_hand_computed_features_for_one_customer():
    cutoff = "2024-07-01"  # last observed day 2024-06-30
    tx = _lines(
        [
            ("t", "c1", "i1", "2024-01-01", 1, 100.0, "rings"),
            ("t", "c1", "i1", "2024-01-01", 2, 50.0, "chains"),
            ("t", "c1", "i2", "2024-03-01", 1, 40.0, "rings"),
            ("t", "c1", "i3", "2024-03-01", 1, 60.0, None),
            ("t", "c1", "r1", "2024-04-10", -1, 40.0, "rings"),  # a return-only invoice
            ("t", "c1", "i4", "2024-06-20", 1, 80.0, "bangles"),
            ("t", "c1", "i5", "2024-07-01", 9, 999.0, "coins"),  # on the cutoff: excluded
            ("t", None, "w1", "2024-06-29", 1, 5.0, "coins"),  # walk-in: excluded
        ]
    )
    f = build_features(tx, cutoff)
    assert list(f["customer_id"]) == ["c1"]
    row = f.iloc[0]
    assert row["recency_days"] == 10  # 2024-06-20 -> 2024-06-30
    assert row["tenure_days"] == 181  # 2024-01-01 -> 2024-06-30
    assert row["frequency"] == 4  # i1..i4, not the return invoice
    assert row["monetary"] == pytest.approx(100 + 100 + 40 + 60 - 40 + 80)
    gaps = [60, 111]  # distinct purchase days 01-01, 03-01, 06-20
    assert row["mean_interpurchase_days"] == pytest.approx(np.mean(gaps))
    assert row["std_interpurchase_days"] == pytest.approx(np.std(gaps, ddof=1))
    assert row["recency_ratio"] == pytest.approx(10 / np.mean(gaps))
    assert row["frequency_30d"] == 1 and row["frequency_90d"] == 1
    # [cutoff-180d, cutoff-90d): 03-01 (i2, i3) is 122 days back; 01-01 (182 days) is outside
    assert row["frequency_prev_90d"] == 2
    assert row["frequency_trend_90d"] == pytest.approx((1 - 2) / 3)
    assert row["avg_basket_lines"] == pytest.approx(5 / 4)
    assert row["avg_basket_value"] == pytest.approx(380 / 4)
    assert row["return_rate"] == pytest.approx(1 / 6)
    assert row["n_categories"] == 3
    assert row["r_score"] == 4
    assert set(FEATURE_COLUMNS) <= set(f.columns)


def test_rfm_scores_follow_the_dbt_mart_bands_and_percent_ranks():
    cutoff = pd.Timestamp("2024-12-31")
    last_observed = cutoff - pd.Timedelta(days=1)
    recencies = [0, 7, 8, 30, 31, 60, 61, 120, 121]
    expected_r = [5, 5, 4, 4, 3, 3, 2, 2, 1]
    spec = []
    for i, r in enumerate(recencies):
        day = last_observed - pd.Timedelta(days=r)
        spec.append(("tr", f"r{i}", f"ir{i}", day, 1, 10.0, "x"))
    # tenant tf: frequencies 1,1,2,3,5,8 (ties share the lowest rank) -> ranks 1,1,3,4,5,6 of n=6
    for i, n in enumerate([1, 1, 2, 3, 5, 8]):
        for k in range(n):
            spec.append(("tf", f"f{i}", f"if{i}_{k}", "2024-06-01", 1, 10.0, "x"))
    spec.append(("solo", "s", "is", "2024-06-01", 1, 10.0, "x"))
    f = build_features(_lines(spec), cutoff).set_index("customer_id")

    assert [f.loc[f"r{i}", "recency_days"] for i in range(9)] == recencies
    assert [f.loc[f"r{i}", "r_score"] for i in range(9)] == expected_r
    # least(5, 1 + floor(5 * (rank - 1) / (n - 1))): percent ranks 0, 0, .4, .6, .8, 1
    assert [f.loc[f"f{i}", "f_score"] for i in range(6)] == [1, 1, 3, 4, 5, 5]
    assert [f.loc[f"f{i}", "m_score"] for i in range(6)] == [1, 1, 3, 4, 5, 5]
    # percentiles are per tenant, and a tenant with a single customer scores 1
    assert f.loc["s", "f_score"] == 1 and f.loc["s", "m_score"] == 1
    # all of tenant tr's customers tie on frequency -> all share rank 1 -> score 1
    assert (f.loc[[f"r{i}" for i in range(9)], "f_score"] == 1).all()


# ------------------------------------------------------------------ dataset


def test_dataset_holds_out_latest_complete_window(synthetic, dataset):
    tx, as_of = synthetic
    assert dataset.test_cutoff == as_of - pd.Timedelta(days=30)
    assert len(dataset.train_cutoffs) == 6
    assert max(dataset.train_cutoffs) + pd.Timedelta(days=30) <= dataset.test_cutoff
    steps = np.diff([c.value for c in dataset.train_cutoffs]) / 86_400e9
    assert (steps == 30).all()
    assert set(dataset.test["cutoff"]) == {dataset.test_cutoff}
    assert set(dataset.train["cutoff"]) == set(dataset.train_cutoffs)
    # only customers with purchase history before their cutoff
    assert (dataset.train["frequency"] >= 1).all() and (dataset.test["frequency"] >= 1).all()
    for c in dataset.train_cutoffs[:2]:
        known = tx[(tx["transaction_date"] < c) & ~tx["is_return"] & tx["customer_id"].notna()]
        got = dataset.train.loc[dataset.train["cutoff"] == c, "customer_id"]
        assert set(got) == set(known["customer_id"])
    assert 0 < dataset.test["label"].mean() < 1


def test_dataset_ignores_rows_on_or_after_as_of(synthetic, dataset):
    tx, as_of = synthetic
    future = tx[tx["customer_id"].notna()].head(200).copy()
    future["transaction_date"] = as_of + pd.Timedelta(days=3)
    again = build_dataset(pd.concat([tx, future], ignore_index=True), as_of, max_train_cutoffs=6)
    pdt.assert_frame_equal(again.test, dataset.test)
    pdt.assert_frame_equal(again.train, dataset.train)


def test_dataset_without_enough_history_raises(synthetic):
    tx, _ = synthetic
    with pytest.raises(ValueError, match="not enough history"):
        build_dataset(tx, START + pd.Timedelta(days=100))


# ------------------------------------------------------------------ model vs baselines


def test_model_beats_base_rate_and_matches_or_beats_rfm_only(result):
    m = result.metrics
    # measured on this seed: model ROC-AUC ~0.90 vs RFM-only ~0.88; Brier ~0.106 vs RFM ~0.115 vs base ~0.183
    assert m["base_rate_test_roc_auc"] == pytest.approx(0.5)
    assert m["test_roc_auc"] > 0.8
    assert m["test_roc_auc"] >= m["rfm_test_roc_auc"] - 0.005
    assert m["test_brier"] < m["base_rate_test_brier"]
    assert m["test_brier"] <= m["rfm_test_brier"] + 0.002
    assert m["test_pr_auc"] > m["test_base_rate"]
    assert m["roc_auc_lift_vs_rfm"] == pytest.approx(m["test_roc_auc"] - m["rfm_test_roc_auc"])
    assert result.promotion_score == m["test_roc_auc"]
    # calibrated: observed rates track predictions on the holdout
    assert m["test_expected_calibration_error"] < 0.06
    assert result.calibration["n"].sum() == len(result.test_predictions)
    assert result.confusion.to_numpy().sum() == len(result.test_predictions)
    # recency drives purchase timing in this latent process; it must rank among the top features
    assert "recency_days" in set(result.importance["feature"].head(3))


def test_threshold_comes_from_training_cutoffs_only(dataset, result):
    from ml.propensity.model import out_of_fold_propensity

    oof = out_of_fold_propensity(dataset.train, dataset.feature_columns)
    threshold, _ = best_f1_threshold(dataset.train["label"], oof)
    assert result.threshold == pytest.approx(threshold)
    assert result.model.threshold == pytest.approx(threshold)
    # ... and not the holdout-optimal threshold (which would flatter holdout F1)
    holdout_best, _ = best_f1_threshold(dataset.test["label"], result.test_predictions["propensity"])
    assert result.threshold != pytest.approx(holdout_best)


# ------------------------------------------------------------------ scoring


def test_score_customers_scores_every_known_customer(synthetic, result):
    tx, as_of = synthetic
    scores = score_customers(tx, result.model, as_of)
    assert list(scores.columns) == [
        "tenant_id",
        "customer_id",
        "as_of_date",
        "propensity_30d",
        "model_version",
    ]
    known = tx.loc[tx["customer_id"].notna() & ~tx["is_return"], ["tenant_id", "customer_id"]].drop_duplicates()
    assert len(scores) == len(known)
    assert not scores.duplicated(["tenant_id", "customer_id"]).any()
    assert scores["propensity_30d"].between(0, 1).all()
    assert scores["model_version"].isna().all()
    assert (scores["as_of_date"] == as_of.date()).all()
    feats = build_features(tx, as_of)
    np.testing.assert_allclose(scores["propensity_30d"], result.model.predict_proba(feats)[:, 1])
    # customers seen in the last week should on average score higher than those gone for 4+ months
    recent = scores[feats["recency_days"].to_numpy() < 7]["propensity_30d"].mean()
    lapsed = scores[feats["recency_days"].to_numpy() > 120]["propensity_30d"].mean()
    assert recent > lapsed + 0.2


# ------------------------------------------------------------------ metrics helpers


def test_classification_metrics_on_known_cases():
    y = np.array([0, 0, 1, 1])
    perfect = classification_metrics(y, [0.1, 0.2, 0.8, 0.9], threshold=0.5)
    assert perfect["roc_auc"] == 1.0 and perfect["f1"] == 1.0
    assert perfect["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    assert perfect["tp"] == 2 and perfect["fp"] == 0
    inverted = classification_metrics(y, [0.9, 0.8, 0.2, 0.1], threshold=0.5)
    assert inverted["roc_auc"] == 0.0 and inverted["recall"] == 0.0
    assert np.isnan(classification_metrics([1, 1], [0.3, 0.6])["roc_auc"])
    t, f1 = best_f1_threshold([0, 0, 1, 1, 1], [0.1, 0.6, 0.4, 0.7, 0.9])
    assert t == pytest.approx(0.4) and f1 == pytest.approx(2 * 0.75 * 1 / 1.75)


def test_calibration_table_bins():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 20_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)  # perfectly calibrated by construction
    table = calibration_table(y, p, n_bins=10)
    assert len(table) == 10 and table["n"].sum() == p.size
    assert np.abs(table["observed_rate"] - table["mean_predicted"]).max() < 0.03
    assert (table["ci_low"] <= table["observed_rate"]).all() and (table["observed_rate"] <= table["ci_high"]).all()
    skewed = calibration_table(y, p**3, n_bins=10)  # overconfident low, observed rate above prediction
    assert (skewed["observed_rate"] >= skewed["mean_predicted"]).all()


def test_calibration_and_importance_figures_render(result):
    import io

    from ml.plots import calibration_plot, feature_importance_plot

    fig = calibration_plot(result.calibration)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "mean predicted probability"
    # the model's points are the holdout calibration table
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    imp = result.importance
    fig2 = feature_importance_plot(imp["feature"], imp["importance_mean"], imp["importance_std"], top=5)
    labels = [t.get_text() for t in fig2.axes[0].get_yticklabels()]
    assert len(labels) == 5 and labels[-1] == imp["feature"].iloc[0]  # largest bar on top


# ------------------------------------------------------------------ per-tenant as-of


@pytest.fixture(scope="module")
def staggered(synthetic):
    """t2's uploads stop three weeks before t1's (a shop that sends its data late)."""
    tx, as_of = synthetic
    t2_end = as_of - pd.Timedelta(days=22)  # t2's last day of data
    keep = (tx["tenant_id"] == "t1") | (tx["transaction_date"] <= t2_end)
    return tx[keep].reset_index(drop=True), as_of, t2_end


def test_each_tenant_is_held_out_at_its_own_as_of(staggered):
    tx, _, t2_end = staggered
    ds = build_dataset(tx, max_train_cutoffs=3)
    t1_end = tx.loc[tx["tenant_id"] == "t1", "transaction_date"].max()
    assert ds.tenant_as_of == {"t1": t1_end + pd.Timedelta(days=1), "t2": t2_end + pd.Timedelta(days=1)}
    cut2 = t2_end + pd.Timedelta(days=1) - pd.Timedelta(days=30)
    assert ds.tenant_test_cutoffs["t2"] == cut2
    t2_test = ds.test[ds.test["tenant_id"] == "t2"]
    assert set(t2_test["cutoff"]) == {cut2}
    # t2's labels look at t2's own last 30 days: buyers in that window are positives (not "no data = no buy")
    window = tx[(tx["tenant_id"] == "t2") & (tx["transaction_date"] >= cut2) & ~tx["is_return"]
                & tx["customer_id"].notna()]
    assert set(t2_test.loc[t2_test["label"] == 1, "customer_id"]) == set(window["customer_id"]) & set(
        t2_test["customer_id"])
    assert t2_test["label"].mean() > 0.5 * ds.test[ds.test["tenant_id"] == "t1"]["label"].mean()
    # t2's training cutoffs step back from t2's holdout, not from t1's
    t2_train_cutoffs = sorted(set(ds.train.loc[ds.train["tenant_id"] == "t2", "cutoff"]))
    assert t2_train_cutoffs[-1] == cut2 - pd.Timedelta(days=30)
    assert set(ds.train.loc[ds.train["tenant_id"] == "t2", "cutoff_step"]) == {1, 2, 3}
    # the mapping form (customer_rfm's as-of + 1 day) gives exactly the same dataset
    same = build_dataset(tx, dict(ds.tenant_as_of), max_train_cutoffs=3)
    pdt.assert_frame_equal(same.test, ds.test)
    pdt.assert_frame_equal(same.train, ds.train)


def test_customers_are_scored_at_their_own_tenants_as_of(staggered, result):
    tx, as_of, t2_end = staggered
    cutoffs = {"t1": as_of, "t2": t2_end + pd.Timedelta(days=1)}
    scores = score_customers(tx, result.model, cutoffs)
    got = scores.groupby("tenant_id")["as_of_date"].unique()
    assert list(got["t1"]) == [as_of.date()] and list(got["t2"]) == [cutoffs["t2"].date()]
    t2 = tx[tx["tenant_id"] == "t2"]
    feats = build_features(t2, cutoffs["t2"])
    np.testing.assert_allclose(scores[scores["tenant_id"] == "t2"]["propensity_30d"],
                               result.model.predict_proba(feats)[:, 1])
    only_t1 = score_customers(tx, result.model, {"t1": as_of})  # tenants not in the mapping are not scored
    assert set(only_t1["tenant_id"]) == {"t1"}


def test_score_table_as_of_date_is_the_marts_as_of_per_tenant(staggered, result):
    from ml.training.scoring import score_propensity

    tx, as_of, t2_end = staggered
    rfm_as_of = {"t1": (as_of - pd.Timedelta(days=1)).date(), "t2": t2_end.date()}
    out = score_propensity(result.model, tx, rfm_as_of, "7").frame
    assert out.groupby("tenant_id")["as_of_date"].first().to_dict() == rfm_as_of
    assert set(out["model_version"]) == {"7"}


# ------------------------------------------------------------------ too little data: skipped, not failed


def test_no_known_customers_is_insufficient_data(synthetic):
    from ml.errors import InsufficientDataError

    tx, _ = synthetic
    with pytest.raises(InsufficientDataError, match="no transactions with a customer_id"):
        build_dataset(tx.assign(customer_id=None))
    with pytest.raises(InsufficientDataError, match="not enough history"):
        build_dataset(tx, START + pd.Timedelta(days=100))


def test_a_holdout_with_a_single_class_is_insufficient_data(dataset):
    from dataclasses import replace

    from ml.errors import InsufficientDataError

    all_bought = replace(dataset, test=dataset.test.assign(label=1))
    with pytest.raises(InsufficientDataError, match=r"the holdout has \d+ customers and \d+ of them bought"):
        fit_and_evaluate(all_bought)
    few = replace(dataset, train=dataset.train.assign(label=(np.arange(len(dataset.train)) < 5).astype(int)))
    with pytest.raises(InsufficientDataError, match="5 buyers"):
        fit_and_evaluate(few)
