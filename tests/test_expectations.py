"""Expectation suites, the runner, referential and shift checks.

GX is imported once per session (first validate_frame call); every suite gets a clean frame that
must pass and a broken frame whose failures must be exactly the rules that were broken.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from expectations import build_suites
from expectations.relations import check_references, unknown_products
from expectations.runner import RAW_SUITES, SUITE_NAMES, SUITES_DIR, SuiteResult, load_suite, validate_frame
from expectations.shift import compare_to_previous, load_previous_profile, profile_frame, save_profile
from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS, GOLD_PURITIES, KINDS

NOW = dt.datetime(2025, 1, 1)
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"


def lineage(n: int, name: str = "f.csv") -> dict:
    return {"_source_file": name, "_row_number": np.arange(1, n + 1),
            "_row_hash": [f"{name}-{i}" for i in range(n)], "_ingested_at": pd.Timestamp("2024-12-31"),
            "_extra_columns": None}


def transactions(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    qty = rng.integers(1, 5, n)
    qty[::17] *= -1
    price = np.round(rng.uniform(1, 100, n), 2)
    return pd.DataFrame({
        "tenant_id": np.where(np.arange(n) % 2, "t1", "t2"), "invoice_id": [f"I{i // 2}" for i in range(n)],
        "transaction_ts": pd.date_range("2024-06-01", periods=n, freq="h"),
        "customer_id": [None if i % 7 == 0 else f"C{i % 30}" for i in range(n)],
        "product_id": [f"P{i % 20}" for i in range(n)], "product_name": "thing", "category": "food",
        "quantity": qty, "unit_price": price, "amount": np.round(qty * price, 2),
        "payment_method": "card", "currency": "USD", **lineage(n),
    })


def inventory(n_products: int = 20) -> pd.DataFrame:
    rows = [{"snapshot_date": pd.Timestamp("2024-06-01") + pd.Timedelta(days=d), "tenant_id": t,
             "product_id": f"P{p}", "on_hand": 10 + p, "unit_cost": 2.5 + p, "lead_time_days": 7}
            for t in ("t1", "t2") for p in range(n_products) for d in range(2)]
    df = pd.DataFrame(rows)
    return df.assign(**lineage(len(df), "inv.csv"))


def metal_prices(n_days: int = 30) -> pd.DataFrame:
    series = [("gold", p) for p in GOLD_PURITIES] + [("silver", 925), ("platinum", 950)]
    rows = []
    for metal, purity in series:
        for d in range(n_days):
            rows.append({"date": pd.Timestamp("2024-06-01") + pd.Timedelta(days=d), "metal": metal,
                         "purity": purity,
                         "price_per_gram": round(60 * purity / 999 * (1 + 0.01 * (d % 3)), 4),
                         "currency": "USD", "source": "synthetic"})
    df = pd.DataFrame(rows)
    return df.assign(**lineage(len(df), "metal.csv"))


def diamond_prices(n: int = 100) -> pd.DataFrame:
    i = np.arange(n)
    df = pd.DataFrame({
        "carat": 0.3 + (i % 10) / 10, "cut": [DIAMOND_CUTS[k % 5] for k in i],
        "color": [DIAMOND_COLORS[k % 7] for k in i], "clarity": [DIAMOND_CLARITIES[k % 8] for k in i],
        "price": 500.0 + i * 10, "depth": 61.5, "table": 57.0, "x": 4.0, "y": 4.1, "z": 2.5,
        "date": pd.Timestamp("2024-06-01"),
    })
    return df.assign(**lineage(n, "diamonds.csv"))


def customer_rfm(n: int = 50) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({
        "tenant_id": "t1", "customer_id": [f"C{k}" for k in i], "as_of_date": pd.Timestamp("2024-12-31"),
        "recency_days": i % 90, "frequency": 1 + i % 12, "monetary": 10.0 + i * 3, "has_net_returns": False,
        "r_score": 1 + i % 5, "f_score": 1 + (i // 5) % 5, "m_score": 1 + (i // 25) % 5,
        "rfm_score": [f"{1 + k % 5}{1 + (k // 5) % 5}{1 + (k // 25) % 5}" for k in i],
        "segment": [["Champion", "Loyal", "Potential", "At-Risk", "Dormant"][k % 5] for k in i],
        "churn_risk_score": (i % 10) / 10, "churn_risk_level": [["low", "medium", "high"][k % 3] for k in i],
        "risk_reason": "recency",
    })


def daily_sales(n: int = 60) -> pd.DataFrame:
    i = np.arange(n)
    sold = (5 + i % 4).astype(float)  # DuckDB's sum(bigint) arrives as float: the mart suite allows it
    returned = (i % 3 == 0).astype(float)
    return pd.DataFrame({
        "tenant_id": "t1", "product_id": [f"P{k % 6}" for k in i],
        "sales_date": pd.Timestamp("2024-06-01") + pd.to_timedelta(i // 6, unit="D"),
        "quantity_sold": sold, "quantity_returned": returned, "net_quantity": sold - returned,
        "revenue": sold * 9.5, "n_transactions": 1 + i % 4,
    })


def inventory_position(n: int = 40) -> pd.DataFrame:
    i = np.arange(n)
    on_hand, cost = 5 + i, np.round(2.0 + i / 3, 2)
    sales = (i % 4).astype(float)
    return pd.DataFrame({
        "tenant_id": "t1", "product_id": [f"P{k}" for k in i], "snapshot_date": pd.Timestamp("2024-12-31"),
        "on_hand": on_hand, "unit_cost": cost, "lead_time_days": 7,
        "stock_value": np.round(on_hand * cost, 2), "avg_daily_sales_30d": sales,
        "days_of_cover": np.where(sales > 0, on_hand / np.maximum(sales, 1), np.nan),
    })


def demand_forecasts(n: int = 40) -> pd.DataFrame:
    i = np.arange(n)
    yhat = 10.0 + i % 7
    return pd.DataFrame({
        "tenant_id": "t1", "product_id": [f"P{k % 4}" for k in i],
        "forecast_date": pd.Timestamp("2025-01-01") + pd.to_timedelta(i // 4, unit="D"),
        "yhat": yhat, "yhat_lower_80": yhat - 2, "yhat_upper_80": yhat + 2,
        "yhat_lower_95": yhat - 4, "yhat_upper_95": yhat + 4, "model_version": "3",
    })


def propensity(n: int = 40) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame({"tenant_id": "t1", "customer_id": [f"C{k}" for k in i],
                         "as_of_date": pd.Timestamp("2024-12-31"), "propensity_30d": (i % 10) / 10,
                         "model_version": "2"})


CLEAN = {
    "raw_transactions": transactions, "raw_inventory": inventory, "raw_metal_prices": metal_prices,
    "raw_diamond_prices": diamond_prices, "customer_rfm": customer_rfm,
    "fct_daily_product_sales": daily_sales,
    "inventory_position": inventory_position, "demand_forecasts": demand_forecasts,
    "customer_propensity_scores": propensity,
}


def failed(result: SuiteResult) -> dict[tuple[str, str], int | None]:
    """{(expectation, first column): unexpected_count} of every failure."""
    return {(f.expectation, (f.columns or [""])[0]): f.unexpected_count for f in result.failures}


def test_every_suite_has_a_clean_fixture():
    assert set(CLEAN) == set(SUITE_NAMES) == {p.stem for p in SUITES_DIR.glob("*.json")}
    assert set(RAW_SUITES) == set(KINDS) and set(RAW_SUITES.values()) <= set(SUITE_NAMES)
    with pytest.raises(ValueError, match="unknown expectation suite 'raw_nope'"):
        load_suite("raw_nope")


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_committed_json_is_what_the_generator_writes_and_round_trips(name):
    text = (SUITES_DIR / f"{name}.json").read_text()
    assert text == build_suites.suite_json(name), "run `python -m expectations.build_suites`"
    suite = load_suite(name)
    assert suite.name == name
    again = suite.to_json_dict()
    again["meta"].pop("great_expectations_version", None)
    assert again == json.loads(text)


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_clean_frame_passes(name):
    df = CLEAN[name]()
    columns_before = list(df.columns)
    result = validate_frame(df, name, now=NOW)
    assert result.success, result.summary()
    assert result.n_failed == 0 and result.evaluated_rows == len(df)
    assert result.n_expectations == len(load_suite(name).expectations)
    assert list(df.columns) == columns_before  # helper columns never leak into the caller's frame


def test_negative_prices_fail_only_the_price_rule_with_examples():
    df = transactions()
    rows = [3, 50, 120]
    df.loc[rows, "unit_price"] = [-1.0, -2.5, -7.0]
    df.loc[rows, "amount"] = df.loc[rows, "quantity"] * df.loc[rows, "unit_price"]  # keep amount consistent
    result = validate_frame(df, "raw_transactions", now=NOW)
    assert failed(result) == {(BETWEEN, "unit_price"): 3}
    failure = result.failures[0]
    assert failure.severity == "critical" and not result.success and result.blocking
    assert sorted(failure.examples) == [-7.0, -2.5, -1.0]
    assert [r["_row_hash"] for r in failure.example_rows] == [df.at[i, "_row_hash"] for i in rows]
    assert failure.unexpected_percent == pytest.approx(1.5)
    assert "3 of 200 rows" in failure.message
    json.dumps(result.to_dict())  # plain JSON, no numpy or Timestamp left


def test_transactions_business_rules_each_fail_alone():
    df = transactions()
    df.loc[[10, 11], "amount"] += 0.5  # amount != quantity x unit_price
    df.loc[12, "amount"] += 0.009  # inside the 0.01 tolerance
    df.loc[[20, 21], "_row_hash"] = "dup"  # de-duplication key repeated
    df.loc[30, "product_id"] = None
    df.loc[40, "transaction_ts"] = pd.Timestamp("2025-03-01")  # after validation time
    df.loc[50, "quantity"] = 0
    df.loc[50, "amount"] = 0.0
    df.loc[60, "currency"] = "usd"
    result = validate_frame(df, "raw_transactions", now=NOW)
    assert failed(result) == {
        (BETWEEN, "_chk_amount_mismatch"): 2,
        ("expect_column_values_to_be_unique", "_row_hash"): 2,
        ("expect_column_values_to_not_be_null", "product_id"): 1,
        (BETWEEN, "_chk_days_in_future"): 1,
        ("expect_column_values_to_not_be_in_set", "quantity"): 1,
        ("expect_column_values_to_match_regex", "currency"): 1,
    }


def test_chunked_validation_matches_whole_frame_validation():
    df = transactions()
    df.loc[[5, 95, 190], "unit_price"] = [-1.0, -2.0, -3.0]  # spread over three chunks
    df.loc[[5, 95, 190], "amount"] = df.loc[[5, 95, 190], "quantity"] * df.loc[[5, 95, 190], "unit_price"]
    df.loc[[10, 150], "_row_hash"] = "dup"  # duplicates in different chunks
    whole = validate_frame(df, "raw_transactions", now=NOW, chunk_rows=None)
    chunked = validate_frame(df, "raw_transactions", now=NOW, chunk_rows=70)
    assert failed(whole) == failed(chunked) == {
        (BETWEEN, "unit_price"): 3, ("expect_column_values_to_be_unique", "_row_hash"): 2}
    price = next(f for f in chunked.failures if f.columns == ["unit_price"])
    assert price.examples == [-1.0, -2.0, -3.0] and price.element_count == 200
    assert price.unexpected_percent == pytest.approx(1.5) and "3 of 200 rows" in price.message
    assert chunked.n_expectations == whole.n_expectations and chunked.evaluated_rows == 200


def test_wrong_type_and_missing_column_are_reported():
    df = transactions().drop(columns=["unit_price"])
    df["quantity"] = df["quantity"].astype(str)
    result = validate_frame(df, "raw_transactions", now=NOW)
    by_key = {(f.expectation, (f.columns or [""])[0]): f for f in result.failures}
    assert by_key[("expect_column_values_to_be_in_type_list", "quantity")].unexpected_count == len(df)
    assert "unit_price" in by_key[("expect_table_columns_to_match_set", "tenant_id")].message
    assert "could not run" in by_key[(BETWEEN, "unit_price")].message


def test_postgres_style_objects_are_normalised_not_flagged():
    df = inventory()
    df["snapshot_date"] = df["snapshot_date"].dt.date.astype(object)  # psycopg returns datetime.date
    df["unit_cost"] = df["unit_cost"].map(lambda v: Decimal(str(v))).astype(object)
    df["_ingested_at"] = [dt.datetime(2024, 12, 31, tzinfo=dt.UTC)] * len(df)  # timestamptz
    df["product_id"] = df["product_id"].astype("string[pyarrow]")
    df["on_hand"] = df["on_hand"].astype("Int64")
    assert validate_frame(df, "raw_inventory", now=NOW).success
    df.loc[0, "snapshot_date"] = "2024-06-01"  # a stray string is a real type problem
    result = validate_frame(df, "raw_inventory", now=NOW)
    assert ("expect_column_values_to_be_in_type_list", "snapshot_date") in failed(result)


def test_inventory_rules():
    df = inventory()
    df.loc[[0, 5], "on_hand"] = [-1, -3]
    df.loc[7, "lead_time_days"] = 400
    dup = df.iloc[[9]].assign(_row_hash="other", _row_number=999)  # same key, new hash: a correction
    df = pd.concat([df, dup], ignore_index=True)
    result = validate_frame(df, "raw_inventory", now=NOW)
    assert failed(result) == {
        (BETWEEN, "on_hand"): 2, (BETWEEN, "lead_time_days"): 1,
        ("expect_compound_columns_to_be_unique", "tenant_id"): 2,
    }
    assert {f.severity for f in result.failures if f.columns[0] == "tenant_id"} == {"warning"}


def test_metal_price_rules_and_flagged_jump():
    df = metal_prices()
    gold_999 = (df["metal"] == "gold") & (df["purity"] == 999)
    jump = gold_999 & (df["date"] >= pd.Timestamp("2024-06-10"))
    df.loc[jump, "price_per_gram"] *= 1.2  # one 20% day-over-day move, the level then stays
    df.loc[df.index[(df["metal"] == "gold") & (df["purity"] == 585)][:2], "purity"] = 900
    df.loc[df.index[df["metal"] == "silver"][0], "metal"] = "copper"
    result = validate_frame(df, "raw_metal_prices", now=NOW)
    assert failed(result) == {
        (BETWEEN, "_chk_price_change_pct"): 1,
        (IN_SET, "purity"): 2,  # gold at 900; silver 925 and platinum 950 are fine
        (IN_SET, "metal"): 1,
    }
    move = next(f for f in result.failures if f.columns == ["_chk_price_change_pct"])
    assert 0.15 < move.examples[0] < 0.25  # 1.2x against a day that sat 2% above the base level
    assert move.example_rows[0]["date"].startswith("2024-06-10")

    first_jump_row = df.index[jump][0]
    df.loc[first_jump_row, "_extra_columns"] = json.dumps({"price_flag": "revaluation"})
    flagged = validate_frame(df, "raw_metal_prices", now=NOW)
    assert (BETWEEN, "_chk_price_change_pct") not in failed(flagged)


def test_diamond_rules():
    df = diamond_prices()
    df.loc[0, "cut"] = "Excellent"
    df.loc[[1, 2], "color"] = "K"
    df.loc[3, "carat"] = 0.0
    df.loc[4, "x"] = 0.0  # unmeasured: warning only
    result = validate_frame(df, "raw_diamond_prices", now=NOW)
    assert failed(result) == {
        (IN_SET, "cut"): 1, (IN_SET, "color"): 2, (BETWEEN, "carat"): 1, (BETWEEN, "x"): 1}
    assert next(f for f in result.failures if f.columns == ["x"]).severity == "warning"


def test_mart_rules():
    rfm = customer_rfm()
    rfm.loc[0, "segment"] = "VIP"
    rfm.loc[[1, 2], "churn_risk_score"] = [1.2, -0.1]
    rfm.loc[4, "customer_id"] = rfm.loc[3, "customer_id"]
    assert failed(validate_frame(rfm, "customer_rfm", now=NOW)) == {
        (IN_SET, "segment"): 1, (BETWEEN, "churn_risk_score"): 2,
        ("expect_compound_columns_to_be_unique", "tenant_id"): 2,
    }

    sales = daily_sales()
    sales.loc[[5, 6], "net_quantity"] += 1
    assert failed(validate_frame(sales, "fct_daily_product_sales", now=NOW)) == {
        (BETWEEN, "_chk_net_quantity_gap"): 2}

    position = inventory_position()
    position.loc[3, "stock_value"] += 5
    position.loc[4, "days_of_cover"] = -1
    position.loc[5, "avg_daily_sales_30d"] = -0.5
    assert failed(validate_frame(position, "inventory_position", now=NOW)) == {
        (BETWEEN, "_chk_stock_value_gap"): 1, (BETWEEN, "days_of_cover"): 1, (BETWEEN, "avg_daily_sales_30d"): 1}
    # a stocked product that never sold has no average (the mart's documented null): not a failure
    never_sold = inventory_position()
    never_sold.loc[[0, 4], ["avg_daily_sales_30d", "days_of_cover"]] = np.nan
    assert validate_frame(never_sold, "inventory_position", now=NOW).success

    forecasts = demand_forecasts()
    forecasts.loc[[0, 1], "yhat_upper_80"] = forecasts.loc[[0, 1], "yhat"] - 1
    assert failed(validate_frame(forecasts, "demand_forecasts", now=NOW)) == {
        ("expect_column_pair_values_a_to_be_greater_than_b", "yhat_upper_80"): 2}

    scores = propensity()
    scores.loc[0, "propensity_30d"] = 1.5
    assert failed(validate_frame(scores, "customer_propensity_scores", now=NOW)) == {
        (BETWEEN, "propensity_30d"): 1}

    empty = validate_frame(propensity().iloc[0:0], "customer_propensity_scores", now=NOW)
    assert ("expect_table_row_count_to_be_between", "") in failed(empty)
    # ... as a warning: an empty score table or mart (no tenant sends that feed) does not stop the run
    assert not empty.blocking


def test_references_find_exactly_the_unknown_products_per_tenant():
    tx = transactions()
    inv = inventory()
    tx.loc[[0, 2, 4], "product_id"] = "GHOST"  # tenant t2 rows
    inv = inv[~((inv["tenant_id"] == "t1") & (inv["product_id"] == "P3"))]  # P3 stocked only in t2
    n_p3_in_t1 = int(((tx["tenant_id"] == "t1") & (tx["product_id"] == "P3")).sum())
    expected = {("t2", "GHOST", 3), ("t1", "P3", n_p3_in_t1)}
    got = unknown_products(tx, inv)
    assert set(map(tuple, got[["tenant_id", "product_id", "n_rows"]].itertuples(index=False))) == expected
    rows = tx["tenant_id"].value_counts()

    strict = check_references(tx, inv)
    assert not strict.result.success and strict.result.n_failed == 2
    by_tenant = {f.tenant_id: f for f in strict.result.failures}
    assert by_tenant["t2"].severity == "critical" and by_tenant["t2"].unexpected_count == 3
    assert by_tenant["t2"].examples == [{"product_id": "GHOST", "n_rows": 3}]
    assert by_tenant["t2"].observed_value == {"unknown_products": 1, "rows": 3}
    assert by_tenant["t1"].unexpected_count == n_p3_in_t1
    assert by_tenant["t1"].unexpected_percent == pytest.approx(100 * n_p3_in_t1 / rows["t1"])
    json.dumps(strict.result.to_dict())

    # a share between the two tenants' shares: t1 (more unknown rows) fails, t2 only warns
    share = (3 / rows["t2"] + n_p3_in_t1 / rows["t1"]) / 2
    assert 3 / rows["t2"] < share < n_p3_in_t1 / rows["t1"]
    lenient = check_references(tx, inv, max_unknown_share=share)
    assert {f.tenant_id: f.severity for f in lenient.result.failures} == {"t1": "critical", "t2": "warning"}
    assert check_references(transactions(), inventory()).result.success


def test_references_do_not_apply_to_tenants_without_inventory():
    tx = transactions()
    inv = inventory()
    only_t1 = inv[inv["tenant_id"] == "t1"]
    refs = check_references(tx, only_t1)
    assert refs.result.success and refs.not_applicable == ["t2"]
    assert refs.per_tenant.set_index("tenant_id").loc["t2", "applies"] == False  # noqa: E712
    # with nobody's inventory there is nothing to check against: the rule does not apply at all
    nothing = check_references(tx, inv.iloc[0:0])
    assert nothing.result.success and nothing.not_applicable == ["t1", "t2"]
    # the tenants that send inventory can be given apart from the pairs (the caller loads only theirs)
    told = check_references(tx, only_t1.iloc[0:0], inventory_tenants={"t1"})
    assert not told.result.success and {f.tenant_id for f in told.result.failures} == {"t1"}


def test_shift_flags_an_85_percent_drop_in_words_and_passes_a_10_percent_change(tmp_path):
    base = transactions(800)
    assert load_previous_profile(tmp_path, "raw_transactions") is None
    first = compare_to_previous(profile_frame(base, "transactions"), None)
    assert first.success and first.n_expectations == 0
    save_profile(tmp_path, "raw_transactions", profile_frame(base, "transactions"))
    previous = load_previous_profile(tmp_path, "raw_transactions")
    assert previous["n_rows"] == 800 and previous["rows_per_tenant"] == {"t1": 400, "t2": 400}

    dropped = compare_to_previous(profile_frame(base.iloc[:120], "transactions"), previous)
    # a smaller batch is reported, never a stop (batches are increments of any size)
    assert not dropped.success and not dropped.blocking
    assert {f.severity for f in dropped.failures} == {"warning"}
    assert dropped.failures[0].message == "rows fell 85% vs previous run: 120 vs 800"
    assert "tenant t1: rows fell 85% vs previous run: 60 vs 400" in [f.message for f in dropped.failures]

    slightly = compare_to_previous(profile_frame(base.iloc[:720], "transactions"), previous)
    assert slightly.success, slightly.summary()
    assert slightly.n_expectations > 3


def test_shift_warns_on_distribution_moves_and_lost_tenant():
    base = transactions(800)
    previous = profile_frame(base, "transactions")
    moved = base.assign(unit_price=base["unit_price"] * 3, amount=base["amount"] * 3, payment_method="cash")
    result = compare_to_previous(profile_frame(moved, "transactions"), previous)
    kinds = {(f.expectation, tuple(f.columns)): f for f in result.failures}
    assert set(kinds) == {("mean_vs_previous_run", ("unit_price",)), ("mean_vs_previous_run", ("amount",)),
                          ("category_share_vs_previous_run", ("payment_method",))}
    assert not result.blocking  # distribution moves warn, as row drops do
    assert kinds[("category_share_vs_previous_run", ("payment_method",))].message == (
        "payment_method shares moved vs previous run: 'card' 100% -> 0%, 'cash' 0% -> 100%")

    # a whole-table profile whose newest day is short: 2 rows per tenant against a usual 12 per day
    short_day = pd.concat([base, base.iloc[:4].assign(transaction_ts=pd.Timestamp("2024-07-10 10:00"))])
    day = compare_to_previous(profile_frame(short_day, "transactions"), previous)
    assert {f.message for f in day.failures} == {
        "tenant t1: latest day 2024-07-10 rows fell 83% vs the previous run's usual day: 2 vs 12",
        "tenant t2: latest day 2024-07-10 rows fell 83% vs the previous run's usual day: 2 vs 12"}
    assert compare_to_previous(profile_frame(short_day, "transactions"), previous, max_drop=0.95).success

    lost = compare_to_previous(profile_frame(base[base["tenant_id"] == "t1"], "transactions"), previous)
    assert "tenant t2: rows fell 100% vs previous run: 0 vs 400" in [f.message for f in lost.failures]


def test_importing_the_checks_does_not_import_great_expectations():
    # the Dagster code location imports these modules and must load in seconds; GX costs ~7 s
    import subprocess
    import sys

    code = ("import sys, expectations.runner, expectations.relations, expectations.shift, "
            "expectations.derived, expectations.quarantine, expectations.raw_batch; "
            "print('great_expectations' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
