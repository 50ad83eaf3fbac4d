"""Columns the runner derives before validation, for rules GX cannot state on one column.

GX 1.x column expectations look at one column (or a pair) at a time, so cross-column business rules
(amount = quantity x unit_price, day-over-day price moves per series, stock value = on hand x cost)
are computed here as helper columns whose names start with `_chk_`, and the JSON suites put plain
range expectations on them. Each helper is documented in the suite's `meta.derived_columns`.

Also here: engine normalisation. PostgreSQL (psycopg) returns DATE as `datetime.date` objects and
NUMERIC as `Decimal` in object columns, where DuckDB returns datetime64 / float64. Those are the same
data on another engine, not a data problem, so they are converted before type expectations run.
Nothing in this module imports great_expectations.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pandas as pd

# Flag that acknowledges a known large metal price move (e.g. a currency revaluation). A landing file
# can carry it as an extra column; unknown columns end up in `_extra_columns` JSON, so look there too.
PRICE_FLAG_COLUMN = "price_flag"
MAX_DAILY_PRICE_CHANGE = 0.15  # the metal price suite is generated from this
AMOUNT_TOLERANCE = 0.01


def normalise_engine_types(df: pd.DataFrame) -> pd.DataFrame:
    """Return `df` with engine-specific representations made uniform.

    date/datetime/Decimal object columns become datetime64/float64, tz-aware timestamps become naive
    UTC, pandas string-extension columns become object.

    An object column is converted only when every non-null value already is such an object, so a column
    with a stray string stays object and its type expectation still fails.
    """
    out = df
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            # the warehouse stores naive UTC; an aware column is the same instant, not a type error
            out = out if out is not df else df.copy(deep=False)
            out[col] = s.dt.tz_convert("UTC").dt.tz_localize(None)
            continue
        if isinstance(s.dtype, pd.StringDtype):
            # pyarrow-backed strings (pandas' read_csv/read_parquet option) are still text
            out = out if out is not df else df.copy(deep=False)
            out[col] = s.astype(object)
            continue
        if s.dtype != object:
            continue
        non_null = s.dropna()
        if non_null.empty:
            continue
        first = non_null.iloc[0]
        if isinstance(first, dt.date):
            if non_null.map(lambda v: isinstance(v, dt.date)).all():
                out = out if out is not df else df.copy(deep=False)
                converted = pd.to_datetime(s)
                if isinstance(converted.dtype, pd.DatetimeTZDtype):  # psycopg timestamptz
                    converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
                out[col] = converted
        elif isinstance(first, Decimal) and non_null.map(lambda v: isinstance(v, Decimal)).all():
            out = out if out is not df else df.copy(deep=False)
            out[col] = s.astype(float)
    return out


def _days_after(ts: pd.Series, now: dt.datetime) -> pd.Series:
    """Days by which each timestamp lies after `now` (negative = in the past)."""
    values = pd.to_datetime(ts, errors="coerce")
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    return ((values - pd.Timestamp(now)).dt.total_seconds() / 86400.0).round(4)


def _amount_mismatch(df: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    expected = df["quantity"].astype(float) * df["unit_price"].astype(float)
    # rounding to 6 places keeps float noise (10.01 - 10.0 = 0.0099999...) from deciding the edge
    return pd.DataFrame({
        "_chk_amount_mismatch": (df["amount"].astype(float) - expected).abs().round(6),
        "_chk_days_in_future": _days_after(df["transaction_ts"], now),
    })


def _inventory(df: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    return pd.DataFrame({"_chk_days_in_future": _days_after(df["snapshot_date"], now)})


def _price_flagged(df: pd.DataFrame) -> pd.Series:
    if PRICE_FLAG_COLUMN in df.columns:
        flag = df[PRICE_FLAG_COLUMN]
        return flag.notna() & (flag.astype(str).str.strip() != "")
    flagged = pd.Series(False, index=df.index)
    if "_extra_columns" in df.columns:
        def has_flag(text: object) -> bool:
            if not isinstance(text, str) or PRICE_FLAG_COLUMN not in text:
                return False
            try:
                value = json.loads(text).get(PRICE_FLAG_COLUMN)
            except (ValueError, AttributeError):
                return False
            return value not in (None, "", False)

        flagged = df["_extra_columns"].map(has_flag).astype(bool)
    return flagged


def _metal_prices(df: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """Absolute day-over-day change of price_per_gram within each (metal, purity, currency, source).

    The change is against the previous date the series has (weekends and holidays are gaps, not
    moves). Several rows for one series and date are averaged first; each row gets its date's change.
    """
    keys = ["metal", "purity", "currency", "source"]
    frame = pd.DataFrame({k: df[k].astype(object).where(df[k].notna(), "<null>") for k in keys})
    frame["date"] = pd.to_datetime(df["date"], errors="coerce")
    frame["price"] = pd.to_numeric(df["price_per_gram"], errors="coerce")
    daily = frame.groupby([*keys, "date"], sort=True, dropna=False)["price"].mean().reset_index()
    daily["change"] = daily.groupby(keys, sort=False)["price"].pct_change(fill_method=None).abs()
    change = frame.merge(daily[[*keys, "date", "change"]], on=[*keys, "date"], how="left")["change"]
    return pd.DataFrame({
        "_chk_price_change_pct": change.round(6).to_numpy(),
        "_chk_price_change_flagged": _price_flagged(df).to_numpy(),
        "_chk_days_in_future": _days_after(df["date"], now).to_numpy(),
    }, index=df.index)


def _daily_sales(df: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    gap = df["net_quantity"].astype(float) - (
        df["quantity_sold"].astype(float) - df["quantity_returned"].astype(float))
    return pd.DataFrame({"_chk_net_quantity_gap": gap.abs().round(6)})


def _inventory_position(df: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    gap = df["stock_value"].astype(float) - df["on_hand"].astype(float) * df["unit_cost"].astype(float)
    return pd.DataFrame({"_chk_stock_value_gap": gap.abs().round(6)})


# suite name -> function(frame, now) returning helper columns aligned on the frame's index
DERIVATIONS: dict[str, Callable[[pd.DataFrame, dt.datetime], pd.DataFrame]] = {
    "raw_transactions": _amount_mismatch,
    "raw_inventory": _inventory,
    "raw_metal_prices": _metal_prices,
    "fct_daily_product_sales": _daily_sales,
    "inventory_position": _inventory_position,
}


def prepare_frame(df: pd.DataFrame, suite_name: str, now: dt.datetime | None = None) -> pd.DataFrame:
    """The frame GX validates: engine types normalised, a 0..n-1 index, helper columns added.

    The caller's frame is never modified. A derivation that needs a column the frame lacks is
    skipped: the suite's own column expectations then report the missing column.
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = normalise_engine_types(df)
    if not isinstance(out.index, pd.RangeIndex) or out.index.start != 0 or out.index.step != 1:
        out = out.reset_index(drop=True)
    derive = DERIVATIONS.get(suite_name)
    if derive is None:
        return out
    try:
        helpers = derive(out, now)
    except KeyError:
        return out
    out = out.copy(deep=False) if out is df else out
    for col in helpers.columns:
        out[col] = np.asarray(helpers[col])
    return out
