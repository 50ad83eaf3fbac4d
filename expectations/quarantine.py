"""The quarantine rule on one ingestion batch, per tenant: how much of each tenant's rows ingestion rejected.

Plain pandas over counts the caller reads from the warehouse (smartmarket.quality); returns the
SuiteResult shape of the other checks, each failure tagged with the tenant it is about.

- A tenant whose quarantined rows exceed `limit` of its rows in the batch (loaded + quarantined)
  fails (critical).
- A file rejected whole: when its rows were kept in the quarantine (a missing required column) it
  fails the tenants those rows belong to; when nothing of it could be read (binary content, an
  unreadable header) nobody can tell whose it is, so it fails the whole batch.
- A file with no data rows at all (0 bytes, or a header only) is a warning: an empty feed is not
  bad data, and a shop that has nothing to report that day is normal.
- Quarantined lines that name no tenant (a line with the wrong number of fields has no column
  names) count against their file's tenant when the file has one; otherwise they are counted for
  the whole batch, which fails only when they alone exceed `limit` of the batch.
"""

from __future__ import annotations

import pandas as pd

from expectations.runner import MAX_EXAMPLES, Failure, SuiteResult

# What the reader says when a file has no bytes at all (smartmarket.ingest.reader.FileRejected).
_EMPTY_FILE_MESSAGE = "file is empty"


def _attribute(loaded: pd.DataFrame, quarantined: pd.DataFrame) -> pd.Series:
    """The tenant of each quarantined row; rows that name none get their file's tenant when it has one."""
    tenant = quarantined["tenant_id"].astype(object)
    unknown = tenant.isna()
    if not unknown.any():
        return tenant
    named = pd.concat([loaded[["_source_file", "tenant_id"]],
                       quarantined.loc[~unknown, ["_source_file", "tenant_id"]]]).drop_duplicates()
    per_file = named.groupby("_source_file")["tenant_id"].agg(lambda s: s.iloc[0] if len(s) == 1 else None)
    return tenant.where(~unknown, quarantined["_source_file"].map(per_file))


def quarantine_rule(kind: str, files: pd.DataFrame, loaded: pd.DataFrame, quarantined: pd.DataFrame,
                    limit: float) -> tuple[SuiteResult, pd.DataFrame]:
    """(result, per-tenant table: tenant_id, loaded, quarantined, share) for one batch.

    `files`: the batch's ingestion log rows; `loaded`: (_source_file, tenant_id, n_rows) of loaded
    rows; `quarantined`: one row per quarantined row (_source_file, tenant_id or None).
    """
    suite = f"quarantine_rate:{kind}"
    quarantined = quarantined.assign(tenant_id=_attribute(loaded, quarantined))
    counts = pd.DataFrame({
        "loaded": loaded.groupby("tenant_id")["n_rows"].sum(),
        "quarantined": quarantined.dropna(subset=["tenant_id"]).groupby("tenant_id").size(),
    }).fillna(0).astype("int64").rename_axis("tenant_id").reset_index()
    counts["share"] = (counts["quarantined"] / (counts["loaded"] + counts["quarantined"])).fillna(0.0)
    failures: list[Failure] = []
    for t in counts[counts["share"] > limit].itertuples(index=False):
        total = t.loaded + t.quarantined
        failures.append(Failure(
            expectation="quarantine_share_at_most", columns=["tenant_id"], severity="critical",
            message=(f"tenant {t.tenant_id}: {t.quarantined:,} of {total:,} rows ({t.share:.2%}) were quarantined, "
                     f"above the {limit:.2%} allowed"),
            unexpected_count=int(t.quarantined), unexpected_percent=100 * float(t.share), element_count=int(total),
            examples=sorted(quarantined.loc[quarantined["tenant_id"] == t.tenant_id, "_source_file"].unique()
                            )[:MAX_EXAMPLES],
            kwargs={"max_share": limit}, tenant_id=str(t.tenant_id)))

    unattributed = quarantined[quarantined["tenant_id"].isna()]
    if len(unattributed):
        batch_rows = int(counts["loaded"].sum() + len(quarantined))
        share = len(unattributed) / batch_rows
        over = share > limit
        failures.append(Failure(
            expectation="quarantine_share_at_most", columns=[], severity="critical" if over else "warning",
            message=(f"{len(unattributed):,} quarantined row(s) of {batch_rows:,} ({share:.2%}) name no tenant and "
                     "come from files with several tenants"
                     + (f", above the {limit:.2%} allowed: the whole batch is held" if over else "")),
            unexpected_count=len(unattributed), unexpected_percent=100 * share, element_count=batch_rows,
            examples=sorted(unattributed["_source_file"].unique())[:MAX_EXAMPLES], kwargs={"max_share": limit}))

    rejected = files[files["status"] == "rejected"]
    empty = files[(files["rows_read"] == 0) & ((files["status"] == "loaded")
                                                | files["message"].fillna("").str.contains(_EMPTY_FILE_MESSAGE))]
    if len(empty):
        names = [f"{r.source_file} ({'empty file' if r.status == 'rejected' else 'header only'})"
                 for r in empty.itertuples(index=False)]
        failures.append(Failure(
            expectation="files_have_rows", columns=[], severity="warning",
            message=f"{len(empty)} file(s) with no data rows (an empty feed is not blocking): " + ", ".join(names[:10]),
            unexpected_count=len(empty), examples=empty["source_file"].head(MAX_EXAMPLES).tolist()))
    for r in rejected[~rejected["source_file"].isin(empty["source_file"])].itertuples(index=False):
        owners = sorted(quarantined.loc[quarantined["_source_file"] == r.source_file, "tenant_id"].dropna().unique())
        # the log message already starts with the file name
        detail = str(r.message).removeprefix(f"{r.source_file}: ")
        why = f"file {r.source_file} rejected whole: {detail}"
        if owners:
            failures.extend(Failure(expectation="no_rejected_files", columns=[], severity="critical",
                                    message=f"tenant {t}: {why}", unexpected_count=1, examples=[r.source_file],
                                    tenant_id=str(t)) for t in owners)
        else:
            failures.append(Failure(
                expectation="no_rejected_files", columns=[], severity="critical",
                message=f"{why} (nothing in it names a tenant, so the whole batch is held)",
                unexpected_count=1, examples=[r.source_file]))

    failures.sort(key=lambda f: (f.severity != "critical", f.expectation, f.tenant_id or ""))
    evaluated = int(counts["loaded"].sum() + len(quarantined))
    return (SuiteResult(suite, not failures, evaluated, 3, len(failures), failures),
            counts.sort_values("tenant_id", ignore_index=True))
