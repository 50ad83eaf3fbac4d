"""Customer population: heterogeneous purchase rates and a latent dropout date (Pareto/NBD style)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartmarket.datagen.profiles import Profile
from smartmarket.datagen.seasonality import Calendar
from smartmarket.datagen.sizes import TenantSpec


@dataclass
class Customers:
    ids: list[str]
    rate: np.ndarray  # baseline visits per day (before the shop's traffic multiplier, which averages 1)
    join_day: np.ndarray  # first day the customer can buy
    churn_day: np.ndarray  # first day the customer can no longer buy; >= n_days means still active
    walkin_rate: float  # anonymous visits per day (before the traffic multiplier)

    @property
    def n(self) -> int:
        return len(self.ids)


def build_customers(
    tenant: TenantSpec, profile: Profile, cal: Calendar, seed: int, tenant_index: int
) -> Customers:
    rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 3]))
    n = tenant.n_customers
    rate = rng.gamma(profile.rate_shape, profile.mean_rate / profile.rate_shape, n)
    dropout = rng.gamma(profile.lifetime_shape, 1 / (profile.mean_lifetime_days * profile.lifetime_shape), n)
    lifetime = rng.exponential(1 / dropout)
    joins_later = rng.random(n) >= profile.initial_share
    join_day = np.where(joins_later, rng.integers(1, cal.n_days, n), 0)
    churn_day = np.minimum(join_day + np.ceil(lifetime).astype(np.int64), np.iinfo(np.int32).max)
    share = profile.walkin_share
    walkin_rate = share / (1 - share) * float(rate.sum()) * profile.initial_share
    ids = [f"{tenant.code}-C{i + 1:06d}" for i in range(n)]
    return Customers(ids, rate, join_day.astype(np.int64), churn_day.astype(np.int64), walkin_rate)


def alive_rate_by_day(customers: Customers, n_days: int) -> np.ndarray:
    """Sum of the rates of customers able to buy on each day (join_day <= d < churn_day)."""
    delta = np.zeros(n_days + 1)
    np.add.at(delta, np.minimum(customers.join_day, n_days), customers.rate)
    np.add.at(delta, np.minimum(customers.churn_day, n_days), -customers.rate)
    return np.cumsum(delta)[:n_days]
