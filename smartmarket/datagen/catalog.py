"""Product catalogues per shop and their day-by-product price, promotion and choice-probability grids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from smartmarket.datagen.profiles import Profile
from smartmarket.datagen.seasonality import Calendar, sale_cut
from smartmarket.datagen.sizes import TenantSpec

# category -> (item names, low price, high price, seasonal amplitude, seasonal peak day-of-year)
_GROCER = {
    "dairy": (
        ["Whole Milk 1L", "Greek Yogurt", "Cheddar 200g", "Butter 250g", "Eggs x12"],
        0.9,
        4.5,
        0.03,
        20,
    ),
    "bakery": (["Sourdough Loaf", "Croissant", "Bagels x4", "Rye Bread", "Muffin"], 0.8, 4.0, 0.05, 350),
    "produce": (
        ["Bananas 1kg", "Apples 1kg", "Tomatoes 500g", "Strawberries", "Potatoes 2kg"],
        1.0,
        4.5,
        0.2,
        180,
    ),
    "beverages": (
        ["Orange Juice 1L", "Sparkling Water", "Cola 2L", "Green Tea", "Ground Coffee"],
        1.0,
        8.0,
        0.15,
        200,
    ),
    "pantry": (
        ["Pasta 500g", "Basmati Rice 1kg", "Olive Oil", "Tomato Sauce", "Oats 1kg"],
        0.9,
        9.0,
        0.05,
        340,
    ),
    "snacks": (["Crisps", "Dark Chocolate", "Mixed Nuts", "Cookies", "Popcorn"], 0.9, 5.0, 0.1, 355),
    "household": (
        ["Dish Soap", "Paper Towels", "Laundry Liquid", "Bin Bags", "Sponges"],
        1.5,
        11.0,
        0.02,
        100,
    ),
}
_FASHION = {
    "outerwear": (["Wool Coat", "Puffer Jacket", "Trench Coat", "Parka"], 80, 220, 0.8, 340),
    "knitwear": (["Cashmere Jumper", "Cardigan", "Roll Neck", "Knitted Vest"], 35, 120, 0.6, 355),
    "dresses": (["Summer Dress", "Wrap Dress", "Maxi Dress", "Party Dress"], 30, 140, 0.4, 170),
    "tops": (["Linen Shirt", "Cotton Tee", "Silk Blouse", "Polo Shirt"], 15, 70, 0.2, 180),
    "denim": (["Slim Jeans", "Straight Jeans", "Denim Jacket", "Denim Skirt"], 40, 110, 0.05, 90),
    "swimwear": (["Swimsuit", "Bikini", "Swim Shorts"], 20, 60, 0.9, 185),
    "footwear": (["Trainers", "Chelsea Boots", "Sandals", "Loafers"], 45, 160, 0.2, 10),
    "accessories": (["Leather Belt", "Scarf", "Beanie", "Tote Bag"], 12, 70, 0.3, 350),
}
# category -> (item names, grams low, grams high, purities)
_JEWELLER = {
    "rings": (["Band Ring", "Solitaire Ring", "Signet Ring", "Eternity Ring"], 3, 9, (916, 750, 585)),
    "chains": (["Rope Chain", "Curb Chain", "Box Chain", "Figaro Chain"], 8, 26, (916, 750)),
    "bangles": (["Plain Bangle", "Carved Bangle", "Kada", "Cuff Bangle"], 12, 32, (916,)),
    "earrings": (["Stud Earrings", "Hoop Earrings", "Jhumka", "Drop Earrings"], 2, 7, (916, 750, 585)),
    "pendants": (["Heart Pendant", "Coin Pendant", "Locket", "Initial Pendant"], 2, 6, (916, 750)),
}
_KARAT = {999: "24K", 916: "22K", 750: "18K", 585: "14K"}


@dataclass
class Catalog:
    """Static product attributes (one row per product) for one tenant."""

    tenant: TenantSpec
    products: pd.DataFrame  # product_id, product_name, category, popularity, ... (see build_catalog)

    @property
    def n(self) -> int:
        return len(self.products)


def _pick_names(
    rng: np.random.Generator, table: dict, n: int, first: int = 0, seen: set[str] | None = None
) -> list[tuple[str, str, int]]:
    """(category, unique item name, product index) for products first..first+n-1, spread over categories."""
    cats = list(table)
    out: list[tuple[str, str, int]] = []
    seen = set() if seen is None else seen
    for k in range(first, first + n):
        cat = cats[k % len(cats)]
        items = table[cat][0]
        item = items[int(rng.integers(len(items)))]
        name, suffix = item, 2
        while name in seen:
            name, suffix = f"{item} {suffix}", suffix + 1
        seen.add(name)
        out.append((cat, name, k))
    return out


def _kind_attributes(rng: np.random.Generator, kind: str, spec: tuple, name: str) -> dict:
    """Price, pack, season and supply attributes of one product of a given kind of shop."""
    if kind == "jeweller":
        grams = float(np.round(rng.uniform(spec[1], spec[2]), 1))
        purity = int(rng.choice(spec[3]))
        return {
            "grams": grams,
            "purity": purity,
            "making_charge": float(np.round(rng.uniform(0.08, 0.2), 3)),
            "product_name": f"{_KARAT[purity]} Gold {name} {grams:g}g",
            "base_price": np.nan,
            "qty_extra": 0.02,
            "season_amp": 0.0,
            "season_peak": 0.0,
            "cost_ratio": np.nan,
            "lead_time_days": int(rng.integers(14, 45)),
        }
    low, high, amp, peak = spec[1], spec[2], spec[3], spec[4]
    qty_extra = float(rng.uniform(0.2, 1.2)) if kind == "grocer" else 0.08
    return {
        "product_name": name,
        "base_price": float(np.round(np.exp(rng.uniform(np.log(low), np.log(high))), 2)),
        "qty_extra": qty_extra,
        "season_amp": float(amp * rng.uniform(0.7, 1.3)),
        "season_peak": float(peak + rng.normal(0, 10)),
        "cost_ratio": float(rng.uniform(0.55, 0.75) if kind == "grocer" else rng.uniform(0.35, 0.5)),
        "lead_time_days": int(rng.integers(2, 7) if kind == "grocer" else rng.integers(21, 60)),
    }


def _base_row(product_id: str, category: str, popularity: float, launch_day: int, trend: float) -> dict:
    return {
        "product_id": product_id,
        "category": category,
        "popularity": popularity,
        "launch_day": launch_day,
        "is_new": False,
        "trend_per_year": trend,
        "grams": np.nan,
        "purity": 0,
        "making_charge": np.nan,
    }


def build_catalog(
    tenant: TenantSpec, profile: Profile, cal: Calendar, seed: int, tenant_index: int
) -> Catalog:
    rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 1]))
    n = tenant.n_products
    table = {"grocer": _GROCER, "fashion": _FASHION, "jeweller": _JEWELLER}[tenant.kind]
    seen: set[str] = set()
    rows = []
    for cat, name, k in _pick_names(rng, table, n, seen=seen):
        popularity = float(rng.lognormal(0.0, 0.6))
        # A few products launch during the history: they have no demand before their launch day.
        launch = int(rng.integers(cal.n_days // 4, cal.n_days * 3 // 4)) if rng.random() < 0.1 else 0
        row = _base_row(f"{tenant.code}-P{k + 1:04d}", cat, popularity, launch, float(rng.normal(0.0, 0.12)))
        row.update(_kind_attributes(rng, tenant.kind, table[cat], name))
        rows.append(row)
    # New products come last and from their own stream, so the long-running products keep their draws.
    new_rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 1, 1]))
    ages = tenant.new_product_ages
    for (cat, name, k), age in zip(_pick_names(new_rng, table, len(ages), n, seen), ages, strict=True):
        if not 0 <= age < cal.n_days:
            raise ValueError(
                f"{tenant.tenant_id}: new product age {age} is outside the {cal.n_days}-day history"
            )
        popularity = float(new_rng.lognormal(0.0, 0.6))
        row = _base_row(
            f"{tenant.code}-P{k + 1:04d}",
            cat,
            popularity,
            cal.n_days - 1 - age,
            float(new_rng.normal(0.0, 0.12)),
        )
        row.update(_kind_attributes(new_rng, tenant.kind, table[cat], name), is_new=True)
        rows.append(row)
    products = pd.DataFrame(rows)
    for text in ("product_id", "product_name", "category"):
        # Landing files are written without quoting, so no field may carry a delimiter or a quote.
        assert not products[text].str.contains('[,"\n]').any(), text
    return Catalog(tenant, products)


@dataclass
class ProductDays:
    """Day x product grids for one tenant."""

    list_price: np.ndarray  # list price before promotions
    promo_cut: np.ndarray  # fractional discount (0 = full price)
    price_cents: np.ndarray  # int64 selling price in cents
    choice: np.ndarray  # probability a basket line is this product, rows sum to 1
    qty_per_line: np.ndarray  # expected units per line, per product


def product_days(
    catalog: Catalog, profile: Profile, cal: Calendar, gold_999: np.ndarray, seed: int, tenant_index: int
) -> ProductDays:
    rng = np.random.default_rng(np.random.SeedSequence([seed, tenant_index, 2]))
    p = catalog.products
    days = np.arange(cal.n_days)[:, None]

    if catalog.tenant.kind == "jeweller":
        # Jewellery is priced off the day's published gold price plus a making charge.
        per_gram = np.round(gold_999[:, None] * p["purity"].to_numpy()[None, :] / 999, 4)
        list_price = per_gram * p["grams"].to_numpy()[None, :] * (1 + p["making_charge"].to_numpy()[None, :])
    else:
        base = p["base_price"].to_numpy()[None, :]
        # Grocers pass on inflation once a year.
        steps = (cal.year - cal.start.year)[:, None] if catalog.tenant.kind == "grocer" else 0
        list_price = base * 1.03**steps * np.ones((cal.n_days, 1))

    cut = np.repeat(sale_cut(cal, profile)[:, None], catalog.n, axis=1)
    n_events = rng.poisson(profile.promo_events_per_year * cal.n_days / 365.25, size=catalog.n)
    for j in range(catalog.n):
        for _ in range(n_events[j]):
            start = int(rng.integers(0, cal.n_days))
            length = int(rng.integers(profile.promo_days[0], profile.promo_days[1] + 1))
            depth = float(np.round(rng.uniform(*profile.promo_cut), 2))
            cut[start : start + length, j] = np.maximum(cut[start : start + length, j], depth)

    price_cents = np.maximum(np.round(list_price * (1 - cut) * 100), 1).astype(np.int64)

    years = days / 365.25
    seasonal = 1 + p["season_amp"].to_numpy()[None, :] * np.cos(
        2 * np.pi * (cal.day_of_year[:, None] - p["season_peak"].to_numpy()[None, :]) / 365.25
    )
    weight = (
        p["popularity"].to_numpy()[None, :]
        * np.exp(p["trend_per_year"].to_numpy()[None, :] * years)
        * np.clip(seasonal, 0.05, None)
        * (1 - cut) ** -profile.elasticity
        * (days >= p["launch_day"].to_numpy()[None, :])
    )
    choice = weight / weight.sum(axis=1, keepdims=True)
    return ProductDays(list_price, cut, price_cents, choice, 1 + p["qty_extra"].to_numpy())
