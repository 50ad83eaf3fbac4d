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


def xlsx_bytes(sheets: dict[str, list[list[object]]], stored_as: dict[str, str] | None = None) -> bytes:
    """An Excel workbook with one sheet per entry (rows of cell values: str, int, float, datetime, None).

    `stored_as` rewrites numbers in the sheet XML, e.g. {"13085": "13085.0"}: openpyxl writes a whole float
    as "13085", while other exporters store "13085.0", which reads back as a float.
    """
    import io
    import zipfile

    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    if not stored_as:
        return buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                for number, stored in stored_as.items():
                    data = data.replace(f"<v>{number}</v>".encode(), f"<v>{stored}</v>".encode())
            dst.writestr(item, data)
    return out.getvalue()


def parquet_bytes(columns: dict[str, list[object]]) -> bytes:
    """A Parquet file with Arrow types inferred from the values (ints, floats, datetimes, strings)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def parquet_damaged_after(columns: dict[str, list[object]], good_rows: int) -> bytes:
    """A Parquet file whose row groups hold `good_rows` rows each, the second one damaged."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, row_group_size=good_rows, compression="none", use_dictionary=False)
    data = bytearray(buf.getvalue())
    offset = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(0).data_page_offset
    data[offset:offset + 8] = b"\xff" * 8  # the page header of the second group's first column
    return bytes(data)
