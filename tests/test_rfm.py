"""customer_rfm and the daily facts on a tiny hand-made data set, every value checked by hand.

As-of date 2024-06-30 (explicit var), so the churn window is (2024-04-01, 2024-06-30].
Hand calculations are next to each expected row; none of them reuse the models' SQL.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from smartmarket.dbt_cli import DbtError, run_dbt
from smartmarket.warehouse import Warehouse
from tests.dbt_support import load_raw, make_settings

AS_OF = date(2024, 6, 30)

# invoice, timestamp, tenant, customer ('' and None are walk-ins), product, quantity, unit price
LINES = [
    ("A-001", "2024-01-10 09:15:00", "A", "A1", "P1", 2, 50.00),
    ("A-002", "2024-02-15 10:00:00", "A", "A1", "P2", 1, 50.00),
    ("A-003", "2024-03-20 11:30:00", "A", "A1", "P3", 1, 80.00),
    ("A-004", "2024-06-20 12:00:00", "A", "A1", "P2", 1, 40.00),
    ("A-005", "2024-06-25 16:00:00", "A", "A1", "P2", -1, 20.00),  # return-only invoice
    ("A-099", "2024-07-05 10:00:00", "A", "A1", "P1", 1, 999.00),  # after the as-of date
    ("A-010", "2024-05-01 10:00:00", "A", "A2", "P2", 1, 30.00),
    ("A-011", "2024-06-01 10:00:00", "A", "A2", "P2", 1, 30.00),
    ("A-012", "2024-06-28 23:59:59", "A", "A2", "P3", 2, 30.00),
    ("A-020", "2023-12-01 10:00:00", "A", "A3", "P1", 4, 50.00),
    ("A-021", "2024-01-05 10:00:00", "A", "A3", "P3", 1, 100.00),
    ("A-030", "2024-04-15 10:00:00", "A", "A4", "P2", 1, 45.50),
    ("A-031", "2024-05-20 10:00:00", "A", "A4", "P2", 1, 45.50),
    ("A-040", "2024-02-20 10:00:00", "A", "A5", "P1", 2, 100.00),  # one invoice, two lines
    ("A-040", "2024-02-20 10:00:00", "A", "A5", "P3", 1, 300.00),
    ("A-050", "2024-06-30 18:45:00", "A", "", "P2", 1, 15.00),  # walk-in (blank)
    ("A-051", "2024-06-10 08:00:00", "A", None, "P4", 3, 2.50),  # walk-in (missing)
    ("B-001", "2024-06-29 10:00:00", "B", "B1", "Q1", 1, 10.00),
    ("B-002", "2024-06-30 10:00:00", "B", "B1", "Q1", 1, 10.00),
    ("B-003", "2024-06-15 10:00:00", "B", "B1", "Q2", 2, 5.00),
    ("B-010", "2023-10-01 10:00:00", "B", "B2", "Q2", 1, 5.00),
    ("B-020", "2024-03-01 10:00:00", "B", "B3", "Q1", 2, 10.00),
    ("B-021", "2024-03-10 10:00:00", "B", "B3", "Q1", -1, 5.00),  # return
    ("B-030", "2024-06-01 10:00:00", "B", "B4", "Q2", -1, 8.00),  # only a return: not scored
    ("B-040", "2024-07-02 10:00:00", "B", "B5", "Q1", 5, 10.00),  # only after as-of: not scored
    # tenant C: returns of goods bought before the data starts outweigh two customers' purchases
    ("C-001", "2024-06-01 10:00:00", "C", "C1", "R1", 1, 10.00),
    ("C-002", "2024-06-10 10:00:00", "C", "C1", "R1", -3, 20.00),  # return-only invoice, 60.00 refunded
    ("C-010", "2024-06-05 10:00:00", "C", "C2", "R1", 1, 5.00),
    ("C-011", "2024-06-06 10:00:00", "C", "C2", "R2", -1, 10.00),
    ("C-020", "2024-06-20 10:00:00", "C", "C3", "R2", 1, 100.00),
]

RFM_COLUMNS = [
    "tenant_id", "customer_id", "first_purchase_date", "last_purchase_date", "recency_days", "frequency",
    "monetary", "has_net_returns", "r_score", "f_score", "m_score", "rfm_score", "segment", "frequency_last_90d",
    "earlier_rate_per_90d", "churn_risk_score", "churn_risk_level", "risk_reason",
]
D, N = Decimal, None
# Tenant A frequencies A5 1 < A3 = A4 2 < A2 3 < A1 4 -> ranks 1, 2, 2, 4, 5 of n = 5:
#   f = 1 + floor(5 * (rank - 1) / 4) capped at 5 -> 1, 2, 2, 4, 5
# Tenant A monetary A4 91 < A2 120 < A1 250 (= 100 + 50 + 80 + 40 - 20 return) < A3 300 < A5 500:
#   m -> 1, 2, 3 (floor 2.5 = 2), 4 (floor 3.75 = 3), 5
# Tenant B frequencies B2 = B3 1 < B1 3 -> ranks 1, 1, 3 of n = 3 -> f 1, 1, 5 (1 + floor(5) capped)
# Tenant B monetary B2 5 < B3 15 (= 20 - 5 return) < B1 30 -> m 1, 3 (1 + floor(2.5)), 5
# Tenant C frequencies all 1 -> f 1. Monetary C1 -50 (10 - 60), C2 -5 (5 - 10), C3 100: ranked on the value
#   floored at zero, C1 = C2 = 0 share rank 1 -> m 1, 1; C3 rank 3 -> 5. (Ranked on the raw net value, C2
#   would be rank 2 -> 1 + floor(5 * 1 / 2) = 3: a refund would buy a better score than spending nothing.)
F = False
EXPECTED_RFM = [
    # A1: last 06-20 -> 10 days -> R 4; (4+5+3)/3 = 4.00 Loyal. Window: 1 purchase; earlier 3 purchases,
    # first 01-10 to window start 04-01 = 82 days -> 90; 3 * 90 / 90 = 3.0 > 1 -> declining:
    # 10/365 = 0.0274 + 0.3 = 0.3274 medium
    ("A", "A1", date(2024, 1, 10), date(2024, 6, 20), 10, 4, D("250.00"), F, 4, 5, 3, D("4.00"), "Loyal",
     1, D("3.0000"), D("0.3274"), "medium",
     "1 purchase in the last 90 days vs 3.0 expected from earlier behaviour"),
    # A2: all three purchases inside the window; 2 days -> R 5; (5+4+2)/3 = 3.67 Potential (< 3.7);
    # 2/365 = 0.0055 low
    ("A", "A2", date(2024, 5, 1), date(2024, 6, 28), 2, 3, D("120.00"), F, 5, 4, 2, D("3.67"), "Potential",
     3, N, D("0.0055"), "low", "recent buyer with no earlier history"),
    # A3: 01-05 -> 06-30 = 177 days -> R 1; (1+2+4)/3 = 2.33 At-Risk; earlier 2 over 12-01 -> 04-01 = 122
    # days: 180/122 = 1.47541 -> 1.4754; 177/365 = 0.48493 -> 0.4849 + 0.3 = 0.7849 high
    ("A", "A3", date(2023, 12, 1), date(2024, 1, 5), 177, 2, D("300.00"), F, 1, 2, 4, D("2.33"), "At-Risk",
     0, D("1.4754"), D("0.7849"), "high",
     "no purchase for 177 days; 0 purchases in the last 90 days vs 1.5 expected from earlier behaviour"),
    # A4: 05-20 -> 41 days -> R 3; (3+2+1)/3 = 2.00 At-Risk; both purchases in the window, no earlier;
    # 41/365 = 0.11233 -> 0.1123 low
    ("A", "A4", date(2024, 4, 15), date(2024, 5, 20), 41, 2, D("91.00"), F, 3, 2, 1, D("2.00"), "At-Risk",
     2, N, D("0.1123"), "low", "no purchase for 41 days"),
    # A5: 02-20 -> 131 days -> R 1; (1+1+5)/3 = 2.33 At-Risk; earlier 1 over max(41, 90) days = 1.0;
    # 131/365 = 0.35890 -> 0.3589 + 0.3 = 0.6589 high
    ("A", "A5", date(2024, 2, 20), date(2024, 2, 20), 131, 1, D("500.00"), F, 1, 1, 5, D("2.33"), "At-Risk",
     0, D("1.0000"), D("0.6589"), "high",
     "no purchase for 131 days; 0 purchases in the last 90 days vs 1.0 expected from earlier behaviour"),
    # B1: bought on the as-of day -> 0 days -> R 5; 5.00 Champion; churn 0
    ("B", "B1", date(2024, 6, 15), date(2024, 6, 30), 0, 3, D("30.00"), F, 5, 5, 5, D("5.00"), "Champion",
     3, N, D("0.0000"), "low", "recent buyer with no earlier history"),
    # B2: 2023-10-01 -> 273 days -> R 1; 1.00 Dormant; earlier 1 over 183 days: 90/183 = 0.49180 -> 0.4918;
    # 273/365 = 0.7479 + 0.3 > 1 -> capped at 1
    ("B", "B2", date(2023, 10, 1), date(2023, 10, 1), 273, 1, D("5.00"), F, 1, 1, 1, D("1.00"), "Dormant",
     0, D("0.4918"), D("1.0000"), "high",
     "no purchase for 273 days; 0 purchases in the last 90 days vs 0.5 expected from earlier behaviour"),
    # B3: 03-01 -> 121 days -> R 1 (> 120); (1+1+3)/3 = 1.67 Dormant (< 1.7); earlier 1 over max(31, 90);
    # 121/365 = 0.33151 -> 0.3315 + 0.3 = 0.6315 high
    ("B", "B3", date(2024, 3, 1), date(2024, 3, 1), 121, 1, D("15.00"), F, 1, 1, 3, D("1.67"), "Dormant",
     0, D("1.0000"), D("0.6315"), "high",
     "no purchase for 121 days; 0 purchases in the last 90 days vs 1.0 expected from earlier behaviour"),
    # C1: 06-01 -> 29 days -> R 4; net -50.00 kept and flagged; (4+1+1)/3 = 2.00 At-Risk; 29/365 = 0.0795
    ("C", "C1", date(2024, 6, 1), date(2024, 6, 1), 29, 1, D("-50.00"), True, 4, 1, 1, D("2.00"), "At-Risk",
     1, N, D("0.0795"), "low", "recent buyer with no earlier history"),
    # C2: 06-05 -> 25 days -> R 4; net -5.00; m 1 like C1, not 3; 25/365 = 0.0685
    ("C", "C2", date(2024, 6, 5), date(2024, 6, 5), 25, 1, D("-5.00"), True, 4, 1, 1, D("2.00"), "At-Risk",
     1, N, D("0.0685"), "low", "recent buyer with no earlier history"),
    # C3: 06-20 -> 10 days -> R 4; (4+1+5)/3 = 3.33 Potential; 10/365 = 0.0274
    ("C", "C3", date(2024, 6, 20), date(2024, 6, 20), 10, 1, D("100.00"), F, 4, 1, 5, D("3.33"), "Potential",
     1, N, D("0.0274"), "low", "recent buyer with no earlier history"),
]

# first transaction date per product (A-099 / B-040 after the as-of date do not count)
FIRST_SALE = {
    ("A", "P1"): date(2023, 12, 1), ("A", "P2"): date(2024, 2, 15), ("A", "P3"): date(2024, 1, 5),
    ("A", "P4"): date(2024, 6, 10), ("B", "Q1"): date(2024, 3, 1), ("B", "Q2"): date(2023, 10, 1),
    ("C", "R1"): date(2024, 6, 1), ("C", "R2"): date(2024, 6, 6),  # R2's first line is C-011's return
}


def _transactions() -> pd.DataFrame:
    df = pd.DataFrame(
        LINES, columns=["invoice_id", "transaction_ts", "tenant_id", "customer_id", "product_id", "quantity",
                        "unit_price"],
    )
    df["transaction_ts"] = pd.to_datetime(df["transaction_ts"])
    df["product_name"] = "Product " + df["product_id"]
    df["category"] = df["product_id"].map({"P1": "rings", "P2": "chains", "P3": "rings", "P4": "bags",
                                           "Q1": "fruit", "Q2": "bread", "R1": "tea", "R2": "tea"})
    df["amount"] = None  # the staging model computes quantity x unit_price
    df["currency"] = "EUR"
    return df


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("rfm"))
    load_raw(settings, {"transactions": _transactions()})
    run_dbt(["build"], settings, vars={"as_of_date": AS_OF.isoformat()})
    return Warehouse(settings)


def _rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.connect() as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


def test_customer_rfm_every_value(built):
    sql = f"select {', '.join(RFM_COLUMNS)} from marts.customer_rfm order by tenant_id, customer_id"
    rows = _rows(built, sql)
    assert len(rows) == len(EXPECTED_RFM), "walk-ins, return-only and after-as-of customers must be left out"
    for got, want in zip(rows, EXPECTED_RFM, strict=True):
        assert dict(zip(RFM_COLUMNS, got, strict=True)) == dict(zip(RFM_COLUMNS, want, strict=True))
    as_of = _rows(built, "select distinct as_of_date from marts.customer_rfm")
    assert as_of == [(AS_OF,)]


def test_segment_summary(built):
    rows = _rows(built, "select tenant_id, segment, customer_count, total_monetary, avg_monetary, "
                        "avg_rfm_score, share_of_customers from marts.rfm_segment_summary "
                        "order by tenant_id, segment")
    assert rows == [
        # A3 2.33 + A4 2.00 + A5 2.33 = 6.66 / 3 = 2.22; 300 + 91 + 500 = 891 / 3 = 297
        ("A", "At-Risk", 3, D("891.00"), D("297.00"), D("2.22"), D("0.6000")),
        ("A", "Loyal", 1, D("250.00"), D("250.00"), D("4.00"), D("0.2000")),
        ("A", "Potential", 1, D("120.00"), D("120.00"), D("3.67"), D("0.2000")),
        ("B", "Champion", 1, D("30.00"), D("30.00"), D("5.00"), D("0.3333")),
        # (1.00 + 1.67) / 2 = 1.335 -> 1.34 (half away from zero); (5 + 15) / 2 = 10
        ("B", "Dormant", 2, D("20.00"), D("10.00"), D("1.34"), D("0.6667")),
        # net-negative customers count in their segment's value: -50 - 5 = -55, / 2 = -27.50
        ("C", "At-Risk", 2, D("-55.00"), D("-27.50"), D("2.00"), D("0.6667")),
        ("C", "Potential", 1, D("100.00"), D("100.00"), D("3.33"), D("0.3333")),
    ]


def test_daily_product_sales_zero_filled_to_as_of(built):
    counts = _rows(built, "select tenant_id, product_id, count(*), min(sales_date), max(sales_date) "
                          "from marts.fct_daily_product_sales group by 1, 2 order by 1, 2")
    assert {(t, p): (n, lo, hi) for t, p, n, lo, hi in counts} == {
        key: ((AS_OF - first).days + 1, first, AS_OF) for key, first in FIRST_SALE.items()
    }
    totals = _rows(built, "select sum(quantity_sold), sum(quantity_returned), sum(net_quantity), "
                          "sum(revenue), sum(n_transactions) from marts.fct_daily_product_sales "
                          "where tenant_id = 'A' and product_id = 'P2'")
    # P2: A-002, A-004, A-010, A-011, A-030, A-031, A-050 sold 1 each; A-005 returned 1 (-20.00)
    # 50 + 40 - 20 + 30 + 30 + 45.50 + 45.50 + 15 = 236.00
    assert totals == [(7, 1, 6, D("236.00"), 8)]
    # P4 sold once (walk-in, 06-10): the other 20 days are explicit zeros
    p4 = _rows(built, "select sales_date, quantity_sold, revenue from marts.fct_daily_product_sales "
                      "where tenant_id = 'A' and product_id = 'P4' order by sales_date")
    assert p4[0] == (date(2024, 6, 10), 3, D("7.50"))
    assert all(q == 0 and r == 0 for _, q, r in p4[1:]) and len(p4) == 21


def test_daily_revenue_and_returns(built):
    rows = _rows(built, "select revenue_date, gross_revenue, returns_value, net_revenue, n_invoices, "
                        "n_customers from marts.fct_daily_revenue where tenant_id = 'A' and revenue_date in "
                        "('2024-06-25', '2024-06-26', '2024-06-30') order by revenue_date")
    assert rows == [
        (date(2024, 6, 25), D("0.00"), D("20.00"), D("-20.00"), 1, 1),
        (date(2024, 6, 26), D("0.00"), D("0.00"), D("0.00"), 0, 0),
        # walk-in only: an invoice but no identified customer
        (date(2024, 6, 30), D("15.00"), D("0.00"), D("15.00"), 1, 0),
    ]
    span = _rows(built, "select tenant_id, min(revenue_date), max(revenue_date), count(*) "
                        "from marts.fct_daily_revenue group by 1 order by 1")
    assert span == [("A", date(2023, 12, 1), AS_OF, 213), ("B", date(2023, 10, 1), AS_OF, 274),
                    ("C", date(2024, 6, 1), AS_OF, 30)]


def test_as_of_defaults_to_each_tenants_last_transaction_date(tmp_path):
    """Without the var each tenant is as of its own last day (A-099 07-05, B-040 07-02, C-020 06-20), not today."""
    settings = make_settings(tmp_path)
    load_raw(settings, {"transactions": _transactions()})
    run_dbt(["build", "--select", "+int_tenant_as_of"], settings)
    rows = _rows(Warehouse(settings), "select tenant_id, as_of_date, as_of_source from intermediate.int_tenant_as_of "
                                      "order by tenant_id")
    assert rows == [("A", date(2024, 7, 5), "last_transaction"), ("B", date(2024, 7, 2), "last_transaction"),
                    ("C", date(2024, 6, 20), "last_transaction")]


def test_run_dbt_reports_dbt_output_on_failure(tmp_path):
    settings = make_settings(tmp_path)
    load_raw(settings, {})
    with pytest.raises(DbtError, match="as_of_date must be 'YYYY-MM-DD'") as err:
        run_dbt(["build", "--select", "int_tenant_as_of"], settings, vars={"as_of_date": "30/06/2024"})
    assert err.value.returncode != 0 and "30/06/2024" in err.value.output


def test_customer_rfm_suite_passes_flagged_net_returns_and_holds_flag_and_value_together(built):
    """The GX suite on the built mart: net-negative customers pass when flagged, and only then."""
    from expectations.runner import validate_frame

    frame = built.query_df("select * from marts.customer_rfm")
    assert sorted(frame.loc[frame["monetary"] < 0, "customer_id"]) == ["C1", "C2"]
    result = validate_frame(frame, "customer_rfm")
    assert result.success, result.summary()

    broken = frame.copy()
    row = {c: broken.index[broken["customer_id"] == c][0] for c in ("C1", "C2", "B2")}
    broken.loc[row["C1"], "has_net_returns"] = False  # negative but not flagged
    broken.loc[row["B2"], "has_net_returns"] = True  # flagged but spent 5.00
    broken.loc[row["C2"], "m_score"] = 3  # a refund bought a better score than no spend
    result = validate_frame(broken, "customer_rfm")
    assert result.blocking
    assert sorted((f.columns[0], f.why, f.unexpected_count) for f in result.failures) == [
        ("m_score", "net returns are ranked as zero spend: the lowest monetary score", 1),
        ("monetary", "has_net_returns flags exactly the customers whose returns exceed their purchases", 1),
        ("monetary", "net spend is not negative unless the customer is flagged has_net_returns", 1),
    ]
