"""Diamond price regressor: accuracy, conformal coverage, input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.diamond import (
    DiamondPriceModel,
    conformal_quantile,
    fit_and_evaluate_diamond,
    holdout_mape,
    validate_diamond_input,
)
from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS


def make_diamonds(n: int = 3000, seed: int = 3, noise: float = 0.12) -> pd.DataFrame:
    """Known multiplicative price: 4000·carat^1.9 · 1.05^cut · 1.09^color · 1.13^clarity · lognormal noise."""
    rng = np.random.default_rng(seed)
    carat = np.round(rng.lognormal(-0.4, 0.5, n).clip(0.2, 4.5), 2)
    cut, color, clarity = rng.integers(0, 5, n), rng.integers(0, 7, n), rng.integers(0, 8, n)
    price = 4000 * carat**1.9 * 1.05**cut * 1.09**color * 1.13**clarity * rng.lognormal(0, noise, n)
    x = 6.4 * carat ** (1 / 3) * rng.normal(1, 0.01, n)
    return pd.DataFrame(
        {
            "carat": carat,
            "cut": np.array(DIAMOND_CUTS)[cut],
            "color": np.array(DIAMOND_COLORS)[color],
            "clarity": np.array(DIAMOND_CLARITIES)[clarity],
            "price": np.round(price, 2),
            "depth": rng.normal(61.8, 1.2, n),
            "table": rng.normal(57, 2, n),
            "x": x,
            "y": x * rng.normal(1, 0.01, n),
            "z": x * 0.62,
        }
    )


@pytest.fixture(scope="module")
def result():
    return fit_and_evaluate_diamond(make_diamonds(), coverage=0.9)


def test_accuracy_and_baseline_on_held_out_rows(result):
    m = result.metrics
    # measured: R² ~0.95, MAPE ~0.11 (noise sd 0.12 on the log scale sets the floor), baseline R² ~0.77
    assert m["test_r2"] > 0.9
    assert m["test_mape"] < 0.15
    assert m["test_rmse"] < m["baseline_test_rmse"]
    assert m["test_mape"] < m["baseline_test_mape"]
    assert m["n_test"] == 600 and m["n_fit"] + m["n_calibration"] == 2400
    assert result.promotion_score == m["test_mape"]


def test_conformal_interval_coverage_near_stated_level(result):
    m = result.metrics
    assert m["coverage_target"] == 0.9
    assert abs(m["interval_coverage"] - 0.9) < 0.04
    p = result.test_predictions
    assert (p["lower"] <= p["price"]).all() and (p["price"] <= p["upper"]).all()
    # multiplicative interval: upper/price == price/lower == e^q for every row
    np.testing.assert_allclose(p["upper"] / p["price"], np.exp(m["conformal_log_q"]))
    np.testing.assert_allclose(p["price"] / p["lower"], np.exp(m["conformal_log_q"]))


def test_other_coverage_levels_are_honoured():
    df = make_diamonds(2500, seed=11)
    wide = fit_and_evaluate_diamond(df, coverage=0.95, random_state=1).metrics
    narrow = fit_and_evaluate_diamond(df, coverage=0.7, random_state=1).metrics
    assert abs(wide["interval_coverage"] - 0.95) < 0.04
    assert abs(narrow["interval_coverage"] - 0.7) < 0.06
    assert narrow["interval_median_relative_width"] < wide["interval_median_relative_width"]


def test_predict_frame_and_monotone_grades(result):
    model = result.model
    base = pd.DataFrame({"carat": [1.0], "cut": ["Ideal"], "color": ["G"], "clarity": ["VS1"]})
    out = model.predict(base)
    assert list(out.columns) == ["price", "lower", "upper"]
    # better colour (D) and bigger stone never cost less than a worse colour (J), all else equal
    colors = pd.DataFrame({"carat": 1.0, "cut": "Ideal", "color": list(DIAMOND_COLORS), "clarity": "VS1"})
    assert np.all(np.diff(model.predict_price(colors)) >= 0)
    carats = pd.DataFrame({"carat": [0.5, 1.0, 1.5, 2.0], "cut": "Good", "color": "H", "clarity": "SI1"})
    assert np.all(np.diff(model.predict_price(carats)) > 0)
    # the known price function at 1ct Ideal G VS1 is 4000·1.05^4·1.09^3·1.13^4 ≈ 10 9xx
    truth = 4000 * 1.05**4 * 1.09**3 * 1.13**4
    assert out["price"].iloc[0] == pytest.approx(truth, rel=0.2)
    assert model.score(result.test_frame, result.test_frame["price"]) == pytest.approx(result.metrics["test_r2"])
    assert holdout_mape(model, result.test_frame) == pytest.approx(result.metrics["test_mape"])


def test_unknown_color_raises_naming_column_value_and_allowed():
    df = pd.DataFrame({"carat": [1.0, 0.5], "cut": ["Ideal", "Good"], "color": ["Z", "G"], "clarity": ["VS1", "IF"]})
    with pytest.raises(ValueError) as err:
        validate_diamond_input(df)
    msg = str(err.value)
    assert "color" in msg and "'Z'" in msg
    assert "J, I, H, G, F, E, D" in msg


def test_model_refuses_to_guess_at_predict_time(result):
    bad_cut = pd.DataFrame({"carat": [1.0], "cut": ["Excellent"], "color": ["G"], "clarity": ["VS1"]})
    with pytest.raises(ValueError, match=r"cut has unknown value\(s\) 'Excellent'.*Very Good"):
        result.model.predict(bad_cut)
    bad_clarity = pd.DataFrame({"carat": [1.0], "cut": ["Ideal"], "color": ["G"], "clarity": ["vs1"]})
    with pytest.raises(ValueError, match=r"clarity .*'vs1'.*VS1"):
        result.model.predict(bad_clarity)


@pytest.mark.parametrize("carat", [0.0, -0.3, None, "heavy"])
def test_non_positive_or_missing_carat_raises(carat):
    df = pd.DataFrame({"carat": [1.0, carat], "cut": "Ideal", "color": "G", "clarity": "VS1"})
    with pytest.raises(ValueError, match="carat must be a positive number"):
        validate_diamond_input(df)


def test_missing_columns_and_impossible_dimensions():
    with pytest.raises(ValueError, match=r"missing required column.*clarity"):
        validate_diamond_input(pd.DataFrame({"carat": [1.0], "cut": ["Ideal"], "color": ["G"]}))
    df = pd.DataFrame({"carat": [1.0], "cut": ["Ideal"], "color": ["G"], "clarity": ["VS1"], "x": [0.0]})
    assert np.isnan(validate_diamond_input(df)["x"].iloc[0])  # a 0 mm dimension is missing, not data


def test_conformal_quantile_rank():
    scores = np.arange(1, 20)  # 19 scores
    assert conformal_quantile(scores, 0.9) == 18  # ceil(20 * 0.9) = 18th smallest
    assert conformal_quantile(scores[:5], 0.9) == float("inf")  # too few points for 90%


def test_fit_without_optional_columns():
    df = make_diamonds(800, seed=5)[["carat", "cut", "color", "clarity", "price"]]
    model = DiamondPriceModel().fit(df)
    assert model.feature_columns_ == ["carat", "cut_ord", "color_ord", "clarity_ord"]
    assert model.score(df, df["price"]) > 0.85


def test_residual_and_forecast_figures_render(result):
    import io

    from ml.plots import forecast_vs_actual_plot, residuals_plot

    p = result.test_predictions
    fig = residuals_plot(p["price_actual"], p["price"], title="Diamond", log_scale=True)
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"
    dates = pd.date_range("2024-01-01", periods=10)
    fig2 = forecast_vs_actual_plot(
        dates,
        np.arange(10),
        np.arange(10) + 0.5,
        lower=np.arange(10) - 1,
        upper=np.arange(10) + 2,
        history_dates=dates - pd.Timedelta(days=10),
        history=np.arange(10),
    )
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()] == [
        "history",
        "interval",
        "actual",
        "forecast",
    ]
    for f in (fig, fig2):
        buf = io.BytesIO()
        f.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ too little data: skipped, not failed


def test_no_or_too_few_diamonds_is_insufficient_data_with_the_numbers():
    from ml.diamond import min_diamonds
    from ml.errors import InsufficientDataError

    with pytest.raises(InsufficientDataError, match="no rows"):
        fit_and_evaluate_diamond(make_diamonds().iloc[:0])
    needed = min_diamonds()
    with pytest.raises(InsufficientDataError, match=rf"{needed - 1} priced diamonds; need at least {needed}"):
        fit_and_evaluate_diamond(make_diamonds(needed - 1))
    fit_and_evaluate_diamond(make_diamonds(needed))  # the stated minimum is enough


def test_bad_input_is_still_a_plain_error_not_a_skip():
    from ml.errors import InsufficientDataError

    bad = make_diamonds(200).assign(color="Q")
    with pytest.raises(ValueError, match="color") as err:
        fit_and_evaluate_diamond(bad)
    assert not isinstance(err.value, InsufficientDataError)
