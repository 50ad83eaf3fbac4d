"""Row-count and distribution shift against the previous run.

    stats = profile_frame(df, kind)                 # small JSON-ready dict
    previous = load_previous_profile(dir, name)     # None on the first run
    result = compare_to_previous(stats, previous)   # SuiteResult, failures in words
    save_profile(dir, name, stats)

Profile what a run produced (the rows one ingest loaded, or a rebuilt mart): a load with 80% fewer
rows than the previous one then reports "rows fell 85% vs previous run: 120 vs 800" (in total and
per tenant). When whole tables are profiled instead, the newest day of data is compared with the
previous run's median day per tenant (closing days are short too). Moves in means, null shares and
category shares are reported too (a promotion moves them).

Every finding is a warning, never a stop: a batch is an increment (a backfill, then daily files, a
weekly upload), so its size says nothing about whether its rows are right, and a drop after a
backfill would otherwise turn every later run red. A feed that stops is caught by the freshness
policies; rows that are wrong are caught by the suites and the quarantine share.
No GX import.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from expectations.runner import Failure, SuiteResult, _jsonable

# what to profile per kind: the date column rows are counted by, numeric and categorical columns
PROFILE_COLUMNS: dict[str, dict[str, Any]] = {
    "transactions": {"date": "transaction_ts", "numeric": ["quantity", "unit_price", "amount"],
                     "categorical": ["category", "payment_method", "currency"]},
    "inventory": {"date": "snapshot_date", "numeric": ["on_hand", "unit_cost", "lead_time_days"],
                  "categorical": []},
    "metal_prices": {"date": "date", "numeric": ["price_per_gram"], "categorical": ["metal", "currency"]},
    "diamond_prices": {"date": "date", "numeric": ["carat", "price"],
                       "categorical": ["cut", "color", "clarity"]},
    "customer_rfm": {"date": "as_of_date", "numeric": ["recency_days", "frequency", "monetary",
                                                       "churn_risk_score"],
                     "categorical": ["segment", "churn_risk_level"]},
    "fct_daily_product_sales": {"date": "sales_date", "numeric": ["quantity_sold", "net_quantity", "revenue"],
                                "categorical": []},
    "inventory_position": {"date": "snapshot_date", "numeric": ["on_hand", "stock_value", "days_of_cover"],
                           "categorical": []},
    "demand_forecasts": {"date": "forecast_date", "numeric": ["yhat"], "categorical": []},
    "customer_propensity_scores": {"date": "as_of_date", "numeric": ["propensity_30d"], "categorical": []},
}
TOP_CATEGORIES = 30
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def profile_frame(df: pd.DataFrame, kind: str) -> dict[str, Any]:
    """Row counts (total, per tenant, per tenant per day of data) and key column distributions."""
    spec = PROFILE_COLUMNS.get(kind, {"date": None, "numeric": [], "categorical": []})
    tenant = (df["tenant_id"].fillna("<null>").astype(str) if "tenant_id" in df.columns
              else pd.Series("<all>", index=df.index))
    stats: dict[str, Any] = {
        "kind": kind,
        "profiled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "n_rows": len(df),
        "rows_per_tenant": {str(k): int(v) for k, v in tenant.value_counts().sort_index().items()},
        "days_per_tenant": {},
        "numeric": {},
        "categorical": {},
    }
    date_col = spec["date"]
    if date_col and date_col in df.columns:
        day = pd.to_datetime(df[date_col], errors="coerce").dt.normalize()
        per_day = pd.DataFrame({"t": tenant, "d": day}).dropna().value_counts().rename("n").reset_index()
        for t, g in per_day.groupby("t"):
            counts = g["n"]
            last = g["d"].max()
            stats["days_per_tenant"][str(t)] = {
                "n_days": len(g), "first": g["d"].min().date().isoformat(), "last": last.date().isoformat(),
                "median_rows_per_day": float(counts.median()),
                "last_day_rows": int(g.loc[g["d"] == last, "n"].sum()),
            }
    for col in spec["numeric"]:
        if col not in df.columns:
            continue
        s = pd.to_numeric(df[col], errors="coerce")
        valid = s.dropna()
        entry: dict[str, Any] = {"null_share": float(s.isna().mean()) if len(s) else 0.0}
        if len(valid):
            qs = valid.quantile(list(QUANTILES))
            entry.update({"mean": float(valid.mean()), "std": float(valid.std(ddof=0)),
                          **{f"p{int(q * 100):02d}": float(v) for q, v in qs.items()}})
        stats["numeric"][col] = entry
    for col in spec["categorical"]:
        if col not in df.columns:
            continue
        shares = df[col].fillna("<null>").astype(str).value_counts(normalize=True)
        top = shares.head(TOP_CATEGORIES)
        entry = {str(k): float(v) for k, v in top.items()}
        if len(shares) > TOP_CATEGORIES:
            entry["<other>"] = float(shares.iloc[TOP_CATEGORIES:].sum())
        stats["categorical"][col] = entry
    return _jsonable(stats)


def _fell(cur: int, prev: int) -> float:
    return 1.0 - cur / prev if prev else 0.0


def compare_to_previous(current_stats: dict[str, Any], previous_stats: dict[str, Any] | None,
                        max_drop: float = 0.8, max_growth: float = 5.0, max_mean_shift_sd: float = 1.0,
                        max_null_increase: float = 0.1, max_share_change: float = 0.2,
                        name: str | None = None) -> SuiteResult:
    """Compare two profiles; every finding is a warning (see the module docstring for why).

    Findings: a drop of `max_drop` or more (0.8 = 80% fewer rows) in total or per-tenant rows, growth
    beyond `max_growth` times, a mean moving more than `max_mean_shift_sd` previous standard
    deviations, a null share rising by `max_null_increase`, and a category share moving by
    `max_share_change` (absolute).
    """
    suite = f"shift:{name or current_stats.get('kind', 'frame')}"
    n_rows = int(current_stats.get("n_rows", 0))
    if not previous_stats:
        return SuiteResult(suite=suite, success=True, evaluated_rows=n_rows, n_expectations=0, n_failed=0)
    failures: list[Failure] = []
    n_checks = 0

    def rows_check(label: str, cur: int, prev: int, column: list[str]) -> None:
        nonlocal n_checks
        n_checks += 1
        drop = _fell(cur, prev)
        if prev and drop >= max_drop:
            failures.append(Failure(
                expectation="row_count_vs_previous_run", columns=column, severity="warning",
                message=f"{label}rows fell {drop:.0%} vs previous run: {cur} vs {prev}",
                observed_value={"current": cur, "previous": prev, "change": -drop},
                kwargs={"max_drop": max_drop}))
        elif prev and cur > prev * max_growth:
            failures.append(Failure(
                expectation="row_count_vs_previous_run", columns=column, severity="warning",
                message=f"{label}rows rose {cur / prev - 1:.0%} vs previous run: {cur} vs {prev}",
                observed_value={"current": cur, "previous": prev, "change": cur / prev - 1},
                kwargs={"max_growth": max_growth}))

    rows_check("", n_rows, int(previous_stats.get("n_rows", 0)), [])
    prev_tenants = previous_stats.get("rows_per_tenant", {})
    cur_tenants = current_stats.get("rows_per_tenant", {})
    if len(prev_tenants) > 1 or set(prev_tenants) != set(cur_tenants):
        for t in sorted(prev_tenants):
            rows_check(f"tenant {t}: ", int(cur_tenants.get(t, 0)), int(prev_tenants[t]), ["tenant_id"])

    # the newest day of data against the previous run's usual (median) day, per tenant; a warning,
    # because a shop's closing day or a day still being landed is also short
    for t, prev_days in sorted(previous_stats.get("days_per_tenant", {}).items()):
        cur_days = current_stats.get("days_per_tenant", {}).get(t)
        usual = prev_days.get("median_rows_per_day") or 0
        if not cur_days or not usual or prev_days.get("n_days", 0) < 2:
            continue
        n_checks += 1
        last_rows = int(cur_days.get("last_day_rows", 0))
        drop = 1.0 - last_rows / usual
        if drop >= max_drop:
            failures.append(Failure(
                expectation="latest_day_rows_vs_usual", columns=["tenant_id"], severity="warning",
                message=(f"tenant {t}: latest day {cur_days['last']} rows fell {drop:.0%} vs the previous "
                         f"run's usual day: {last_rows} vs {usual:g}"),
                observed_value={"day": cur_days["last"], "rows": last_rows, "usual": usual},
                kwargs={"max_drop": max_drop}))

    for col, prev in previous_stats.get("numeric", {}).items():
        cur = current_stats.get("numeric", {}).get(col)
        if cur is None:
            continue
        n_checks += 2
        if prev.get("mean") is not None and cur.get("mean") is not None:
            # a constant column (std 0) shifts when its value changes at all
            scale = prev.get("std") or max(abs(prev["mean"]) * 1e-9, 1e-12)
            shift_sd = abs(cur["mean"] - prev["mean"]) / scale
            if shift_sd > max_mean_shift_sd:
                failures.append(Failure(
                    expectation="mean_vs_previous_run", columns=[col], severity="warning",
                    message=(f"{col} mean moved {shift_sd:.1f} standard deviations vs previous run: "
                             f"{cur['mean']:.4g} vs {prev['mean']:.4g}"),
                    observed_value={"current": cur["mean"], "previous": prev["mean"], "shift_sd": shift_sd},
                    kwargs={"max_mean_shift_sd": max_mean_shift_sd}))
        rise = cur.get("null_share", 0.0) - prev.get("null_share", 0.0)
        if rise > max_null_increase:
            failures.append(Failure(
                expectation="null_share_vs_previous_run", columns=[col], severity="warning",
                message=(f"{col} nulls rose from {prev.get('null_share', 0):.1%} to "
                         f"{cur.get('null_share', 0):.1%} of rows vs previous run"),
                observed_value={"current": cur.get("null_share"), "previous": prev.get("null_share")},
                kwargs={"max_null_increase": max_null_increase}))

    for col, prev in previous_stats.get("categorical", {}).items():
        cur = current_stats.get("categorical", {}).get(col)
        if cur is None:
            continue
        n_checks += 1
        moves = {v: cur.get(v, 0.0) - prev.get(v, 0.0) for v in set(prev) | set(cur)}
        movers = sorted((v for v in moves if abs(moves[v]) > max_share_change),
                        key=lambda v: (-abs(moves[v]), v))
        if movers:
            shown = ", ".join(f"{v!r} {prev.get(v, 0.0):.0%} -> {cur.get(v, 0.0):.0%}" for v in movers[:3])
            failures.append(Failure(
                expectation="category_share_vs_previous_run", columns=[col], severity="warning",
                message=f"{col} shares moved vs previous run: {shown}",
                observed_value={v: round(moves[v], 4) for v in movers[:5]},
                kwargs={"max_share_change": max_share_change}))

    return SuiteResult(suite=suite, success=not failures, evaluated_rows=n_rows, n_expectations=n_checks,
                       n_failed=len(failures), failures=_jsonable_failures(failures))


def _jsonable_failures(failures: list[Failure]) -> list[Failure]:
    for f in failures:
        f.observed_value = _jsonable(f.observed_value)
    return failures


def _profile_path(directory: str | Path, name: str) -> Path:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"profile name {name!r} must be a plain file name")
    return Path(directory) / f"{name}.json"


def save_profile(directory: str | Path, name: str, stats: dict[str, Any]) -> Path:
    """Write `stats` as `<directory>/<name>.json` atomically (a crash never leaves half a file)."""
    path = _profile_path(directory, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(_jsonable(stats), fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_previous_profile(directory: str | Path, name: str) -> dict[str, Any] | None:
    """The profile saved last under `name`, or None if there is none (first run)."""
    path = _profile_path(directory, name)
    if not path.exists():
        return None
    return json.loads(path.read_text())


__all__ = ["compare_to_previous", "load_previous_profile", "profile_frame", "save_profile"]
