"""Gold price forecaster: honest comparison against random walks, calibrated intervals, pyfunc."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ml.gold import (
    AR,
    COMPARISON_COLUMNS,
    FORECAST_COLUMNS,
    RANDOM_WALK,
    _fit_ar,
    forecast_gold_prices,
    gold_series,
)

PURITIES = [(999, 6500.0), (916, 6000.0), (750, 4900.0)]


def _prices(n: int = 1500, seed: int = 0, drift: float = 0.0002, vol: float = 0.01) -> pd.DataFrame:
    """Independent geometric random walks per purity (independent so the backtest has more information)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2021-01-01", periods=n, freq="D")
    frames = []
    for purity, base in PURITIES:
        log_p = np.log(base) + np.cumsum(rng.normal(drift, vol, n))
        frames.append(
            pd.DataFrame(
                {
                    "price_date": dates.date,
                    "metal": "gold",
                    "purity": purity,
                    "price_per_gram": np.exp(log_p),
                    "currency": "INR",
                }
            )
        )
    silver = frames[0].assign(metal="silver", price_per_gram=80.0)  # must be ignored
    return pd.concat([*frames, silver], ignore_index=True)


@pytest.fixture(scope="module")
def result():
    return forecast_gold_prices(_prices(), n_origins=40, origin_step_days=15)


def test_comparison_table_has_every_model_purity_and_horizon(result):
    comp = result.comparison
    assert list(comp.columns) == COMPARISON_COLUMNS
    assert set(comp["purity"]) == {"999", "916", "750"}
    for _, grp in comp.groupby(["purity", "model"]):
        assert grp["horizon"].tolist() == list(range(1, 31))
    assert (comp["n_forecasts"] == 40).all()
    assert set(result.summary["model"]) == {"random_walk", "random_walk_drift", "ar"}
    # Errors grow with the horizon for a random walk.
    rw = comp[comp["model"] == RANDOM_WALK].groupby("horizon")["mae"].mean()
    assert rw.loc[30] > 2 * rw.loc[1]


def test_random_walk_is_not_beaten_by_a_wide_margin_on_a_random_walk(result):
    summary = result.summary.set_index("model")
    rw = summary.loc[RANDOM_WALK, "mape"]
    assert summary["mape"].min() >= 0.95 * rw
    # The choice follows the documented rule and says why.
    best = summary["mape"].idxmin()
    if best == RANDOM_WALK or summary.loc[best, "mape"] > 0.99 * rw:
        assert result.chosen_model == RANDOM_WALK
    else:
        assert result.chosen_model == best
    assert "random walk" in result.reason


def test_intervals_cover_near_their_nominal_rate(result):
    summary = result.summary.set_index("model")
    for model in summary.index:
        assert 0.70 <= summary.loc[model, "coverage_80"] <= 0.90, model
        assert 0.90 <= summary.loc[model, "coverage_95"] <= 0.99, model


def test_forecast_frame_per_purity_and_horizon(result):
    fc = result.forecast
    assert list(fc.columns) == FORECAST_COLUMNS
    assert len(fc) == 3 * 30
    assert (fc["model"] == result.chosen_model).all()
    assert (fc["yhat_lower_95"] < fc["yhat_lower_80"]).all()
    assert (fc["yhat_lower_80"] < fc["yhat"]).all()
    assert (fc["yhat"] < fc["yhat_upper_80"]).all()
    assert (fc["yhat_upper_80"] < fc["yhat_upper_95"]).all()
    first = fc[fc["horizon"] == 1].set_index("purity")
    assert (pd.to_datetime(first["date"]) == pd.Timestamp("2021-01-01") + pd.Timedelta(days=1500)).all()
    # Intervals widen with the horizon.
    p999 = fc[fc["purity"] == "999"]
    width = (p999["yhat_upper_95"] - p999["yhat_lower_95"]).to_numpy()
    assert (np.diff(width) > 0).all()


def test_gold_series_forward_fills_non_publishing_days():
    prices = _prices(n=60)
    weekdays = prices[pd.to_datetime(prices["price_date"]).dt.dayofweek < 5]
    series = gold_series(weekdays)
    s = series["999"]
    assert len(s) == (s.index.max() - s.index.min()).days + 1
    saturday = s.index[s.index.dayofweek == 5][0]
    assert s.loc[saturday] == s.loc[saturday - pd.Timedelta(days=1)]
    assert "80.0" not in {str(v) for v in s.unique()}  # silver excluded


def test_ar_model_recovers_autocorrelation():
    rng = np.random.default_rng(3)
    e = rng.normal(0, 0.01, 3000)
    d = np.zeros(3000)
    for t in range(1, 3000):
        d[t] = 0.5 * d[t - 1] + e[t]
    params = _fit_ar(d)
    assert params["p"] >= 1
    assert params["phi"][0] == pytest.approx(0.5, abs=0.06)
    assert params["sigma"] == pytest.approx(0.01, rel=0.05)


def test_prophet_can_be_compared_too():
    res = forecast_gold_prices(_prices(n=500), models=(RANDOM_WALK, AR, "prophet"), n_origins=2)
    assert set(res.summary["model"]) == {"random_walk", "ar", "prophet"}
    assert len(res.forecast) == 3 * 30


def test_importing_the_library_does_not_import_mlflow_or_prophet():
    code = (
        "import sys, ml.gold, ml.stockout, ml.metrics_forecast, ml.forecasting;"
        "bad = [m for m in ('mlflow', 'prophet', 'matplotlib') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow  # MLflow import + sqlite store migrations: ~10-20 s on a busy 2-core box
def test_gold_pyfunc_round_trip(result, tmp_path):
    import mlflow

    from ml.gold import GOLD_INPUT_EXAMPLE, GoldPriceForecastModel, build_gold_pyfunc
    from ml.registry import configure_tracking, ensure_experiment

    # ensure_experiment keeps artifacts beside the SQLite file (MLflow's default is ./mlruns in the CWD).
    configure_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    ensure_experiment("gold-test")
    model = build_gold_pyfunc(result)
    assert isinstance(model, GoldPriceForecastModel)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, input_example=GOLD_INPUT_EXAMPLE, pip_requirements=["pandas"]
        )
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    got = loaded.predict(pd.DataFrame({"purity": ["916", "999"], "horizon_days": [30, 30]}))
    expected = result.forecast.set_index("purity").loc[["916", "999"]].reset_index()[FORECAST_COLUMNS]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    with pytest.raises(Exception, match="horizon_days"):
        loaded.predict(pd.DataFrame({"purity": ["916"], "horizon_days": [31]}))
    with pytest.raises(Exception, match="purity"):
        loaded.predict(pd.DataFrame({"purity": ["585"], "horizon_days": [3]}))


@pytest.mark.slow  # a fresh interpreter importing pandas + mlflow: ~5-13 s on a busy 2-core box
def test_gold_pyfunc_class_unpickles_in_a_fresh_process(result):
    # The class is built lazily; a fresh interpreter (like the serving process) must still resolve it by name.
    import pickle

    from ml.gold import build_gold_pyfunc

    payload = pickle.dumps(build_gold_pyfunc(result))
    code = (
        "import pickle, sys; import pandas as pd;"
        "m = pickle.loads(sys.stdin.buffer.read());"
        "out = m.predict(None, pd.DataFrame({'purity': ['750'], 'horizon_days': [5]}));"
        "assert type(m).__name__ == 'GoldPriceForecastModel' and len(out) == 5"
    )
    subprocess.run([sys.executable, "-c", code], input=payload, check=True)


# ------------------------------------------------------------------ too little data: skipped, not failed


def test_no_gold_prices_is_insufficient_data_not_a_crash():
    from ml.errors import InsufficientDataError

    silver_only = _prices(200)
    silver_only = silver_only[silver_only["metal"] == "silver"]
    with pytest.raises(InsufficientDataError, match="no gold prices"):
        forecast_gold_prices(silver_only)
    with pytest.raises(InsufficientDataError, match="no gold prices"):
        forecast_gold_prices(silver_only.iloc[:0])


def test_too_short_a_history_says_how_much_is_needed():
    from ml.errors import InsufficientDataError

    with pytest.raises(InsufficientDataError, match=r"at least 120 calendar days.*999: 60 days"):
        forecast_gold_prices(_prices(60))


def test_a_purity_with_two_prices_does_not_stop_the_others():
    prices = _prices(400)
    lone = prices[prices["purity"] == 999].head(2).assign(purity=585)
    out = forecast_gold_prices(pd.concat([prices, lone], ignore_index=True), n_origins=3)
    assert set(out.params) == {"999", "916", "750"}
    assert set(out.forecast["purity"]) == {"999", "916", "750"}
    assert out.skipped == {"585": "only 2 day(s) of prices (at least 3 needed)"}
