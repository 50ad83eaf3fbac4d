"""CSV export that a spreadsheet cannot turn into a formula.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``
(OWASP's CSV-injection advice), so Excel, LibreOffice or Sheets show it as text instead of running it.
Numbers and dates are written as such: they come from typed columns, and a negative amount like -12.5
must stay a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_lines(header: list[str], batches: Iterable[list[list[Any]]]) -> Iterator[str]:
    """The header, then one chunk of CSV text per batch of rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    yield buf.getvalue()
    for rows in batches:
        buf.seek(0)
        buf.truncate()
        writer.writerows([[neutralise(v) for v in row] for row in rows])
        yield buf.getvalue()
