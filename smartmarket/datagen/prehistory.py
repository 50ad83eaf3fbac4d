"""Customers whose first lines in the data return goods they bought before the data starts.

A real export begins on some arbitrary day, so a few known customers bring back something bought earlier:
their first line is a return of a product they never bought in the data. Half of them never buy again,
so their monetary value is negative; the others go on buying from the day after their return.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from smartmarket.datagen.catalog import ProductDays
from smartmarket.datagen.customers import Customers
from smartmarket.datagen.profiles import Profile
from smartmarket.datagen.seasonality import Calendar


@dataclass
class PrehistoryReturns:
    customers: Customers  # the population with the returners' buying windows moved past their return
    returner: np.ndarray  # customer index of each returner
    leaves: np.ndarray  # bool per returner: never buys in the data
    lines: dict[
        str, np.ndarray
    ]  # one return line per returner: day, cust, prod, qty (> 0 units back), price, pay


def plan_prehistory_returns(
    customers: Customers,
    profile: Profile,
    pdays: ProductDays,
    cal: Calendar,
    n_returners: int,
    seed: int,
    tenant_index: int,
) -> PrehistoryReturns:
    rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 7]))
    # Goods come back within the shop's return window, counted from the first day of the data.
    window = max(min(profile.return_max_days, cal.n_days - 1), 1)
    # Only customers already shopping before the data starts, and still around for the whole window.
    candidates = np.flatnonzero((customers.join_day == 0) & (customers.churn_day > window))
    k = min(n_returners, len(candidates))
    who = np.sort(rng.choice(candidates, k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    day = rng.integers(0, window, k)
    leaves = np.arange(k) < (k + 1) // 2
    cum = np.cumsum(pdays.choice[day], axis=1)
    # The returned product is drawn like a purchase that day: popular products come back more often.
    prod = np.minimum((cum < rng.random(k)[:, None]).sum(axis=1), pdays.choice.shape[1] - 1)
    qty = 1 + rng.poisson(pdays.qty_per_line[prod] - 1)
    pay = rng.choice(len(profile.payment_methods), k, p=profile.payment_probs)

    join_day, churn_day = customers.join_day.copy(), customers.churn_day.copy()
    # Their first purchase in the data can only come after the return, so the return is their first line.
    join_day[who] = day + 1
    churn_day[who[leaves]] = day[leaves] + 1
    lines = {
        "day": day.astype(np.int64),
        "cust": who.astype(np.int64),
        "prod": prod.astype(np.int64),
        "qty": qty.astype(np.int64),
        "price": pdays.price_cents[day, prod],
        "pay": pay.astype(np.int64),
    }
    moved = dataclasses.replace(customers, join_day=join_day, churn_day=churn_day)
    return PrehistoryReturns(moved, who.astype(np.int64), leaves, lines)
