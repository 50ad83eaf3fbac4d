"""Declarative mappings that bring foreign file layouts (till exports, public data sets) into a contract.

A mapping is a YAML file; see `docs/mapping-format.md` (rendered in README) and the shipped
`smartmarket/ingest/mappings/till_export.yml`. Mappings are looked up in the shipped folder and in
`<data dir>/mappings/`; the first whose `files` glob matches a landing file's name applies.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smartmarket.contracts import contract_for

SHIPPED_MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"

_RETURN_ACTIONS = ("return", "skip")
_DERIVATIONS = ("amount_over_quantity",)


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the field to fix."""


@dataclass(frozen=True)
class ReturnRule:
    column: str  # source column holding the row type, e.g. "Type"
    values: tuple[str, ...]  # values (case-insensitive) the rule applies to
    action: str  # "return": negate quantity and amount; "skip": quarantine as cancelled


@dataclass(frozen=True)
class Mapping:
    name: str
    kind: str
    files: tuple[str, ...]
    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    encoding: str = "utf-8"
    date_format: str | None = None  # strptime format for all date/timestamp columns
    rename: dict[str, str] = field(default_factory=dict)  # source header -> canonical column
    defaults: dict[str, str] = field(default_factory=dict)  # canonical column -> constant
    derive: dict[str, Any] = field(default_factory=dict)  # canonical column -> derivation
    rules: tuple[ReturnRule, ...] = ()
    negative_amount_is_return: bool = False
    source: Path | None = None

    def matches(self, file_name: str) -> bool:
        return any(fnmatch.fnmatch(file_name, pattern) for pattern in self.files)


CANONICAL = Mapping(name="canonical", kind="*", files=("*",))


def parse_mapping(data: dict[str, Any], source: Path | None = None) -> Mapping:
    where = str(source) if source else "mapping"

    def fail(msg: str) -> MappingError:
        return MappingError(f"{where}: {msg}")

    if not isinstance(data, dict):
        raise fail("expected a YAML mapping at the top level")
    unknown = set(data) - {"name", "kind", "files", "delimiter", "decimal", "thousands", "encoding",
                           "date_format", "rename", "defaults", "derive", "rows", "description"}
    if unknown:
        raise fail(f"unknown key(s): {', '.join(sorted(unknown))}")
    kind = data.get("kind")
    try:
        contract = contract_for(str(kind))
    except ValueError as exc:
        raise fail(str(exc)) from None
    files = data.get("files")
    if isinstance(files, str):
        files = [files]
    if not files or not all(isinstance(f, str) for f in files):
        raise fail("'files' must be a glob or a list of globs, e.g. ['till_*.csv']")
    rename = {str(k): str(v) for k, v in (data.get("rename") or {}).items()}
    targets = set(rename.values()) | set(data.get("defaults") or {}) | set(data.get("derive") or {})
    bad = sorted(t for t in targets if t not in contract.names)
    if bad:
        raise fail(f"column(s) {', '.join(bad)} are not in the {kind} contract ({', '.join(contract.names)})")
    derive: dict[str, Any] = dict(data.get("derive") or {})
    for col, how in derive.items():
        if isinstance(how, dict) and set(how) == {"template"}:
            continue
        if how not in _DERIVATIONS:
            raise fail(f"derive.{col}: use one of {', '.join(_DERIVATIONS)} or {{template: '...'}}")
    rules: list[ReturnRule] = []
    rows = data.get("rows") or {}
    for key, spec in rows.items():
        if key == "negative_amount_is_return":
            continue
        if key not in ("returns", "cancellations"):
            raise fail(f"rows.{key}: expected 'returns', 'cancellations' or 'negative_amount_is_return'")
        if not isinstance(spec, dict) or "column" not in spec or "values" not in spec:
            raise fail(f"rows.{key} needs 'column' and 'values'")
        action = spec.get("action", "return" if key == "returns" else "skip")
        if action not in _RETURN_ACTIONS:
            raise fail(f"rows.{key}.action must be one of {', '.join(_RETURN_ACTIONS)}")
        rules.append(ReturnRule(str(spec["column"]), tuple(str(v).lower() for v in spec["values"]), action))
    decimal = str(data.get("decimal", "."))
    if decimal not in (".", ","):
        raise fail("decimal must be '.' or ','")
    delimiter = str(data.get("delimiter", ","))
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise fail("delimiter must be a single character")
    return Mapping(
        name=str(data.get("name") or (source.stem if source else "mapping")),
        kind=contract.kind,
        files=tuple(files),
        delimiter=delimiter,
        decimal=decimal,
        thousands=data.get("thousands"),
        encoding=str(data.get("encoding", "utf-8")),
        date_format=data.get("date_format"),
        rename=rename,
        defaults={str(k): str(v) for k, v in (data.get("defaults") or {}).items()},
        derive=derive,
        rules=tuple(rules),
        negative_amount_is_return=bool(rows.get("negative_amount_is_return", False)),
        source=source,
    )


def load_mapping(path: Path) -> Mapping:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    return parse_mapping(data, source=path)


def load_mappings(extra_dirs: list[Path] | None = None) -> list[Mapping]:
    """All mappings, user folders first so a user's mapping wins over a shipped one."""
    mappings: list[Mapping] = []
    for folder in [*(extra_dirs or []), SHIPPED_MAPPINGS_DIR]:
        if folder.is_dir():
            mappings.extend(load_mapping(p) for p in sorted(folder.glob("*.y*ml")))
    return mappings


def mapping_for(kind: str, file_name: str, mappings: list[Mapping]) -> Mapping:
    for m in mappings:
        if m.kind == kind and m.matches(file_name):
            return m
    return CANONICAL
