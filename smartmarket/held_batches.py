"""Batches the raw checks held back, one row per (kind, tenant, ingestion batch), and their release.

    raw._held_batches (kind, tenant_id, batch_ingested_at, reasons, held_at, released_at, released_by)

A batch is the rows one ingestion run of a kind loaded (they share `_ingested_at`). When a blocking
raw check fails for one tenant's part of a batch, that part is held: the dbt staging models leave
out raw rows whose (kind, tenant_id, _ingested_at) has a row here with `released_at` null, so the
other tenants flow on. Kinds without tenants (metal and diamond prices) are held whole, with
`tenant_id = '*'`. Releasing a hold (after review) sets `released_at`; the row stays, so re-running
the checks on the same batch never holds it again and the history of decisions is kept.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from smartmarket.contracts import STRING, TIMESTAMP, contract_for
from smartmarket.warehouse import Warehouse

HELD_TABLE = "raw._held_batches"
WHOLE_BATCH = "*"  # tenant_id of a hold on a kind that has no tenants
HELD_COLUMNS: list[tuple[str, str]] = [
    ("kind", STRING),
    ("tenant_id", STRING),
    ("batch_ingested_at", TIMESTAMP),
    ("reasons", STRING),
    ("held_at", TIMESTAMP),
    ("released_at", TIMESTAMP),
    ("released_by", STRING),
]
_KEY = ["kind", "tenant_id", "batch_ingested_at"]


@dataclass(frozen=True)
class Hold:
    kind: str
    tenant_id: str
    batch_ingested_at: datetime
    reasons: str
    held_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = None

    @property
    def released(self) -> bool:
        return self.released_at is not None


def has_tenants(kind: str) -> bool:
    return "tenant_id" in contract_for(kind).names


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_held_table(wh: Warehouse) -> None:
    with wh.connect() as con:
        wh.create_table(con, HELD_TABLE, HELD_COLUMNS)


def _holds(frame: pd.DataFrame) -> list[Hold]:
    out = []
    for rec in frame.to_dict("records"):
        clean = {k: (None if pd.isna(v) else v) for k, v in rec.items()}
        for col in ("batch_ingested_at", "held_at", "released_at"):
            if clean[col] is not None:
                clean[col] = pd.Timestamp(clean[col]).to_pydatetime()
        out.append(Hold(**clean))
    return out


def holds(wh: Warehouse, kind: str | None = None, batch_ingested_at: datetime | None = None,
          include_released: bool = True) -> list[Hold]:
    """Recorded holds, oldest batch first (none when the table does not exist yet)."""
    if not wh.table_exists(HELD_TABLE):
        return []
    where, params = [], []
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if batch_ingested_at is not None:
        where.append("batch_ingested_at = ?")
        params.append(pd.Timestamp(batch_ingested_at).to_pydatetime())
    if not include_released:
        where.append("released_at is null")
    sql = (f"select {', '.join(c for c, _ in HELD_COLUMNS)} from {HELD_TABLE}"
           + (f" where {' and '.join(where)}" if where else "")
           + " order by kind, batch_ingested_at, tenant_id")
    return _holds(wh.query_df(sql, tuple(params)))


def record_holds(wh: Warehouse, kind: str, batch_ingested_at: datetime, reasons: dict[str, str],
                 held_at: datetime | None = None) -> int:
    """Hold `reasons`' tenants (tenant -> why) of one batch; an existing hold is kept as it is.

    Returns how many holds are new. Idempotent: the same decision on the same batch adds nothing.
    """
    if not reasons:
        return 0
    held_at = held_at or _utc_now()
    at = pd.Timestamp(batch_ingested_at)
    frame = pd.DataFrame({
        "kind": kind, "tenant_id": list(reasons), "batch_ingested_at": at,
        "reasons": [r[:4000] for r in reasons.values()], "held_at": pd.Timestamp(held_at),
        "released_at": pd.Series([pd.NaT] * len(reasons), dtype="datetime64[us]"),
        "released_by": pd.Series([None] * len(reasons), dtype=object),
    })
    with wh.connect() as con:
        wh.create_table(con, HELD_TABLE, HELD_COLUMNS)
        return wh.insert_new(con, HELD_TABLE, frame, _KEY)


def release(wh: Warehouse, kind: str, tenant_id: str | None = None, batch_ingested_at: datetime | None = None,
            released_by: str | None = None, now: datetime | None = None) -> list[Hold]:
    """Release the unreleased holds of `kind` (one tenant and/or one batch when given); returns them.

    Released rows flow into staging on the next dbt build, and the raw checks accept the batch's
    failures for that tenant from then on (reported as warnings, not held again).
    """
    pending = [h for h in holds(wh, kind, batch_ingested_at, include_released=False)
               if tenant_id is None or h.tenant_id == tenant_id]
    if not pending:
        return []
    now = now or _utc_now()
    who = released_by or _user()
    with wh.connect() as con, wh.transaction(con):
        for h in pending:
            wh.query_on(con, f"update {HELD_TABLE} set released_at = ?, released_by = ? "
                             "where kind = ? and tenant_id = ? and batch_ingested_at = ? and released_at is null",
                        (now, who, h.kind, h.tenant_id, h.batch_ingested_at))
    return [Hold(h.kind, h.tenant_id, h.batch_ingested_at, h.reasons, h.held_at, now, who) for h in pending]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
