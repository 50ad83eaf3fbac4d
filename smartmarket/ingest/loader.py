"""Loads landing files into `raw.<kind>`, rejected rows into `quarantine.<kind>`, and logs every file.

Accounting is exact for every file (or workbook sheet): rows read = rows loaded + rows quarantined +
duplicates skipped + rows skipped by the mapping's row rules. A file already ingested (same path, same
bytes) is skipped whole. Rows are identified by their content and its occurrence number in the file:
identical lines in one file are separate items and all load, while the same rows arriving again, in the
same file or another, are duplicates and not loaded twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from smartmarket.config import Settings
from smartmarket.contracts import DATE, LINEAGE_COLUMNS, STRING, TIMESTAMP, Contract, contract_for
from smartmarket.ingest.mapping import Mapping, load_mappings, mapping_for
from smartmarket.ingest.melt import melt_frame
from smartmarket.ingest.reader import FileRejected, NeedsRowByRow, file_sha256
from smartmarket.ingest.rules import skipped_rows
from smartmarket.ingest.sources import LANDING_SUFFIXES, Chunk, Unit, open_source, units
from smartmarket.ingest.validate import Limits, plan_columns, type_chunk
from smartmarket.warehouse import Warehouse, run

QUARANTINE_COLUMNS: list[tuple[str, str]] = [
    ("_source_file", STRING),
    ("_file_sha256", STRING),
    ("_row_number", "integer"),
    ("_reason", STRING),
    ("_raw_record", STRING),
    ("_ingested_at", TIMESTAMP),
]
# The same bad row in an identical file dropped under another name is a duplicate. (Records melted from
# one wide row share its row number: they are always in the same chunk, so they go in, or not, together.)
QUARANTINE_KEY = ["_file_sha256", "_row_number"]
LOG_TABLE = "raw._ingestion_log"
LOG_COLUMNS: list[tuple[str, str]] = [
    ("kind", STRING), ("source_file", STRING), ("file_sha256", STRING), ("mapping", STRING),
    ("status", STRING), ("rows_read", "integer"), ("rows_loaded", "integer"),
    ("rows_quarantined", "integer"), ("rows_duplicate", "integer"), ("message", STRING),
    ("ingested_at", TIMESTAMP), ("rows_skipped", "integer"),
]
# Columns added after the first release: added to an existing warehouse's log, with their value for old rows.
LOG_COLUMNS_ADDED: list[tuple[str, str, str]] = [("rows_skipped", "integer", "0")]


@dataclass
class FileResult:
    kind: str
    source_file: str  # path under landing/, plus "#<sheet>" for a workbook sheet
    file_sha256: str
    mapping: str
    status: str  # loaded | rejected | skipped (already ingested)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_skipped: int = 0  # skipped by the mapping's row rules (rows.skip, action: skip)
    message: str = ""
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> rows
    skipped: dict[str, int] = field(default_factory=dict)  # mapping rule -> rows it skipped
    examples: list[str] = field(default_factory=list)  # "file row N: reason" lines for people

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_quarantined + self.rows_duplicate + self.rows_skipped


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
            "rows_skipped": self.total("rows_skipped"),
        }

    def reason_counts(self) -> dict[str, int]:
        """Quarantine reasons over all files, most frequent first."""
        return _merged(f.reasons for f in self.files)

    def skip_counts(self) -> dict[str, int]:
        """Rows skipped per mapping rule over all files, most frequent first."""
        return _merged(f.skipped for f in self.files)

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, **self.as_metadata(), "files": [asdict(f) for f in self.files]}


def _merged(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for one in counts:
        for key, n in one.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def raw_columns(contract: Contract) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in contract.columns] + list(LINEAGE_COLUMNS)


def ensure_tables(warehouse: Warehouse, con: object, contract: Contract) -> None:
    warehouse.create_table(con, contract.raw_table, raw_columns(contract))
    warehouse.create_table(con, contract.quarantine_table, QUARANTINE_COLUMNS)
    warehouse.create_table(con, LOG_TABLE, LOG_COLUMNS)
    schema, table = LOG_TABLE.split(".")
    present = set(warehouse.query_on(con, "select column_name from information_schema.columns "
                                          "where table_schema = ? and table_name = ?", (schema, table))
                  .iloc[:, 0].tolist())
    for name, logical, default in LOG_COLUMNS_ADDED:
        if name not in present:  # checked first: ALTER takes an exclusive lock on Postgres even when a no-op
            run(con, f"alter table {LOG_TABLE} add column if not exists {name} "
                     f"{warehouse.column_type(logical)} default {default}")


def content_hashes(typed: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """64-bit hash of each row's values in `columns`: equal rows hash equal whatever file they came in."""
    return pd.util.hash_pandas_object(typed[columns], index=False).to_numpy()


class Occurrences:
    """Numbers each content's occurrences in file order (1, 2, ...), across the chunks of one file.

    Most contents occur once: they are only remembered in a set (C-speed); counts are kept for the
    few that repeat.
    """

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._repeats: dict[int, int] = {}  # content seen more than once -> occurrences so far

    def number(self, hashes: np.ndarray, last_chunk: bool = False) -> np.ndarray:
        series = pd.Series(hashes)
        within = series.groupby(series, sort=False).cumcount().to_numpy() + 1
        if not self._seen and last_chunk:
            return within  # a file in one chunk (most files): no state to look up or keep
        values = hashes.tolist()
        seen = np.fromiter(map(self._seen.__contains__, values), dtype=bool, count=len(values))
        before = np.zeros(len(values), dtype=np.int64)
        for i in np.flatnonzero(seen).tolist():
            before[i] = self._repeats.get(values[i], 1)
        if not last_chunk:
            self._seen.update(values)
            repeating = seen | series.duplicated(keep=False).to_numpy()
            if repeating.any():
                firsts = ~series[repeating].duplicated().to_numpy()
                counts = series[repeating].value_counts()
                for h, b in zip(series[repeating][firsts].tolist(), before[repeating][firsts].tolist(), strict=True):
                    self._repeats[h] = b + int(counts[h])
        return within + before


def row_hashes(content: np.ndarray, occurrence: np.ndarray | None = None) -> list[str]:
    """The `_row_hash` of each row: its content hash for the first occurrence in a file (so warehouses
    loaded before occurrences were counted keep their keys), a hash of (content, n) for the n-th."""
    hashed = content.copy()
    if occurrence is not None:
        repeat = occurrence > 1
        if repeat.any():
            pair = pd.DataFrame({"content": content[repeat], "occurrence": occurrence[repeat].astype(np.int64)})
            hashed[repeat] = pd.util.hash_pandas_object(pair, index=False).to_numpy()
    return [f"{h:016x}" for h in hashed.tolist()]


def landing_files(landing_dir: Path, kind: str) -> list[Path]:
    folder = landing_dir / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in LANDING_SUFFIXES
                  and not p.name.startswith("~$"))  # "~$book.xlsx": Excel's lock file while a book is open


def ingest_kind(settings: Settings, kind: str, *, now: datetime | None = None,
                tenants: Iterable[str] | None = None, mappings: list[Mapping] | None = None,
                progress: Callable[[str], None] | None = None) -> KindResult:
    """Ingest every new file under `landing/<kind>/`. Never raises for bad file content.

    A mapping that cannot be used raises MappingError (naming the mapping file and the field to fix).
    """
    contract = contract_for(kind)
    warehouse = Warehouse(settings)
    if mappings is None:
        mappings = load_mappings([settings.data_dir / "mappings"])
    now = now or datetime.now(UTC).replace(tzinfo=None)
    limits = Limits.for_run(settings, now, frozenset(tenants) if tenants is not None else None)
    results: list[FileResult] = []
    files = landing_files(settings.landing_dir, kind)
    # One connection for the whole kind (closing a DuckDB connection checkpoints the file: slow per
    # file); each file is still its own transaction.
    with warehouse.connect() as con:
        ensure_tables(warehouse, con, contract)
        _commit(warehouse, con)
        for i, path in enumerate(files, 1):
            mapping = mapping_for(contract.kind, path.name, mappings)
            sha = file_sha256(path)
            for unit in units(path, mapping):
                result = ingest_unit(warehouse, con, contract, unit, sha, settings.landing_dir, mapping, limits)
                results.append(result)
                if progress:
                    progress(f"{kind} [{i}/{len(files)}] {result.source_file}: {result.status}, "
                             f"read {result.rows_read:,}, loaded {result.rows_loaded:,}, "
                             f"quarantined {result.rows_quarantined:,}, duplicates {result.rows_duplicate:,}, "
                             f"skipped by mapping {result.rows_skipped:,}")
    return KindResult(kind, results)


def _commit(warehouse: Warehouse, con: object) -> None:
    if warehouse.kind == "postgres":
        con.commit()


def unit_sha256(unit: Unit, file_sha: str) -> str:
    """A workbook sheet's own content key: the sheets of one workbook share its file hash."""
    if unit.sheet is None:
        return file_sha
    return hashlib.sha256(f"{file_sha}#{unit.sheet}".encode()).hexdigest()


def ingest_unit(warehouse: Warehouse, con: object, contract: Contract, unit: Unit, file_sha: str,
                landing_dir: Path, mapping: Mapping, limits: Limits) -> FileResult:
    source = unit.source(landing_dir)
    sha = unit_sha256(unit, file_sha)
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
                    _load(warehouse, con, contract, unit, source, sha, mapping, limits, result, fast)
                except FileRejected as exc:
                    result.status = "rejected"
                    result.message = f"{source}: {exc}" + (f" ({result.message})" if result.message else "")
                _log(warehouse, con, result, limits.now)
            return result
        except NeedsRowByRow:
            continue  # rolled back; read again row by row to report the bad records exactly
    raise AssertionError("unreachable: the row-by-row reader never asks for another pass")


def _load(warehouse: Warehouse, con: object, contract: Contract, unit: Unit, source: str, sha: str,
          mapping: Mapping, limits: Limits, result: FileResult, fast: bool) -> None:
    expected = set(contract.names) | set(mapping.rename) | set(mapping.melt.columns if mapping.melt else ())
    opened = open_source(unit, mapping, expected)
    if opened.typed:
        # Excel and Parquet numbers come as numbers ('.' decimal mark); decimal/thousands describe text files.
        mapping = replace(mapping, decimal=".", thousands=None)
    header = opened.columns
    if len(set(header)) != len(header):
        opened.close()
        dupes = sorted({c for c in header if header.count(c) > 1})
        raise FileRejected(f"header repeats column(s) {', '.join(dupes)}")
    plan = plan_columns(header, contract, mapping)
    notes = opened.notes + plan.notes
    file_reason = plan.file_problem
    if file_reason:
        notes.insert(0, f"file quarantined: {file_reason}")
    occurrences = Occurrences()
    has_skip_rules = bool(mapping.rules_for("skip"))
    try:
        for (frame, numbers, quarantine), last_chunk in _with_last(opened.chunks(file_reason, fast)):
            if plan.melted and len(frame):
                frame, numbers = melt_frame(frame, numbers, mapping.melt, plan.melted)
            result.rows_read += len(frame) + len(quarantine)
            if has_skip_rules and len(frame):
                skip, counts = skipped_rows(frame, plan.rule_sources, mapping)
                if skip.any():
                    frame, numbers = frame[~skip], numbers[~skip]
                    result.rows_skipped += int(skip.sum())
                    for rule, n in counts.items():
                        result.skipped[rule] = result.skipped.get(rule, 0) + n
            if len(frame):
                typed = type_chunk(frame, numbers, contract, mapping, plan, limits, opened.typed)
                quarantine = pd.concat([quarantine, typed.rejected], ignore_index=True)
                _insert_good(warehouse, con, contract, typed.rows, source, mapping, limits.now, occurrences,
                             last_chunk, result)
            if not quarantine.empty:
                _insert_quarantine(warehouse, con, contract, quarantine, source, sha, limits.now, result)
    except FileRejected:
        # The rows read before the damage are kept (and counted); the message says where reading stopped.
        if result.rows_read:
            notes.append(f"the {result.rows_read:,} row(s) read before the damage are accounted for")
        result.message = "; ".join(notes)
        raise
    if result.rows_read == 0:
        notes.append("no data rows (header only)")
    if result.rows_skipped:
        rules = "; ".join(f"{n:,} x {rule}" for rule, n in result.skipped.items())
        notes.append(f"{result.rows_skipped:,} row(s) skipped by the mapping ({rules})")
    result.message = "; ".join(notes)
    if file_reason:
        result.status = "rejected"
        result.message = f"{source}: {file_reason}" + (f" ({'; '.join(notes[1:])})" if notes[1:] else "")


def _with_last(chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, bool]]:
    """Each chunk with whether it is the last; damage met while reading ahead is raised after the chunk
    before it was handled, so its rows are not lost."""
    current = next(chunks, None)
    while current is not None:
        try:
            following = next(chunks, None)
        except FileRejected:
            yield current, True
            raise
        yield current, following is None
        current = following


def _insert_good(warehouse: Warehouse, con: object, contract: Contract, good: pd.DataFrame, source: str,
                 mapping: Mapping, now: datetime, occurrences: Occurrences, last_chunk: bool,
                 result: FileResult) -> None:
    if good.empty:
        return
    if mapping.natural_key:
        # The mapping says which columns identify a row: a later row with the same key is a duplicate.
        content = content_hashes(good, list(mapping.natural_key))
        good["_row_hash"] = row_hashes(content)
        first = occurrences.number(content, last_chunk) == 1
        result.rows_duplicate += int((~first).sum())
        good = good[first].copy()
    else:
        content = content_hashes(good, contract.names)
        good["_row_hash"] = row_hashes(content, occurrences.number(content, last_chunk))
    good["_source_file"] = source
    good["_ingested_at"] = pd.Timestamp(now)
    for col in contract.columns:
        if col.type == DATE:
            good[col.name] = good[col.name].dt.date
    ordered = good[[c for c, _ in raw_columns(contract)]]
    loaded = warehouse.insert_new(con, contract.raw_table, ordered, ["_row_hash"])
    result.rows_loaded += loaded
    result.rows_duplicate += len(ordered) - loaded


def _insert_quarantine(warehouse: Warehouse, con: object, contract: Contract, quarantine: pd.DataFrame,
                       source: str, sha: str, now: datetime, result: FileResult) -> None:
    quarantine = quarantine.sort_values("_row_number", kind="stable")
    quarantine["_source_file"] = source
    quarantine["_file_sha256"] = sha
    quarantine["_ingested_at"] = pd.Timestamp(now)
    ordered = quarantine[[c for c, _ in QUARANTINE_COLUMNS]]
    stored = warehouse.insert_new(con, contract.quarantine_table, ordered, QUARANTINE_KEY)
    result.rows_quarantined += stored
    result.rows_duplicate += len(ordered) - stored
    for reason in quarantine["_reason"]:
        result.reasons[reason] = result.reasons.get(reason, 0) + 1
    for n, reason in zip(quarantine["_row_number"], quarantine["_reason"], strict=True):
        if len(result.examples) < 10:
            result.examples.append(f"{source} row {n}: {reason}")


def _log(warehouse: Warehouse, con: object, result: FileResult, now: datetime) -> None:
    row = pd.DataFrame([{
        "kind": result.kind, "source_file": result.source_file, "file_sha256": result.file_sha256,
        "mapping": result.mapping, "status": result.status, "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded, "rows_quarantined": result.rows_quarantined,
        "rows_duplicate": result.rows_duplicate, "message": result.message[:2000],
        "ingested_at": pd.Timestamp(now), "rows_skipped": result.rows_skipped,
    }])
    warehouse.insert_new(con, LOG_TABLE, row, ["kind", "source_file", "file_sha256", "ingested_at"])
