"""The serving path of the diamond model: `quote` agrees with `predict`, and the four Cs alone are priced by a
model of their own with an interval never narrower than the full model's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.diamond import DiamondPriceModel
from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS


def diamonds(n: int, seed: int, depth_effect: float) -> pd.DataFrame:
    """Prices that depend on the cut's depth beyond the four Cs when ``depth_effect`` > 0."""
    rng = np.random.default_rng(seed)
    carat = np.round(rng.lognormal(-0.4, 0.5, n).clip(0.2, 4.0), 2)
    cut, color, clarity = rng.integers(0, 5, n), rng.integers(0, 7, n), rng.integers(0, 8, n)
    depth = rng.normal(61.8, 2.0, n)
    price = (4000 * carat**1.9 * 1.05**cut * 1.09**color * 1.13**clarity
             * np.exp(-depth_effect * np.abs(depth - 61.8)) * rng.lognormal(0, 0.08, n))
    x = 6.4 * carat ** (1 / 3)
    return pd.DataFrame({"carat": carat, "cut": np.array(DIAMOND_CUTS)[cut], "color": np.array(DIAMOND_COLORS)[color],
                         "clarity": np.array(DIAMOND_CLARITIES)[clarity], "price": np.round(price, 2),
                         "depth": depth, "table": rng.normal(57, 2, n), "x": x, "y": x, "z": x * 0.62})


@pytest.fixture(scope="module")
def model() -> DiamondPriceModel:
    return DiamondPriceModel().fit(diamonds(2500, seed=1, depth_effect=0.15))


def test_quote_equals_predict_with_and_without_dimensions(model: DiamondPriceModel) -> None:
    full = {"carat": 1.1, "cut": "Ideal", "color": "E", "clarity": "VS1", "depth": 63.0, "table": 56.0,
            "x": 6.6, "y": 6.6, "z": 4.1}
    for stone in (full, {k: full[k] for k in ("carat", "cut", "color", "clarity")}):
        q = model.quote(**stone)
        p = model.predict(pd.DataFrame([stone])).iloc[0]
        assert (q.price, q.lower, q.upper) == pytest.approx((p["price"], p["lower"], p["upper"]), rel=1e-12)
        assert q.uses_dimensions == ("depth" in stone)
        assert bool(model.uses_dimensions(pd.DataFrame([stone]))[0]) == q.uses_dimensions


def test_four_cs_interval_is_wider_when_dimensions_carry_information(model: DiamondPriceModel) -> None:
    assert model.four_cs_estimator_ is not None
    assert model.four_cs_conformal_q_ > model.conformal_q_
    stone = {"carat": 0.8, "cut": "Good", "color": "H", "clarity": "SI1"}
    four = model.quote(**stone)
    full = model.quote(**stone, depth=61.8, table=57, x=5.9, y=5.9, z=3.66)
    assert four.upper / four.lower > full.upper / full.lower
    # a missing dimension is a missing dimension: partial measurements use the four-C model
    assert not model.quote(**stone, depth=61.8).uses_dimensions


def test_four_cs_model_prices_honestly_and_keeps_its_coverage() -> None:
    train, test = diamonds(2500, seed=2, depth_effect=0.15), diamonds(800, seed=3, depth_effect=0.15)
    model = DiamondPriceModel().fit(train)
    four = model.predict(test[["carat", "cut", "color", "clarity"]])
    inside = ((test["price"] >= four["lower"]) & (test["price"] <= four["upper"])).mean()
    assert inside >= 0.85
    mape = float((np.abs(four["price"] - test["price"]) / test["price"]).mean())
    assert mape < 0.25


def test_the_interval_never_narrows_when_dimensions_add_nothing() -> None:
    # Dimensions carry nothing here; on this seed the four-C model's own calibration quantile comes out just
    # below the full model's (0.168 vs 0.175, split noise). Reporting that would call the four Cs alone more
    # certain than all the measurements: the published quantile is the full model's instead.
    model = DiamondPriceModel().fit(diamonds(1500, seed=9, depth_effect=0.0))
    assert model.four_cs_conformal_q_ == model.conformal_q_


def test_quote_rejects_what_predict_rejects(model: DiamondPriceModel) -> None:
    with pytest.raises(ValueError, match=r"cut has unknown value\(s\) 'Perfect'.*Very Good"):
        model.quote(1.0, "Perfect", "G", "VS1")
    for carat in (0, -1, None, "heavy", float("nan")):
        with pytest.raises(ValueError, match="carat must be a positive number"):
            model.quote(carat, "Ideal", "G", "VS1")


def test_a_model_without_four_c_part_asks_for_the_dimensions(model: DiamondPriceModel) -> None:
    import copy

    old = copy.copy(model)
    del old.four_cs_estimator_  # as unpickled from a version trained before the four-C model existed
    with pytest.raises(ValueError, match="needs all of depth, table, x, y, z"):
        old.quote(1.0, "Ideal", "G", "VS1")
    assert old.quote(1.0, "Ideal", "G", "VS1", depth=61, table=57, x=6.4, y=6.4, z=4).uses_dimensions
