"""Reads Excel workbooks (.xlsx) as header + string records, one sheet at a time, never raising on content.

Cells are turned into the text a CSV export of the same sheet would hold, so they go through the same
typing and validation: dates and datetimes as ISO text, whole numbers without a trailing `.0` (ids
that Excel stored as numbers), other numbers with a `.` decimal mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from smartmarket.ingest.reader import FileRejected, RawRecord


def _open(path: Path) -> Any:
    import openpyxl

    try:
        # read_only streams rows; data_only gives a formula's cached value, not its text
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file (zip, XML, key)
        raise FileRejected(f"not a readable Excel workbook (.xlsx): {type(exc).__name__}: {exc}") from None


def sheet_names(path: Path) -> list[str]:
    workbook = _open(path)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def open_sheet(path: Path, sheet: str) -> tuple[list[str], Iterator[RawRecord]]:
    """The sheet's header (its first non-empty row) and an iterator over its data rows.

    Blank rows are skipped, as blank lines in a CSV are; trailing blank header cells are dropped.
    """
    workbook = _open(path)
    if sheet not in workbook.sheetnames:
        names = ", ".join(workbook.sheetnames)
        workbook.close()
        raise FileRejected(f"sheet {sheet!r} is not in the workbook (sheets: {names})")
    rows = workbook[sheet].iter_rows(values_only=True)
    try:
        header: list[str] = []
        for row in rows:
            header = [cell_text(v).strip() for v in row]
            if any(header):
                break
        while header and not header[-1]:
            header.pop()
    except Exception as exc:  # see _open
        workbook.close()
        raise FileRejected(f"sheet {sheet!r} cannot be read: {type(exc).__name__}: {exc}") from None
    if not header:
        workbook.close()
        raise FileRejected(f"sheet {sheet!r} is empty")
    return header, _records(workbook, rows, len(header), sheet)


def _records(workbook: Any, rows: Iterator[tuple], width: int, sheet: str) -> Iterator[RawRecord]:
    row_number = 0
    try:
        for row in rows:
            fields = [cell_text(v) for v in row]
            if not any(f.strip() for f in fields):
                continue
            row_number += 1
            beyond = [f for f in fields[width:] if f.strip()]
            fields = (fields + [""] * width)[:width]
            problem = f"row has values beyond the header's {width} columns" if beyond else None
            yield RawRecord(row_number, fields + beyond if beyond else fields, problem)
    except Exception as exc:  # see _open
        raise FileRejected(f"sheet {sheet!r} cannot be read after data row {row_number}: "
                           f"{type(exc).__name__}: {exc}") from None
    finally:
        workbook.close()
