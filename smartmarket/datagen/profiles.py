"""Behaviour of each kind of shop: traffic rhythm, customers, baskets, returns, promotions, payments.

These are the knobs that make a jeweller, a grocer and a fashion shop look different in the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Festival:
    name: str
    amplitude: float  # peak multiplier is 1 + amplitude
    width_days: float  # standard deviation of the gaussian bump
    offset_days: float = 0.0  # shoppers buy before the day: negative shifts the peak earlier


@dataclass(frozen=True)
class SaleWindow:
    """A shop-wide sale: every product discounted between two month/day bounds each year."""

    start: tuple[int, int]
    end: tuple[int, int]  # inclusive
    cut: float


@dataclass(frozen=True)
class Profile:
    kind: str
    currency: str
    weekly: tuple[float, ...]  # Monday..Sunday multipliers
    yearly: tuple[tuple[float, float, int], ...]  # (amplitude, peak day-of-year, harmonic)
    festivals: tuple[Festival, ...]
    trend_per_year: float
    mean_rate: float  # baseline visits per day of an average customer
    rate_shape: float  # gamma shape of the between-customer heterogeneity
    mean_lifetime_days: float
    lifetime_shape: float  # gamma shape of dropout-rate heterogeneity (Pareto/NBD style)
    initial_share: float  # customers already active on the first day; the rest join over time
    extra_lines: float  # basket lines = 1 + Poisson(extra_lines)
    walkin_share: float  # share of visits from anonymous walk-in shoppers
    return_prob: float  # chance a customer's purchase line is later returned
    return_max_days: int
    payment_methods: tuple[str, ...]
    payment_probs: tuple[float, ...]
    open_hour: int
    close_hour: int
    promo_events_per_year: float  # per product
    promo_days: tuple[int, int]
    promo_cut: tuple[float, float]
    elasticity: float  # demand uplift of a price cut: (1 - cut) ** -elasticity
    sales: tuple[SaleWindow, ...] = field(default_factory=tuple)
    sale_festivals: tuple[str, ...] = field(
        default_factory=tuple
    )  # festivals that come with a shop-wide sale
    sale_festival_cut: float = 0.0


PROFILES: dict[str, Profile] = {
    "jeweller": Profile(
        kind="jeweller",
        currency="USD",
        weekly=(0.75, 0.8, 0.85, 0.9, 1.1, 1.4, 1.2),
        yearly=((0.12, 310, 1),),
        festivals=(
            Festival("dhanteras", 2.5, 2.0, -1.0),
            Festival("diwali", 1.5, 4.0, -4.0),
            Festival("akshaya_tritiya", 1.2, 2.0, 0.0),
            Festival("valentines", 0.6, 3.0, -3.0),
            Festival("christmas", 0.5, 6.0, -8.0),
        ),
        trend_per_year=0.05,
        mean_rate=1 / 150,
        rate_shape=1.5,
        mean_lifetime_days=4 * 365,
        lifetime_shape=2.0,
        initial_share=0.6,
        extra_lines=0.15,
        walkin_share=0.2,
        return_prob=0.03,
        return_max_days=14,
        payment_methods=("card", "cash", "bank_transfer", "upi"),
        payment_probs=(0.55, 0.15, 0.2, 0.1),
        open_hour=10,
        close_hour=20,
        promo_events_per_year=0.5,
        promo_days=(5, 10),
        promo_cut=(0.05, 0.12),
        elasticity=1.5,
    ),
    "grocer": Profile(
        kind="grocer",
        currency="EUR",
        weekly=(0.85, 0.8, 0.85, 0.95, 1.15, 1.35, 0.7),
        yearly=((0.06, 355, 1),),
        festivals=(
            Festival("christmas", 0.45, 3.0, -3.0),
            Festival("easter", 0.2, 2.0, -1.0),
            Festival("new_year", 0.3, 1.0, -1.0),
        ),
        trend_per_year=0.03,
        mean_rate=1 / 10,
        rate_shape=2.0,
        mean_lifetime_days=1.5 * 365,
        lifetime_shape=2.0,
        initial_share=0.65,
        extra_lines=2.5,
        walkin_share=0.25,
        return_prob=0.005,
        return_max_days=7,
        payment_methods=("card", "cash", "upi", "wallet"),
        payment_probs=(0.55, 0.25, 0.12, 0.08),
        open_hour=7,
        close_hour=22,
        promo_events_per_year=4.0,
        promo_days=(7, 7),
        promo_cut=(0.1, 0.3),
        elasticity=2.5,
    ),
    "fashion": Profile(
        kind="fashion",
        currency="GBP",
        weekly=(0.7, 0.75, 0.8, 0.9, 1.1, 1.6, 1.15),
        yearly=((0.3, 350, 1), (0.15, 160, 2)),
        festivals=(
            Festival("black_friday", 1.8, 1.5, 1.0),
            Festival("christmas", 0.9, 7.0, -9.0),
            Festival("valentines", 0.25, 3.0, -3.0),
        ),
        trend_per_year=0.08,
        mean_rate=1 / 45,
        rate_shape=1.2,
        mean_lifetime_days=2 * 365,
        lifetime_shape=2.0,
        initial_share=0.6,
        extra_lines=0.8,
        walkin_share=0.3,
        return_prob=0.14,
        return_max_days=30,
        payment_methods=("card", "cash", "wallet", "gift_card"),
        payment_probs=(0.65, 0.12, 0.18, 0.05),
        open_hour=9,
        close_hour=21,
        promo_events_per_year=1.5,
        promo_days=(7, 14),
        promo_cut=(0.15, 0.3),
        elasticity=2.0,
        sales=(SaleWindow((12, 27), (1, 15), 0.35), SaleWindow((6, 28), (7, 15), 0.3)),
        sale_festivals=("black_friday",),
        sale_festival_cut=0.25,
    ),
}
