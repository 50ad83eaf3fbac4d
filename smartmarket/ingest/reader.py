"""Reads a landing file into header + string rows without ever raising on bad content.

Every problem is returned as data: a file-level problem (binary, empty, undecodable header) or a
per-row problem (wrong field count, bytes that are not UTF-8, oversized field). Row numbers count data
records (header excluded) from 1, so a quoted newline inside a field does not shift them.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MAX_FIELD_CHARS = 10_000
_SNIFF_DELIMITERS = (",", ";", "\t", "|")
# csv refuses fields over 128 KiB by default; we read them so they can be quarantined by name.
csv.field_size_limit(64 * 1024 * 1024)


class FileRejected(Exception):
    """The file as a whole cannot be read as CSV; nothing in it can be loaded."""


@dataclass
class RawRecord:
    row_number: int
    fields: list[str]
    problem: str | None = None  # set when the row cannot be typed at all


@dataclass
class FileHeader:
    columns: list[str]
    delimiter: str
    notes: list[str]
    clean_utf8: bool = False  # the whole file decodes as UTF-8


class NeedsRowByRow(Exception):
    """The fast reader met something only the row-by-row reader reports precisely."""


def arrow_batches(path: Path, header: FileHeader, block_bytes: int = 32 << 20) -> Iterator[pd.DataFrame]:
    """Data records as DataFrames of strings, parsed by Arrow's C++ CSV reader (about 10x the csv module).

    Only for clean UTF-8 files; raises NeedsRowByRow at the first record with the wrong field count or an
    oversized field, so the caller can start the file again row by row and report that record exactly.
    Blank lines are skipped and quoted newlines kept, exactly as the row-by-row reader does.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    names = [f"c{i}" for i in range(len(header.columns))]  # header names may repeat or be blank
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=block_bytes),
            parse_options=pacsv.ParseOptions(delimiter=header.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        for batch in reader:
            for column in batch.columns:
                longest = pc.max(pc.utf8_length(column)).as_py()
                if longest is not None and longest > MAX_FIELD_CHARS:
                    raise NeedsRowByRow("oversized field")
            frame = batch.to_pandas()
            frame.columns = header.columns
            yield frame
    except pa.ArrowInvalid as exc:
        raise NeedsRowByRow(str(exc)) from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return len(sample) > 0 and control / len(sample) > 0.05


def open_records(path: Path, delimiter: str, encoding: str = "utf-8",
                 expected_columns: set[str] | None = None) -> tuple[FileHeader, Iterator[RawRecord]]:
    """Open `path`, read its header and return it with an iterator over its data records.

    Raises FileRejected for a file that is empty, binary or has no usable header.
    """
    with path.open("rb") as fh:
        sample = fh.read(8192)
    if not sample.strip():
        raise FileRejected("file is empty")
    if _looks_binary(sample):
        raise FileRejected("file is not a text CSV file (binary content)")

    # utf-8-sig drops a byte-order mark; surrogateescape keeps undecodable bytes visible per row
    # instead of failing the whole file.
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    notes: list[str] = []
    if expected_columns is not None:
        detected = _detect_delimiter(sample, delimiter, expected_columns)
        if detected != delimiter:
            notes.append(f"delimiter {detected!r} detected (expected {delimiter!r}); file read with {detected!r}")
            delimiter = detected
    text = path.open("r", encoding=enc, errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        text.close()
        raise FileRejected(f"cannot read a header line: {exc}") from None
    columns = [c.strip() for c in header]
    if any(_has_bad_bytes(c) for c in columns):
        text.close()
        raise FileRejected("header is not valid UTF-8 text")
    clean = _is_utf8(path)
    return FileHeader(columns, delimiter, notes, clean), _records(text, reader, len(columns), clean)


def _is_utf8(path: Path) -> bool:
    """One strict decode of the whole file in C: lets the per-row scan for bad bytes be skipped."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _detect_delimiter(sample: bytes, declared: str, expected_columns: set[str]) -> str:
    """Return the delimiter that splits the header into known columns, preferring the declared one."""
    first_line = sample.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0]

    def known(delim: str) -> int:
        return len({c.strip() for c in first_line.split(delim)} & expected_columns)

    best = max(_SNIFF_DELIMITERS, key=known)
    return best if known(best) >= 2 and known(declared) < 2 else declared


def _has_bad_bytes(value: str) -> bool:
    # surrogateescape maps each undecodable byte to U+DC80..U+DCFF
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _records(text: io.TextIOBase, reader: Iterator[list[str]], n_columns: int,
             clean_utf8: bool) -> Iterator[RawRecord]:
    row_number = 0
    try:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row_number += 1
                yield RawRecord(row_number, [], f"unreadable CSV record: {exc}")
                continue
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line: not a record
            row_number += 1
            problem = None
            if len(fields) != n_columns:
                problem = f"row has {len(fields)} fields, header has {n_columns}"
            elif not clean_utf8 and any(map(_has_bad_bytes, fields)):
                bad = next(i for i, v in enumerate(fields) if _has_bad_bytes(v))
                problem = f"field {bad + 1} contains bytes that are not valid UTF-8"
            elif max(map(len, fields)) > MAX_FIELD_CHARS:
                i, value = max(enumerate(fields), key=lambda iv: len(iv[1]))
                problem = f"field {i + 1} is {len(value):,} characters long (limit {MAX_FIELD_CHARS:,})"
            yield RawRecord(row_number, fields, problem)
    finally:
        text.close()
