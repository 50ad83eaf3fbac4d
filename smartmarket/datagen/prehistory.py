"""Customers whose first lines in the data return goods they bought before the data starts.

A real export begins on some arbitrary day, so a few known customers bring back something bought earlier:
their first line is a return of a product they never bought in the data. The returners take turns at three
behaviours: one exchanges the goods for something cheaper later that visit and is not seen again (net-negative
with a purchase, so it reaches the RFM mart), one never buys again (a return-only customer), and one goes on
buying as usual from the day after the return.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from smartmarket.datagen.catalog import ProductDays
from smartmarket.datagen.customers import Customers
from smartmarket.datagen.profiles import Profile
from smartmarket.datagen.seasonality import Calendar
from smartmarket.datagen.transactions import RETURN_KEYS, planned_lines

EXCHANGE_DOWN, RETURN_ONLY, KEEPS_BUYING = 0, 1, 2  # behaviour of returner i is i % 3


@dataclass
class PrehistoryReturns:
    customers: Customers  # the population with the returners' buying windows moved past their return
    returner: np.ndarray  # customer index of each returner
    behaviour: np.ndarray  # EXCHANGE_DOWN | RETURN_ONLY | KEEPS_BUYING per returner
    returns: dict[str, np.ndarray]  # one return line per returner (RETURN_KEYS; qty = units brought back)
    purchases: dict[str, np.ndarray]  # the exchange purchases (planned purchase lines), after their return


def _draw(rng: np.random.Generator, weights: np.ndarray) -> int:
    cum = np.cumsum(weights)
    return int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), len(weights) - 1))


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
    who = np.sort(rng.choice(candidates, k, replace=False)).astype(np.int64)
    behaviour = np.arange(k) % 3
    day = rng.integers(0, window, k)
    open_s, span = profile.open_hour * 3600, (profile.close_hour - profile.open_hour) * 3600
    # Room for the exchange after the return, before closing time.
    time = open_s + rng.integers(0, span - 3600, k)
    join_day, churn_day = customers.join_day.copy(), customers.churn_day.copy()
    # Their buying window starts after the return, so the return is their first line; a customer who leaves
    # has an empty window (churn = join): nothing of theirs but the return visit.
    join_day[who] = day + 1
    churn_day[who[behaviour != KEEPS_BUYING]] = day[behaviour != KEEPS_BUYING] + 1
    prod, qty = np.zeros(k, np.int64), np.zeros(k, np.int64)
    bought: dict[str, list[int]] = {"day": [], "cust": [], "prod": [], "qty": [], "time": []}
    for i in range(k):
        d = int(day[i])
        on_sale, price = pdays.choice[d] > 0, pdays.price_cents[d]
        exchange = behaviour[i] == EXCHANGE_DOWN and bool((price[on_sale] > price[on_sale].min()).any())
        # The returned product is drawn like a purchase that day: popular products come back more often.
        # One to exchange must not be the cheapest on sale, so that something cheaper is left to take.
        weights = pdays.choice[d] * (price > price[on_sale].min()) if exchange else pdays.choice[d]
        prod[i] = _draw(rng, weights)
        qty[i] = 1 + rng.poisson(pdays.qty_per_line[prod[i]] - 1)
        if exchange:
            # Units back worth more than the one unit of something cheaper bought: the customer is net-negative.
            cheaper = pdays.choice[d] * (price < price[prod[i]])
            if cheaper.sum() > 0:
                bought["day"].append(d)
                bought["cust"].append(int(who[i]))
                bought["prod"].append(_draw(rng, cheaper))
                bought["qty"].append(1)
                bought["time"].append(int(time[i] + rng.integers(60, 3600)))
    n_bought = len(bought["day"])
    purchases = planned_lines(
        **{k: np.asarray(v, dtype=np.int64) for k, v in bought.items()},
        pay=rng.choice(len(profile.payment_methods), n_bought, p=profile.payment_probs),
    )
    columns = {
        "day": day,
        "cust": who,
        "prod": prod,
        "qty": qty,
        "price": pdays.price_cents[day, prod],
        "pay": rng.choice(len(profile.payment_methods), k, p=profile.payment_probs),
        "time": time,
    }
    returns = {key: np.asarray(columns[key], dtype=np.int64) for key in RETURN_KEYS}
    moved = dataclasses.replace(customers, join_day=join_day, churn_day=churn_day)
    return PrehistoryReturns(moved, who, behaviour, returns, purchases)
