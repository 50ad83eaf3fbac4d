"""The same data built on DuckDB and on a throwaway Postgres database gives identical marts, row for row."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS
from smartmarket.dbt_cli import run_dbt
from smartmarket.warehouse import Warehouse
from tests.dbt_support import (
    INGESTED_AT,
    load_raw,
    make_settings,
    require_postgres,
    throwaway_postgres_database,
    with_lineage,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MARTS = {
    "dim_tenants": ["tenant_id"],
    "customer_rfm": ["tenant_id", "customer_id"],
    "rfm_segment_summary": ["tenant_id", "segment"],
    "fct_daily_product_sales": ["tenant_id", "product_id", "sales_date"],
    "fct_daily_revenue": ["tenant_id", "revenue_date"],
    "product_sales_metrics": ["tenant_id", "product_id"],
    "dim_customers": ["tenant_id", "customer_id"],
    "dim_products": ["tenant_id", "product_id"],
    "inventory_position": ["tenant_id", "product_id"],
    "fct_cash_flow_daily": ["tenant_id", "cash_date"],
    "fct_metal_prices_daily": ["price_date", "metal", "purity"],
    "fct_diamond_prices": ["diamond_id"],
}
START = date(2023, 7, 1)
DAYS = 365


def make_data(seed: int = 7) -> dict[str, pd.DataFrame]:
    """A few thousand deterministic rows: 4 tenants, walk-ins, returns, odd cents, stock, prices.

    Tenants end on different days (shop_c's uploads stop 45 days early), one tenant sends only stock, and one
    customer returned more than they bought: each as-of and scoring rule runs on both engines.
    """
    rng = np.random.default_rng(seed)
    lines = []
    for t, tenant in enumerate(["shop_a", "shop_b", "shop_c", "default"]):
        n_customers, n_products = 40 + 15 * t, 12 + 3 * t
        prices = np.round(rng.uniform(0.5, 400, n_products), 2)
        span = DAYS - 45 if tenant == "shop_c" else DAYS
        for i in range(700 + 150 * t):
            day = START + timedelta(days=int(rng.integers(0, span)))
            ts = datetime(day.year, day.month, day.day, int(rng.integers(8, 21)), int(rng.integers(0, 60)))
            customer = None if rng.random() < 0.15 else f"C{int(rng.integers(0, n_customers)):03d}"
            for _ in range(int(rng.integers(1, 4))):
                p = int(rng.integers(0, n_products))
                qty = int(rng.integers(1, 6)) * (-1 if rng.random() < 0.06 else 1)
                amount = None
                if rng.random() < 0.2:
                    # a given line total with a discount, deliberately with half-cent values to round
                    amount = round(qty * prices[p] * 0.9, 3)
                lines.append({
                    "tenant_id": tenant, "invoice_id": f"{tenant}-{i:05d}", "transaction_ts": ts,
                    "customer_id": "" if customer is None and rng.random() < 0.5 else customer,
                    "product_id": f"P{p:03d}",
                    "product_name": None if rng.random() < 0.1 else f"Product {p} v{int(rng.integers(1, 3))}",
                    "category": None if rng.random() < 0.1 else f"cat{p % 4}",
                    "quantity": qty, "unit_price": float(prices[p]), "amount": amount,
                    "payment_method": str(rng.choice(["cash", "card"])), "currency": "EUR",
                })
    # returns of goods bought before the data starts: net value below zero
    for n, qty in enumerate([1, -4]):
        lines.append({"tenant_id": "shop_a", "invoice_id": f"shop_a-NEG{n}", "transaction_ts": datetime(2024, 3, 1 + n),
                      "customer_id": "C999", "product_id": "P000", "product_name": None, "category": None,
                      "quantity": qty, "unit_price": 12.5, "amount": None, "payment_method": "card",
                      "currency": "EUR"})
    transactions = pd.DataFrame(lines)

    stock = []
    for tenant in ["shop_a", "shop_b", "shop_c", "stock_only"]:
        for p in range(10):
            on_hand = int(rng.integers(5, 50))
            for week in range(0, DAYS + 14, 7):  # some snapshots after the last sale: ignored
                on_hand = max(0, on_hand + int(rng.integers(-8, 12)))
                stock.append({
                    "snapshot_date": START + timedelta(days=week), "tenant_id": tenant,
                    "product_id": f"P{p:03d}", "on_hand": on_hand,
                    "unit_cost": round(float(rng.uniform(0.1, 200)), 3),
                    "lead_time_days": int(rng.integers(1, 30)),
                })
    inventory = pd.DataFrame(stock)

    quotes = []
    for d in range(0, DAYS, 1):
        for metal, purity, base in [("gold", 999, 60.0), ("gold", 916, 55.0), ("silver", 999, 0.8),
                                    ("platinum", 950, 30.0)]:
            price = base * (1 + 0.1 * math.sin(d / 30) + rng.normal(0, 0.01))
            quotes.append({"date": START + timedelta(days=d), "metal": metal, "purity": purity,
                           "price_per_gram": round(price, 4), "currency": "USD", "source": "feed1"})
    metal = pd.DataFrame(quotes)

    n = 400
    diamonds = pd.DataFrame({
        "carat": np.round(rng.uniform(0.2, 3, n), 2), "cut": rng.choice(DIAMOND_CUTS, n),
        "color": rng.choice(DIAMOND_COLORS, n), "clarity": rng.choice(DIAMOND_CLARITIES, n),
        "price": np.round(rng.uniform(300, 20000, n), 0), "depth": np.round(rng.uniform(55, 70, n), 1),
        "table": np.round(rng.uniform(50, 70, n), 1), "x": np.round(rng.uniform(3, 9, n), 2),
        "y": np.round(rng.uniform(3, 9, n), 2), "z": np.round(rng.uniform(2, 6, n), 2),
        "date": [START + timedelta(days=int(d)) for d in rng.integers(0, DAYS, n)],
    })
    return {"transactions": transactions, "inventory": inventory, "metal_prices": metal,
            "diamond_prices": diamonds}


def _normalise(value):
    """Engine-neutral form: exact decimals at 6 places, doubles rounded to 6 places, dates as dates."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.000001"))
    if isinstance(value, float):
        return Decimal(repr(round(value, 6))).quantize(Decimal("0.000001"))
    if isinstance(value, int):
        return Decimal(value).quantize(Decimal("0.000001"))
    if isinstance(value, datetime):
        return value
    return value


def _read_mart(warehouse: Warehouse, table: str, key: list[str]) -> tuple[list[str], list[tuple]]:
    with warehouse.connect() as con:
        cur = con.execute(f"select * from marts.{table} order by {', '.join(key)}")
        names = [d[0] for d in cur.description]
        rows = [tuple(_normalise(v) for v in row) for row in cur.fetchall()]
    return names, rows


def _duplicate_quotes(metal: pd.DataFrame) -> pd.DataFrame:
    """A second feed re-quoting some days with other prices: the mart must pick the same one everywhere."""
    second = metal.iloc[::11].copy()
    second["price_per_gram"] = second["price_per_gram"] + 0.25
    second["source"] = "feed2"
    return second


def test_marts_identical_on_duckdb_and_postgres(tmp_path):
    require_postgres()
    data = make_data()
    assert len(data["transactions"]) > 2000 and (data["transactions"]["quantity"] < 0).any()

    duck = make_settings(tmp_path / "duck")
    load_raw(duck, data)
    with throwaway_postgres_database() as dbname:
        pg = make_settings(tmp_path / "pg", warehouse="postgres", pg_dbname=dbname)
        load_raw(pg, data)
        for settings in (duck, pg):
            # the second feed lands later, in its own file
            extra = with_lineage("metal_prices", _duplicate_quotes(data["metal_prices"]), "metal_feed2.csv")
            extra["_ingested_at"] = INGESTED_AT + pd.Timedelta(hours=1)
            warehouse = Warehouse(settings)
            with warehouse.connect() as con:
                assert warehouse.insert_new(con, "raw.metal_prices", extra, ["_row_hash"]) == len(extra)

        run_dbt(["build"], duck)
        run_dbt(["build"], pg)

        duck_wh, pg_wh = Warehouse(duck), Warehouse(pg)
        for table, key in MARTS.items():
            duck_names, duck_rows = _read_mart(duck_wh, table, key)
            pg_names, pg_rows = _read_mart(pg_wh, table, key)
            assert duck_names == pg_names, table
            assert len(duck_rows) > 0, f"{table} is empty: the comparison would prove nothing"
            assert len(duck_rows) == len(pg_rows), table
            for d_row, p_row in zip(duck_rows, pg_rows, strict=True):
                pairs = dict(zip(duck_names, zip(d_row, p_row, strict=True), strict=True))
                assert d_row == p_row, f"{table}: (duckdb, postgres) = {pairs}"

        # the re-quoted days resolve to the later feed on both engines
        picked = pg_wh.query_df("select source, count(*) as n from marts.fct_metal_prices_daily "
                                "where n_quotes = 2 group by source")
        n_requoted = len(_duplicate_quotes(data["metal_prices"]))
        assert picked.to_dict("records") == [{"source": "feed2", "n": n_requoted}]

        # the data really exercises per-tenant as-of dates and net returns (else the comparison proves less)
        as_of = pg_wh.query_df("select tenant_id, as_of_date from marts.dim_tenants")
        assert as_of["as_of_date"].nunique() >= 2, as_of
        stock = pg_wh.query_df("select as_of_source from intermediate.int_inventory_as_of "
                               "where tenant_id = 'stock_only'")
        assert stock["as_of_source"].tolist() == ["last_snapshot"]
        assert pg_wh.scalar("select count(*) from marts.customer_rfm where has_net_returns") >= 1
