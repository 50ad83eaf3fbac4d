"""Canonical landing-zone contracts: the columns each kind of file carries and how they are typed.

This is the single source of truth for raw table layouts. Ingestion validates against it, the
warehouse creates `raw.<kind>` from it, the data generator writes files in it, and dbt sources
mirror it (`dbt_project/models/staging/_raw__sources.yml`).
"""

from __future__ import annotations

from dataclasses import dataclass

# Logical types; warehouse.py maps them to DuckDB / Postgres column types.
STRING, INTEGER, FLOAT, DATE, TIMESTAMP = "string", "integer", "float", "date", "timestamp"

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", STRING),
    ("_row_number", INTEGER),  # 1-based data row number in the source file (header excluded)
    ("_row_hash", STRING),  # hash of the canonical business columns; the de-duplication key
    ("_ingested_at", TIMESTAMP),
    ("_extra_columns", STRING),  # JSON object of columns the contract does not know, kept not dropped
)

DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    default: str | None = None  # filled when the column is absent or the value is blank


@dataclass(frozen=True)
class Contract:
    kind: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required and c.default is None]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.kind} has no column {name!r}")

    @property
    def raw_table(self) -> str:
        return f"raw.{self.kind}"

    @property
    def quarantine_table(self) -> str:
        return f"quarantine.{self.kind}"


TRANSACTIONS = Contract(
    "transactions",
    (
        Column("tenant_id", STRING, default=DEFAULT_TENANT),
        Column("invoice_id", STRING),
        Column("transaction_ts", TIMESTAMP),
        Column("customer_id", STRING, required=False),  # blank = walk-in sale
        Column("product_id", STRING),
        Column("product_name", STRING, required=False),
        Column("category", STRING, required=False),
        Column("quantity", INTEGER),  # negative = return
        Column("unit_price", FLOAT),  # >= 0
        Column("amount", FLOAT, required=False),  # blank = quantity x unit_price
        Column("payment_method", STRING, required=False),
        Column("currency", STRING, required=False),
    ),
)

INVENTORY = Contract(
    "inventory",
    (
        Column("snapshot_date", DATE),
        Column("tenant_id", STRING, default=DEFAULT_TENANT),
        Column("product_id", STRING),
        Column("on_hand", INTEGER),
        Column("unit_cost", FLOAT),
        Column("lead_time_days", INTEGER),
    ),
)

METAL_PRICES = Contract(
    "metal_prices",
    (
        Column("date", DATE),
        Column("metal", STRING),
        Column("purity", INTEGER),
        Column("price_per_gram", FLOAT),
        Column("currency", STRING),
        Column("source", STRING, required=False),
    ),
)

DIAMOND_PRICES = Contract(
    "diamond_prices",
    (
        Column("carat", FLOAT),
        Column("cut", STRING),
        Column("color", STRING),
        Column("clarity", STRING),
        Column("price", FLOAT),
        Column("depth", FLOAT, required=False),
        Column("table", FLOAT, required=False),
        Column("x", FLOAT, required=False),
        Column("y", FLOAT, required=False),
        Column("z", FLOAT, required=False),
        Column("date", DATE, required=False),
    ),
)

CONTRACTS: dict[str, Contract] = {c.kind: c for c in (TRANSACTIONS, INVENTORY, METAL_PRICES, DIAMOND_PRICES)}
KINDS: tuple[str, ...] = tuple(CONTRACTS)

METALS = ("gold", "silver", "platinum")
GOLD_PURITIES = (999, 916, 750, 585)
DIAMOND_CUTS = ("Fair", "Good", "Very Good", "Premium", "Ideal")
DIAMOND_COLORS = ("J", "I", "H", "G", "F", "E", "D")  # worst to best
DIAMOND_CLARITIES = ("I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF")  # worst to best


def contract_for(kind: str) -> Contract:
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise ValueError(f"unknown landing kind {kind!r}; expected one of {', '.join(KINDS)}") from None
