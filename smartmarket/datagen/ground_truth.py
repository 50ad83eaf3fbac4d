"""Ground truth the platform's models can be scored against: churn, demand curves and price functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smartmarket.datagen.catalog import Catalog, ProductDays
from smartmarket.datagen.customers import Customers
from smartmarket.datagen.prehistory import PrehistoryReturns
from smartmarket.datagen.prices import DIAMOND_PRICE_PARAMS, METAL_WALKS
from smartmarket.datagen.seasonality import Calendar


def customer_truth(
    tenant_id: str,
    customers: Customers,
    cal: Calendar,
    returns: PrehistoryReturns,
    net_cents: np.ndarray,
) -> pd.DataFrame:
    churned = customers.churn_day < cal.n_days
    churn_date = pd.Series(pd.NaT, index=range(customers.n), dtype="datetime64[s]")
    churn_date[churned] = cal.dates[customers.churn_day[churned]].astype("datetime64[s]")
    return_date = pd.Series(pd.NaT, index=range(customers.n), dtype="datetime64[s]")
    return_date[returns.returner] = cal.dates[returns.returns["day"]].astype("datetime64[s]")
    return pd.DataFrame(
        {
            "tenant_id": tenant_id,
            "customer_id": customers.ids,
            "join_date": cal.dates[customers.join_day].astype("datetime64[s]"),
            "churned": churned,
            # First day the customer no longer buys: no purchase or return on or after it.
            "churn_date": churn_date,
            "true_daily_purchase_rate": customers.rate,
            # The day of the customer's first line, a return of goods bought before the data starts (else NaT);
            # their buying window (join_date) starts the day after; an exchange, if any, is on the same day.
            "prehistory_return_date": return_date,
            # Sum of `amount` over the customer's clean rows; negative only for some pre-history returners.
            "net_amount": net_cents[: customers.n] / 100,
        }
    )


def demand_truth(catalog: Catalog, cal: Calendar, expected: np.ndarray, pdays: ProductDays) -> pd.DataFrame:
    n_days, n_prod = expected.shape
    return pd.DataFrame(
        {
            "tenant_id": catalog.tenant.tenant_id,
            "product_id": np.tile(catalog.products["product_id"].to_numpy(), n_days),
            "date": np.repeat(cal.dates.astype("datetime64[s]"), n_prod),
            "expected_quantity": expected.ravel(),
            "unit_price": pdays.price_cents.ravel() / 100,
            "promo_discount": pdays.promo_cut.ravel(),
        }
    )


def product_truth(catalog: Catalog, cal: Calendar) -> pd.DataFrame:
    df = catalog.products.copy()
    df.insert(0, "tenant_id", catalog.tenant.tenant_id)
    # Day 0 means on sale from the first day of the data; new products are first sold on their launch date.
    launch = cal.dates[df["launch_day"].to_numpy()].astype("datetime64[s]")
    df.insert(df.columns.get_loc("launch_day") + 1, "launch_date", launch)
    return df


def write_tables(gt_dir: Path, tables: dict[str, list[pd.DataFrame]]) -> list[Path]:
    gt_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frames in tables.items():
        path = gt_dir / f"{name}.parquet"
        pd.concat(frames, ignore_index=True).to_parquet(path, index=False, engine="pyarrow")
        paths.append(path)
    return paths


def write_params(gt_dir: Path, traffic_by_tenant: dict[str, Any]) -> list[Path]:
    gt_dir.mkdir(parents=True, exist_ok=True)
    docs = {
        "diamond_price_params.json": DIAMOND_PRICE_PARAMS,
        "metal_price_params.json": {
            "model": "log p[t+1] = log p[t] + annual_drift/365.25 - daily_vol**2/2 + daily_vol * shock; "
            "price_per_gram(purity) = round(p * purity / 999, 4)",
            "currency": "USD",
            "walks": METAL_WALKS,
        },
        "tenant_profiles.json": traffic_by_tenant,
    }
    paths = []
    for name, doc in docs.items():
        path = gt_dir / name
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
