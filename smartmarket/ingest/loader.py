"""Loads landing files into `raw.<kind>`, rejected rows into `quarantine.<kind>`, and logs every file.

Accounting is exact for every file: rows read = rows loaded + rows quarantined + duplicates skipped.
A file already ingested (same path, same bytes) is skipped whole; the same rows arriving again in
another file are counted as duplicates by their content hash and not loaded twice.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from smartmarket.config import Settings
from smartmarket.contracts import DATE, LINEAGE_COLUMNS, STRING, TIMESTAMP, Contract, contract_for
from smartmarket.ingest.mapping import Mapping, load_mappings, mapping_for
from smartmarket.ingest.reader import (
    FileHeader,
    FileRejected,
    NeedsRowByRow,
    arrow_batches,
    file_sha256,
    open_records,
)
from smartmarket.ingest.validate import plan_columns, type_chunk
from smartmarket.warehouse import Warehouse

CHUNK_ROWS = 250_000
LANDING_SUFFIXES = (".csv", ".txt", ".tsv")

QUARANTINE_COLUMNS: list[tuple[str, str]] = [
    ("_source_file", STRING),
    ("_file_sha256", STRING),
    ("_row_number", "integer"),
    ("_reason", STRING),
    ("_raw_record", STRING),
    ("_ingested_at", TIMESTAMP),
]
LOG_TABLE = "raw._ingestion_log"
LOG_COLUMNS: list[tuple[str, str]] = [
    ("kind", STRING), ("source_file", STRING), ("file_sha256", STRING), ("mapping", STRING),
    ("status", STRING), ("rows_read", "integer"), ("rows_loaded", "integer"),
    ("rows_quarantined", "integer"), ("rows_duplicate", "integer"), ("message", STRING),
    ("ingested_at", TIMESTAMP),
]


@dataclass
class FileResult:
    kind: str
    source_file: str
    file_sha256: str
    mapping: str
    status: str  # loaded | rejected | skipped (already ingested)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    message: str = ""
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> rows
    examples: list[str] = field(default_factory=list)  # "file row N: reason" lines for people

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_duplicate


@dataclass
class KindResult:
    kind: str
    files: list[FileResult]

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def as_metadata(self) -> dict[str, object]:
        return {
            "files_seen": len(self.files),
            "files_loaded": sum(f.status == "loaded" for f in self.files),
            "files_rejected": sum(f.status == "rejected" for f in self.files),
            "files_skipped": sum(f.status == "skipped" for f in self.files),
            "rows_read": self.total("rows_read"),
            "rows_loaded": self.total("rows_loaded"),
            "rows_quarantined": self.total("rows_quarantined"),
            "rows_duplicate": self.total("rows_duplicate"),
        }

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reasons over all files, most frequent first."""
        counts: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.reasons.items():
                counts[reason] = counts.get(reason, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, **self.as_metadata(), "files": [asdict(f) for f in self.files]}


def raw_columns(contract: Contract) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in contract.columns] + list(LINEAGE_COLUMNS)


def ensure_tables(warehouse: Warehouse, con: object, contract: Contract) -> None:
    warehouse.create_table(con, contract.raw_table, raw_columns(contract))
    warehouse.create_table(con, contract.quarantine_table, QUARANTINE_COLUMNS)
    warehouse.create_table(con, LOG_TABLE, LOG_COLUMNS)


def row_hashes(typed: pd.DataFrame, contract: Contract) -> pd.Series:
    """Content hash of the canonical business columns: equal rows hash equal whatever file they came in."""
    hashed = pd.util.hash_pandas_object(typed[contract.names], index=False).to_numpy()
    return pd.Series([f"{h:016x}" for h in hashed.tolist()], index=typed.index, dtype=object)


def landing_files(landing_dir: Path, kind: str) -> list[Path]:
    folder = landing_dir / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in LANDING_SUFFIXES)


def ingest_kind(settings: Settings, kind: str, *, now: datetime | None = None,
                tenants: Iterable[str] | None = None, mappings: list[Mapping] | None = None,
                progress: Callable[[str], None] | None = None) -> KindResult:
    """Ingest every new file under `landing/<kind>/`. Never raises for bad file content."""
    contract = contract_for(kind)
    warehouse = Warehouse(settings)
    if mappings is None:
        mappings = load_mappings([settings.data_dir / "mappings"])
    allowed = frozenset(tenants) if tenants is not None else None
    now = now or datetime.now(UTC).replace(tzinfo=None)
    results: list[FileResult] = []
    files = landing_files(settings.landing_dir, kind)
    # One connection for the whole kind (closing a DuckDB connection checkpoints the file: slow per
    # file); each file is still its own transaction.
    with warehouse.connect() as con:
        ensure_tables(warehouse, con, contract)
        _commit(warehouse, con)
        for i, path in enumerate(files, 1):
            result = ingest_file(warehouse, con, contract, path, settings.landing_dir, mappings, now, allowed)
            results.append(result)
            if progress:
                progress(f"{kind} [{i}/{len(files)}] {result.source_file}: {result.status}, "
                         f"read {result.rows_read:,}, loaded {result.rows_loaded:,}, "
                         f"quarantined {result.rows_quarantined:,}, duplicates {result.rows_duplicate:,}")
    return KindResult(kind, results)


def _commit(warehouse: Warehouse, con: object) -> None:
    if warehouse.kind == "postgres":
        con.commit()


def ingest_file(warehouse: Warehouse, con: object, contract: Contract, path: Path, landing_dir: Path,
                mappings: list[Mapping], now: datetime, tenants: frozenset[str] | None) -> FileResult:
    source = path.relative_to(landing_dir).as_posix() if path.is_relative_to(landing_dir) else str(path)
    sha = file_sha256(path)
    mapping = mapping_for(contract.kind, path.name, mappings)
    result = FileResult(contract.kind, source, sha, mapping.name, "loaded")
    seen = warehouse.query_on(con, f"select count(*) from {LOG_TABLE} where kind = ? and source_file = ? "
                  "and file_sha256 = ? and status <> 'skipped'", (contract.kind, source, sha))
    if int(seen.iat[0, 0]):
        result.status, result.message = "skipped", "already ingested (same path and content)"
        return result  # not logged again: re-runs on the same files change nothing
    for fast in (True, False):
        result = FileResult(contract.kind, source, sha, mapping.name, "loaded")
        try:
            with warehouse.transaction(con):  # a file lands whole or not at all
                try:
                    _load(warehouse, con, contract, path, source, sha, mapping, now, tenants, result, fast)
                except FileRejected as exc:
                    result.status, result.message = "rejected", f"{source}: {exc}"
                _log(warehouse, con, result, now)
            return result
        except NeedsRowByRow:
            continue  # rolled back; read again row by row to report the bad records exactly
    raise AssertionError("unreachable: the row-by-row reader never asks for another pass")


def _load(warehouse: Warehouse, con: object, contract: Contract, path: Path, source: str, sha: str,
          mapping: Mapping, now: datetime, tenants: frozenset[str] | None, result: FileResult,
          fast: bool) -> None:
    expected = set(contract.names) | set(mapping.rename)
    header, records = open_records(path, mapping.delimiter, mapping.encoding, expected)
    plan = plan_columns(header.columns, contract, mapping)
    notes = header.notes + plan.notes
    if len(set(header.columns)) != len(header.columns):
        dupes = sorted({c for c in header.columns if header.columns.count(c) > 1})
        raise FileRejected(f"header repeats column(s) {', '.join(dupes)}")
    file_reason = None
    if not plan.usable:
        file_reason = f"missing required column(s): {', '.join(plan.missing_required)}"
        notes.insert(0, f"file quarantined: {file_reason}")
    if fast and header.clean_utf8 and file_reason is None:
        records.close()
        chunks = _arrow_chunks(path, header)
    else:
        chunks = _python_chunks(records, header, file_reason)
    seen_hashes: set[str] = set()
    for frame, numbers, quarantine in chunks:
        result.rows_read += len(frame) + len(quarantine)
        good = pd.DataFrame()
        if len(frame):
            typed = type_chunk(frame, numbers, contract, mapping, plan, now, tenants)
            quarantine = pd.concat([quarantine, typed.rejected], ignore_index=True)
            good = typed.rows
        if not good.empty:
            good["_row_hash"] = row_hashes(good, contract)
            first = ~good["_row_hash"].duplicated() & ~good["_row_hash"].isin(seen_hashes)
            seen_hashes.update(good["_row_hash"].tolist())
            result.rows_duplicate += int((~first).sum())
            good = good[first].copy()
            good["_source_file"] = source
            good["_ingested_at"] = pd.Timestamp(now)
            for col in contract.columns:
                if col.type == DATE:
                    good[col.name] = good[col.name].dt.date
            ordered = good[[c for c, _ in raw_columns(contract)]]
            loaded = warehouse.insert_new(con, contract.raw_table, ordered, ["_row_hash"])
            result.rows_loaded += loaded
            result.rows_duplicate += len(ordered) - loaded
        if not quarantine.empty:
            quarantine = quarantine.sort_values("_row_number", kind="stable")
            quarantine["_source_file"] = source
            quarantine["_file_sha256"] = sha
            quarantine["_ingested_at"] = pd.Timestamp(now)
            ordered_q = quarantine[[c for c, _ in QUARANTINE_COLUMNS]]
            stored = warehouse.insert_new(con, contract.quarantine_table, ordered_q,
                                          ["_file_sha256", "_row_number"])
            result.rows_quarantined += stored
            # The same bad rows from an identical file dropped under another name are duplicates.
            result.rows_duplicate += len(ordered_q) - stored
            for reason in quarantine["_reason"]:
                result.reasons[reason] = result.reasons.get(reason, 0) + 1
            for n, reason in zip(quarantine["_row_number"], quarantine["_reason"], strict=True):
                if len(result.examples) < 10:
                    result.examples.append(f"{source} row {n}: {reason}")
    if result.rows_read == 0:
        notes.append("no data rows (header only)")
    result.message = "; ".join(notes)
    if file_reason:
        result.status = "rejected"
        result.message = f"{source}: {file_reason}" + (f" ({'; '.join(notes[1:])})" if notes[1:] else "")


_NO_QUARANTINE = pd.DataFrame(columns=["_row_number", "_reason", "_raw_record"])


def _arrow_chunks(path: Path, header: FileHeader) -> Iterator[tuple[pd.DataFrame, np.ndarray, pd.DataFrame]]:
    start = 1
    for frame in arrow_batches(path, header):
        numbers = np.arange(start, start + len(frame), dtype=np.int64)
        start += len(frame)
        yield frame, numbers, _NO_QUARANTINE


def _python_chunks(records: Iterator, header: FileHeader, file_reason: str | None
                   ) -> Iterator[tuple[pd.DataFrame, np.ndarray, pd.DataFrame]]:
    while True:
        chunk = list(itertools.islice(records, CHUNK_ROWS))
        if not chunk:
            return
        shaped = [r for r in chunk if r.problem is None and file_reason is None]
        rejected = [(r.row_number, file_reason or r.problem, _record_json(header.columns, r.fields))
                    for r in chunk if r.problem is not None or file_reason is not None]
        frame = pd.DataFrame([r.fields for r in shaped], columns=header.columns, dtype=object)
        numbers = np.array([r.row_number for r in shaped], dtype=np.int64)
        yield frame, numbers, pd.DataFrame(rejected, columns=["_row_number", "_reason", "_raw_record"])


def _printable(value: str) -> str:
    # Undecodable bytes were kept as surrogates by the reader; store them as \xNN escapes.
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _record_json(columns: list[str], fields: list[str]) -> str:
    fields = [_printable(f) for f in fields]
    if len(fields) == len(columns):
        return json.dumps(dict(zip(columns, fields, strict=True)), ensure_ascii=False,
                          default=str)[:20_000]
    return json.dumps({"fields": fields}, ensure_ascii=False)[:20_000]


def _log(warehouse: Warehouse, con: object, result: FileResult, now: datetime) -> None:
    row = pd.DataFrame([{
        "kind": result.kind, "source_file": result.source_file, "file_sha256": result.file_sha256,
        "mapping": result.mapping, "status": result.status, "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded, "rows_quarantined": result.rows_quarantined,
        "rows_duplicate": result.rows_duplicate, "message": result.message[:2000],
        "ingested_at": pd.Timestamp(now),
    }])
    warehouse.insert_new(con, LOG_TABLE, row, ["kind", "source_file", "file_sha256", "ingested_at"])
