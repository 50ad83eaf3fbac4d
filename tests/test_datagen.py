"""The data generator: reproducible bytes, canonical contracts, exact defects, honest ground truth."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smartmarket.contracts import CONTRACTS, KINDS
from smartmarket.datagen import SIZES, GenerationReport, generate, true_diamond_price
from smartmarket.datagen.__main__ import main

DEFECT_KEYS = {"duplicate_rows", "malformed_rows", "negative_prices", "bad_dates", "unknown_products"}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("clean")
    return out, generate(out, size="tiny", seed=7)


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    out = tmp_path_factory.mktemp("defective")
    return out, generate(out, size="tiny", seed=7, defect_rate=0.05)


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(paths: list[Path]) -> list[list[str]]:
    rows: list[list[str]] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            rows.extend(reader)
    return rows


def _shapes(out: Path) -> dict:
    """The merchant shapes as recorded in the written generation report."""
    return json.loads((out / "ground_truth" / "generation_report.json").read_text(encoding="utf-8"))["shapes"]


def _transactions(report: GenerationReport) -> pd.DataFrame:
    df = pd.concat(
        [
            pd.read_csv(p, dtype={"customer_id": str, "invoice_id": str}, keep_default_na=False, na_values=[])
            for p in report.files["transactions"]
        ],
        ignore_index=True,
    )
    df["ts"] = pd.to_datetime(df["transaction_ts"], format="%Y-%m-%d %H:%M:%S")
    return df


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(clean, tmp_path):
    out, _ = clean
    again = generate(tmp_path / "again", size="tiny", seed=7)
    first, second = _all_files(out), _all_files(tmp_path / "again")
    assert set(first) == set(second)
    assert len([k for k in first if k.startswith("landing/transactions/")]) == len(
        again.files["transactions"]
    )
    for name in first:
        assert first[name] == second[name], name

    other = generate(tmp_path / "other", size="tiny", seed=8)
    third = _all_files(tmp_path / "other")
    for kind in KINDS:
        for path in other.files[kind]:
            rel = path.relative_to(tmp_path / "other").as_posix()
            assert third[rel] != first[rel], rel


def test_every_landing_file_has_the_canonical_header_and_report_counts_rows(clean):
    out, report = clean
    assert set(report.rows) == set(KINDS)
    for kind in KINDS:
        assert report.files[kind], kind
        total = 0
        for path in report.files[kind]:
            assert path.is_relative_to(out / "landing" / kind)
            text = path.read_text(encoding="utf-8")
            lines = text.split("\n")
            assert lines[0] == ",".join(CONTRACTS[kind].names)
            assert text.endswith("\n") and "\r" not in text
            total += len(lines) - 2
        assert total == report.rows[kind], kind
    assert 2_000 <= report.rows["transactions"] <= 15_000
    assert report.tenants == ["jeweller_01", "grocer_01", "fashion_01", "kiosk_01"]
    assert (report.start_date, report.end_date) == (dt.date(2024, 7, 1), dt.date(2025, 12, 31))
    assert report.defects == dict.fromkeys(DEFECT_KEYS, 0)


def _classify(rows: list[list[str]], catalog: dict[str, set[str]]) -> dict[str, int]:
    counts = dict.fromkeys(DEFECT_KEYS, 0)
    previous = None
    for row in rows:
        if row == previous:
            counts["duplicate_rows"] += 1
            continue
        previous = row
        if len(row) != len(CONTRACTS["transactions"].names):
            counts["malformed_rows"] += 1
            continue
        tenant, _, ts, _, product, _, _, qty, price, amount, _, _ = row
        try:
            q, p, a = int(qty), float(price), float(amount)
        except ValueError:
            counts["malformed_rows"] += 1
            continue
        try:
            dt.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            counts["bad_dates"] += 1
            continue
        assert a == pytest.approx(round(q * p, 2), abs=1e-9)
        if p < 0:
            counts["negative_prices"] += 1
        elif product not in catalog[tenant]:
            counts["unknown_products"] += 1
    return counts


def test_defect_switch_injects_exactly_the_reported_counts(clean, defective):
    out, report = defective
    products = pd.read_parquet(out / "ground_truth" / "products.parquet")
    catalog = products.groupby("tenant_id")["product_id"].agg(set).to_dict()
    found = _classify(_rows(report.files["transactions"]), catalog)
    assert found == report.defects
    assert set(report.defects) == DEFECT_KEYS
    clean_rows = clean[1].rows["transactions"]
    for kind, n in report.defects.items():
        # About rate/5 of the rows each: 1% of a few thousand rows.
        assert 0.003 * clean_rows <= n <= 0.02 * clean_rows, (kind, n)
    assert report.rows["transactions"] == clean_rows + report.defects["duplicate_rows"]
    assert _classify(_rows(clean[1].files["transactions"]), catalog) == dict.fromkeys(DEFECT_KEYS, 0)
    manifest = json.loads((out / "ground_truth" / "generation_report.json").read_text())
    assert manifest["defects"] == report.defects


def test_clean_transactions_are_internally_consistent(clean):
    _out, report = clean
    tx = _transactions(report)
    assert np.allclose(tx["amount"], np.round(tx["quantity"] * tx["unit_price"], 2), atol=1e-9)
    assert (tx["unit_price"] > 0).all() and (tx["quantity"] != 0).all()
    assert (tx["product_name"] != "").all() and (tx["category"] != "").all()
    assert (tx["payment_method"] != "").all()
    assert tx.groupby("tenant_id")["currency"].nunique().eq(1).all()
    # One invoice is one basket: one time, one customer, each product once.
    per_invoice = tx.groupby(["tenant_id", "invoice_id"]).agg(
        ts=("ts", "nunique"), cust=("customer_id", "nunique")
    )
    assert (per_invoice == 1).all().all()
    assert not tx.duplicated(["tenant_id", "invoice_id", "product_id"]).any()
    assert tx.groupby("tenant_id")["invoice_id"].nunique().min() > 0
    assert (tx.groupby(["tenant_id", "invoice_id"]).size() > 1).any()
    walk_in = tx["customer_id"] == ""
    assert 0.05 < walk_in.mean() < 0.5
    assert (tx.loc[walk_in, "quantity"] > 0).all()
    for tenant, part in tx.groupby("tenant_id"):
        dates = part["ts"].dt.date
        assert dates.min() >= report.start_date and dates.max() <= report.end_date, tenant


def test_returns_never_exceed_prior_purchases_at_the_same_price(clean):
    out, report = clean
    tx = _transactions(report)
    # Customers returning goods bought before the data starts are the exception; they have their own test.
    returners = {(r["tenant_id"], r["customer_id"]) for r in _shapes(out)["prehistory_returners"]}
    tx = tx[[k not in returners for k in zip(tx["tenant_id"], tx["customer_id"], strict=True)]]
    returns = tx[tx["quantity"] < 0]
    assert len(returns) > 0 and (returns["customer_id"] != "").all()
    assert returns.groupby("tenant_id").size()["fashion_01"] > returns.groupby("tenant_id").size().get(
        "grocer_01", 0
    )
    named = tx[tx["customer_id"] != ""].sort_values(
        ["ts", "quantity"], ascending=[True, False], kind="stable"
    )
    bought: dict[tuple, int] = defaultdict(int)
    prices: dict[tuple, set] = defaultdict(set)
    for key, q, p in zip(
        zip(named["tenant_id"], named["customer_id"], named["product_id"], strict=True),
        named["quantity"],
        named["unit_price"],
        strict=True,
    ):
        if q > 0:
            prices[key].add(p)
        else:
            assert p in prices[key], key
        bought[key] += q
        assert bought[key] >= 0, key


def test_churned_customers_never_buy_after_their_churn_date(clean):
    out, report = clean
    customers = pd.read_parquet(out / "ground_truth" / "customers.parquet")
    assert {"tenant_id", "customer_id", "churned", "churn_date", "true_daily_purchase_rate"} <= set(customers)
    assert customers["churned"].dtype == bool
    assert customers["churned"].eq(customers["churn_date"].notna()).all()
    assert 0.1 < customers["churned"].mean() < 0.8
    assert (customers["true_daily_purchase_rate"] > 0).all()
    tx = _transactions(report)
    tx = tx[tx["customer_id"] != ""].merge(
        customers, on=["tenant_id", "customer_id"], how="left", validate="m:1"
    )
    assert tx["churned"].notna().all(), "every named customer is in the ground truth"
    day = tx["ts"].dt.normalize()
    assert not (tx["churned"] & (day >= tx["churn_date"])).any()
    # Purchases fall in the buying window; only a pre-history return visit (the return, maybe an exchange)
    # comes before it, on its recorded day.
    early = day < tx["join_date"]
    assert (day[early] == tx.loc[early, "prehistory_return_date"]).all()
    assert (tx.loc[early, "quantity"] < 0).sum() == customers["prehistory_return_date"].notna().sum() > 0
    # Heavier buyers (true rate) make more visits.
    visits = tx.groupby("customer_id")["invoice_id"].nunique()
    rates = customers.set_index("customer_id")["true_daily_purchase_rate"]
    assert np.corrcoef(rates.loc[visits.index], visits)[0, 1] > 0.3


def test_demand_ground_truth_matches_the_simulated_sales(clean):
    out, report = clean
    demand = pd.read_parquet(out / "ground_truth" / "demand.parquet")
    products = pd.read_parquet(out / "ground_truth" / "products.parquet")
    tenants = _shapes(out)["tenants"]
    for tenant, part in demand.groupby("tenant_id"):
        # One row per product and day of the tenant's own window.
        n_days = (dt.date.fromisoformat(tenants[tenant]["end_date"]) - report.start_date).days + 1
        assert len(part) == (products["tenant_id"] == tenant).sum() * n_days, tenant
        assert part["date"].max().date() == dt.date.fromisoformat(tenants[tenant]["end_date"]), tenant
    assert (demand["expected_quantity"] >= 0).all()
    tx = _transactions(report)
    sold = tx[tx["quantity"] > 0].groupby("tenant_id")["quantity"].sum()
    expected = demand.groupby("tenant_id")["expected_quantity"].sum()
    for tenant in report.tenants:
        assert sold[tenant] == pytest.approx(expected[tenant], rel=0.15), tenant


def test_fashion_demand_is_seasonal_and_weekends_are_busier(clean):
    out, report = clean
    demand = pd.read_parquet(out / "ground_truth" / "demand.parquet")
    fashion = demand[demand["tenant_id"] == "fashion_01"]
    by_month = fashion.groupby(fashion["date"].dt.month)["expected_quantity"].mean()
    assert by_month[12] > 1.5 * by_month[2]
    tx = _transactions(report)
    sold = tx[(tx["quantity"] > 0) & (tx["tenant_id"] == "fashion_01")]
    monthly = sold.groupby(sold["ts"].dt.month)["quantity"].sum()
    assert monthly[12] > 1.5 * monthly[2]
    grocer = tx[(tx["quantity"] > 0) & (tx["tenant_id"] == "grocer_01")]
    by_weekday = grocer.groupby(grocer["ts"].dt.dayofweek)["quantity"].sum()
    assert by_weekday[5] > 1.2 * by_weekday[1]  # Saturday vs Tuesday
    by_dow = fashion.groupby(fashion["date"].dt.dayofweek)["expected_quantity"].mean()
    assert by_dow.idxmax() == 5


def test_gold_price_is_a_realistic_random_walk_scaled_by_purity(clean):
    _, report = clean
    metals = pd.read_csv(report.files["metal_prices"][0])
    assert set(metals["metal"]) == {"gold", "silver", "platinum"}
    assert set(metals.loc[metals["metal"] == "gold", "purity"]) == {999, 916, 750, 585}
    assert (metals["currency"] == "USD").all() and (metals["source"] == "synthetic").all()
    assert (metals["price_per_gram"] > 0).all()
    gold = metals[metals["metal"] == "gold"].pivot(index="date", columns="purity", values="price_per_gram")
    n_days = (report.end_date - report.start_date).days + 1
    assert len(gold) == n_days
    assert 40 < gold[999].iloc[0] < 100
    np.testing.assert_allclose(gold[916], gold[999] * 916 / 999, rtol=1e-4)
    std = np.log(gold[999]).diff().dropna().std()
    assert 0.003 < std < 0.03


def test_jewellery_prices_follow_gold(clean):
    out, report = clean
    tx = _transactions(report)
    sales = tx[(tx["tenant_id"] == "jeweller_01") & (tx["quantity"] > 0)].copy()
    metals = pd.read_csv(report.files["metal_prices"][0])
    gold = metals[(metals["metal"] == "gold") & (metals["purity"] == 999)].set_index("date")["price_per_gram"]
    products = pd.read_parquet(out / "ground_truth" / "products.parquet").set_index("product_id")
    sales["gold"] = sales["ts"].dt.strftime("%Y-%m-%d").map(gold)
    metal_value = (
        sales["gold"]
        * products.loc[sales["product_id"], "grams"].to_numpy()
        * products.loc[sales["product_id"], "purity"].to_numpy()
        / 999
    )
    markup = sales["unit_price"] / metal_value
    # Making charge 8-20% over the metal, less any promotion.
    assert markup.between(0.9, 1.25).all()


def test_diamond_prices_follow_the_published_function(clean):
    out, report = clean
    diamonds = pd.read_csv(report.files["diamond_prices"][0])
    assert 900 <= len(diamonds) <= 1100
    params = json.loads((out / "ground_truth" / "diamond_price_params.json").read_text())
    truth = true_diamond_price(diamonds)
    assert np.allclose(truth, true_diamond_price(diamonds, params))
    log_ratio = np.log(diamonds["price"] / truth)
    assert abs(log_ratio.mean()) < 0.02
    assert log_ratio.std() == pytest.approx(params["noise_sigma"], rel=0.15)
    ideal = diamonds.assign(cut="Ideal")
    fair = diamonds.assign(cut="Fair")
    assert (true_diamond_price(ideal) > true_diamond_price(fair)).all()
    assert {"D", "J"} <= set(diamonds["color"]) and {"I1", "IF"} <= set(diamonds["clarity"])
    assert (diamonds["z"] < diamonds["x"]).all()
    with pytest.raises(ValueError, match="unknown diamond cut"):
        true_diamond_price(diamonds.head(1).assign(cut="Perfect"))


def test_inventory_snapshots_are_weekly_and_cost_below_price(clean):
    _out, report = clean
    inv = pd.concat([pd.read_csv(p) for p in report.files["inventory"]], ignore_index=True)
    inv["snapshot_date"] = pd.to_datetime(inv["snapshot_date"], format="%Y-%m-%d")
    assert (inv["snapshot_date"].dt.dayofweek == 0).all()
    assert set(inv.groupby(["tenant_id", "product_id"])["snapshot_date"].diff().dropna().dt.days) == {7}
    assert (inv["on_hand"] >= 0).all() and (inv["lead_time_days"] > 0).all()
    new = {p["product_id"] for p in _shapes(_out)["new_products"]}
    moves = inv[~inv["product_id"].isin(new)].groupby(["tenant_id", "product_id"])["on_hand"].nunique()
    assert moves.gt(1).all(), "stock moves"
    tx = _transactions(report)
    price = tx[tx["quantity"] > 0].groupby("product_id")["unit_price"].median()
    cost = inv.groupby("product_id")["unit_cost"].median()
    assert (cost < price.loc[cost.index]).all()


@pytest.fixture(scope="module", params=["tiny", "demo"])
def shaped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A generated data set, its report, its recorded shapes and its transactions, for tiny and demo."""
    if request.param == "tiny":
        out, report = request.getfixturevalue("clean")
    else:
        out = tmp_path_factory.mktemp("demo")
        report = generate(out, size="demo", seed=7)
    return out, report, _shapes(out), _transactions(report)


def _inventory(out: Path) -> pd.DataFrame:
    """Every inventory file in the landing folder (not only those the report lists)."""
    files = sorted((out / "landing" / "inventory").glob("*.csv"))
    inv = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    inv["snapshot_date"] = pd.to_datetime(inv["snapshot_date"], format="%Y-%m-%d").dt.date
    return inv


def test_every_size_preset_carries_the_merchant_shapes():
    for name, preset in SIZES.items():
        specs = preset.tenants
        assert [t.tenant_id for t in specs if not t.has_inventory], name
        assert [t.tenant_id for t in specs if t.ends_days_early >= 28], name
        assert all(t.has_inventory for t in specs if t.ends_days_early), "a sales-only tenant is a separate shape"
        for t in specs:
            days = [age + 1 for age in t.new_product_ages]  # days of history, launch and last day included
            assert min(days) < 7 and any(7 <= n < 28 for n in days), (name, t.tenant_id)
            assert any(28 < n < 28 + 7 for n in days), "under a week of history before a 28-day holdout cut"
            assert t.prehistory_returners > 0, (name, t.tenant_id)


def test_new_products_are_first_sold_on_their_launch_date_with_short_histories(shaped):
    out, report, shapes, tx = shaped
    new = pd.DataFrame(shapes["new_products"])
    assert set(new["tenant_id"]) == set(report.tenants), "every tenant launches new products"
    products = pd.read_parquet(out / "ground_truth" / "products.parquet")
    flagged = products[products["is_new"]]
    assert set(zip(flagged["tenant_id"], flagged["product_id"], strict=True)) == set(
        zip(new["tenant_id"], new["product_id"], strict=True)
    )
    launch_truth = products.set_index(["tenant_id", "product_id"])["launch_date"].dt.date
    first_line = tx.groupby(["tenant_id", "product_id"])["ts"].min().dt.date
    first_sale = tx[tx["quantity"] > 0].groupby(["tenant_id", "product_id"])["ts"].min().dt.date
    last_line = tx.groupby("tenant_id")["ts"].max().dt.date
    for row in new.itertuples():
        key = (row.tenant_id, row.product_id)
        launch = dt.date.fromisoformat(row.launch_date)
        tenant = shapes["tenants"][row.tenant_id]
        assert first_line[key] == first_sale[key] == launch == launch_truth[key], key
        assert (dt.date.fromisoformat(tenant["end_date"]) - launch).days == row.days_before_end, key
        assert dt.date.fromisoformat(tenant["last_transaction_date"]) == last_line[row.tenant_id]
        assert row.history_days == (last_line[row.tenant_id] - launch).days + 1, key
    # In every tenant some series are shorter than a week, some shorter than a 28-day holdout, and one has
    # under a week of history before that holdout's cut.
    for tenant, days in new.groupby("tenant_id")["history_days"]:
        assert days.min() < 7 and days.between(7, 27).any() and days.between(29, 34).any(), tenant

    demand = pd.read_parquet(out / "ground_truth" / "demand.parquet")
    demand = demand.merge(new[["tenant_id", "product_id", "launch_date"]], on=["tenant_id", "product_id"])
    before = demand["date"] < pd.to_datetime(demand["launch_date"])
    assert (demand.loc[before, "expected_quantity"] == 0).all()
    assert (demand.loc[~before, "expected_quantity"] > 0).all()
    on_launch = demand[demand["date"] == pd.to_datetime(demand["launch_date"])]
    assert len(on_launch) == len(new) and (on_launch["expected_quantity"] >= 1).all()


def test_products_enter_the_inventory_feed_in_their_launch_week(shaped):
    out, _report, shapes, tx = shaped
    inv = _inventory(out)
    first_snapshot = inv.groupby(["tenant_id", "product_id"])["snapshot_date"].min()
    new = [p for p in shapes["new_products"] if shapes["tenants"][p["tenant_id"]]["has_inventory"]]
    assert new
    for p in new:
        launch = dt.date.fromisoformat(p["launch_date"])
        # Stocked on the Monday of the launch week, not before.
        assert first_snapshot[(p["tenant_id"], p["product_id"])] == launch - dt.timedelta(days=launch.weekday())
        stock = inv[(inv["tenant_id"] == p["tenant_id"]) & (inv["product_id"] == p["product_id"])]
        assert stock["on_hand"].iloc[0] > 0, p
    # Every product a tenant with an inventory feed sells has a snapshot on or before its first sale.
    fed = tx[tx["tenant_id"].map(lambda t: shapes["tenants"][t]["has_inventory"])]
    first_sale = fed.groupby(["tenant_id", "product_id"])["ts"].min().dt.date
    assert (first_snapshot.loc[first_sale.index] <= first_sale).all()


def test_a_sales_only_tenant_sends_transactions_and_no_inventory_file(shaped):
    out, report, shapes, tx = shaped
    sales_only = shapes["sales_only_tenants"]
    assert sales_only == [t for t, s in shapes["tenants"].items() if not s["has_inventory"]]
    assert sales_only == report.sales_only_tenants and len(sales_only) == 1
    inventory_files = {p.stem for p in (out / "landing" / "inventory").iterdir()}
    inv = _inventory(out)
    for tenant in report.tenants:
        if tenant in sales_only:
            assert tenant not in inventory_files and not (inv["tenant_id"] == tenant).any()
            assert (tx["tenant_id"] == tenant).sum() > 500
            assert tx.loc[tx["tenant_id"] == tenant, "customer_id"].ne("").any()
        else:
            assert tenant in inventory_files and (inv["tenant_id"] == tenant).any()


def test_one_tenant_ends_weeks_before_the_others(shaped):
    out, report, shapes, tx = shaped
    early = shapes["early_end_tenants"]
    assert early == report.early_end_tenants and len(early) == 1
    last_line = tx.groupby("tenant_id")["ts"].max().dt.date
    last_snapshot = _inventory(out).groupby("tenant_id")["snapshot_date"].max()
    for tenant, shape in shapes["tenants"].items():
        end = dt.date.fromisoformat(shape["end_date"])
        assert last_line[tenant] == dt.date.fromisoformat(shape["last_transaction_date"]) <= end
        # A small shop may sell nothing on its very last days; its data still runs up to its own end.
        assert last_line[tenant] >= end - dt.timedelta(days=7), tenant
        if tenant in early:
            assert end <= report.end_date - dt.timedelta(days=28)
        else:
            assert end == report.end_date
        if shape["has_inventory"]:
            assert end - dt.timedelta(days=7) < last_snapshot[tenant] <= end
    # Market prices are not a tenant's: they still cover the whole window.
    metals = pd.read_csv(report.files["metal_prices"][0])
    assert metals["date"].max() == report.end_date.isoformat()


def test_returns_of_goods_bought_before_the_data_leave_some_customers_net_negative(shaped):
    out, report, shapes, tx = shaped
    returners = pd.DataFrame(shapes["prehistory_returners"])
    assert set(returners["tenant_id"]) == set(report.tenants)
    named = tx[tx["customer_id"] != ""].sort_values("ts", kind="stable")
    by_customer = dict(list(named.groupby(["tenant_id", "customer_id"])))
    for r in returners.itertuples():
        lines = by_customer[(r.tenant_id, r.customer_id)]
        first = lines.iloc[0]
        assert first["quantity"] < 0 and first["product_id"] == r.product_id, r
        assert first["ts"].date() == dt.date.fromisoformat(r.return_date), r
        assert (lines["ts"].iloc[1:] > first["ts"]).all(), "the return is the customer's first line"
        assert (lines["quantity"] > 0).any() == r.buys_later, r

    net = named.groupby(["tenant_id", "customer_id"])["amount"].sum().round(2)
    negative = net[net < 0]
    listed = {(c["tenant_id"], c["customer_id"]): c["net_amount"] for c in shapes["net_negative_customers"]}
    assert set(negative.index) == set(listed) and len(listed) > 0
    for key, value in listed.items():
        assert value == pytest.approx(negative[key], abs=0.005), key
    assert set(listed) <= set(zip(returners["tenant_id"], returners["customer_id"], strict=True))
    only_return = returners[~returners["buys_later"]]
    assert set(zip(only_return["tenant_id"], only_return["customer_id"], strict=True)) <= set(listed)
    # In every tenant someone both buys and ends net-negative, so the customer marts have to score them.
    buyers = set(named.loc[named["quantity"] > 0, ["tenant_id", "customer_id"]].itertuples(index=False, name=None))
    for c in shapes["net_negative_customers"]:
        assert c["has_purchases"] == ((c["tenant_id"], c["customer_id"]) in buyers), c
    assert {c["tenant_id"] for c in shapes["net_negative_customers"] if c["has_purchases"]} == set(report.tenants)

    customers = pd.read_parquet(out / "ground_truth" / "customers.parquet").set_index(["tenant_id", "customer_id"])
    flagged = customers["prehistory_return_date"].dropna().dt.date
    assert flagged.to_dict() == {
        (r.tenant_id, r.customer_id): dt.date.fromisoformat(r.return_date) for r in returners.itertuples()
    }
    truth_net = customers["net_amount"].loc[net.index]
    np.testing.assert_allclose(truth_net.to_numpy(), net.to_numpy(), atol=0.005)
    assert (customers["net_amount"].drop(net.index) == 0).all(), "customers without lines have no value"


def test_rerun_removes_only_its_own_previous_files(tmp_path):
    out = tmp_path / "data"
    generate(out, size="tiny", seed=1)
    manifest = out / "ground_truth" / "generation_report.json"
    doc = json.loads(manifest.read_text())
    stale = out / "landing" / "transactions" / "grocer_01_1999Q1.csv"
    stale.write_text("old\n")
    doc["files"]["transactions"].append("landing/transactions/grocer_01_1999Q1.csv")
    manifest.write_text(json.dumps(doc))
    user_file = out / "landing" / "transactions" / "shop_export.csv"
    user_file.write_text("mine\n")
    generate(out, size="tiny", seed=1)
    assert not stale.exists()
    assert user_file.read_text() == "mine\n"


def test_invalid_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown size"):
        generate(tmp_path, size="huge")
    with pytest.raises(ValueError, match="defect_rate"):
        generate(tmp_path, size="tiny", defect_rate=1.5)


def test_command_line_entry_point(tmp_path, capsys):
    assert main(["--size", "tiny", "--seed", "3", "--out", str(tmp_path), "--defect-rate", "0.02"]) == 0
    printed = capsys.readouterr().out
    assert "transactions: grocer_01" in printed and "defects: duplicate_rows=" in printed
    assert "shapes: sales-only kiosk_01; ends early jeweller_01 (last day 2025-11-26); 20 new products" in printed
    assert (tmp_path / "landing" / "transactions" / "fashion_01_2025Q4.csv").exists()
