"""One "today" per tenant, on DuckDB and on Postgres, every value computed by hand.

Three tenants whose data end on different days:
  early -- sales end 2024-03-10 (a shop whose uploads stopped); a stock count after that day exists
  late  -- sales end 2024-03-31
  stock -- inventory only (no sales feed yet), last snapshot 2024-03-20
  depot -- inventory only, one snapshot on 2024-01-15
With one global as-of (the latest sale over all tenants, 2024-03-31) `early` looked three weeks inactive;
each tenant must now be seen from its own last day, unless the `as_of_date` var pins it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from smartmarket.config import Settings
from smartmarket.dbt_cli import DbtError, run_dbt
from smartmarket.warehouse import Warehouse
from tests.dbt_support import load_raw, make_settings, require_postgres, throwaway_postgres_database

D = Decimal
EARLY, LATE, STOCK, DEPOT = date(2024, 3, 10), date(2024, 3, 31), date(2024, 3, 20), date(2024, 1, 15)

# invoice, day, tenant, customer, product, quantity, unit price
LINES = [
    ("E-1", "2024-01-05", "early", "e1", "EP1", 2, 10.00),
    ("E-2", "2024-02-20", "early", "e1", "EP1", 1, 10.00),
    ("E-3", "2024-03-04", "early", "e2", "EP2", 3, 5.00),
    ("E-4", "2024-03-10", "early", "e2", "EP1", 1, 10.00),
    ("L-1", "2023-12-01", "late", "l1", "LP1", 1, 20.00),
    ("L-4", "2024-03-08", "late", "l2", "LP2", 4, 2.50),
    ("L-2", "2024-03-25", "late", "l1", "LP1", 2, 20.00),
    ("L-3", "2024-03-31", "late", "l2", "LP1", 1, 20.00),
]
# day, tenant, product, on hand, unit cost, lead time
SNAPSHOTS = [
    ("2024-03-01", "early", "EP1", 10, 4.00, 5),
    ("2024-03-08", "early", "EP1", 8, 4.00, 5),
    ("2024-03-15", "early", "EP1", 30, 4.00, 5),  # after early's as-of: ignored
    ("2024-03-01", "late", "LP1", 5, 12.00, 7),
    ("2024-03-29", "late", "LP1", 9, 12.50, 7),
    ("2024-02-01", "stock", "SP1", 3, 100.00, 10),
    ("2024-03-20", "stock", "SP1", 7, 100.00, 10),
    ("2024-01-15", "depot", "DP1", 2, 50.00, 3),
]


def _frames() -> dict[str, pd.DataFrame]:
    tx = pd.DataFrame(LINES, columns=["invoice_id", "transaction_ts", "tenant_id", "customer_id", "product_id",
                                      "quantity", "unit_price"])
    tx["transaction_ts"] = pd.to_datetime(tx["transaction_ts"]) + pd.Timedelta(hours=10)
    tx["currency"] = "EUR"
    inv = pd.DataFrame(SNAPSHOTS, columns=["snapshot_date", "tenant_id", "product_id", "on_hand", "unit_cost",
                                           "lead_time_days"])
    inv["snapshot_date"] = pd.to_datetime(inv["snapshot_date"]).dt.date
    return {"transactions": tx, "inventory": inv}


ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
# what each scenario builds: the default (no var) runs `dbt build`, so every dbt test (the as-of
# consistency tests among them) runs on this data too; the var scenarios re-run only the models read here
VAR_MODELS = "dim_tenants int_inventory_as_of customer_rfm fct_daily_revenue inventory_position fct_cash_flow_daily"
SCENARIOS = {
    "default": None,
    "pinned": {"as_of_date": "2024-03-05"},
    "mapped": {"as_of_date": {"late": "2024-03-26", "stock": "2024-02-15"}},
}


@pytest.fixture(scope="module", params=ENGINES)
def engine(request, tmp_path_factory) -> Iterator[dict[str, Warehouse]]:
    """Per engine: one warehouse per scenario, loaded with the same rows and built with its vars."""
    with ExitStack() as stack:
        built = {}
        for scenario, dbt_vars in SCENARIOS.items():
            data_dir = tmp_path_factory.mktemp(f"asof_{request.param}_{scenario}")
            if request.param == "postgres":
                require_postgres()
                settings = make_settings(data_dir, "postgres", stack.enter_context(throwaway_postgres_database()))
            else:
                settings = make_settings(data_dir)
            load_raw(settings, _frames())
            _build(settings, dbt_vars)
            built[scenario] = Warehouse(settings)
        yield built


def _build(settings: Settings, dbt_vars: dict | None) -> None:
    if dbt_vars is None:
        run_dbt(["build"], settings)
    else:
        run_dbt(["run", "--select", f"+{VAR_MODELS.replace(' ', ' +')}"], settings, vars=dbt_vars)


def _rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.connect() as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


def _by_tenant(warehouse: Warehouse, sql: str) -> dict[str, tuple]:
    return {row[0]: tuple(row[1:]) for row in _rows(warehouse, sql)}


def test_dim_tenants_has_each_tenants_own_as_of(engine):
    rows = _rows(engine["default"], "select tenant_id, as_of_date, as_of_source, first_transaction_date, "
                                    "last_transaction_date, transaction_lines, invoices, customers, products, "
                                    "transaction_lines_after_as_of from marts.dim_tenants order by tenant_id")
    assert rows == [
        ("early", EARLY, "last_transaction", date(2024, 1, 5), EARLY, 4, 4, 2, 2, 0),
        ("late", LATE, "last_transaction", date(2023, 12, 1), LATE, 4, 4, 2, 2, 0),
    ], "the inventory-only tenant has no sales marts, so it is not a dim_tenants row"
    stock = _by_tenant(engine["default"], "select tenant_id, as_of_date, as_of_source "
                                          "from intermediate.int_inventory_as_of")
    assert stock == {"early": (EARLY, "last_transaction"), "late": (LATE, "last_transaction"),
                     "stock": (STOCK, "last_snapshot"), "depot": (DEPOT, "last_snapshot")}


def test_recency_and_churn_window_use_the_tenants_own_as_of(engine):
    rows = _rows(engine["default"], "select tenant_id, customer_id, as_of_date, last_purchase_date, recency_days, "
                                    "frequency, monetary, frequency_last_90d, earlier_rate_per_90d "
                                    "from marts.customer_rfm order by tenant_id, customer_id")
    assert rows == [
        # early, as of 03-10, window (2023-12-11, 2024-03-10]: e1 last bought 02-20 -> 9 + 10 = 19 days
        # (a global 03-31 would say 40); both purchases are inside the window
        ("early", "e1", EARLY, date(2024, 2, 20), 19, 2, D("30.00"), 2, None),
        # e2 bought on early's last day: 0 days, not 21
        ("early", "e2", EARLY, EARLY, 0, 2, D("25.00"), 2, None),
        # late, as of 03-31, window (2024-01-01, 2024-03-31]: 12-01 falls before it -> 1 earlier purchase
        # over max(31 days, 90) -> 1.0 per 90 days; 03-25 -> 6 days
        ("late", "l1", LATE, date(2024, 3, 25), 6, 2, D("60.00"), 1, D("1.0000")),
        ("late", "l2", LATE, LATE, 0, 2, D("30.00"), 2, None),
    ]


def test_daily_spines_end_on_the_tenants_own_as_of(engine):
    products = _rows(engine["default"], "select tenant_id, product_id, min(sales_date), max(sales_date), count(*) "
                                        "from marts.fct_daily_product_sales group by 1, 2 order by 1, 2")
    assert products == [
        # 01-05..01-31 = 27 + 29 (Feb 2024) + 10 = 66 days
        ("early", "EP1", date(2024, 1, 5), EARLY, 66),
        ("early", "EP2", date(2024, 3, 4), EARLY, 7),
        # 31 + 31 + 29 + 31 = 122 days
        ("late", "LP1", date(2023, 12, 1), LATE, 122),
        ("late", "LP2", date(2024, 3, 8), LATE, 24),
    ]
    revenue = _rows(engine["default"], "select tenant_id, min(revenue_date), max(revenue_date), count(*), "
                                       "sum(net_revenue) from marts.fct_daily_revenue group by 1 order by 1")
    # early 20 + 10 + 15 + 10; late 20 + 10 + 40 + 20
    assert revenue == [("early", date(2024, 1, 5), EARLY, 66, D("55.00")),
                       ("late", date(2023, 12, 1), LATE, 122, D("90.00"))]
    cash = _rows(engine["default"], "select tenant_id, min(cash_date), max(cash_date), count(*), sum(inflow), "
                                    "sum(outflow) from marts.fct_cash_flow_daily group by 1 order by 1")
    assert cash == [
        # early's stock only fell (10 -> 8); the 03-15 count of 30 lies after its as-of
        ("early", date(2024, 1, 5), EARLY, 66, D("55.00"), D("0.00")),
        # late bought 9 - 5 = 4 units at 12.50 on 03-29
        ("late", date(2023, 12, 1), LATE, 122, D("90.00"), D("50.00")),
        # stock-only: from its first visible purchase (3 -> 7 at 100.00 on 03-20) to its last snapshot
        ("stock", STOCK, STOCK, 1, D("0.00"), D("400.00")),
    ], "depot (one count, no rise, no sales) has no visible cash flow"


def test_sales_windows_use_the_tenants_own_as_of(engine):
    rows = _rows(engine["default"], "select tenant_id, product_id, as_of_date, sales_last_7d, sales_last_30d, "
                                    "days_observed_30d, avg_daily_sales_30d, revenue_last_30d, last_sale_date, "
                                    "days_since_last_sale from marts.product_sales_metrics order by 1, 2")
    assert rows == [
        # 7 days = (03-03, 03-10]: E-4 1 unit; 30 days = (02-09, 03-10]: E-2 + E-4 = 2 units, 20.00; 2 / 30
        ("early", "EP1", EARLY, 1, 2, 30, D("0.0667"), D("20.00"), EARLY, 0),
        # E-3 on 03-04 is inside the 7 days (a global 03-31 would put it outside); on sale 7 days: 3 / 7
        ("early", "EP2", EARLY, 3, 3, 7, D("0.4286"), D("15.00"), date(2024, 3, 4), 6),
        # (03-24, 03-31]: 2 + 1 units; 60.00; 3 / 30
        ("late", "LP1", LATE, 3, 3, 30, D("0.1000"), D("60.00"), LATE, 0),
        # 03-08 is outside the 7 days, inside the 30; on sale 24 days: 4 / 24
        ("late", "LP2", LATE, 0, 4, 24, D("0.1667"), D("10.00"), date(2024, 3, 8), 23),
    ]


def test_inventory_position_per_tenant_including_a_stock_only_tenant(engine):
    rows = _rows(engine["default"], "select tenant_id, product_id, as_of_date, snapshot_date, on_hand, stock_value, "
                                    "avg_daily_sales_30d, days_of_cover from marts.inventory_position order by 1, 2")
    assert rows == [
        ("depot", "DP1", DEPOT, DEPOT, 2, D("100.00"), None, None),
        # the 03-08 count, not the 03-15 one after early's as-of; cover 8 x 30 / 2 = 120 days
        ("early", "EP1", EARLY, date(2024, 3, 8), 8, D("32.00"), D("0.0667"), D("120.0")),
        # 9 x 12.50; cover 9 x 30 / 3 = 90 days
        ("late", "LP1", LATE, date(2024, 3, 29), 9, D("112.50"), D("0.1000"), D("90.0")),
        # no sales feed: as of its own last snapshot, no sales pace, no cover
        ("stock", "SP1", STOCK, STOCK, 7, D("700.00"), None, None),
    ]


def test_var_pins_every_tenant(engine):
    pinned, day = engine["pinned"], date(2024, 3, 5)
    assert _rows(pinned, "select tenant_id, as_of_date, as_of_source, last_transaction_date, transaction_lines, "
                         "transaction_lines_after_as_of from marts.dim_tenants order by 1") == [
        # E-4 (03-10) lies after the pinned day; late keeps only L-1 (2023-12-01)
        ("early", day, "var", EARLY, 3, 1),
        ("late", day, "var", LATE, 1, 3),
    ]
    assert _by_tenant(pinned, "select tenant_id, as_of_date, as_of_source from intermediate.int_inventory_as_of") == {
        "early": (day, "var"), "late": (day, "var"), "stock": (day, "var"), "depot": (day, "var")}
    # e1 02-20 -> 14 days; e2 03-04 -> 1; l1 2023-12-01 -> 30 + 31 + 29 + 5 = 95; l2 has no purchase yet
    assert _rows(pinned, "select tenant_id, customer_id, as_of_date, recency_days from marts.customer_rfm "
                         "order by 1, 2") == [("early", "e1", day, 14), ("early", "e2", day, 1),
                                              ("late", "l1", day, 95)]
    assert _by_tenant(pinned, "select tenant_id, max(revenue_date) from marts.fct_daily_revenue group by 1") == {
        "early": (day,), "late": (day,)}
    assert _by_tenant(pinned, "select tenant_id, max(cash_date) from marts.fct_cash_flow_daily group by 1") == {
        "early": (day,), "late": (day,)}, "stock's only visible purchase (03-20) lies after the pinned day"
    assert _rows(pinned, "select tenant_id, as_of_date, snapshot_date, on_hand from marts.inventory_position "
                         "order by 1") == [("depot", day, DEPOT, 2), ("early", day, date(2024, 3, 1), 10),
                                           ("late", day, date(2024, 3, 1), 5), ("stock", day, date(2024, 2, 1), 3)]


def test_var_mapping_pins_only_the_tenants_it_names(engine):
    mapped = engine["mapped"]
    late_day, stock_day = date(2024, 3, 26), date(2024, 2, 15)
    assert _rows(mapped, "select tenant_id, as_of_date, as_of_source, transaction_lines, "
                         "transaction_lines_after_as_of from marts.dim_tenants order by 1") == [
        ("early", EARLY, "last_transaction", 4, 0),
        ("late", late_day, "var", 3, 1),  # L-3 on 03-31 is after the pinned 03-26
    ]
    assert _by_tenant(mapped, "select tenant_id, as_of_date, as_of_source from intermediate.int_inventory_as_of") == {
        "early": (EARLY, "last_transaction"), "late": (late_day, "var"), "stock": (stock_day, "var"),
        "depot": (DEPOT, "last_snapshot")}
    # l1 03-25 -> 1 day; l2 03-08 -> 18 days
    assert _rows(mapped, "select tenant_id, customer_id, as_of_date, recency_days from marts.customer_rfm "
                         "order by 1, 2") == [("early", "e1", EARLY, 19), ("early", "e2", EARLY, 0),
                                              ("late", "l1", late_day, 1), ("late", "l2", late_day, 18)]
    assert _rows(mapped, "select tenant_id, as_of_date, snapshot_date from marts.inventory_position order by 1") == [
        ("depot", DEPOT, DEPOT), ("early", EARLY, date(2024, 3, 8)), ("late", late_day, date(2024, 3, 1)),
        ("stock", stock_day, date(2024, 2, 1))]


def test_malformed_mapping_date_fails_naming_the_tenant_and_value(tmp_path):
    # (a malformed single date: tests/test_rfm.py::test_run_dbt_reports_dbt_output_on_failure)
    settings = make_settings(tmp_path)
    load_raw(settings, {})
    with pytest.raises(DbtError) as err:
        run_dbt(["run", "--select", "int_tenant_as_of"], settings, vars={"as_of_date": {"late": "2024-3-26"}})
    assert "var as_of_date['late'] must be 'YYYY-MM-DD'" in err.value.output
    assert "got '2024-3-26'" in err.value.output
