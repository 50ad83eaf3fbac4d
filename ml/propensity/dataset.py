"""Multi-cutoff training set with the latest complete label window held out as the test set.

Timeline (as_of = first day NOT covered by the data; only rows dated < as_of are read):

    ... | train cutoff c2 | train cutoff c1 | test cutoff t = as_of - horizon | as_of
                           [c1, c1+h) labels  [t, as_of) labels = holdout

Training cutoffs are chosen so that their label windows end on or before the test cutoff, so no
training label looks into the holdout window. Each cutoff only includes customers with a purchase
before it (a customer first seen later has no history to score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.propensity.features import FEATURE_COLUMNS, build_features, prepare_transactions, to_day
from ml.propensity.labels import build_labels


@dataclass
class PropensityDataset:
    train: pd.DataFrame  # tenant_id, customer_id, cutoff, FEATURE_COLUMNS, label
    test: pd.DataFrame
    train_cutoffs: list[pd.Timestamp]
    test_cutoff: pd.Timestamp
    as_of: pd.Timestamp
    horizon_days: int
    feature_columns: list[str] = field(default_factory=lambda: list(FEATURE_COLUMNS))

    def summary(self) -> dict[str, Any]:
        """Sizes and positive rates, ready for MLflow params / Dagster metadata."""
        return {
            "as_of": self.as_of.date().isoformat(),
            "test_cutoff": self.test_cutoff.date().isoformat(),
            "n_train_cutoffs": len(self.train_cutoffs),
            "first_train_cutoff": min(self.train_cutoffs).date().isoformat() if self.train_cutoffs else None,
            "n_train_rows": len(self.train),
            "n_test_rows": len(self.test),
            "train_positive_rate": float(self.train["label"].mean()) if len(self.train) else float("nan"),
            "test_positive_rate": float(self.test["label"].mean()) if len(self.test) else float("nan"),
            "horizon_days": self.horizon_days,
        }


def default_as_of(transactions: pd.DataFrame) -> pd.Timestamp:
    """The day after the last transaction date: every row in the data is then 'before as_of'."""
    lines = prepare_transactions(transactions)
    if lines.empty:
        raise ValueError("no transactions with a customer_id: cannot choose an as-of date")
    return pd.Timestamp(lines["day"].max()) + pd.Timedelta(days=1)


def _examples(lines: pd.DataFrame, cutoff: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    feats = build_features(lines, cutoff, prepared=True)
    return build_labels(lines, cutoff, feats, horizon_days=horizon_days, prepared=True)


def build_dataset(
    transactions: pd.DataFrame,
    as_of: Any | None = None,
    *,
    horizon_days: int = 30,
    step_days: int = 30,
    max_train_cutoffs: int = 12,
    min_history_days: int = 60,
) -> PropensityDataset:
    """Training examples at up to `max_train_cutoffs` cutoffs every `step_days`, and the holdout.

    `min_history_days`: the earliest training cutoff is at least this long after the first purchase in
    the data, so the first cutoffs do not consist of customers with a few days of history only.
    Raises ValueError when the data cannot give at least one training cutoff.
    """
    if horizon_days <= 0 or step_days <= 0:
        raise ValueError("horizon_days and step_days must be positive")
    as_of_ts = default_as_of(transactions) if as_of is None else to_day(as_of)
    lines = prepare_transactions(transactions)
    # rows on/after as_of are the future relative to the run: never read them
    lines = lines[lines["day"] < as_of_ts]
    buys = lines[~lines["is_return"]]
    if buys.empty:
        raise ValueError(f"no purchases before as_of {as_of_ts.date()}")
    earliest = pd.Timestamp(buys["day"].min()) + pd.Timedelta(days=min_history_days)

    test_cutoff = as_of_ts - pd.Timedelta(days=horizon_days)
    cutoffs: list[pd.Timestamp] = []
    c = test_cutoff - pd.Timedelta(days=horizon_days)
    while len(cutoffs) < max_train_cutoffs and c >= earliest:
        cutoffs.append(c)
        c -= pd.Timedelta(days=step_days)
    if not cutoffs:
        raise ValueError(
            f"not enough history for a training cutoff: need data from before "
            f"{(test_cutoff - pd.Timedelta(days=horizon_days + min_history_days)).date()} "
            f"(as_of {as_of_ts.date()}, horizon {horizon_days}d, min history {min_history_days}d)"
        )
    cutoffs.sort()
    train = pd.concat([_examples(lines, c, horizon_days) for c in cutoffs], ignore_index=True)
    test = _examples(lines, test_cutoff, horizon_days)
    return PropensityDataset(
        train=train,
        test=test,
        train_cutoffs=cutoffs,
        test_cutoff=test_cutoff,
        as_of=as_of_ts,
        horizon_days=horizon_days,
    )
