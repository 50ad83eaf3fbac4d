"""Turns string records into typed canonical rows, and says for each rejected row exactly why.

All checks are vectorised over a chunk of rows: the large data set has millions of them. A reason names
the column and the value as it was in the file, and the rule it broke.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smartmarket.config import DEFAULT_EARLIEST_DATE, DEFAULT_MAX_MONEY, Settings
from smartmarket.contracts import (
    DATE,
    DIAMOND_CLARITIES,
    DIAMOND_COLORS,
    DIAMOND_CUTS,
    FLOAT,
    INTEGER,
    MAX_EXACT_INTEGER,
    MAX_IDENTIFIER_CHARS,
    METALS,
    STRING,
    TENANT,
    TENANT_ID_FORM,
    TENANT_ID_PATTERN,
    TIMESTAMP,
    Column,
    Contract,
)
from smartmarket.ingest import melt
from smartmarket.ingest.mapping import Mapping, RowRule
from smartmarket.ingest.rules import rule_hits

# Allowed slack for "in the future": files are often written in another time zone than ours.
FUTURE_SLACK = pd.Timedelta(days=1)
# Control, format (zero-width, bidi), line/paragraph separator and private-use characters: invisible or
# unprintable in an id, and a way to make two ids look equal while they differ.
_INVISIBLE = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}]"
_NUMBER_SYNTAX = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
_ESCAPE = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ue000-\uf8ff]")


@dataclass(frozen=True)
class Limits:
    """What a plausible value is, for this run: fixed per run so every file is judged alike."""

    now: datetime
    tenants: frozenset[str] | None = None  # allow-list (lower-case); None = every tenant
    max_money: float = DEFAULT_MAX_MONEY
    earliest_date: date = DEFAULT_EARLIEST_DATE

    @classmethod
    def for_run(cls, settings: Settings, now: datetime, tenants: frozenset[str] | None) -> Limits:
        allowed = frozenset(t.strip().lower() for t in tenants) if tenants is not None else None
        return cls(now, allowed, settings.max_money, settings.earliest_date)


@dataclass
class ColumnPlan:
    """How a file's header lines up with the contract (decided once per file)."""

    source_for: dict[str, str]  # canonical column -> source header name (or a melted column)
    missing_required: list[str]
    extra: list[str]  # source headers the contract does not know, kept in _extra_columns
    notes: list[str] = field(default_factory=list)
    rule_sources: dict[RowRule, str] = field(default_factory=dict)  # row rule -> the column it reads
    missing_rule_columns: list[str] = field(default_factory=list)
    melted: list[str] = field(default_factory=list)  # headers of the wide columns present
    melt_wanted: bool = False

    @property
    def file_problem(self) -> str | None:
        """Why no row of the file can be loaded, or None."""
        problems = []
        if self.missing_required:
            problems.append(f"missing required column(s): {', '.join(self.missing_required)}")
        if self.melt_wanted and not self.melted:
            problems.append("none of the mapping's melt.columns are in the file")
        if self.missing_rule_columns:
            problems.append(f"mapping rule column(s) not in the file: {', '.join(self.missing_rule_columns)}")
        return "; ".join(problems) or None

    @property
    def usable(self) -> bool:
        return self.file_problem is None


def plan_columns(header: list[str], contract: Contract, mapping: Mapping) -> ColumnPlan:
    by_lower = {h.lower(): h for h in header}

    def find(name: str) -> str | None:
        return name if name in header else by_lower.get(name.lower())

    source_for: dict[str, str] = {}
    for src, canonical in mapping.rename.items():
        found = find(src)
        if found is not None:
            source_for[canonical] = found
    melted: list[str] = []
    notes: list[str] = []
    if mapping.melt:
        melted = [h for h in map(find, mapping.melt.columns) if h is not None]
        absent = [c for c in mapping.melt.columns if find(c) is None]
        if melted:
            source_for[mapping.melt.names_to] = melt.NAME
            source_for[mapping.melt.values_to] = melt.VALUE
            notes.append(f"melted column(s) {', '.join(melted)} into {mapping.melt.names_to} / "
                         f"{mapping.melt.values_to}: one record per row and column")
        if absent and melted:
            notes.append(f"melt column(s) not in the file: {', '.join(absent)}")
    for name in contract.names:
        if name not in source_for:
            found = find(name)
            if found is not None and found not in melted:
                source_for[name] = found
    rule_sources: dict[RowRule, str] = {}
    missing_rules: list[str] = []
    for rule in mapping.rules:
        src = find(rule.column) or source_for.get(rule.column)
        if src is None:
            missing_rules.append(f"{rule.column} (rows.{rule.section})")
        else:
            rule_sources[rule] = src
    provided = set(source_for) | set(mapping.defaults) | set(mapping.derive)
    missing = [c for c in contract.required_names if c not in provided]
    used = set(source_for.values()) | set(rule_sources.values()) | set(melted)
    extra = [h for h in header if h not in used and h]
    if extra:
        notes.append(f"extra column(s) kept in _extra_columns: {', '.join(extra)}")
    if missing and extra:
        notes.append(f"renamed column? missing {', '.join(missing)} while {', '.join(extra)} is unexpected")
    return ColumnPlan(source_for, missing, extra, notes, rule_sources, missing_rules, melted,
                      mapping.melt is not None)


@dataclass
class TypedChunk:
    rows: pd.DataFrame  # canonical typed columns (+ _row_number), rows that passed
    rejected: pd.DataFrame  # _row_number, _reason, _raw_record


Message = str | Callable[[np.ndarray], pd.Series]


class _Reasons:
    def __init__(self, n: int):
        self.values = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray | pd.Series, message: Message) -> None:
        """Record `message` for the rows in `mask`; a callable gets the mask and builds only those messages."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        msg = message if isinstance(message, str) else np.asarray(message(mask), dtype=object)
        current = self.values[mask]
        sep = np.where(current == "", "", "; ")
        self.values[mask] = current + sep + msg

    @property
    def bad(self) -> np.ndarray:
        return self.values != ""


def _show(values: pd.Series) -> pd.Series:
    """Values quoted for a message: short, and with invisible characters written as escapes."""
    short = values.astype(str).str.slice(0, 40)
    return "'" + short.str.replace(_ESCAPE, lambda m: f"\\u{ord(m.group()):04x}", regex=True) + "'"


def _number_text(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if abs(x) < 1e15 else f"{x:g}"


def _arrow(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype=object), type=pa.string())


def _pandas(array: pa.Array, like: pd.Series) -> pd.Series:
    return pd.Series(array.to_numpy(zero_copy_only=False), index=like.index, dtype=object)


def _strip(values: pd.Series) -> pd.Series:
    """str.strip for a whole column in Arrow's C++ kernels (pandas' .str runs a Python loop per value)."""
    return _pandas(pc.utf8_trim_whitespace(_arrow(values)), values)


def _clean(text: pd.Series, steps: tuple[str, ...]) -> pd.Series:
    """A mapping's per-column clean-up (values are always trimmed first)."""
    if not steps:
        return text
    arr = _arrow(text)
    for step in steps:
        if step == "strip_dot_zero":  # 13085.0 -> 13085: an id a spreadsheet stored as a float
            arr = pc.replace_substring_regex(arr, pattern=r"^(-?\d+)\.0+$", replacement=r"\1")
        elif step == "upper":
            arr = pc.utf8_upper(arr)
        elif step == "lower":
            arr = pc.utf8_lower(arr)
    return _pandas(arr, text)


def _parse_number(text: pd.Series, mapping: Mapping) -> pd.Series:
    if mapping.thousands:
        text = text.str.replace(mapping.thousands, "", regex=False)
    if mapping.decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    # Always float64: an integer beyond 64 bits parses as a (huge) float here and is reported, where
    # an int64 conversion would raise and abort the whole kind.
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _parse_datetime(text: pd.Series, mapping: Mapping, typed_source: bool) -> pd.Series:
    if not mapping.date_format:
        return pd.to_datetime(text, format="ISO8601", errors="coerce")
    value = pd.to_datetime(text, format=mapping.date_format, errors="coerce")
    if typed_source:
        # Excel/Parquet date cells arrive as ISO text from the reader; text cells follow date_format.
        missing = value.isna() & (text != "")
        if missing.any():
            value = value.where(~missing, pd.to_datetime(text.where(missing, ""), format="ISO8601",
                                                         errors="coerce"))
    return value


def _python_date(text: str, fmt: str | None) -> datetime | None:
    """A date pandas could not hold (before 1677 or after 2262): parsed so the reason can say so."""
    try:
        return datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    except ValueError:
        return None


def type_chunk(frame: pd.DataFrame, row_numbers: np.ndarray, contract: Contract, mapping: Mapping,
               plan: ColumnPlan, limits: Limits, typed_source: bool = False) -> TypedChunk:
    """Type and validate one chunk of string rows whose columns are the file's header (or melted records)."""
    n = len(frame)
    reasons = _Reasons(n)
    out: dict[str, pd.Series] = {}
    for col in contract.columns:
        src = plan.source_for.get(col.name)
        raw = frame[src] if src is not None else pd.Series([""] * n, index=frame.index, dtype=object)
        text = _clean(_strip(raw), mapping.clean.get(col.name, ()))
        blank = (text == "").to_numpy()
        default = mapping.defaults.get(col.name, col.default)
        if default is not None and blank.any():
            text = text.where(~blank, default)
            raw = raw.where(~blank, default)
            blank = (text == "").to_numpy()
        if col.name in mapping.derive:
            out[col.name] = text  # filled after the other columns are typed
            continue
        if col.type == STRING:
            value = text.where(~blank, None)
        elif col.type in (INTEGER, FLOAT):
            value = _number_column(col, text, raw, blank, mapping, limits, reasons)
        else:
            value = _date_column(col, text, raw, blank, mapping, typed_source, limits, reasons)
        if col.required:
            reasons.add(blank, f"{col.name} is empty")
        out[col.name] = value

    typed = pd.DataFrame(out, index=frame.index)
    _derive(typed, contract, mapping, row_numbers, reasons)
    _identifiers(typed, contract, reasons)
    _business_rules(typed, contract, limits, reasons)
    _row_rules(typed, frame, mapping, plan, reasons)

    bad = reasons.bad
    reason = reasons.values[bad]
    if melt.is_melted(frame):
        reason = reason + " (melted column " + frame[melt.HEADER].to_numpy(dtype=object)[bad] + ")"
    rejected = pd.DataFrame({"_row_number": row_numbers[bad], "_reason": reason,
                             "_raw_record": melt.raw_records(frame[bad])})
    good = typed[~bad].copy()
    good["_row_number"] = row_numbers[~bad]
    if plan.extra:
        extras = frame.loc[~bad, plan.extra]
        good["_extra_columns"] = melt.raw_records(extras)
    else:
        good["_extra_columns"] = None
    return TypedChunk(good, rejected)


def _number_column(col: Column, text: pd.Series, raw: pd.Series, blank: np.ndarray, mapping: Mapping,
                   limits: Limits, reasons: _Reasons) -> pd.Series:
    value = _parse_number(text, mapping)
    factor = mapping.scale.get(col.name)
    if factor is not None:
        value = value * factor
    v = value.to_numpy()
    finite = np.isfinite(v)
    not_number = ~blank & np.isnan(v)
    if not_number.any():
        # "1e400" is a number too large for a double: pandas reads it as NaN, the reason should say why
        overflow = text[not_number].str.fullmatch(_NUMBER_SYNTAX).fillna(False).to_numpy(dtype=bool)
        not_number[not_number] = ~overflow
    too_large = ~blank & ~finite & ~not_number
    kind = "an integer" if col.type == INTEGER else "a number"
    reasons.add(not_number, lambda m: col.name + " " + _show(raw[m]) + f" is not {kind}")
    reasons.add(too_large, lambda m: col.name + " " + _show(raw[m]) + " is too large to be a number")
    ok = ~blank & finite
    magnitude = np.abs(np.where(finite, v, 0.0))
    scaled = f" (x {factor:g} = " if factor is not None else ""

    def shown(m: np.ndarray) -> pd.Series:
        s = _show(raw[m])
        return s + scaled + pd.Series(v[m], index=raw[m].index).map("{:g}".format) + ")" if scaled else s

    if col.type == INTEGER:
        fractional = ok & (np.mod(np.where(finite, v, 0.0), 1) != 0)
        limit = col.max_abs or MAX_EXACT_INTEGER
        out_of_range = ok & ~fractional & (magnitude > limit)
        reasons.add(fractional, lambda m: col.name + " " + shown(m) + " is not a whole number")
        allowed = (f"is outside the plausible range -{limit:,}..{limit:,}" if col.max_abs
                   else "is too large for an integer column")
        reasons.add(out_of_range, lambda m: col.name + " " + shown(m) + " " + allowed)
        bad = not_number | too_large | fractional | out_of_range
        return value.where(~bad).round().astype("Int64")
    bad = not_number | too_large
    if col.money:
        beyond = ok & (magnitude > limits.max_money)
        reasons.add(beyond, lambda m: col.name + " " + shown(m) + " is beyond the plausible money bound "
                    f"{_number_text(limits.max_money)} (SMARTMARKET_MAX_MONEY)")
        bad |= beyond
    return value.where(~bad).astype("float64")


def _date_column(col: Column, text: pd.Series, raw: pd.Series, blank: np.ndarray, mapping: Mapping,
                 typed_source: bool, limits: Limits, reasons: _Reasons) -> pd.Series:
    value = _parse_datetime(text, mapping, typed_source)
    bad = ~blank & value.isna().to_numpy()
    if bad.any():
        fmt = mapping.date_format
        parsed = [_python_date(t, fmt) or (_python_date(t, None) if typed_source else None) for t in text[bad]]
        early = np.zeros(len(text), dtype=bool)
        late = np.zeros(len(text), dtype=bool)
        latest = limits.now.replace(tzinfo=None) + FUTURE_SLACK
        early[bad] = [p is not None and p.date() < limits.earliest_date for p in parsed]
        late[bad] = [p is not None and p.replace(tzinfo=None) > latest for p in parsed]
        hint = f"expected {fmt}" if fmt else "expected ISO YYYY-MM-DD[ HH:MM:SS]"
        reasons.add(early, lambda m: col.name + " " + _show(raw[m]) + " is before the earliest plausible date "
                    f"{limits.earliest_date.isoformat()} (SMARTMARKET_EARLIEST_DATE)")
        reasons.add(late, lambda m: col.name + " " + _show(raw[m]) + " is in the future")
        reasons.add(bad & ~early & ~late,
                    lambda m: col.name + " " + _show(raw[m]) + f" is not a valid date ({hint})")
    if col.type == DATE:
        value = value.dt.normalize()
    return value


def _derive(typed: pd.DataFrame, contract: Contract, mapping: Mapping, row_numbers: np.ndarray,
            reasons: _Reasons) -> None:
    for name, how in mapping.derive.items():
        col = contract.column(name)
        if how == "amount_over_quantity":
            qty = typed["quantity"].astype("float64")
            derived = (typed["amount"].abs() / qty.abs()).round(4)
            zero = (qty == 0).fillna(False).to_numpy()
            reasons.add(zero, f"{name} cannot be derived: quantity is 0")
            reasons.add(derived.isna().to_numpy() & ~zero, f"{name} cannot be derived: amount or quantity is missing")
            typed[name] = derived.astype("float64")
        else:
            template: str = how["template"]
            context = typed.assign(_row_number=row_numbers)
            values = []
            for rec in context.to_dict("records"):
                try:
                    values.append(template.format(**rec))
                except (KeyError, ValueError, TypeError, IndexError, AttributeError):
                    values.append(None)  # reported below as a row the template cannot build
            series = pd.Series(values, index=typed.index, dtype=object)
            reasons.add(series.isna().to_numpy(), f"{name} cannot be derived from template {template!r}")
            typed[name] = series if col.type == STRING else series.astype("float64")


def _identifiers(typed: pd.DataFrame, contract: Contract, reasons: _Reasons) -> None:
    """Ids have one allowed form (README "Identifiers"); a tenant id is stored lower-case."""
    for col in contract.columns:
        if col.identifier is None:
            continue
        values = typed[col.name]
        arr = _arrow(values)
        if col.identifier == TENANT:
            arr = pc.utf8_lower(arr)
            typed[col.name] = values = _pandas(arr, values).where(values.notna(), None)
            ok = pc.match_substring_regex(arr, pattern=TENANT_ID_PATTERN).fill_null(True).to_numpy(
                zero_copy_only=False)
            reasons.add(~ok, lambda m: col.name + " " + _show(values[m]) + f" is not a tenant id ({TENANT_ID_FORM})")
            continue
        invisible = pc.match_substring_regex(arr, pattern=_INVISIBLE).fill_null(False).to_numpy(
            zero_copy_only=False)
        length = pc.utf8_length(arr).fill_null(0).to_numpy(zero_copy_only=False)
        too_long = ~invisible & (length > MAX_IDENTIFIER_CHARS)
        reasons.add(invisible, lambda m: col.name + " " + _show(values[m]) +
                    " contains a control or invisible character")
        reasons.add(too_long, lambda m: col.name + " " + _show(values[m]) + " is " +
                    pd.Series(length[m]).map("{:,}".format).to_numpy(dtype=object) +
                    f" characters long (at most {MAX_IDENTIFIER_CHARS})")


def _business_rules(typed: pd.DataFrame, contract: Contract, limits: Limits, reasons: _Reasons) -> None:
    tenants = limits.tenants
    if "tenant_id" in typed and tenants is not None:
        unknown = typed["tenant_id"].notna() & ~typed["tenant_id"].isin(tenants)
        reasons.add(unknown, lambda m: "unknown tenant " + _show(typed["tenant_id"][m]) +
                    f" (known: {', '.join(sorted(tenants))})")
    latest = pd.Timestamp(limits.now).tz_localize(None) + FUTURE_SLACK
    earliest = pd.Timestamp(limits.earliest_date)
    for col in contract.columns:
        if col.type in (DATE, TIMESTAMP) and col.name in typed:
            values = typed[col.name]
            fmt = "%Y-%m-%d" if col.type == DATE else "%Y-%m-%d %H:%M:%S"
            reasons.add((values > latest).fillna(False),
                        lambda m: col.name + " " + values[m].dt.strftime(fmt) + " is in the future")
            reasons.add((values < earliest).fillna(False),
                        lambda m: col.name + " " + values[m].dt.strftime(fmt) + " is before the earliest "
                        f"plausible date {limits.earliest_date.isoformat()} (SMARTMARKET_EARLIEST_DATE)")

    def rule(mask: pd.Series, name: str, text: str) -> None:
        reasons.add(mask.fillna(False), lambda m: name + " " + typed[name][m].astype(str) + " " + text)

    kind = contract.kind
    if kind == "transactions":
        q = typed["quantity"]
        reasons.add((q == 0).fillna(False), "quantity is 0 (neither a sale nor a return)")
        rule(typed["unit_price"] < 0, "unit_price", "is negative")
        missing_amount = typed["amount"].isna()
        derived = (q.astype("float64") * typed["unit_price"]).round(2)
        # A product of two plausible numbers can still be implausible (or overflow to infinity).
        implausible = (missing_amount & derived.notna() & ~(derived.abs() <= limits.max_money)).to_numpy()
        reasons.add(implausible, lambda m: "amount " + derived[m].map("{:g}".format) +
                    " (quantity x unit_price) is beyond the plausible money bound "
                    f"{_number_text(limits.max_money)} (SMARTMARKET_MAX_MONEY)")
        typed["amount"] = typed["amount"].where(~missing_amount, derived.where(~implausible))
    elif kind == "inventory":
        for name in ("on_hand", "unit_cost", "lead_time_days"):
            rule(typed[name] < 0, name, "is negative")
    elif kind == "metal_prices":
        rule(typed["price_per_gram"] <= 0, "price_per_gram", "is not positive")
        metal = typed["metal"].str.lower()
        typed["metal"] = metal
        reasons.add(metal.notna() & ~metal.isin(METALS),
                    lambda m: "metal " + _show(metal[m]) + f" is not one of {', '.join(METALS)}")
        rule((typed["purity"] <= 0) | (typed["purity"] > 1000), "purity", "is outside 1..1000 (parts per thousand)")
    elif kind == "diamond_prices":
        for name in ("carat", "price"):
            rule(typed[name] <= 0, name, "is not positive")
        for name, allowed in (("cut", DIAMOND_CUTS), ("color", DIAMOND_COLORS), ("clarity", DIAMOND_CLARITIES)):
            reasons.add(typed[name].notna() & ~typed[name].isin(allowed),
                        lambda m: name + " " + _show(typed[name][m]) + f" is not one of {', '.join(allowed)}")


def _row_rules(typed: pd.DataFrame, frame: pd.DataFrame, mapping: Mapping, plan: ColumnPlan,
               reasons: _Reasons) -> None:
    """The mapping's return rules (negate quantity and amount) and quarantining rules."""
    is_return = pd.Series(False, index=typed.index)
    if mapping.negative_amount_is_return and "quantity" in typed:
        is_return |= ((typed["amount"] < 0) | (typed["quantity"] < 0)).fillna(False)
    for rule in mapping.rules_for("return", "quarantine"):
        src = plan.rule_sources[rule]
        hit = rule_hits(frame, src, rule)
        if rule.action == "return":
            is_return |= hit
        else:
            reasons.add(hit, lambda m: f"{rule.section} line ({rule.column} = " + _show(frame[src][m]) +
                        f"), quarantined by the mapping rule {rule.describe()}")
    if is_return.any():
        typed.loc[is_return, "quantity"] = -typed.loc[is_return, "quantity"].abs()
        typed.loc[is_return, "amount"] = -typed.loc[is_return, "amount"].abs()
