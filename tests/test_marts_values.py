"""Cash flow, inventory position, product metrics and the two dimensions on a crafted one-tenant shop.

Every expected value below is worked out by hand from the rows in this file (the arithmetic is in the
comments); none of it reuses the models' SQL. One tenant, no as-of var: the as-of date is the tenant's
last transaction date, 2024-03-10 (README: "its last transaction date unless set explicitly").

Edge cases covered: a two-line invoice, a walk-in sale, a return (also the only line of a return-only
customer and of a product that was only ever returned), days without any sale inside the spine, a product
renamed between sales, a blank name/category on a later line, a product with no category, a rise and a
fall in on_hand between inventory snapshots, a snapshot after the as-of date, and a stocked product
that was never sold.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from smartmarket.dbt_cli import run_dbt
from smartmarket.warehouse import Warehouse
from tests.dbt_support import load_raw, make_settings, require_postgres, throwaway_postgres_database

D, N = Decimal, None
AS_OF = date(2024, 3, 10)
T = "S"

# invoice, timestamp, customer (None = walk-in), product, name, category, quantity, unit price
LINES = [
    ("S-1", "2024-03-01 10:00:00", "C1", "P1", "Ring", "rings", 2, 10.00),  # 20.00
    ("S-1", "2024-03-01 10:00:00", "C1", "P2", "Chain", "chains", 1, 5.50),  # 5.50, same invoice
    ("S-2", "2024-03-02 11:00:00", None, "P1", "Ring", "rings", 1, 12.00),  # walk-in, 12.00
    # 2024-03-03: no sale at all
    ("S-3", "2024-03-04 09:00:00", "C1", "P1", "", "", -1, 10.00),  # return, -10.00; blank name/category
    ("S-4", "2024-03-05 15:00:00", "C2", "P2", "Gold Chain", "chains", 3, 5.00),  # 15.00, renamed
    ("S-6", "2024-03-06 10:00:00", "C3", "P4", "Old Brooch", "brooches", -2, 4.00),  # only a return, -8.00
    # 2024-03-07 .. 03-09: no sale
    ("S-5", "2024-03-10 12:00:00", "C2", "P3", "Bangle", None, 1, 7.25),  # 7.25, no category
]

# snapshot date, product, on_hand, unit cost, lead time
SNAPSHOTS = [
    ("2024-03-01", "P1", 5, 6.00, 7),
    ("2024-03-05", "P1", 12, 6.50, 7),  # +7 units -> 7 x 6.50 = 45.50 paid on 03-05
    ("2024-03-08", "P1", 10, 6.50, 7),  # a fall: nothing bought
    ("2024-03-12", "P1", 30, 6.50, 7),  # after the as-of date: ignored
    ("2024-03-01", "P2", 10, 3.00, 3),
    ("2024-03-09", "P2", 8, 3.125, 3),  # a fall
    ("2024-03-01", "P5", 4, 2.00, 14),  # P5 is stocked but never sold
    ("2024-03-04", "P5", 6, 2.125, 14),  # +2 units -> 2 x 2.125 = 4.25 paid on 03-04
]


def _transactions() -> pd.DataFrame:
    df = pd.DataFrame(LINES, columns=["invoice_id", "transaction_ts", "customer_id", "product_id", "product_name",
                                      "category", "quantity", "unit_price"])
    df["tenant_id"] = T
    df["transaction_ts"] = pd.to_datetime(df["transaction_ts"])
    df["amount"] = None  # staging computes quantity x unit_price
    df["payment_method"] = "cash"
    df["currency"] = "EUR"
    return df


def _inventory() -> pd.DataFrame:
    df = pd.DataFrame(SNAPSHOTS, columns=["snapshot_date", "product_id", "on_hand", "unit_cost", "lead_time_days"])
    df["tenant_id"] = T
    df["snapshot_date"] = pd.to_datetime(df["snapshot_date"]).dt.date
    return df


def _build(settings) -> Warehouse:
    load_raw(settings, {"transactions": _transactions(), "inventory": _inventory()})
    # `run`, not `build`: these values are the judge here (the YAML data tests run in the pipeline tests)
    run_dbt(["run"], settings)
    return Warehouse(settings)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request, tmp_path_factory) -> Iterator[Warehouse]:
    data_dir = tmp_path_factory.mktemp(f"marts_{request.param}")
    if request.param == "duckdb":
        yield _build(make_settings(data_dir))
        return
    require_postgres()
    with throwaway_postgres_database() as dbname:
        yield _build(make_settings(data_dir, "postgres", dbname))


def _rows(warehouse: Warehouse, table: str, columns: list[str], order: str) -> list[dict]:
    # the driver's own types (Decimal, date), not pandas': a float would hide a lost cent
    with warehouse.connect() as con:
        rows = con.execute(f"select {', '.join(columns)} from {table} order by {order}").fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _as_date(value) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


CASH_COLUMNS = ["tenant_id", "cash_date", "inflow", "outflow", "net_cash_flow", "cumulative_net_cash_flow"]
# inflow = the day's net revenue (sales minus refunds); outflow = stock bought, seen as rises in on_hand.
# The spine starts at the first revenue or purchase day (03-01) and ends at the as-of date (03-10).
EXPECTED_CASH = [
    ("2024-03-01", "25.50", "0.00", "25.50", "25.50"),  # 20.00 + 5.50
    ("2024-03-02", "12.00", "0.00", "12.00", "37.50"),  # walk-in sale counts as revenue
    ("2024-03-03", "0.00", "0.00", "0.00", "37.50"),  # quiet day kept as zeros
    ("2024-03-04", "-10.00", "4.25", "-14.25", "23.25"),  # refund 10.00; P5 +2 x 2.125; 37.50 - 14.25
    ("2024-03-05", "15.00", "45.50", "-30.50", "-7.25"),  # 3 x 5.00; P1 +7 x 6.50; 23.25 - 30.50
    ("2024-03-06", "-8.00", "0.00", "-8.00", "-15.25"),  # refund 2 x 4.00
    ("2024-03-07", "0.00", "0.00", "0.00", "-15.25"),
    ("2024-03-08", "0.00", "0.00", "0.00", "-15.25"),  # P1 fell 12 -> 10: no purchase
    ("2024-03-09", "0.00", "0.00", "0.00", "-15.25"),  # P2 fell 10 -> 8: no purchase
    ("2024-03-10", "7.25", "0.00", "7.25", "-8.00"),  # -15.25 + 7.25; the 03-12 rise is after as-of
]


def test_cash_flow_daily_every_row(built: Warehouse) -> None:
    got = _rows(built, "marts.fct_cash_flow_daily", CASH_COLUMNS, "tenant_id, cash_date")
    for row in got:
        row["cash_date"] = _as_date(row["cash_date"])
    want = [dict(zip(CASH_COLUMNS, (T, date.fromisoformat(d), D(i), D(o), D(n), D(c)), strict=True))
            for d, i, o, n, c in EXPECTED_CASH]
    assert got == want


METRIC_COLUMNS = ["tenant_id", "product_id", "as_of_date", "sales_last_7d", "sales_last_30d", "days_observed_30d",
                  "avg_daily_sales_30d", "revenue_last_30d", "last_sale_date", "days_since_last_sale"]
# 7-day window: sales_date > 03-03; 30-day window: > 02-09 (everything here).
# days_observed_30d = min(30, as_of - first day in the daily mart + 1).
EXPECTED_METRICS = [
    # P1: sold 2 (03-01) + 1 (03-02), returned 1 on 03-04 (sold 0 that day): 7d 0, 30d 3;
    # revenue 20.00 + 12.00 - 10.00 = 22.00; observed 03-01..03-10 = 10 days; 3 / 10 = 0.3000;
    # last day with units sold 03-02 -> 8 days ago
    ("P1", 0, 3, 10, "0.3000", "22.00", date(2024, 3, 2), 8),
    # P2: 1 (03-01) + 3 (03-05): 7d 3, 30d 4; 5.50 + 15.00 = 20.50; 4 / 10 = 0.4000; 03-05 -> 5 days
    ("P2", 3, 4, 10, "0.4000", "20.50", date(2024, 3, 5), 5),
    # P3: first sold on the as-of day: observed 1 day; 1 / 1 = 1.0000; 0 days since
    ("P3", 1, 1, 1, "1.0000", "7.25", date(2024, 3, 10), 0),
    # P4: only a return on 03-06: in the daily mart from 03-06 (5 days), nothing sold, revenue -8.00,
    # no sale date, so no days since last sale
    ("P4", 0, 0, 5, "0.0000", "-8.00", None, None),
    # P5 was never sold: no row
]


def test_product_sales_metrics_every_row(built: Warehouse) -> None:
    got = _rows(built, "marts.product_sales_metrics", METRIC_COLUMNS, "tenant_id, product_id")
    for row in got:
        row["as_of_date"], row["last_sale_date"] = _as_date(row["as_of_date"]), _as_date(row["last_sale_date"])
    want = [dict(zip(METRIC_COLUMNS, (T, p, AS_OF, s7, s30, obs, D(avg), D(rev), last, since), strict=True))
            for p, s7, s30, obs, avg, rev, last, since in EXPECTED_METRICS]
    assert got == want


INVENTORY_COLUMNS = ["tenant_id", "product_id", "as_of_date", "snapshot_date", "on_hand", "unit_cost",
                     "lead_time_days", "stock_value", "avg_daily_sales_30d", "days_of_cover"]
EXPECTED_INVENTORY = [
    # P1: latest snapshot on or before 03-10 is 03-08 (03-12 is in the future); 10 x 6.50 = 65.00;
    # cover = on_hand / (sold / days observed) = 10 x 10 / 3 = 33.33 -> 33.3
    ("P1", date(2024, 3, 8), 10, "6.5000", 7, "65.00", "0.3000", "33.3"),
    # P2: 03-09; 8 x 3.125 = 25.00; 8 x 10 / 4 = 20.0
    ("P2", date(2024, 3, 9), 8, "3.1250", 3, "25.00", "0.4000", "20.0"),
    # P5: never sold: 6 x 2.125 = 12.75, no sales rate, no cover
    ("P5", date(2024, 3, 4), 6, "2.1250", 14, "12.75", None, None),
]


def test_inventory_position_every_row(built: Warehouse) -> None:
    got = _rows(built, "marts.inventory_position", INVENTORY_COLUMNS, "tenant_id, product_id")
    for row in got:
        row["as_of_date"], row["snapshot_date"] = _as_date(row["as_of_date"]), _as_date(row["snapshot_date"])
    want = [dict(zip(INVENTORY_COLUMNS, (T, p, AS_OF, snap, on_hand, D(cost), lead, D(value),
                                         None if avg is None else D(avg), None if cover is None else D(cover)),
                     strict=True))
            for p, snap, on_hand, cost, lead, value, avg, cover in EXPECTED_INVENTORY]
    assert got == want


CUSTOMER_COLUMNS = ["tenant_id", "customer_id", "first_purchase_date", "last_purchase_date", "lifetime_invoices",
                    "lifetime_purchases", "lifetime_net_revenue", "favourite_category"]
EXPECTED_CUSTOMERS = [
    # C1: S-1 on 03-01 (25.50, a purchase) and S-3 on 03-04 (return only, -10.00, not a purchase):
    # 2 invoices, 1 purchase, 25.50 - 10.00 = 15.50; spend rings 20.00 - 10.00 = 10.00 > chains 5.50
    ("C1", date(2024, 3, 1), date(2024, 3, 1), 2, 1, "15.50", "rings"),
    # C2: 15.00 (chains) + 7.25 (P3, no category) = 22.25; the only categorised spend is chains
    ("C2", date(2024, 3, 5), date(2024, 3, 10), 2, 2, "22.25", "chains"),
    # C3: a single return: no purchase dates, -8.00, and no favourite (no positive spend)
    ("C3", None, None, 1, 0, "-8.00", None),
    # the walk-in sale S-2 has no customer row
]


def test_dim_customers_every_row(built: Warehouse) -> None:
    got = _rows(built, "marts.dim_customers", CUSTOMER_COLUMNS, "tenant_id, customer_id")
    for row in got:
        row["first_purchase_date"] = _as_date(row["first_purchase_date"])
        row["last_purchase_date"] = _as_date(row["last_purchase_date"])
    want = [dict(zip(CUSTOMER_COLUMNS, (T, c, first, last, inv, pur, D(rev), fav), strict=True))
            for c, first, last, inv, pur, rev, fav in EXPECTED_CUSTOMERS]
    assert got == want


PRODUCT_COLUMNS = ["tenant_id", "product_id", "product_name", "category", "first_sale_date", "last_sale_date",
                   "units_sold", "avg_unit_price"]
EXPECTED_PRODUCTS = [
    # P1: the later return line has a blank name and category, so the earlier "Ring"/"rings" stay;
    # dates span every line (the 03-04 return included); units 2 + 1 = 3; (20.00 + 12.00) / 3 = 10.666 -> 10.67
    ("P1", "Ring", "rings", date(2024, 3, 1), date(2024, 3, 4), 3, "10.67"),
    # P2: latest name wins ("Gold Chain", 03-05); units 1 + 3 = 4; (5.50 + 15.00) / 4 = 5.125 -> 5.13
    ("P2", "Gold Chain", "chains", date(2024, 3, 1), date(2024, 3, 5), 4, "5.13"),
    ("P3", "Bangle", None, date(2024, 3, 10), date(2024, 3, 10), 1, "7.25"),
    # P4: only returned: no units sold, so no average price
    ("P4", "Old Brooch", "brooches", date(2024, 3, 6), date(2024, 3, 6), 0, None),
    # P5 (inventory only) is not a sold product
]


def test_dim_products_every_row(built: Warehouse) -> None:
    got = _rows(built, "marts.dim_products", PRODUCT_COLUMNS, "tenant_id, product_id")
    for row in got:
        row["first_sale_date"] = _as_date(row["first_sale_date"])
        row["last_sale_date"] = _as_date(row["last_sale_date"])
    want = [dict(zip(PRODUCT_COLUMNS, (T, p, name, cat, first, last, units, None if avg is None else D(avg)),
                     strict=True))
            for p, name, cat, first, last, units, avg in EXPECTED_PRODUCTS]
    assert got == want
