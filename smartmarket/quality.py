"""What the data-quality asset checks evaluate, as plain functions over the warehouse.

Raw checks look at the latest ingestion batch (the rows of the most recent ingestion run), so a
check answers "is today's data fit to use", and compare it with the batch before it.
"""

from __future__ import annotations

import os
from datetime import datetime

import pandas as pd

from expectations.runner import Failure, SuiteResult
from smartmarket.config import Settings
from smartmarket.ingest.loader import LOG_TABLE
from smartmarket.warehouse import Warehouse

DEFAULT_MAX_QUARANTINE_SHARE = 0.01


def max_quarantine_share() -> float:
    raw = os.environ.get("SMARTMARKET_MAX_QUARANTINE_SHARE", "").strip()
    return float(raw) if raw else DEFAULT_MAX_QUARANTINE_SHARE


def latest_batch_time(wh: Warehouse, kind: str) -> datetime | None:
    if not wh.table_exists(LOG_TABLE):
        return None
    value = wh.scalar(f"select max(ingested_at) from {LOG_TABLE} where kind = ?", (kind,))
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def latest_batch(wh: Warehouse, kind: str) -> tuple[pd.DataFrame, datetime | None]:
    """The rows the most recent ingestion run of `kind` loaded (may be empty)."""
    at = latest_batch_time(wh, kind)
    if at is None or not wh.table_exists(f"raw.{kind}"):
        return pd.DataFrame(), at
    return wh.query_df(f"select * from raw.{kind} where _ingested_at = ?", (pd.Timestamp(at).to_pydatetime(),)), at


def quarantine_share(wh: Warehouse, kind: str, at: datetime | None, limit: float) -> SuiteResult:
    """Share of the latest batch's rows that ingestion rejected, against `limit`."""
    suite = f"quarantine_rate:{kind}"
    if at is None:
        return SuiteResult(suite, True, 0, 1, 0)
    literal = pd.Timestamp(at).isoformat(sep=" ")
    log = wh.query_df(
        f"select source_file, status, rows_read, rows_quarantined, message from {LOG_TABLE} "
        "where kind = ? and ingested_at = ? order by source_file", (kind, pd.Timestamp(at).to_pydatetime()))
    read = int(log["rows_read"].sum())
    quarantined = int(log["rows_quarantined"].sum())
    rejected = log[log["status"] == "rejected"]
    share = quarantined / read if read else 0.0
    failures = []
    if share > limit:
        failures.append(Failure(
            expectation="quarantine_share_at_most", columns=[], severity="critical",
            message=f"{quarantined:,} of {read:,} rows ({share:.2%}) were quarantined, above the "
                    f"{limit:.2%} allowed; see quarantine.{kind} where _ingested_at = '{literal}'",
            unexpected_count=quarantined, unexpected_percent=100 * share, element_count=read,
            examples=log.loc[log["rows_quarantined"] > 0, "source_file"].head(5).tolist()))
    if not rejected.empty:
        failures.append(Failure(
            expectation="no_rejected_files", columns=[], severity="critical",
            message=f"{len(rejected)} file(s) rejected whole: " + "; ".join(rejected["message"].head(5)),
            unexpected_count=len(rejected), examples=rejected["source_file"].head(5).tolist()))
    return SuiteResult(suite, not failures, read, 2, len(failures), failures)


def quarantine_query(kind: str, at: datetime | None) -> str:
    """The SQL that shows a batch's quarantined rows, for people following a check to the bad data."""
    where = f" where _ingested_at = '{pd.Timestamp(at).isoformat(sep=' ')}'" if at is not None else ""
    return f"select * from quarantine.{kind}{where} order by _source_file, _row_number"


def raw_check_results(settings: Settings, kind: str, now: datetime | None = None) -> dict[str, SuiteResult]:
    """Every check on the latest batch of `kind`: GX suite, quarantine share, shift, references."""
    from expectations.runner import RAW_SUITES, validate_frame
    from expectations.shift import compare_to_previous, load_previous_profile, profile_frame, save_profile

    wh = Warehouse(settings)
    batch, at = latest_batch(wh, kind)
    results = {"quarantine_rate": quarantine_share(wh, kind, at, max_quarantine_share())}
    if batch.empty:
        empty = SuiteResult(RAW_SUITES[kind], True, 0, 0, 0)
        return {"gx_suite": empty, **results, "row_count_shift": empty}
    results["gx_suite"] = validate_frame(batch, RAW_SUITES[kind], now=now)
    profiles = settings.data_dir / "quality" / "profiles"
    current = profile_frame(batch, kind)
    # The previous profile is the previous batch's: only a new batch is compared and then remembered.
    batch_id = pd.Timestamp(at).isoformat()
    stored = load_previous_profile(profiles, kind)
    # Re-checking the same batch (a re-run with no new files) compares it with the batch before it.
    previous = stored.get("previous") if stored and stored.get("batch_id") == batch_id else stored
    if previous:
        previous = {k: v for k, v in previous.items() if k != "previous"}
    results["row_count_shift"] = compare_to_previous(current, previous, name=kind)
    save_profile(profiles, kind, {**current, "batch_id": batch_id, "previous": previous})
    if kind == "transactions" and wh.table_exists("raw.inventory"):
        from expectations.relations import check_references

        inventory = wh.query_df("select tenant_id, product_id from raw.inventory")
        results["product_references"] = check_references(batch, inventory)
    return results


def table_check_result(settings: Settings, table: str, suite: str, now: datetime | None = None) -> SuiteResult:
    from expectations.runner import validate_frame

    wh = Warehouse(settings)
    return validate_frame(wh.query_df(f"select * from {table}"), suite, now=now)
