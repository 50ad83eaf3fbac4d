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

# Identifier forms (README "Bringing your own data"). A tenant id names schemas, partitions and API scopes,
# so it is a short slug; other ids come from merchants' systems and are kept as sent, within limits.
TENANT = "tenant"
IDENTIFIER = "identifier"
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TENANT_ID_FORM = "lowercase letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters"
MAX_IDENTIFIER_CHARS = 128
# Integers beyond 2**53 cannot be told apart once parsed, and would overflow sums in BIGINT columns.
MAX_EXACT_INTEGER = 2**53


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    default: str | None = None  # filled when the column is absent or the value is blank
    money: bool = False  # finite and within Settings.max_money in magnitude
    max_abs: int | None = None  # plausible magnitude of an integer column
    identifier: str | None = None  # TENANT or IDENTIFIER: the allowed form of an id column


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
        Column("tenant_id", STRING, default=DEFAULT_TENANT, identifier=TENANT),
        Column("invoice_id", STRING, identifier=IDENTIFIER),
        Column("transaction_ts", TIMESTAMP),
        Column("customer_id", STRING, required=False, identifier=IDENTIFIER),  # blank = walk-in sale
        Column("product_id", STRING, identifier=IDENTIFIER),
        Column("product_name", STRING, required=False),
        Column("category", STRING, required=False),
        Column("quantity", INTEGER, max_abs=10_000_000),  # negative = return
        Column("unit_price", FLOAT, money=True),  # >= 0
        Column("amount", FLOAT, required=False, money=True),  # blank = quantity x unit_price
        Column("payment_method", STRING, required=False),
        Column("currency", STRING, required=False),
    ),
)

INVENTORY = Contract(
    "inventory",
    (
        Column("snapshot_date", DATE),
        Column("tenant_id", STRING, default=DEFAULT_TENANT, identifier=TENANT),
        Column("product_id", STRING, identifier=IDENTIFIER),
        Column("on_hand", INTEGER, max_abs=1_000_000_000),
        Column("unit_cost", FLOAT, money=True),
        Column("lead_time_days", INTEGER, max_abs=3_650),
    ),
)

METAL_PRICES = Contract(
    "metal_prices",
    (
        Column("date", DATE),
        Column("metal", STRING),
        Column("purity", INTEGER),  # parts per thousand: 1..1000, checked with the metal rules
        Column("price_per_gram", FLOAT, money=True),
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
        Column("price", FLOAT, money=True),
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
