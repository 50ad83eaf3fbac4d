"""Landing files as sources of string chunks, whatever their format: CSV/TXT/TSV, Excel sheets, Parquet.

A *unit* is what gets ingested and logged as one: a text or Parquet file, or one sheet of a workbook
(`file.xlsx#Sheet name`). Each unit opens to a header and yields chunks of (string rows, their row
numbers, rows already rejected with a reason), so typing and validation never depend on the format.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from smartmarket.ingest.mapping import ALL_SHEETS, Mapping
from smartmarket.ingest.reader import FileHeader, FileRejected, RawRecord, arrow_batches, open_records

CHUNK_ROWS = 250_000
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Picked up so the user hears why they are not loaded, instead of the file being silently ignored.
UNSUPPORTED_SUFFIXES = {".xls": "old binary Excel (.xls) files cannot be read: save the sheet as .xlsx or CSV"}
LANDING_SUFFIXES = TEXT_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES + tuple(UNSUPPORTED_SUFFIXES)
SHEET_SEPARATOR = "#"

Chunk = tuple[pd.DataFrame, np.ndarray, pd.DataFrame]  # rows, their row numbers, rows rejected on reading
_NO_QUARANTINE = pd.DataFrame(columns=["_row_number", "_reason", "_raw_record"])


@dataclass(frozen=True)
class Unit:
    path: Path
    sheet: str | None = None  # the sheet of a workbook
    problem: str | None = None  # why the unit cannot be read at all (e.g. the workbook is damaged)

    def source(self, landing_dir: Path) -> str:
        path = self.path
        name = path.relative_to(landing_dir).as_posix() if path.is_relative_to(landing_dir) else str(path)
        return name if self.sheet is None else f"{name}{SHEET_SEPARATOR}{self.sheet}"


def units(path: Path, mapping: Mapping) -> list[Unit]:
    """The units of a landing file: itself, or the workbook sheets the mapping names (default: the first)."""
    suffix = path.suffix.lower()
    if suffix in UNSUPPORTED_SUFFIXES:
        return [Unit(path, problem=UNSUPPORTED_SUFFIXES[suffix])]
    if suffix not in EXCEL_SUFFIXES:
        return [Unit(path)]
    from smartmarket.ingest.workbook import sheet_names

    try:
        names = sheet_names(path)
    except FileRejected as exc:
        return [Unit(path, problem=str(exc))]
    if not names:
        return [Unit(path, problem="workbook has no sheets")]
    if not mapping.sheets:
        return [Unit(path, names[0])]
    if mapping.sheets == (ALL_SHEETS,):
        return [Unit(path, n) for n in names]
    # A sheet the mapping names but the workbook lacks is its own unit, rejected when opened: the others load.
    return [Unit(path, n) for n in mapping.sheets]


@dataclass
class OpenSource:
    """An opened unit: its header, and its rows as chunks once the caller knows how the header maps."""

    columns: list[str]
    notes: list[str] = field(default_factory=list)
    typed: bool = False  # cells came typed (Excel, Parquet): numbers use '.', dates are ISO text
    clean_utf8: bool = True
    _records: Iterator[RawRecord] | None = None
    _frames: Iterator[pd.DataFrame] | None = None
    _csv: tuple[Path, FileHeader] | None = None  # (path, header) for the Arrow fast path

    def chunks(self, file_reason: str | None, fast: bool) -> Iterator[Chunk]:
        """Chunks of the unit's rows; with `file_reason`, every row is rejected with it.

        `fast` lets a clean CSV go through Arrow's reader; it raises NeedsRowByRow when the file
        needs the row-by-row reader to report a bad record exactly.
        """
        if self._csv is not None and fast and self.clean_utf8 and file_reason is None:
            self.close()
            path, header = self._csv
            return _frame_chunks(arrow_batches(path, header), self.columns, None)
        if self._frames is not None:
            return _frame_chunks(self._frames, self.columns, file_reason)
        return _record_chunks(self._records, self.columns, file_reason)

    def close(self) -> None:
        for it in (self._records, self._frames):
            close = getattr(it, "close", None)
            if close:
                close()


def open_source(unit: Unit, mapping: Mapping, expected_columns: set[str]) -> OpenSource:
    """Open a unit and read its header. Raises FileRejected for a unit that cannot be read at all."""
    if unit.problem:
        raise FileRejected(unit.problem)
    suffix = unit.path.suffix.lower()
    if unit.sheet is not None:
        from smartmarket.ingest.workbook import open_sheet

        columns, records = open_sheet(unit.path, unit.sheet)
        return OpenSource(columns, typed=True, _records=records)
    if suffix in PARQUET_SUFFIXES:
        from smartmarket.ingest.parquet_file import open_parquet

        columns, frames = open_parquet(unit.path, CHUNK_ROWS)
        return OpenSource(columns, typed=True, _frames=frames)
    header, records = open_records(unit.path, mapping.delimiter, mapping.encoding, expected_columns)
    return OpenSource(header.columns, list(header.notes), clean_utf8=header.clean_utf8, _records=records,
                      _csv=(unit.path, header))


def _frame_chunks(frames: Iterator[pd.DataFrame], columns: list[str], file_reason: str | None) -> Iterator[Chunk]:
    start = 1
    for frame in frames:
        numbers = np.arange(start, start + len(frame), dtype=np.int64)
        start += len(frame)
        if file_reason is None:
            yield frame, numbers, _NO_QUARANTINE
            continue
        raw = [record_json(columns, list(r)) for r in frame.itertuples(index=False, name=None)]
        yield (frame.iloc[:0], numbers[:0],
               pd.DataFrame({"_row_number": numbers, "_reason": file_reason, "_raw_record": raw}))


def _record_chunks(records: Iterator[RawRecord], columns: list[str], file_reason: str | None) -> Iterator[Chunk]:
    while True:
        chunk = list(itertools.islice(records, CHUNK_ROWS))
        if not chunk:
            return
        shaped = [r for r in chunk if r.problem is None and file_reason is None]
        rejected = [(r.row_number, file_reason or r.problem, record_json(columns, r.fields))
                    for r in chunk if r.problem is not None or file_reason is not None]
        frame = pd.DataFrame([r.fields for r in shaped], columns=columns, dtype=object)
        numbers = np.array([r.row_number for r in shaped], dtype=np.int64)
        yield frame, numbers, pd.DataFrame(rejected, columns=["_row_number", "_reason", "_raw_record"])


def _printable(value: str) -> str:
    # Undecodable bytes were kept as surrogates by the reader; store them as \xNN escapes.
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def record_json(columns: list[str], fields: list[str]) -> str:
    """A rejected row's original values, as JSON (by column when the row has the header's shape)."""
    fields = [_printable(f) for f in fields]
    if len(fields) == len(columns):
        return json.dumps(dict(zip(columns, fields, strict=True)), ensure_ascii=False,
                          default=str)[:20_000]
    return json.dumps({"fields": fields}, ensure_ascii=False)[:20_000]

