"""Helpers for ingestion tests: write landing files and read back what was loaded."""

from pathlib import Path

import pandas as pd

from smartmarket.config import Settings
from smartmarket.contracts import TRANSACTIONS
from smartmarket.warehouse import Warehouse

TX_HEADER = ",".join(TRANSACTIONS.names)


def write_landing(data_dir: Path, kind: str, name: str, content: str | bytes) -> Path:
    path = data_dir / "landing" / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def tx_line(invoice: str, ts: str = "2025-03-01 10:00:00", customer: str = "C1", product: str = "P1",
            quantity: str = "1", unit_price: str = "10.00", amount: str = "", tenant: str = "shop") -> str:
    return ",".join([tenant, invoice, ts, customer, product, "Widget", "misc", quantity, unit_price, amount,
                     "card", "USD"])


def loaded(settings: Settings, kind: str = "transactions") -> pd.DataFrame:
    return Warehouse(settings).query_df(f"select * from raw.{kind} order by _source_file, _row_number")


def quarantined(settings: Settings, kind: str = "transactions") -> pd.DataFrame:
    return Warehouse(settings).query_df(
        f"select * from quarantine.{kind} order by _source_file, _row_number")
