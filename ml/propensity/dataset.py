"""Multi-cutoff training set with each tenant's latest complete label window held out as the test set.

Timeline per tenant (as_of_t = first day NOT covered by that tenant's data; only its rows dated < as_of_t are
read):

    ... | train cutoff c2 | train cutoff c1 | test cutoff t = as_of_t - horizon | as_of_t
                           [c1, c1+h) labels  [t, as_of_t) labels = holdout

Each tenant has its own as-of (ARCHITECTURE.md), so each has its own cutoffs: a tenant whose uploads end
three weeks before the others is not labelled "did not buy" for the three weeks it has no data for. Training
cutoffs are chosen so that their label windows end on or before the tenant's test cutoff, so no training
label looks into the holdout window. Each cutoff only includes customers with a purchase before it (a
customer first seen later has no history to score). Rows carry ``cutoff_step`` (0 = the test cutoff, k = k
steps before it): the same step is the same position in time for every tenant, which is what the
out-of-fold threshold groups by.

``as_of`` takes three forms: None (each tenant: the day after its last transaction), one date (a cap: each
tenant's own as-of, but never later than this date) or ``{tenant_id: date}`` (exactly these, e.g. the day
after ``customer_rfm.as_of_date``; tenants not listed use their own).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.errors import InsufficientDataError
from ml.propensity.features import FEATURE_COLUMNS, build_features, prepare_transactions, to_day
from ml.propensity.labels import build_labels


@dataclass
class PropensityDataset:
    train: pd.DataFrame  # tenant_id, customer_id, cutoff, cutoff_step, FEATURE_COLUMNS, label
    test: pd.DataFrame
    train_cutoffs: list[pd.Timestamp]  # every tenant's training cutoffs (sorted, unique)
    test_cutoff: pd.Timestamp  # the latest tenant's test cutoff (``tenant_test_cutoffs`` has each tenant's)
    as_of: pd.Timestamp  # the latest tenant's as-of (``tenant_as_of`` has each tenant's)
    horizon_days: int
    feature_columns: list[str] = field(default_factory=lambda: list(FEATURE_COLUMNS))
    tenant_as_of: dict[str, pd.Timestamp] = field(default_factory=dict)
    tenant_test_cutoffs: dict[str, pd.Timestamp] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Sizes and positive rates, ready for MLflow params / Dagster metadata."""
        return {
            "as_of": self.as_of.date().isoformat(),
            "as_of_by_tenant": json.dumps({t: d.date().isoformat() for t, d in sorted(self.tenant_as_of.items())},
                                          separators=(",", ":"))[:6000],
            "n_tenants": len(self.tenant_as_of),
            "test_cutoff": self.test_cutoff.date().isoformat(),
            "n_train_cutoffs": len(self.train_cutoffs),
            "first_train_cutoff": min(self.train_cutoffs).date().isoformat() if self.train_cutoffs else None,
            "n_train_rows": len(self.train),
            "n_test_rows": len(self.test),
            "train_positive_rate": float(self.train["label"].mean()) if len(self.train) else float("nan"),
            "test_positive_rate": float(self.test["label"].mean()) if len(self.test) else float("nan"),
            "horizon_days": self.horizon_days,
        }


def tenant_last_days(transactions: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """Each tenant's last transaction day, walk-in sales included (they are part of the shop's data)."""
    if transactions.empty:
        return {}
    date_col = "transaction_date" if "transaction_date" in transactions else "transaction_ts"
    day = pd.to_datetime(transactions[date_col])
    if getattr(day.dt, "tz", None) is not None:
        day = day.dt.tz_localize(None)
    last = day.dt.normalize().groupby(transactions["tenant_id"].astype(str).to_numpy()).max()
    return {str(t): pd.Timestamp(d) for t, d in last.items()}


def resolve_tenant_as_of(transactions: pd.DataFrame, as_of: Any | None = None) -> dict[str, pd.Timestamp]:
    """Per-tenant exclusive as-of (first day not covered) for every tenant in ``transactions``."""
    own = {t: d + pd.Timedelta(days=1) for t, d in tenant_last_days(transactions).items()}
    if as_of is None:
        return own
    if isinstance(as_of, Mapping):
        given = {str(t): to_day(d) for t, d in as_of.items()}
        return {t: given.get(t, d) for t, d in own.items()}
    cap = to_day(as_of)
    return {t: min(d, cap) for t, d in own.items()}


def default_as_of(transactions: pd.DataFrame) -> pd.Timestamp:
    """The day after the last transaction date: every row in the data is then 'before as_of'."""
    lines = prepare_transactions(transactions)
    if lines.empty:
        raise InsufficientDataError("no transactions with a customer_id: cannot choose an as-of date")
    return pd.Timestamp(lines["day"].max()) + pd.Timedelta(days=1)


def _examples(lines: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int, step: int) -> pd.DataFrame:
    feats = build_features(lines, cutoff, prepared=True)
    out = build_labels(lines, cutoff, feats, horizon_days=horizon_days, prepared=True)
    return out.assign(cutoff_step=step)


def build_dataset(
    transactions: pd.DataFrame,
    as_of: Any | None = None,
    *,
    horizon_days: int = 30,
    step_days: int = 30,
    max_train_cutoffs: int = 12,
    min_history_days: int = 60,
) -> PropensityDataset:
    """Training examples at up to `max_train_cutoffs` cutoffs per tenant every `step_days`, and the holdout.

    `min_history_days`: a tenant's earliest training cutoff is at least this long after its first purchase,
    so the first cutoffs do not consist of customers with a few days of history only. A tenant without room
    for a training cutoff still contributes its holdout rows. Raises InsufficientDataError (with the numbers)
    when no tenant can give a training cutoff.
    """
    if horizon_days <= 0 or step_days <= 0:
        raise ValueError("horizon_days and step_days must be positive")
    lines_all = prepare_transactions(transactions)
    if lines_all.empty:
        raise InsufficientDataError("purchase propensity: no transactions with a customer_id (only walk-in sales "
                                    "or no sales at all): nothing to learn from")
    tenant_as_of = resolve_tenant_as_of(transactions, as_of)
    # rows on/after the tenant's as_of are the future relative to the run: never read them
    lines_all = lines_all[lines_all["day"] < lines_all["tenant_id"].map(tenant_as_of)]
    buys_all = lines_all[~lines_all["is_return"]]
    if buys_all.empty:
        shown = ", ".join(f"{t} {d.date()}" for t, d in sorted(tenant_as_of.items())[:5])
        raise InsufficientDataError(f"purchase propensity: no purchases by known customers before the as-of "
                                    f"dates ({shown})")

    train_parts, test_parts = [], []
    cutoffs_all: set[pd.Timestamp] = set()
    test_cutoffs: dict[str, pd.Timestamp] = {}
    needed: dict[str, str] = {}
    for tenant, lines in lines_all.groupby("tenant_id", sort=True):
        buys = lines[~lines["is_return"]]
        if buys.empty:
            continue
        as_of_t = tenant_as_of[tenant]
        earliest = pd.Timestamp(buys["day"].min()) + pd.Timedelta(days=min_history_days)
        test_cutoff = as_of_t - pd.Timedelta(days=horizon_days)
        test_cutoffs[tenant] = test_cutoff
        cutoffs: list[pd.Timestamp] = []
        c = test_cutoff - pd.Timedelta(days=horizon_days)
        while len(cutoffs) < max_train_cutoffs and c >= earliest:
            cutoffs.append(c)
            c -= pd.Timedelta(days=step_days)
        if not cutoffs:
            needed[tenant] = (f"{tenant}: first purchase {pd.Timestamp(buys['day'].min()).date()}, as-of "
                              f"{(as_of_t - pd.Timedelta(days=1)).date()}")
        for step, cutoff in enumerate(cutoffs, start=1):
            train_parts.append(_examples(lines, cutoff, horizon_days, step))
        cutoffs_all.update(cutoffs)
        test_parts.append(_examples(lines, test_cutoff, horizon_days, 0))
    if not train_parts:
        span = horizon_days * 2 + min_history_days
        raise InsufficientDataError(
            f"purchase propensity: not enough history for a training cutoff in any tenant: each needs purchases "
            f"from at least {span} days before its as-of (holdout {horizon_days}d + training label window "
            f"{horizon_days}d + min history {min_history_days}d); " + "; ".join(list(needed.values())[:5]))
    train = pd.concat(train_parts, ignore_index=True).sort_values(["cutoff", "tenant_id", "customer_id"],
                                                                  ignore_index=True)
    test = pd.concat(test_parts, ignore_index=True)
    return PropensityDataset(
        train=train,
        test=test,
        train_cutoffs=sorted(cutoffs_all),
        test_cutoff=max(test_cutoffs.values()),
        as_of=max(tenant_as_of[t] for t in test_cutoffs),
        horizon_days=horizon_days,
        tenant_as_of={t: tenant_as_of[t] for t in test_cutoffs},
        tenant_test_cutoffs=test_cutoffs,
    )
