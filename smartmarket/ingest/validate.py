"""Turns string records into typed canonical rows, and says for each rejected row exactly why.

All checks are vectorised over a chunk of rows: the large data set has millions of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smartmarket.contracts import (
    DATE,
    DIAMOND_CLARITIES,
    DIAMOND_COLORS,
    DIAMOND_CUTS,
    FLOAT,
    INTEGER,
    METALS,
    STRING,
    TIMESTAMP,
    Contract,
)
from smartmarket.ingest.mapping import Mapping

# Allowed slack for "in the future": files are often written in another time zone than ours.
FUTURE_SLACK = pd.Timedelta(days=1)


@dataclass
class ColumnPlan:
    """How a file's header lines up with the contract (decided once per file)."""

    source_for: dict[str, str]  # canonical column -> source header name
    missing_required: list[str]
    extra: list[str]  # source headers the contract does not know, kept in _extra_columns
    notes: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.missing_required


def plan_columns(header: list[str], contract: Contract, mapping: Mapping) -> ColumnPlan:
    source_for: dict[str, str] = {}
    by_lower = {h.lower(): h for h in header}
    for src, canonical in mapping.rename.items():
        if src in header:
            source_for[canonical] = src
        elif src.lower() in by_lower:
            source_for[canonical] = by_lower[src.lower()]
    for name in contract.names:
        if name not in source_for and name.lower() in by_lower:
            source_for[name] = by_lower[name.lower()]
    provided = set(source_for) | set(mapping.defaults) | set(mapping.derive)
    missing = [c for c in contract.required_names if c not in provided]
    used = set(source_for.values()) | {r.column for r in mapping.rules}
    extra = [h for h in header if h not in used and h]
    notes: list[str] = []
    if extra:
        notes.append(f"extra column(s) kept in _extra_columns: {', '.join(extra)}")
    if missing and extra:
        notes.append(f"renamed column? missing {', '.join(missing)} while {', '.join(extra)} is unexpected")
    return ColumnPlan(source_for, missing, extra, notes)


@dataclass
class TypedChunk:
    rows: pd.DataFrame  # canonical typed columns (+ _row_number), rows that passed
    rejected: pd.DataFrame  # _row_number, _reason, _raw_record


class _Reasons:
    def __init__(self, n: int):
        self.values = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray | pd.Series, message: str | Callable[[], pd.Series]) -> None:
        """Record `message` for the rows in `mask`; a callable message is only built when some row failed."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if callable(message):
            message = message()
        msg = message if isinstance(message, str) else np.asarray(message, dtype=object)[mask]
        current = self.values[mask]
        sep = np.where(current == "", "", "; ")
        self.values[mask] = current + sep + msg

    @property
    def bad(self) -> np.ndarray:
        return self.values != ""


def _show(values: pd.Series) -> pd.Series:
    # Keep messages short and printable even for a 1 MB field.
    return "'" + values.astype(str).str.slice(0, 40) + "'"


def _strip(values: pd.Series) -> pd.Series:
    """str.strip for a whole column in Arrow's C++ kernels (pandas' .str runs a Python loop per value)."""
    trimmed = pc.utf8_trim_whitespace(pa.array(values.to_numpy(dtype=object), type=pa.string()))
    return pd.Series(trimmed.to_numpy(zero_copy_only=False), index=values.index, dtype=object)


def _parse_number(text: pd.Series, mapping: Mapping) -> pd.Series:
    if mapping.thousands:
        text = text.str.replace(mapping.thousands, "", regex=False)
    if mapping.decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce")


def _parse_datetime(text: pd.Series, mapping: Mapping) -> pd.Series:
    if mapping.date_format:
        return pd.to_datetime(text, format=mapping.date_format, errors="coerce")
    return pd.to_datetime(text, format="ISO8601", errors="coerce")


def type_chunk(frame: pd.DataFrame, row_numbers: np.ndarray, contract: Contract, mapping: Mapping,
               plan: ColumnPlan, now: datetime, tenants: frozenset[str] | None) -> TypedChunk:
    """Type and validate one chunk of string rows whose columns are the file's header."""
    n = len(frame)
    reasons = _Reasons(n)
    out: dict[str, pd.Series] = {}
    date_hint = f"expected {mapping.date_format}" if mapping.date_format else "expected ISO YYYY-MM-DD[ HH:MM:SS]"
    for col in contract.columns:
        src = plan.source_for.get(col.name)
        raw = frame[src] if src is not None else pd.Series([""] * n, index=frame.index, dtype=object)
        text = _strip(raw)
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
            value = _parse_number(text, mapping)
            bad = ~blank & (value.isna() | ~np.isfinite(value.fillna(0)))
            kind = "an integer" if col.type == INTEGER else "a number"
            reasons.add(bad, lambda: col.name + " " + _show(raw) + f" is not {kind}")
            if col.type == INTEGER:
                fractional = ~bad & ~blank & (value.fillna(0) % 1 != 0)
                reasons.add(fractional, lambda: col.name + " " + _show(raw) + " is not a whole number")
                value = value.where(~(bad | fractional)).round().astype("Int64")
            else:
                value = value.where(~bad).astype("float64")
        else:
            value = _parse_datetime(text, mapping)
            bad = ~blank & value.isna()
            reasons.add(bad, lambda: col.name + " " + _show(raw) + f" is not a valid date ({date_hint})")
            if col.type == DATE:
                value = value.dt.normalize()
        if col.required and col.name not in mapping.derive:
            reasons.add(blank, f"{col.name} is empty")
        out[col.name] = value

    typed = pd.DataFrame(out, index=frame.index)
    _derive(typed, frame, contract, mapping, plan, row_numbers, reasons)
    _business_rules(typed, contract, now, tenants, reasons)
    _row_rules(typed, frame, mapping, reasons)

    bad = reasons.bad
    rejected = pd.DataFrame({
        "_row_number": row_numbers[bad],
        "_reason": reasons.values[bad],
        "_raw_record": [json.dumps(dict(zip(frame.columns, r, strict=True)), ensure_ascii=False)
                        for r in frame[bad].itertuples(index=False, name=None)],
    })
    good = typed[~bad].copy()
    good["_row_number"] = row_numbers[~bad]
    if plan.extra:
        extras = frame.loc[~bad, plan.extra]
        good["_extra_columns"] = [json.dumps(dict(zip(plan.extra, r, strict=True)), ensure_ascii=False)
                                  for r in extras.itertuples(index=False, name=None)]
    else:
        good["_extra_columns"] = None
    return TypedChunk(good, rejected)


def _derive(typed: pd.DataFrame, frame: pd.DataFrame, contract: Contract, mapping: Mapping,
            plan: ColumnPlan, row_numbers: np.ndarray, reasons: _Reasons) -> None:
    for name, how in mapping.derive.items():
        col = contract.column(name)
        if how == "amount_over_quantity":
            qty = typed["quantity"].astype("float64")
            derived = (typed["amount"].abs() / qty.abs()).round(4)
            reasons.add((qty == 0).fillna(False).to_numpy(), f"{name} cannot be derived: quantity is 0")
            typed[name] = derived.astype("float64")
        else:
            template: str = how["template"]
            context = typed.assign(_row_number=row_numbers)
            values = []
            for rec in context.to_dict("records"):
                try:
                    values.append(template.format(**rec))
                except (KeyError, ValueError, TypeError):
                    values.append(None)  # reported below as a row the template cannot build
            series = pd.Series(values, index=typed.index, dtype=object)
            reasons.add(series.isna().to_numpy(), f"{name} cannot be derived from template {template!r}")
            typed[name] = series if col.type == STRING else series.astype("float64")


def _business_rules(typed: pd.DataFrame, contract: Contract, now: datetime,
                    tenants: frozenset[str] | None, reasons: _Reasons) -> None:
    if "tenant_id" in typed and tenants is not None:
        unknown = typed["tenant_id"].notna() & ~typed["tenant_id"].isin(tenants)
        reasons.add(unknown, lambda: "unknown tenant " + _show(typed["tenant_id"]) +
                    f" (known: {', '.join(sorted(tenants))})")
    limit = pd.Timestamp(now).tz_localize(None) + FUTURE_SLACK
    for col in contract.columns:
        if col.type in (DATE, TIMESTAMP) and col.name in typed:
            future = (typed[col.name] > limit).fillna(False)
            reasons.add(future, lambda: col.name + " " + typed[col.name].astype(str) + " is in the future")

    kind = contract.kind
    if kind == "transactions":
        q = typed["quantity"]
        reasons.add((q == 0).fillna(False), "quantity is 0 (neither a sale nor a return)")
        reasons.add((typed["unit_price"] < 0).fillna(False),
                    lambda: "unit_price " + typed["unit_price"].astype(str) + " is negative")
        missing_amount = typed["amount"].isna()
        typed["amount"] = typed["amount"].where(
            ~missing_amount, (q.astype("float64") * typed["unit_price"]).round(2))
    elif kind == "inventory":
        for name in ("on_hand", "unit_cost", "lead_time_days"):
            reasons.add((typed[name] < 0).fillna(False), lambda: name + " " + typed[name].astype(str) + " is negative")
    elif kind == "metal_prices":
        reasons.add((typed["price_per_gram"] <= 0).fillna(False),
                    lambda: "price_per_gram " + typed["price_per_gram"].astype(str) + " is not positive")
        metal = typed["metal"].str.lower()
        typed["metal"] = metal
        reasons.add(metal.notna() & ~metal.isin(METALS),
                    lambda: "metal " + _show(typed["metal"]) + f" is not one of {', '.join(METALS)}")
        reasons.add(((typed["purity"] <= 0) | (typed["purity"] > 1000)).fillna(False),
                    lambda: "purity " + typed["purity"].astype(str) + " is outside 1..1000 (parts per thousand)")
    elif kind == "diamond_prices":
        for name in ("carat", "price"):
            reasons.add((typed[name] <= 0).fillna(False),
                        lambda: name + " " + typed[name].astype(str) + " is not positive")
        for name, allowed in (("cut", DIAMOND_CUTS), ("color", DIAMOND_COLORS), ("clarity", DIAMOND_CLARITIES)):
            reasons.add(typed[name].notna() & ~typed[name].isin(allowed),
                        lambda: name + " " + _show(typed[name]) + f" is not one of {', '.join(allowed)}")


def _row_rules(typed: pd.DataFrame, frame: pd.DataFrame, mapping: Mapping, reasons: _Reasons) -> None:
    """Apply the mapping's return/cancellation rules (transactions only)."""
    if "quantity" not in typed:
        return
    is_return = pd.Series(False, index=typed.index)
    if mapping.negative_amount_is_return:
        is_return |= ((typed["amount"] < 0) | (typed["quantity"] < 0)).fillna(False)
    for rule in mapping.rules:
        if rule.column not in frame:
            reasons.add(np.ones(len(frame), dtype=bool), f"mapping rule column {rule.column!r} is not in the file")
            continue
        hit = frame[rule.column].str.strip().str.lower().isin(rule.values)
        if rule.action == "return":
            is_return |= hit
        else:
            reasons.add(hit.to_numpy(), lambda: f"cancelled line ({rule.column} = " + frame[rule.column].astype(str) +
                        "), skipped by the mapping's cancellation rule")
    if is_return.any():
        typed.loc[is_return, "quantity"] = -typed.loc[is_return, "quantity"].abs()
        typed.loc[is_return, "amount"] = -typed.loc[is_return, "amount"].abs()
