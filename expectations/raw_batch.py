"""The raw checks on the latest ingestion batch of a kind, decided per tenant, and the holds they record.

    verdict = evaluate_raw_batch(settings, "transactions")
    verdict.checks["quarantine_rate"].passed / .severity / .summary / .result (tenant-tagged failures)
    verdict.held      # tenant -> reasons: this batch's rows of that tenant are held back from staging

The blocking rules (the GX suite, the quarantine share, product references for sales) are evaluated
per tenant. A tenant whose part of the batch breaks one is *held*: recorded in `raw._held_batches`
(smartmarket.held_batches), and the dbt staging models leave its rows of that batch out, so the other
tenants flow on. The blocking checks then judge the data that flows on:

- no tenant held: each check passes, or warns (WARN severity, never blocking);
- some tenants held: the blocking checks pass on the released part (their description names the
  held tenants) and `tenants_held` (ERROR, not blocking) fails naming each held tenant and why;
- every tenant held (or nothing of the batch can flow on): the checks that found the problems fail
  with ERROR severity, so Dagster skips everything downstream of the kind, as for any blocking check.

A problem that cannot be pinned on one tenant (a file nobody can read, a suite failure that no single
tenant's rows reproduce) holds the whole batch. Kinds without tenants (metal and diamond prices) are
decided for the batch as a whole (`tenant_id = '*'`). A hold that was released after review
(`smartmarket release`) is not held again: its failures are reported as warnings. A tenant of the
latest batch that passes on re-evaluation (its inventory arrived, a threshold was raised) is
released automatically. The same data always gives the same decision.

The GX suite runs once on the whole batch; only when it fails is each tenant's part validated on its
own to attribute the failure. That is exact for these suites: row rules follow their rows, and every
uniqueness key includes the tenant or is unique per source row.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd

from expectations.runner import Failure, SuiteResult
from smartmarket.config import Settings
from smartmarket.held_batches import (
    Hold,
    ensure_held_table,
    has_tenants,
    holds,
    record_holds,
    release,
)
from smartmarket.warehouse import Warehouse

BLOCKING_RULES = ("gx_suite", "quarantine_rate", "product_references")
AUTO_RELEASER = "smartmarket checks (passes on re-evaluation)"


@dataclass
class CheckOutcome:
    """One Dagster check's verdict: `severity` is how a failure counts ("error" or "warning")."""

    name: str
    passed: bool
    severity: str
    summary: str
    result: SuiteResult  # what the rule found, on every tenant of the batch (failures carry tenant_id)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # shown as markdown tables
    queries: dict[str, str] = field(default_factory=dict)  # SQL that lists the rows behind a finding
    lists: dict[str, list[str]] = field(default_factory=dict)  # e.g. tenants the rule does not apply to


@dataclass
class RawVerdict:
    kind: str
    batch_ingested_at: dt.datetime | None
    tenants: list[str]  # tenants with rows (loaded or quarantined) in the batch; ['*'] without tenants
    checks: dict[str, CheckOutcome]
    held: dict[str, str]  # tenant -> reasons, held back from staging (not released)
    released: dict[str, Hold]  # tenant -> its released hold on this batch
    earlier_holds: list[Hold]  # holds on older batches of this kind that are still not released

    @property
    def blocked(self) -> bool:
        """Nothing of the batch flows on: the blocking checks fail."""
        return any(not c.passed and c.severity == "error" for n, c in self.checks.items() if n in BLOCKING_RULES)


def _prefixed(failures: list[Failure], tenant: str) -> list[Failure]:
    return [replace(f, tenant_id=tenant, message=f"tenant {tenant}: {f.message}") for f in failures]


def _say(progress: Callable[[str], None] | None, message: str) -> None:
    if progress:
        progress(message)


def gx_rule(batch: pd.DataFrame, kind: str, now: dt.datetime | None,
            progress: Callable[[str], None] | None = None) -> SuiteResult:
    """The raw GX suite on the batch; when it fails critically, each failure tagged with its tenant."""
    from expectations.runner import RAW_SUITES, validate_frame
    from smartmarket.quality import tenant_of

    suite = RAW_SUITES[kind]
    if batch.empty:
        return SuiteResult(suite, True, 0, 0, 0)
    started = time.perf_counter()
    whole = validate_frame(batch, suite, now=now)
    _say(progress, f"{suite}: {len(batch):,} rows validated in {time.perf_counter() - started:.1f} s, "
                   f"{whole.n_failed} expectation(s) failed")
    if not whole.blocking or not has_tenants(kind):
        return whole
    tenant = tenant_of(batch, kind)
    failures: list[Failure] = []
    names = sorted(tenant.unique())
    started = time.perf_counter()
    for i, t in enumerate(names, 1):
        failures += _prefixed(validate_frame(batch[tenant == t], suite, now=now).failures, t)
        elapsed = time.perf_counter() - started
        _say(progress, f"{suite}: attributing the failure per tenant [{i}/{len(names)}] {t}, "
                       f"{elapsed:.1f} s, about {elapsed / i * (len(names) - i):.0f} s left")
    attributed = {(f.expectation, tuple(f.columns)) for f in failures if f.severity == "critical"}
    for f in whole.failures:
        if f.severity == "critical" and (f.expectation, tuple(f.columns)) not in attributed:
            failures.append(replace(f, message=f"{f.message} (no single tenant's rows break it: the whole "
                                                "batch is held)"))
    failures.sort(key=lambda f: (f.severity != "critical", f.tenant_id or "", f.expectation, f.columns))
    return SuiteResult(suite, False, whole.evaluated_rows, whole.n_expectations, len(failures), failures)


def shift_rule(settings: Settings, batch: pd.DataFrame, at: dt.datetime | None, kind: str) -> SuiteResult:
    """Row counts and distributions against the previous batch (warnings only: see expectations.shift)."""
    from expectations.runner import RAW_SUITES
    from expectations.shift import compare_to_previous, load_previous_profile, profile_frame, save_profile

    if batch.empty:
        return SuiteResult(RAW_SUITES[kind], True, 0, 0, 0)
    profiles = settings.data_dir / "quality" / "profiles"
    current = profile_frame(batch, kind)
    # The previous profile is the previous batch's: only a new batch is compared and then remembered.
    batch_id = pd.Timestamp(at).isoformat()
    stored = load_previous_profile(profiles, kind)
    # Re-checking the same batch (a re-run with no new files) compares it with the batch before it.
    previous = stored.get("previous") if stored and stored.get("batch_id") == batch_id else stored
    if previous:
        previous = {k: v for k, v in previous.items() if k != "previous"}
    result = compare_to_previous(current, previous, name=kind)
    save_profile(profiles, kind, {**current, "batch_id": batch_id, "previous": previous})
    return result


def _failing_tenants(rules: dict[str, SuiteResult], tenants: list[str]) -> dict[str, list[str]]:
    """tenant -> the critical findings against it ('check: message'); a batch-wide finding hits all."""
    reasons: dict[str, list[str]] = defaultdict(list)
    for name, result in rules.items():
        for f in result.failures:
            if f.severity != "critical":
                continue
            for t in ([f.tenant_id] if f.tenant_id is not None else tenants):
                reasons[t].append(f"{name}: {f.message.removeprefix(f'tenant {t}: ')}")
    return dict(reasons)


def _outcome(name: str, result: SuiteResult, held: dict[str, str], released: dict[str, Hold],
             blocked: bool, extra: dict | None = None) -> CheckOutcome:
    """How one blocking rule's findings count, given the hold decision (see the module docstring)."""
    extra = extra or {}
    notes: list[str] = extra.get("notes", [])
    more = {"tables": extra.get("tables", {}), "queries": extra.get("queries", {}), "lists": extra.get("lists", {})}
    critical = [f for f in result.failures if f.severity == "critical"]
    if blocked and critical:
        summary = "\n".join([f"{result.suite}: FAILED, nothing of this batch flows on "
                             f"({len(critical)} blocking finding(s); downstream assets are skipped)",
                             *notes, *(f"- [{f.severity}] {f.message}" for f in result.failures)])
        return CheckOutcome(name, False, "error", summary, result, **more)
    lines = []
    warnings = [f for f in result.failures if f.severity != "critical" and f.tenant_id not in held]
    # not blocked, so a batch-wide finding (tenant None) hit every tenant and some were released
    accepted = [f for f in critical if f.tenant_id in released or f.tenant_id is None]
    held_here = sorted({f.tenant_id for f in critical if f.tenant_id in held})
    if held_here:
        lines.append(f"- held back (see tenants_held): {', '.join(held_here)}; this check passed on the rest")
    for f in accepted:
        h = released.get(f.tenant_id)
        by = f"released by {h.released_by} at {h.released_at:%Y-%m-%d %H:%M}" if h else "released after review"
        lines.append(f"- [accepted] {f.message} ({by})")
    lines += [f"- [{f.severity}] {f.message}" for f in warnings]
    passed = not warnings and not accepted
    head = f"{result.suite}: {'passed' if passed else 'passed with warnings'} ({result.evaluated_rows:,} rows)"
    return CheckOutcome(name, passed, "warning", "\n".join([head, *notes, *lines]), result, **more)


def _held_outcome(kind: str, at: dt.datetime | None, tenants: list[str], held: dict[str, str],
                  recorded: list[Hold], released: dict[str, Hold], earlier: list[Hold],
                  rows: pd.Series) -> CheckOutcome:
    held_at = {h.tenant_id: h.held_at for h in recorded}
    table = pd.DataFrame([{"tenant_id": t, "rows_in_batch": int(rows.get(t, 0)), "held_at": held_at.get(t),
                           "reasons": reasons} for t, reasons in sorted(held.items())])
    when = f"{pd.Timestamp(at):%Y-%m-%d %H:%M:%S}" if at is not None else "-"
    if held:
        head = (f"tenants_held: FAILED, {len(held)} of {len(tenants)} tenant(s) of the {kind} batch ingested at {when} "
                "held back (their rows stay in raw but not in staging): " + ", ".join(sorted(held)))
        lines = [f"- {t}: {reasons}" for t, reasons in sorted(held.items())]
        lines.append(f"- after review: smartmarket release --kind {kind} --tenant <tenant>; the next run includes "
                     "the rows")
    else:
        head = f"tenants_held: passed, no tenant of the {kind} batch ingested at {when} is held back"
        lines = []
    lines += [f"- released: {t} by {h.released_by} at {h.released_at:%Y-%m-%d %H:%M}"
              for t, h in sorted(released.items())]
    if earlier:
        lines.append("- still held from earlier batches: " + ", ".join(
            f"{h.tenant_id} ({pd.Timestamp(h.batch_ingested_at):%Y-%m-%d %H:%M:%S})" for h in earlier[:20]))
    failures = [Failure(expectation="tenant_not_held", columns=["tenant_id"], severity="critical",
                        message=f"tenant {t}: {reasons}", unexpected_count=int(rows.get(t, 0)), tenant_id=t)
                for t, reasons in sorted(held.items())]
    result = SuiteResult(f"tenants_held:{kind}", not held, int(rows.sum()), len(tenants), len(failures), failures)
    tables = {"held_tenants": table} if held else {}
    return CheckOutcome("tenants_held", not held, "error", "\n".join([head, *lines]), result, tables)


def evaluate_raw_batch(settings: Settings, kind: str, now: dt.datetime | None = None,
                       progress: Callable[[str], None] | None = None) -> RawVerdict:
    """Every raw check on the latest batch of `kind`, the hold decision, recorded in raw._held_batches.

    `now` (naive UTC) is the validation time of the "not in the future" rules; `progress` gets a line
    per step for long batches.
    """
    from expectations.quarantine import quarantine_rule
    from smartmarket.quality import (
        batch_files,
        latest_batch,
        loaded_rows_per_tenant,
        max_quarantine_share,
        quarantine_query,
        quarantined_rows,
        tenant_of,
    )

    wh = Warehouse(settings)
    ensure_held_table(wh)
    batch, at = latest_batch(wh, kind)
    _say(progress, f"{kind}: latest batch {at} has {len(batch):,} loaded rows")
    loaded = loaded_rows_per_tenant(wh, kind, at)
    q_query = quarantine_query(kind, at)
    q_result, q_table = quarantine_rule(kind, batch_files(wh, kind, at), loaded, quarantined_rows(settings, kind, at),
                                        max_quarantine_share())
    rules: dict[str, SuiteResult] = {"quarantine_rate": q_result}
    extra: dict[str, dict] = {"quarantine_rate": {"tables": {"tenants": q_table}, "queries": {
        "quarantined_rows_query": q_query}}}
    if kind == "transactions":
        rules["product_references"], extra["product_references"] = _references(wh, batch, at)
    rules["gx_suite"] = gx_rule(batch, kind, now, progress)
    tenants = sorted(set(tenant_of(batch, kind)) | set(q_table["tenant_id"].astype(str)))

    recorded = holds(wh, kind, at) if at is not None else []
    released = {h.tenant_id: h for h in recorded if h.released}
    failing = _failing_tenants(rules, tenants)
    held = {t: "; ".join(r) for t, r in sorted(failing.items()) if t not in released}
    if at is not None:
        record_holds(wh, kind, at, held)
        stale = [h.tenant_id for h in recorded if not h.released and h.tenant_id not in held]
        for t in stale:
            released[t] = release(wh, kind, tenant_id=t, batch_ingested_at=at, released_by=AUTO_RELEASER)[0]
        recorded = holds(wh, kind, at)
    flowing = [t for t in tenants if t not in held]
    unaccepted = any(f.severity == "critical" and f.tenant_id not in released
                     for r in rules.values() for f in r.failures)
    blocked = unaccepted and not flowing
    earlier = [h for h in holds(wh, kind, include_released=False) if at is None or h.batch_ingested_at != at]

    checks: dict[str, CheckOutcome] = {}
    for name, result in rules.items():
        checks[name] = _outcome(name, result, held, released, blocked, extra.get(name))
    shift = shift_rule(settings, batch, at, kind)
    checks["row_count_shift"] = CheckOutcome("row_count_shift", shift.success, "warning", shift.summary(), shift)
    if has_tenants(kind):
        rows = q_table.set_index("tenant_id")["loaded"] if len(q_table) else pd.Series(dtype="int64")
        checks["tenants_held"] = _held_outcome(kind, at, tenants, held, recorded, released, earlier, rows)
    return RawVerdict(kind, at, tenants, checks, held, released, earlier)


def _references(wh: Warehouse, batch: pd.DataFrame, at: dt.datetime | None) -> tuple[SuiteResult, dict]:
    from expectations.relations import check_references
    from smartmarket.quality import (
        inventory_products,
        inventory_tenants,
        max_unknown_product_share,
        unknown_products_query,
    )

    query = {"unknown_products_query": unknown_products_query(at)}
    if batch.empty:
        return SuiteResult("references:transactions->inventory", True, 0, 0, 0), {"queries": query}
    sending = inventory_tenants(wh)
    sold_by = sorted(set(batch["tenant_id"].dropna().astype(str)))
    refs = check_references(batch, inventory_products(wh, [t for t in sold_by if t in sending]),
                            max_unknown_product_share(), inventory_tenants=sending)
    notes = []
    if refs.not_applicable:
        notes.append(f"- does not apply to {', '.join(refs.not_applicable)}: no inventory feed from "
                     f"{'this tenant' if len(refs.not_applicable) == 1 else 'these tenants'} yet (it applies once "
                     "a tenant sends inventory)")
    table = refs.per_tenant.assign(unknown_share=refs.per_tenant["unknown_share"].round(6))
    return refs.result, {"tables": {"tenants": table}, "queries": query, "notes": notes,
                         "lists": {"not_applicable_tenants": refs.not_applicable}}
