"""Generates `expectations/suites/*.json` from the landing contracts and the mart layouts.

The JSON files are what runs (and what reviewers read in diffs); this script is how they are written,
so allowed values (metals, purities, diamond grades) come from `smartmarket.contracts` and cannot drift.
`tests/test_expectations.py` regenerates the suites and fails when a JSON file differs.

    python -m expectations.build_suites          # rewrite the JSON files
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from expectations.derived import AMOUNT_TOLERANCE, MAX_DAILY_PRICE_CHANGE
from smartmarket.contracts import (
    CONTRACTS,
    DIAMOND_CLARITIES,
    DIAMOND_COLORS,
    DIAMOND_CUTS,
    GOLD_PURITIES,
    LINEAGE_COLUMNS,
    METALS,
)

SUITES_DIR = Path(__file__).resolve().parent / "suites"

# Accepted pandas dtypes per logical type. DuckDB and psycopg hand back slightly different dtypes
# for the same SQL type (and dbt sums of BIGINT come back as float from DuckDB's HUGEINT), so marts
# accept any numeric dtype for counts while raw tables, typed by our own DDL, must be exact.
STR_TYPES = ["str", "StringDtype"]
INT_TYPES = ["int64", "int32", "Int64Dtype", "Int32Dtype", "int"]
FLOAT_TYPES = ["float64", "float32", "Float64Dtype", "float"]
NUMBER_TYPES = FLOAT_TYPES + INT_TYPES
# tz-aware columns are converted to naive UTC by the runner first (the warehouse stores naive UTC)
DATETIME_TYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]", "Timestamp"]
BOOL_TYPES = ["bool", "boolean"]
_TYPES = {"string": STR_TYPES, "integer": INT_TYPES, "float": FLOAT_TYPES, "date": DATETIME_TYPES,
          "timestamp": DATETIME_TYPES}

SEGMENTS = ["Champion", "Loyal", "Potential", "At-Risk", "Dormant"]
RISK_LEVELS = ["low", "medium", "high"]
ISO_CURRENCY = r"^[A-Z]{3}$"


def _gx() -> Any:
    import os

    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # never phone home, whatever the shell says
    import great_expectations as gx

    return gx


class _Suite:
    """Collects expectations with short calls so the spec below reads like a checklist."""

    def __init__(self, name: str, meta: dict[str, Any]):
        self.gx = _gx()
        self.name = name
        self.meta = meta
        self.items: list[Any] = []

    def add(self, cls_name: str, why: str, severity: str = "critical", **kwargs: Any) -> None:
        cls = getattr(self.gx.expectations, cls_name)
        self.items.append(cls(meta={"why": why}, severity=severity, **kwargs))

    def columns(self, names: list[str], why: str) -> None:
        self.add("ExpectTableColumnsToMatchSet", why, column_set=names, exact_match=False)

    def not_null(self, cols: list[str], why: str = "required column") -> None:
        for c in cols:
            self.add("ExpectColumnValuesToNotBeNull", why, column=c)

    def types(self, spec: dict[str, list[str]]) -> None:
        for c, types in spec.items():
            self.add("ExpectColumnValuesToBeInTypeList", "column type", column=c, type_list=types)

    def between(self, col: str, why: str, severity: str = "critical", **kw: Any) -> None:
        self.add("ExpectColumnValuesToBeBetween", why, severity=severity, column=col, **kw)

    def in_set(self, col: str, values: list[Any], why: str, **kw: Any) -> None:
        self.add("ExpectColumnValuesToBeInSet", why, column=col, value_set=values, **kw)

    def unique(self, cols: list[str], why: str, severity: str = "critical") -> None:
        if len(cols) == 1:
            self.add("ExpectColumnValuesToBeUnique", why, severity=severity, column=cols[0])
        else:
            self.add("ExpectCompoundColumnsToBeUnique", why, severity=severity, column_list=cols)

    def non_empty_text(self, cols: list[str]) -> None:
        for c in cols:
            self.add("ExpectColumnValueLengthsToBeBetween", "identifiers are not blank", column=c,
                     min_value=1)

    def build(self) -> Any:
        return self.gx.ExpectationSuite(name=self.name, expectations=self.items, meta=self.meta)


def _raw_suite(kind: str, derived: dict[str, str] | None = None) -> _Suite:
    contract = CONTRACTS[kind]
    s = _Suite(f"raw_{kind}", {"table": contract.raw_table, "layer": "raw", "kind": kind,
                               "derived_columns": derived or {}})
    lineage = [n for n, _ in LINEAGE_COLUMNS]
    s.columns(contract.names + lineage, "every contract and lineage column is present")
    s.not_null([*contract.required_names, *(c.name for c in contract.columns if c.default is not None)],
               "required by the landing contract")
    s.not_null(["_source_file", "_row_number", "_row_hash", "_ingested_at"], "lineage is always filled")
    s.types({c.name: _TYPES[c.type] for c in contract.columns})
    s.types({"_row_number": INT_TYPES, "_ingested_at": DATETIME_TYPES, "_row_hash": STR_TYPES})
    s.unique(["_row_hash"], "the de-duplication key: a raw table never holds the same row twice")
    s.unique(["_source_file", "_row_number"], "one raw row per source file row")
    s.between("_row_number", "1-based data row number", min_value=1)
    s.add("ExpectColumnValuesToBeJsonParseable", "unknown columns are kept as a JSON object",
          column="_extra_columns")
    return s


def raw_transactions() -> Any:
    s = _raw_suite("transactions", {
        "_chk_amount_mismatch": "abs(amount - quantity * unit_price); null when amount is blank",
        "_chk_days_in_future": "days transaction_ts lies after the validation time",
    })
    s.non_empty_text(["tenant_id", "invoice_id", "product_id"])
    s.between("unit_price", "prices are never negative", min_value=0)
    s.add("ExpectColumnValuesToNotBeInSet", "a zero-quantity line is neither a sale nor a return",
          column="quantity", value_set=[0])
    s.between("_chk_amount_mismatch", f"amount = quantity x unit_price within {AMOUNT_TOLERANCE}",
              max_value=AMOUNT_TOLERANCE)
    s.between("_chk_days_in_future", "no sale is dated after today (one day of clock/timezone slack)",
              max_value=1)
    s.add("ExpectColumnValuesToMatchRegex", "ISO 4217 currency code", column="currency", regex=ISO_CURRENCY)
    return s.build()


def raw_inventory() -> Any:
    s = _raw_suite("inventory", {"_chk_days_in_future": "days snapshot_date lies after the validation time"})
    s.non_empty_text(["tenant_id", "product_id"])
    s.between("on_hand", "a stock count is never negative", min_value=0)
    s.between("unit_cost", "costs are never negative", min_value=0)
    s.between("lead_time_days", "supplier lead time between same day and a year", min_value=0, max_value=365)
    s.between("_chk_days_in_future", "no snapshot is dated after today", max_value=1)
    # a corrected snapshot file re-lands the same key with new values (a new row hash); staging keeps
    # the latest, so a repeat key is worth a warning, not a stop
    s.unique(["tenant_id", "product_id", "snapshot_date"], "one stock record per product per day",
             severity="warning")
    return s.build()


def raw_metal_prices() -> Any:
    s = _raw_suite("metal_prices", {
        "_chk_price_change_pct": "abs day-over-day change of price_per_gram per (metal, purity, currency,"
                                 " source), vs the series' previous date",
        "_chk_price_change_flagged": "row carries a non-blank price_flag (own column or in _extra_columns)",
        "_chk_days_in_future": "days date lies after the validation time",
    })
    from great_expectations.expectations.row_conditions import Column

    s.in_set("metal", list(METALS), "supported metals")
    s.between("purity", "fineness in parts per thousand", min_value=1, max_value=1000)
    s.in_set("purity", list(GOLD_PURITIES), "gold is quoted at 24k/22k/18k/14k fineness",
             row_condition=Column("metal") == "gold")
    s.between("price_per_gram", "a quoted price is positive", min_value=0, strict_min=True)
    s.add("ExpectColumnValuesToMatchRegex", "ISO 4217 currency code", column="currency", regex=ISO_CURRENCY)
    s.unique(["date", "metal", "purity", "currency", "source"], "one quote per series per day")
    s.between("_chk_price_change_pct",
              f"day-over-day move per series stays below {MAX_DAILY_PRICE_CHANGE:.0%} unless flagged",
              max_value=MAX_DAILY_PRICE_CHANGE, row_condition=Column("_chk_price_change_flagged") == False)  # noqa: E712
    s.between("_chk_days_in_future", "no quote is dated after today", max_value=1)
    return s.build()


def raw_diamond_prices() -> Any:
    s = _raw_suite("diamond_prices")
    s.between("carat", "a stone has positive weight", min_value=0, max_value=30, strict_min=True)
    s.in_set("cut", list(DIAMOND_CUTS), "GIA cut grades")
    s.in_set("color", list(DIAMOND_COLORS), "colour grades D-J")
    s.in_set("clarity", list(DIAMOND_CLARITIES), "clarity grades I1-IF")
    s.between("price", "a quoted price is positive", min_value=0, strict_min=True)
    s.between("depth", "total depth percentage", min_value=40, max_value=80)
    s.between("table", "table width percentage", min_value=40, max_value=100)
    for dim in ("x", "y", "z"):
        s.between(dim, "dimension in mm", min_value=0, max_value=60)
        # public diamond datasets carry a few zero dimensions (unmeasured): warn, don't stop
        s.between(dim, "a measured dimension is positive", severity="warning", min_value=0, strict_min=True)
    return s.build()


def _mart_suite(name: str, table: str, key: list[str], types: dict[str, list[str]],
                derived: dict[str, str] | None = None) -> _Suite:
    s = _Suite(name, {"table": table, "layer": table.split(".")[0], "key": key,
                      "derived_columns": derived or {}})
    s.columns(list(types), "the mart's published columns are present")
    # Empty is legitimate when no tenant sends the feed behind it (a jeweller with price files only): a
    # warning to look at, not a reason to stop the run.
    s.add("ExpectTableRowCountToBeBetween", "a built mart is usually not empty; it is when no tenant sends its feed",
          severity="warning", min_value=1)
    s.not_null(key, "key column")
    s.unique(key, "one row per key")
    s.types(types)
    s.non_empty_text([c for c in key if types[c] is STR_TYPES])
    return s


def customer_rfm() -> Any:
    from great_expectations.expectations.row_conditions import Column

    s = _mart_suite("customer_rfm", "marts.customer_rfm", ["tenant_id", "customer_id", "as_of_date"], {
        "tenant_id": STR_TYPES, "customer_id": STR_TYPES, "as_of_date": DATETIME_TYPES,
        "recency_days": NUMBER_TYPES, "frequency": NUMBER_TYPES, "monetary": NUMBER_TYPES,
        "has_net_returns": BOOL_TYPES,
        "r_score": NUMBER_TYPES, "f_score": NUMBER_TYPES, "m_score": NUMBER_TYPES,
        "segment": STR_TYPES, "churn_risk_score": NUMBER_TYPES, "churn_risk_level": STR_TYPES,
    })
    s.not_null(["recency_days", "frequency", "monetary", "has_net_returns", "r_score", "f_score", "m_score",
                "segment", "churn_risk_score", "churn_risk_level"], "every customer is scored")
    s.between("recency_days", "days since last purchase, never negative", min_value=0)
    s.between("frequency", "a customer in RFM bought at least once", min_value=1)
    # Returns of goods bought before the data starts can outweigh a customer's purchases: a real case, kept
    # as the (negative) net value and flagged, so the rules hold the flag and the value to each other.
    s.between("monetary", "net spend is not negative unless the customer is flagged has_net_returns",
              min_value=0, row_condition=Column("has_net_returns") == False)  # noqa: E712
    s.between("monetary", "has_net_returns flags exactly the customers whose returns exceed their purchases",
              max_value=0, strict_max=True, row_condition=Column("has_net_returns") == True)  # noqa: E712
    s.between("m_score", "net returns are ranked as zero spend: the lowest monetary score", max_value=1,
              row_condition=Column("has_net_returns") == True)  # noqa: E712
    for c in ("r_score", "f_score", "m_score"):
        s.between(c, "quintile score", min_value=1, max_value=5)
    s.in_set("segment", SEGMENTS, "documented segments")
    s.between("churn_risk_score", "a probability-like score", min_value=0, max_value=1)
    s.in_set("churn_risk_level", RISK_LEVELS, "documented risk levels")
    return s.build()


def fct_daily_product_sales() -> Any:
    s = _mart_suite(
        "fct_daily_product_sales", "marts.fct_daily_product_sales", ["tenant_id", "product_id", "sales_date"],
        {"tenant_id": STR_TYPES, "product_id": STR_TYPES, "sales_date": DATETIME_TYPES,
         "quantity_sold": NUMBER_TYPES, "quantity_returned": NUMBER_TYPES, "net_quantity": NUMBER_TYPES,
         "revenue": NUMBER_TYPES, "n_transactions": NUMBER_TYPES},
        {"_chk_net_quantity_gap": "abs(net_quantity - (quantity_sold - quantity_returned))"})
    s.not_null(["quantity_sold", "quantity_returned", "net_quantity", "revenue", "n_transactions"],
               "measures are filled (zero, not null, on quiet days)")
    s.between("quantity_sold", "units sold are counted as positive", min_value=0)
    s.between("quantity_returned", "units returned are counted as positive", min_value=0)
    s.between("n_transactions", "a row exists because something happened", min_value=0)
    s.between("_chk_net_quantity_gap", "net_quantity = quantity_sold - quantity_returned", max_value=0)
    return s.build()


def inventory_position() -> Any:
    s = _mart_suite(
        "inventory_position", "marts.inventory_position", ["tenant_id", "product_id", "snapshot_date"],
        {"tenant_id": STR_TYPES, "product_id": STR_TYPES, "snapshot_date": DATETIME_TYPES,
         "on_hand": NUMBER_TYPES, "unit_cost": NUMBER_TYPES, "lead_time_days": NUMBER_TYPES,
         "stock_value": NUMBER_TYPES, "avg_daily_sales_30d": NUMBER_TYPES, "days_of_cover": NUMBER_TYPES},
        {"_chk_stock_value_gap": "abs(stock_value - on_hand * unit_cost)"})
    # avg_daily_sales_30d is null for a stocked product that never sold (new stock, or a tenant whose sales
    # are held back): that is the mart's documented meaning, not missing data
    s.not_null(["on_hand", "unit_cost", "stock_value"], "measures are filled")
    s.between("on_hand", "a stock count is never negative", min_value=0)
    s.between("unit_cost", "costs are never negative", min_value=0)
    s.between("lead_time_days", "supplier lead time between same day and a year", min_value=0, max_value=365)
    s.between("avg_daily_sales_30d", "an average of net units sold", severity="warning", min_value=0)
    # null days_of_cover means no sales to cover (infinite cover); a value is never negative
    s.between("days_of_cover", "days the stock lasts at the recent sales rate", min_value=0)
    s.between("_chk_stock_value_gap", "stock_value = on_hand x unit_cost within 0.01", max_value=0.01)
    return s.build()


def demand_forecasts() -> Any:
    bands = ["yhat_lower_95", "yhat_lower_80", "yhat", "yhat_upper_80", "yhat_upper_95"]
    s = _mart_suite(
        "demand_forecasts", "ml.demand_forecasts", ["tenant_id", "product_id", "forecast_date"],
        {"tenant_id": STR_TYPES, "product_id": STR_TYPES, "forecast_date": DATETIME_TYPES,
         **{b: NUMBER_TYPES for b in bands}})
    s.not_null(bands, "every forecast has a point and both intervals")
    s.between("yhat", "demand is never negative", min_value=0)
    s.between("yhat_lower_95", "interval bounds are expected clipped at zero demand", severity="warning",
              min_value=0)
    for lower, upper in itertools.pairwise(bands):
        s.add("ExpectColumnPairValuesAToBeGreaterThanB", "nested intervals: 95% contains 80% contains yhat",
              column_A=upper, column_B=lower, or_equal=True)
    return s.build()


def customer_propensity_scores() -> Any:
    s = _mart_suite(
        "customer_propensity_scores", "ml.customer_propensity_scores",
        ["tenant_id", "customer_id", "as_of_date", "model_version"],
        {"tenant_id": STR_TYPES, "customer_id": STR_TYPES, "as_of_date": DATETIME_TYPES,
         "propensity_30d": NUMBER_TYPES, "model_version": STR_TYPES + INT_TYPES})
    s.not_null(["propensity_30d"], "every customer is scored")
    s.between("propensity_30d", "a probability", min_value=0, max_value=1)
    return s.build()


BUILDERS = {
    "raw_transactions": raw_transactions,
    "raw_inventory": raw_inventory,
    "raw_metal_prices": raw_metal_prices,
    "raw_diamond_prices": raw_diamond_prices,
    "customer_rfm": customer_rfm,
    "fct_daily_product_sales": fct_daily_product_sales,
    "inventory_position": inventory_position,
    "demand_forecasts": demand_forecasts,
    "customer_propensity_scores": customer_propensity_scores,
}


def suite_json(name: str) -> str:
    """The exact text of `suites/<name>.json` as this module generates it."""
    data = BUILDERS[name]().to_json_dict()
    # the GX version stamp would churn every file on each upgrade; the lock file pins GX anyway
    data["meta"].pop("great_expectations_version", None)
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


def main() -> None:
    SUITES_DIR.mkdir(parents=True, exist_ok=True)
    for name in BUILDERS:
        (SUITES_DIR / f"{name}.json").write_text(suite_json(name))
        print(f"wrote {SUITES_DIR / f'{name}.json'}")


if __name__ == "__main__":
    main()
