"""Market prices: a daily precious-metal walk and diamond quotes from a known 4Cs price function."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS, GOLD_PURITIES
from smartmarket.datagen.seasonality import Calendar

# Geometric random walks, USD per gram of pure (999) metal. Correlations are with gold's daily shock.
METAL_WALKS: dict[str, dict[str, float]] = {
    "gold": {"start": 68.0, "annual_drift": 0.06, "daily_vol": 0.010, "corr_with_gold": 1.0},
    "silver": {"start": 0.85, "annual_drift": 0.04, "daily_vol": 0.016, "corr_with_gold": 0.7},
    "platinum": {"start": 31.0, "annual_drift": 0.0, "daily_vol": 0.013, "corr_with_gold": 0.5},
}

# price = a * carat ** b * cut[cut] * color[color] * clarity[clarity] * exp(eps), eps ~ N(0, sigma)
DIAMOND_PRICE_PARAMS: dict[str, Any] = {
    "a": 4200.0,
    "b": 1.75,
    "cut": dict(zip(DIAMOND_CUTS, (0.80, 0.90, 0.97, 1.00, 1.06), strict=True)),
    "color": dict(zip(DIAMOND_COLORS, (0.70, 0.78, 0.86, 0.94, 1.00, 1.06, 1.15), strict=True)),
    "clarity": dict(zip(DIAMOND_CLARITIES, (0.55, 0.75, 0.85, 0.95, 1.00, 1.08, 1.15, 1.28), strict=True)),
    "noise_sigma": 0.12,
    "formula": (
        "price = a * carat**b * cut[cut] * color[color] * clarity[clarity] * exp(eps), eps ~ N(0, sigma);"
        " the noise-free price is the median price"
    ),
}

_CUT_PROBS = (0.03, 0.09, 0.22, 0.26, 0.40)
_COLOR_PROBS = (0.05, 0.10, 0.15, 0.21, 0.18, 0.18, 0.13)
_CLARITY_PROBS = (0.014, 0.17, 0.24, 0.23, 0.15, 0.09, 0.07, 0.036)


def gold_walk(cal: Calendar, seed: int) -> dict[str, np.ndarray]:
    """Daily price per gram of 999 metal, by metal, unrounded."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9001]))
    gold_shock = rng.standard_normal(cal.n_days - 1)
    walks = {}
    for metal, p in METAL_WALKS.items():
        own = rng.standard_normal(cal.n_days - 1)
        rho = p["corr_with_gold"]
        shock = gold_shock if rho == 1.0 else rho * gold_shock + np.sqrt(1 - rho**2) * own
        vol = p["daily_vol"]
        steps = p["annual_drift"] / 365.25 - 0.5 * vol**2 + vol * shock
        walks[metal] = p["start"] * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    return walks


def price_per_gram(walks: dict[str, np.ndarray], metal: str, purity: int) -> np.ndarray:
    """Price per gram as published (4 decimals), the value shops price jewellery from."""
    return np.round(walks[metal] * purity / 999, 4)


def metal_price_frame(cal: Calendar, walks: dict[str, np.ndarray]) -> pd.DataFrame:
    series = [("gold", p) for p in GOLD_PURITIES] + [("silver", 999), ("platinum", 999)]
    frames = [
        pd.DataFrame(
            {
                "day": np.arange(cal.n_days),
                "metal": metal,
                "purity": purity,
                "price_per_gram": price_per_gram(walks, metal, purity),
            }
        )
        for metal, purity in series
    ]
    df = pd.concat(frames, ignore_index=True)
    order = {m: i for i, (m, _) in enumerate(series)}
    df = df.sort_values(
        ["day", "metal", "purity"], key=lambda c: c.map(order) if c.name == "metal" else c, kind="stable"
    )
    df["date"] = np.asarray(cal.date_strings)[df["day"].to_numpy()]
    df["currency"] = "USD"
    df["source"] = "synthetic"
    return df[["date", "metal", "purity", "price_per_gram", "currency", "source"]].reset_index(drop=True)


def true_diamond_price(df: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
    """Noise-free (median) price of each diamond row from its carat, cut, color and clarity."""
    p = DIAMOND_PRICE_PARAMS if params is None else params
    carat = pd.to_numeric(df["carat"]).to_numpy(dtype=float)
    mult = np.ones(len(df))
    for col in ("cut", "color", "clarity"):
        mapped = df[col].map(p[col])
        if mapped.isna().any():
            bad = sorted(set(df.loc[mapped.isna(), col].astype(str)))
            raise ValueError(f"unknown diamond {col} value(s): {', '.join(bad)}")
        mult *= mapped.to_numpy(dtype=float)
    return p["a"] * carat ** p["b"] * mult


def diamond_frame(cal: Calendar, n_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9002]))
    carat = np.round(np.clip(rng.lognormal(np.log(0.6), 0.55, n_rows), 0.2, 4.0), 2)
    df = pd.DataFrame(
        {
            "carat": carat,
            "cut": np.asarray(DIAMOND_CUTS)[rng.choice(len(DIAMOND_CUTS), n_rows, p=_CUT_PROBS)],
            "color": np.asarray(DIAMOND_COLORS)[rng.choice(len(DIAMOND_COLORS), n_rows, p=_COLOR_PROBS)],
            "clarity": np.asarray(DIAMOND_CLARITIES)[
                rng.choice(len(DIAMOND_CLARITIES), n_rows, p=_CLARITY_PROBS)
            ],
        }
    )
    noise = rng.normal(0.0, DIAMOND_PRICE_PARAMS["noise_sigma"], n_rows)
    df["price"] = np.round(true_diamond_price(df) * np.exp(noise), 2)
    # Geometry of a round brilliant: diameter grows with the cube root of weight.
    diameter = 6.45 * carat ** (1 / 3)
    df["depth"] = np.round(rng.normal(61.8, 1.4, n_rows), 1)
    df["table"] = np.round(rng.normal(57.0, 2.2, n_rows), 1)
    df["x"] = np.round(diameter * rng.normal(1.0, 0.005, n_rows), 2)
    df["y"] = np.round(diameter * rng.normal(1.0, 0.005, n_rows), 2)
    df["z"] = np.round((df["x"] + df["y"]) / 2 * df["depth"] / 100, 2)
    df["date"] = np.asarray(cal.date_strings)[np.sort(rng.integers(0, cal.n_days, n_rows))]
    return df
