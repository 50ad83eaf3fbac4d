"""Declarative mappings that bring foreign file layouts (till exports, public data sets) into a contract.

A mapping is a YAML file. Every key is documented with an example in the README ("Mapping files: other
layouts without code"); the shipped ones in `smartmarket/ingest/mappings/` are worked examples. Mappings
are looked up in `<data dir>/mappings/` (the user's, first) and in the shipped folder; the first whose
`files` glob matches a landing file's name applies.
"""

from __future__ import annotations

import ast
import fnmatch
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smartmarket.contracts import FLOAT, INTEGER, TENANT_ID_FORM, TENANT_ID_PATTERN, Contract, contract_for

SHIPPED_MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"

_TOP_KEYS = {"name", "description", "kind", "files", "delimiter", "decimal", "thousands", "encoding",
             "date_format", "sheets", "rename", "defaults", "derive", "scale", "clean", "melt", "natural_key",
             "rows"}
_RULE_KINDS = ("returns", "cancellations", "skip")
_ACTIONS = ("return", "skip", "quarantine")
_DEFAULT_ACTION = {"returns": "return", "cancellations": "skip", "skip": "skip"}
_MATCHERS = ("values", "prefix", "pattern", "blank")
_DERIVATIONS = ("amount_over_quantity",)
CLEAN_OPS = ("trim", "strip_dot_zero", "upper", "lower")
ALL_SHEETS = "*"


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the field to fix."""


@dataclass(frozen=True)
class RowRule:
    """Rows whose `column` matches: negated (return), skipped by the mapping (skip) or quarantined."""

    section: str  # "returns", "cancellations" or "skip": where the rule sits in the mapping
    column: str  # a source header, or a contract column the mapping fills
    action: str  # "return" | "skip" | "quarantine"
    values: tuple[str, ...] = ()  # exact values (compared case-insensitively, after trimming)
    prefixes: tuple[str, ...] = ()  # value starts with one of these, case-insensitive
    pattern: str | None = None  # RE2 regular expression searched in the trimmed value
    blank: bool = False  # the value is empty after trimming

    def describe(self) -> str:
        """How the rule reads in the accounting (`skipped` counts) and in quarantine reasons."""
        parts = []
        if self.values:
            shown = ", ".join(self.values[:8]) + (", ..." if len(self.values) > 8 else "")
            parts.append(f"{self.column} in [{shown}]")
        if self.prefixes:
            parts.append(f"{self.column} starts with {' or '.join(self.prefixes)}")
        if self.pattern:
            parts.append(f"{self.column} matches {self.pattern!r}")
        if self.blank:
            parts.append(f"{self.column} is blank")
        return f"rows.{self.section}: " + " or ".join(parts)


@dataclass(frozen=True)
class Melt:
    """A wide table: each listed column becomes its own record (one per source row and column)."""

    columns: dict[str, str]  # source header -> value for `names_to` (the header itself unless mapped)
    names_to: str  # contract column that receives the column's name (or its mapped value)
    values_to: str  # contract column that receives the cell


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
    sheets: tuple[str, ...] = ()  # Excel sheets to read; () = the first sheet, ("*",) = all of them
    rename: dict[str, str] = field(default_factory=dict)  # source header -> canonical column
    defaults: dict[str, str] = field(default_factory=dict)  # canonical column -> constant
    derive: dict[str, Any] = field(default_factory=dict)  # canonical column -> derivation
    scale: dict[str, float] = field(default_factory=dict)  # canonical column -> factor applied after parsing
    clean: dict[str, tuple[str, ...]] = field(default_factory=dict)  # canonical column -> clean-up steps
    melt: Melt | None = None
    natural_key: tuple[str, ...] = ()  # canonical columns that identify a row; () = content + occurrence
    rules: tuple[RowRule, ...] = ()
    negative_amount_is_return: bool = False
    source: Path | None = None

    def matches(self, file_name: str) -> bool:
        return any(fnmatch.fnmatch(file_name, pattern) for pattern in self.files)

    def rules_for(self, *actions: str) -> tuple[RowRule, ...]:
        return tuple(r for r in self.rules if r.action in actions)


CANONICAL = Mapping(name="canonical", kind="*", files=("*",))


def parse_mapping(data: dict[str, Any], source: Path | None = None) -> Mapping:
    """Check a mapping's YAML content against its contract; raise MappingError naming the field to fix."""
    where = str(source) if source else "mapping"

    def fail(msg: str) -> MappingError:
        return MappingError(f"{where}: {msg}")

    if not isinstance(data, dict):
        raise fail("expected a YAML mapping at the top level")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise fail(f"unknown key(s): {', '.join(sorted(map(str, unknown)))} (known: {', '.join(sorted(_TOP_KEYS))})")
    kind = data.get("kind")
    try:
        contract = contract_for(str(kind))
    except ValueError as exc:
        raise fail(f"kind: {exc}") from None
    files = data.get("files")
    if isinstance(files, str):
        files = [files]
    if not files or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise fail("'files' must be a glob or a list of globs, e.g. ['till_*.csv']")

    def section(key: str) -> dict[str, Any]:
        value = data.get(key) or {}
        if not isinstance(value, dict):
            raise fail(f"'{key}' must be a mapping of column -> value, got {type(value).__name__}")
        return value

    def in_contract(key: str, columns: list[str]) -> None:
        bad = sorted(c for c in columns if c not in contract.names)
        if bad:
            raise fail(f"{key}: column(s) {', '.join(bad)} are not in the {contract.kind} contract "
                       f"({', '.join(contract.names)})")

    rename = {str(k): str(v) for k, v in section("rename").items()}
    defaults = {str(k): _text(v) for k, v in section("defaults").items()}
    derive: dict[str, Any] = {str(k): v for k, v in section("derive").items()}
    in_contract("rename", list(rename.values()))
    in_contract("defaults", list(defaults))
    in_contract("derive", list(derive))
    for col, how in derive.items():
        if isinstance(how, dict) and set(how) == {"template"} and isinstance(how["template"], str):
            continue
        if how not in _DERIVATIONS:
            raise fail(f"derive.{col}: use one of {', '.join(_DERIVATIONS)} or {{template: '...'}}")
    if "tenant_id" in defaults:
        defaults["tenant_id"] = defaults["tenant_id"].strip().lower()
        if not re.fullmatch(TENANT_ID_PATTERN, defaults["tenant_id"]):
            raise fail(f"defaults.tenant_id: {defaults['tenant_id']!r} is not a tenant id ({TENANT_ID_FORM})")

    scale: dict[str, float] = {}
    for col, factor in section("scale").items():
        in_contract("scale", [str(col)])
        if contract.column(str(col)).type not in (INTEGER, FLOAT):
            raise fail(f"scale.{col}: only numeric columns can be scaled ({col} is {contract.column(col).type})")
        try:
            scale[str(col)] = _factor(factor)
        except ValueError as exc:
            raise fail(f"scale.{col}: {exc}") from None

    clean: dict[str, tuple[str, ...]] = {}
    for col, steps in section("clean").items():
        in_contract("clean", [str(col)])
        steps = [steps] if isinstance(steps, str) else steps
        if not isinstance(steps, list) or not steps or any(s not in CLEAN_OPS for s in steps):
            raise fail(f"clean.{col}: expected one or a list of {', '.join(CLEAN_OPS)}, got {steps!r}")
        clean[str(col)] = tuple(steps)

    melt = _parse_melt(data.get("melt"), contract, rename, defaults, derive, fail)

    natural_key = data.get("natural_key") or []
    natural_key = [natural_key] if isinstance(natural_key, str) else natural_key
    if not isinstance(natural_key, list) or not all(isinstance(c, str) for c in natural_key):
        raise fail("natural_key: expected a list of contract columns, e.g. [invoice_id, product_id]")
    in_contract("natural_key", natural_key)

    rows = data.get("rows") or {}
    if not isinstance(rows, dict):
        raise fail("'rows' must be a mapping with returns / cancellations / skip / negative_amount_is_return")
    rules: list[RowRule] = []
    for key, spec in rows.items():
        if key == "negative_amount_is_return":
            if not isinstance(spec, bool):
                raise fail("rows.negative_amount_is_return must be true or false")
            continue
        if key not in _RULE_KINDS:
            raise fail(f"rows.{key}: expected one of {', '.join(_RULE_KINDS)} or negative_amount_is_return")
        specs = spec if isinstance(spec, list) else [spec]
        for i, one in enumerate(specs):
            label = f"rows.{key}" + (f"[{i}]" if isinstance(spec, list) else "")
            rules.append(_parse_rule(key, one, label, melt, fail))
    if any(r.action == "return" for r in rules) and contract.kind != "transactions":
        raise fail("rows: action 'return' only applies to transactions (it negates quantity and amount)")

    decimal = str(data.get("decimal", "."))
    if decimal not in (".", ","):
        raise fail("decimal must be '.' or ','")
    thousands = data.get("thousands")
    if thousands is not None and (str(thousands) == decimal or len(str(thousands)) != 1):
        raise fail("thousands must be a single character other than the decimal mark")
    delimiter = str(data.get("delimiter", ","))
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise fail("delimiter must be a single character")
    date_format = data.get("date_format")
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
        raise fail(f"date_format: {date_format!r} is not a strptime format such as '%d/%m/%Y %H:%M'")
    sheets = data.get("sheets") or []
    sheets = [sheets] if isinstance(sheets, str) else sheets
    if not isinstance(sheets, list) or not all(isinstance(s, str) and s for s in sheets):
        raise fail("sheets: expected a sheet name, a list of sheet names, or '*' for every sheet")
    return Mapping(
        name=str(data.get("name") or (source.stem if source else "mapping")),
        kind=contract.kind,
        files=tuple(files),
        delimiter=delimiter,
        decimal=decimal,
        thousands=None if thousands is None else str(thousands),
        encoding=str(data.get("encoding", "utf-8")),
        date_format=date_format,
        sheets=(ALL_SHEETS,) if ALL_SHEETS in sheets else tuple(sheets),
        rename=rename,
        defaults=defaults,
        derive=derive,
        scale=scale,
        clean=clean,
        melt=melt,
        natural_key=tuple(natural_key),
        rules=tuple(rules),
        negative_amount_is_return=bool(rows.get("negative_amount_is_return", False)),
        source=source,
    )


def _text(value: Any) -> str:
    # YAML reads `purity: 999` as an int and `0.5` as a float; the contract types them again later.
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parse_melt(spec: Any, contract: Contract, rename: dict[str, str], defaults: dict[str, str],
                derive: dict[str, Any], fail: Callable[[str], MappingError]) -> Melt | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"columns", "names_to", "values_to"}:
        raise fail("melt: expected {columns: [...] or {header: value}, names_to: <column>, values_to: <column>}")
    columns = spec.get("columns")
    if isinstance(columns, list) and columns:
        columns = {str(c): str(c) for c in columns}
    elif isinstance(columns, dict) and columns:
        columns = {str(k): _text(v) for k, v in columns.items()}
    else:
        raise fail("melt.columns: list the wide columns, e.g. [USD, EUR, GBP] or {24K: 999, 22K: 916}")
    targets = {}
    for key in ("names_to", "values_to"):
        target = spec.get(key)
        if not isinstance(target, str) or target not in contract.names:
            raise fail(f"melt.{key}: {target!r} is not a column of the {contract.kind} contract "
                       f"({', '.join(contract.names)})")
        filled_elsewhere = [where for where, cols in (("rename", rename.values()), ("defaults", defaults),
                                                      ("derive", derive)) if target in cols]
        if filled_elsewhere:
            raise fail(f"melt.{key}: {target} is also filled by {', '.join(filled_elsewhere)}; keep one")
        targets[key] = target
    if targets["names_to"] == targets["values_to"]:
        raise fail("melt: names_to and values_to must be two different columns")
    clash = sorted(set(columns) & set(rename))
    if clash:
        raise fail(f"melt.columns: {', '.join(clash)} also renamed; a melted column is not renamed")
    return Melt(columns, targets["names_to"], targets["values_to"])


def _parse_rule(section: str, spec: Any, label: str, melt: Melt | None,
                fail: Callable[[str], MappingError]) -> RowRule:
    if not isinstance(spec, dict) or "column" not in spec:
        raise fail(f"{label} needs 'column' and one of {', '.join(_MATCHERS)}")
    unknown = set(spec) - {"column", "action", *_MATCHERS}
    if unknown:
        raise fail(f"{label}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                   f"(use column, action, {', '.join(_MATCHERS)})")
    if not any(spec.get(m) not in (None, [], "", False) for m in _MATCHERS):
        raise fail(f"{label} needs one of {', '.join(_MATCHERS)} to say which rows it applies to")
    action = spec.get("action", _DEFAULT_ACTION[section])
    allowed = ("skip",) if section == "skip" else _ACTIONS
    if action not in allowed:
        raise fail(f"{label}.action must be one of {', '.join(allowed)}, got {action!r}")
    column = str(spec["column"])
    if melt and column in melt.columns:
        raise fail(f"{label}.column: {column} is melted; refer to its cells as {melt.values_to}")

    def strings(key: str) -> tuple[str, ...]:
        value = spec.get(key) or []
        value = [value] if isinstance(value, str | int | float) else value
        if not isinstance(value, list):
            raise fail(f"{label}.{key}: expected a value or a list of values")
        return tuple(_text(v).strip() for v in value)

    pattern = spec.get("pattern")
    if pattern is not None:
        pattern = str(pattern)
        problem = _regex_problem(pattern)
        if problem:
            raise fail(f"{label}.pattern: {pattern!r} is not a valid regular expression: {problem}")
    blank = spec.get("blank", False)
    if not isinstance(blank, bool):
        raise fail(f"{label}.blank must be true or false")
    return RowRule(section, column, action, values=strings("values"), prefixes=strings("prefix"),
                   pattern=pattern, blank=blank)


def _regex_problem(pattern: str) -> str | None:
    """Rules run in Arrow's RE2 engine: compile the pattern there (no look-around, no back-references)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.match_substring_regex(pa.array([""]), pattern=pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return str(exc).splitlines()[0]
    return None


_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _factor(value: Any) -> float:
    """A scale factor: a number, or arithmetic on numbers such as "1/31.1034768" (no names, no calls)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        result = float(value)
    else:
        text = str(value)
        problem = f"{text!r} is not a number or an expression such as 1/31.1034768 (numbers and + - * / only)"
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            raise ValueError(problem) from None

        def evaluate(node: ast.AST) -> float:
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
                    and not isinstance(node.value, bool):
                return float(node.value)
            if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
                return _BINARY[type(node.op)](evaluate(node.left), evaluate(node.right))
            if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
                return _UNARY[type(node.op)](evaluate(node.operand))
            raise ValueError(problem)

        try:
            result = evaluate(tree.body)
        except ZeroDivisionError:
            raise ValueError(f"{text!r} divides by zero") from None
    if not math.isfinite(result) or result == 0:
        raise ValueError(f"{value!r} must be a finite, non-zero factor")
    return result


def load_mapping(path: Path) -> Mapping:
    try:
        # libyaml's loader when present: every ingestion run reads every mapping
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise MappingError(f"{path}: not UTF-8 text") from None
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
