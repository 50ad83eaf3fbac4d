"""Applies the JSON expectation suites to pandas frames and returns plain, JSON-ready results.

Public API (what Dagster asset checks call):
    load_suite(name) -> gx.ExpectationSuite
    validate_frame(df, suite_name, now=None) -> SuiteResult
    validate_table(settings, table, suite_name, now=None) -> SuiteResult (a warehouse table)
    SuiteResult (.success, .blocking, .to_dict(), .summary()) / Failure dataclasses
    SUITE_NAMES, RAW_SUITES (landing kind -> suite name)
Siblings with the same result type: expectations.relations.check_references,
expectations.quarantine.quarantine_rule and expectations.shift.compare_to_previous (+ profile_frame,
save_profile, load_previous_profile); expectations.raw_batch decides on them per tenant.

great_expectations is imported lazily (it costs ~7 s), so importing this module is cheap; the GX
context and parsed suites are built once per process and reused.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from expectations.derived import prepare_frame

if TYPE_CHECKING:
    import great_expectations as gx

    from smartmarket.config import Settings

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SUITE_NAMES: tuple[str, ...] = (
    "raw_transactions", "raw_inventory", "raw_metal_prices", "raw_diamond_prices",
    "customer_rfm", "fct_daily_product_sales", "inventory_position", "demand_forecasts",
    "customer_propensity_scores",
)
RAW_SUITES: dict[str, str] = {kind: f"raw_{kind}" for kind in
                              ("transactions", "inventory", "metal_prices", "diamond_prices")}
MAX_EXAMPLES = 5
DEFAULT_CHUNK_ROWS = 1_000_000


@dataclass
class Failure:
    """One failed expectation, in words and numbers."""

    expectation: str  # GX expectation type, or a check name for checks outside GX
    columns: list[str]
    severity: str  # "critical" or "warning"
    message: str
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None  # rows the rule looked at (after its row condition, if any)
    examples: list[Any] = field(default_factory=list)  # up to 5 unexpected values
    example_rows: list[dict[str, Any]] = field(default_factory=list)  # up to 5 offending rows
    observed_value: Any = None  # for table/aggregate expectations (column set, type, row count)
    why: str | None = None  # the suite's reason for the rule
    kwargs: dict[str, Any] = field(default_factory=dict)
    # the tenant whose rows broke the rule; None = the whole batch (or a kind without tenants)
    tenant_id: str | None = None


@dataclass
class SuiteResult:
    suite: str
    success: bool
    evaluated_rows: int
    n_expectations: int
    n_failed: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        """True when a critical expectation failed (warnings alone do not block)."""
        return any(f.severity == "critical" for f in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({**asdict(self), "blocking": self.blocking})

    def summary(self) -> str:
        """One line per failure, for logs and Dagster check descriptions."""
        head = (f"{self.suite}: {'passed' if self.success else 'FAILED'} "
                f"({self.n_failed}/{self.n_expectations} expectations failed on {self.evaluated_rows} rows)")
        return "\n".join([head, *(f"- [{f.severity}] {f.message}" for f in self.failures)])


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas/datetime values to JSON types (NaN/NaT -> None)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


# -- GX context and suites, one per process --------------------------------------------------------
_lock = threading.Lock()
_validate_lock = threading.Lock()
_engine: dict[str, Any] = {}
_suites: dict[str, Any] = {}


def _gx() -> Any:
    # GX must never phone home: the platform runs offline and in CI
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations

    return great_expectations


def _batch_definition() -> Any:
    with _lock:
        if "batch_definition" not in _engine:
            gx_mod = _gx()
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx_mod.get_context(mode="ephemeral")
            # tqdm bars per validation would flood Dagster's captured stderr
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            asset = context.data_sources.add_pandas("smartmarket_frames").add_dataframe_asset("frame")
            _engine["context"] = context
            _engine["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole_frame")
        return _engine["batch_definition"]


def suite_path(name: str) -> Path:
    available = {p.stem for p in SUITES_DIR.glob("*.json")}
    if name not in available:
        known = ", ".join(sorted(available))
        raise ValueError(f"unknown expectation suite {name!r}; expected one of {known}")
    return SUITES_DIR / f"{name}.json"


def load_suite(name: str) -> gx.ExpectationSuite:
    """A fresh ExpectationSuite built from `expectations/suites/<name>.json`."""
    gx_mod = _gx()
    data = json.loads(suite_path(name).read_text())
    return gx_mod.ExpectationSuite(**data)


def _cached_suite(name: str) -> Any:
    with _lock:
        suite = _suites.get(name)
    if suite is None:
        suite = load_suite(name)
        with _lock:
            _suites.setdefault(name, suite)
    return suite


# -- validation ------------------------------------------------------------------------------------
def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    for key in ("column_list", "column_set"):
        if key in kwargs:
            return list(kwargs[key])
    return [kwargs[k] for k in ("column_A", "column_B") if k in kwargs]


def _rule_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in ("batch_id", "column", "column_list", "column_set")}


def _message(expectation: str, columns: list[str], result: dict[str, Any], kwargs: dict[str, Any],
             examples: list[Any], n_rows: int, exception: str | None) -> str:
    cols = ", ".join(columns) or "table"
    if exception:
        return f"{expectation} on {cols} could not run: {exception}"
    if result.get("unexpected_count") is not None:
        pct = result.get("unexpected_percent") or 0.0
        rule = ", ".join(f"{k}={v}" for k, v in _rule_kwargs(kwargs).items() if k != "row_condition")
        shown = ", ".join(repr(e) for e in examples)
        return (f"{cols}: {result['unexpected_count']} of {result.get('element_count', n_rows)} rows "
                f"({pct:.3g}%) break {expectation}({rule}); e.g. {shown}")
    details = result.get("details")
    return f"{cols}: {expectation} failed, observed {result.get('observed_value')!r}" + (
        f" ({details})" if details else "")


def _failure(res: Any, frame: pd.DataFrame, original_columns: list[str]) -> Failure:
    config = res.expectation_config
    kwargs = dict(config.kwargs)
    expectation = config.type
    columns = _columns_of(kwargs)
    result = dict(res.result or {})
    exception = None
    info = res.exception_info or {}
    if info.get("raised_exception"):
        exception = info.get("exception_message")
    else:  # exceptions on metrics come back keyed by metric id
        for value in info.values() if isinstance(info, dict) else ():
            if isinstance(value, dict) and value.get("raised_exception"):
                exception = value.get("exception_message")
                break
    examples = list(result.get("partial_unexpected_list") or [])[:MAX_EXAMPLES]
    rows: list[dict[str, Any]] = []
    index = list(result.get("partial_unexpected_index_list") or [])[:MAX_EXAMPLES]
    if index:
        picked = frame.loc[[i for i in index if i in frame.index], original_columns]
        rows = [{"_index": int(i), **r} for i, r in zip(picked.index, picked.to_dict("records"), strict=True)]
    severity = getattr(config.severity, "value", config.severity) or "critical"
    return Failure(
        expectation=expectation,
        columns=columns,
        severity=str(severity),
        message=_message(expectation, columns, result, kwargs, examples, len(frame), exception),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=result.get("unexpected_percent"),
        element_count=result.get("element_count"),
        examples=examples,
        example_rows=rows,
        observed_value=result.get("observed_value"),
        why=(config.meta or {}).get("why"),
        kwargs=_rule_kwargs({k: (v.dict() if hasattr(v, "dict") else v) for k, v in kwargs.items()}),
    )


# Expectations whose verdict depends on rows in other chunks: chunked runs apply them once to the whole
# frame (restricted to their columns, which keeps that pass cheap).
_WHOLE_FRAME_EXPECTATIONS = frozenset({
    "expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique",
    "expect_table_row_count_to_be_between", "expect_table_row_count_to_equal",
})


def _run(suite: Any, frame: pd.DataFrame) -> list[Any]:
    batch_definition = _batch_definition()
    # one shared ephemeral context: GX keeps per-context state while validating, so threads take turns
    with _validate_lock:
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        validation = batch.validate(
            suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES,
                           "include_unexpected_rows": False},
        )
    return list(validation.results)


def _split_suite(suite_name: str) -> tuple[Any, Any, list[str]]:
    """(whole-frame part, per-chunk part, columns the whole-frame part reads), cached per process."""
    key = f"{suite_name}#split"
    with _lock:
        cached = _suites.get(key)
    if cached is None:
        gx_mod = _gx()
        suite = _cached_suite(suite_name)
        whole = [e for e in suite.expectations if e.expectation_type in _WHOLE_FRAME_EXPECTATIONS]
        rest = [e for e in suite.expectations if e.expectation_type not in _WHOLE_FRAME_EXPECTATIONS]
        columns: list[str] = []
        for e in whole:
            columns += [c for c in _columns_of(e.configuration.kwargs) if c not in columns]
        cached = (gx_mod.ExpectationSuite(name=f"{suite_name}__whole",
                                          expectations=[e.configuration for e in whole]),
                  gx_mod.ExpectationSuite(name=f"{suite_name}__chunk",
                                          expectations=[e.configuration for e in rest]),
                  columns)
        with _lock:
            _suites.setdefault(key, cached)
    return cached


def _merge(failures: list[Failure], n_rows: int) -> list[Failure]:
    """Fold the per-chunk failures of one expectation into one: counts add up, examples come first-seen."""
    merged: dict[tuple[str, tuple[str, ...], str], Failure] = {}
    for f in failures:
        key = (f.expectation, tuple(f.columns), json.dumps(_jsonable(f.kwargs), sort_keys=True))
        into = merged.get(key)
        if into is None:
            merged[key] = f
            continue
        if into.unexpected_count is not None and f.unexpected_count is not None:
            into.unexpected_count += f.unexpected_count
            into.element_count = (into.element_count or 0) + (f.element_count or 0)
            into.examples = (into.examples + f.examples)[:MAX_EXAMPLES]
            into.example_rows = (into.example_rows + f.example_rows)[:MAX_EXAMPLES]
    for f in merged.values():
        if f.unexpected_count is not None and f.element_count:
            f.unexpected_percent = 100.0 * f.unexpected_count / f.element_count
            f.message = _message(f.expectation, f.columns,
                                 {"unexpected_count": f.unexpected_count, "element_count": f.element_count,
                                  "unexpected_percent": f.unexpected_percent},
                                 f.kwargs, f.examples, n_rows, None)
    return list(merged.values())


def validate_frame(df: pd.DataFrame, suite_name: str, now: dt.datetime | None = None,
                   chunk_rows: int | None = DEFAULT_CHUNK_ROWS) -> SuiteResult:
    """Run suite `suite_name` on `df` (not modified) and return what failed, with examples.

    `now` (naive UTC) is the validation time the "not in the future" rules compare against.
    Frames longer than `chunk_rows` are validated in chunks (GX's pandas engine costs about twice the
    CPU per row on a 5M-row frame than on 1M-row chunks: bench/results/validation.json), with the
    uniqueness and row-count expectations applied once to the whole frame; counts are summed across
    chunks. `chunk_rows=None` validates in one piece.
    """
    suite = _cached_suite(suite_name)
    frame = prepare_frame(df, suite_name, now)
    original_columns = [c for c in frame.columns if not str(c).startswith("_chk_")]
    if chunk_rows is None or len(frame) <= chunk_rows:
        results = _run(suite, frame)
        failures = [_failure(r, frame, original_columns) for r in results if not r.success]
    else:
        whole, per_chunk, whole_columns = _split_suite(suite_name)
        present = [c for c in whole_columns if c in frame.columns]
        failures = [_failure(r, frame, original_columns) for r in _run(whole, frame[present]) if not r.success]
        chunk_failures: list[Failure] = []
        for begin in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[begin:begin + chunk_rows]
            chunk_failures += [_failure(r, chunk, original_columns) for r in _run(per_chunk, chunk)
                               if not r.success]
        failures += _merge(chunk_failures, len(frame))
    # GX lists errored expectations first; a stable order (critical first) makes results diff cleanly
    failures.sort(key=lambda f: (f.severity != "critical", f.expectation, f.columns))
    return SuiteResult(
        suite=suite_name,
        success=not failures,
        evaluated_rows=len(frame),
        n_expectations=len(suite.expectations),
        n_failed=len(failures),
        failures=_jsonable_failures(failures),
    )


def _jsonable_failures(failures: list[Failure]) -> list[Failure]:
    for f in failures:
        f.examples = _jsonable(f.examples)
        f.example_rows = _jsonable(f.example_rows)
        f.observed_value = _jsonable(f.observed_value)
        f.kwargs = _jsonable(f.kwargs)
    return failures


def failure_for(result: SuiteResult, expectation: str, column: str | None = None) -> Failure | None:
    """The failure of `expectation` (on `column`, when given) in `result`, or None."""
    for f in result.failures:
        if f.expectation == expectation and (column is None or column in f.columns):
            return f
    return None


def validate_table(settings: Settings, table: str, suite_name: str, now: dt.datetime | None = None) -> SuiteResult:
    """Run suite `suite_name` on every row of the warehouse table `table` (a mart or a score table)."""
    from smartmarket.warehouse import Warehouse

    return validate_frame(Warehouse(settings).query_df(f"select * from {table}"), suite_name, now=now)
