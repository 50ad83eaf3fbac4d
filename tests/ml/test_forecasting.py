"""Demand forecasting: metrics, baselines, Prophet, backtest, selection, batch and the MLflow pyfunc."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.forecasting import (
    BACKTEST_COLUMNS,
    FORECAST_COLUMNS,
    rolling_origin_backtest,
    run_metrics,
    series_from_sales,
    train_demand_forecaster,
)
from ml.forecasting.baselines import moving_average_forecast, seasonal_naive_forecast
from ml.forecasting.models import PROPHET, fit_model, model_from_state
from ml.forecasting.prophet_model import build_holidays
from ml.forecasting.selection import PROPHET_MARGIN
from ml.metrics_forecast import (
    interval_coverage,
    interval_pinball_loss,
    mase,
    mean_interval_width,
    pinball_loss,
    seasonal_naive_scale,
    wape,
)

AS_OF = pd.Timestamp("2025-06-30")


def _frame(tenant: str, product: str, values: np.ndarray, end: pd.Timestamp = AS_OF) -> pd.DataFrame:
    dates = pd.date_range(end=end, periods=len(values), freq="D")
    q = np.asarray(values, dtype=float)
    return pd.DataFrame(
        {
            "tenant_id": tenant,
            "product_id": product,
            "sales_date": dates.date,
            "quantity_sold": q,
            "quantity_returned": 0.0,
            "net_quantity": q,
            "revenue": q * 10.0,
            "n_transactions": q,
        }
    )


def _seasonal_values(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n)
    dow = pd.date_range(end=AS_OF, periods=n).dayofweek.to_numpy()
    weekly = np.array([0.7, 0.8, 0.9, 1.0, 1.3, 1.6, 0.7])[dow]
    yearly = 1.0 + 0.5 * np.sin(2 * np.pi * t / 365.25)
    return rng.poisson(25.0 * weekly * yearly).astype(float)


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    return pd.concat(
        [
            _frame("t1", "seasonal", _seasonal_values(800, rng)),
            _frame("t1", "noise", rng.normal(40.0, 6.0, 800).round().clip(0)),
            _frame("t1", "new", rng.poisson(6.0, 20).astype(float)),
            _frame("t2", "dormant", np.r_[rng.poisson(3.0, 200), np.zeros(150)].astype(float)),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def run(sales):
    return train_demand_forecaster(sales)


# ------------------------------------------------------------------------------------------- metrics


def test_wape_hand_computed():
    assert wape([1, 2, 3], [2, 2, 2]) == pytest.approx(2 / 6)
    assert wape([0, 0], [0, 0]) == 0.0
    assert np.isnan(wape([0, 0], [1, 0]))


def test_mase_scaled_on_in_sample_seasonal_naive_errors():
    insample = np.arange(1, 10)  # lag-7 differences: 8-1, 9-2 -> scale 7
    assert seasonal_naive_scale(insample, 7) == pytest.approx(7.0)
    assert mase([10, 12], [9, 9], insample, season=7) == pytest.approx(2 / 7)
    assert np.isnan(mase([1.0], [2.0], [3.0] * 10))  # constant history: scale 0
    assert mase([1.0], [1.0], [3.0] * 10) == 0.0


def test_interval_metrics_hand_computed():
    assert interval_coverage([1, 5, 10], [0, 6, 9], [2, 7, 10]) == pytest.approx(2 / 3)
    assert mean_interval_width([0, 6, 9], [2, 7, 10]) == pytest.approx((2 + 1 + 1) / 3)
    assert pinball_loss([10, 5], [8, 8], 0.9) == pytest.approx((0.9 * 2 + 0.1 * 3) / 2)
    # Actual inside [lower, upper]: 0.1 * (5 - 4) and 0.1 * (6 - 5) -> mean 0.1
    assert interval_pinball_loss([5], [4], [6], level=0.8) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        wape([1, 2], [1])


# ------------------------------------------------------------------------------------------- baselines


def _assert_ordered(frame) -> None:
    f = pd.DataFrame(frame)
    assert (f["yhat_lower_95"] >= 0).all()
    assert (f["yhat_lower_95"] <= f["yhat_lower_80"] + 1e-9).all()
    assert (f["yhat_lower_80"] <= f["yhat"] + 1e-9).all()
    assert (f["yhat"] <= f["yhat_upper_80"] + 1e-9).all()
    assert (f["yhat_upper_80"] <= f["yhat_upper_95"] + 1e-9).all()


def test_seasonal_naive_repeats_last_week():
    y = np.tile([1.0, 2, 3, 4, 5, 6, 7], 10) + np.r_[np.zeros(63), np.arange(7)]
    out = seasonal_naive_forecast(y, 10)
    np.testing.assert_allclose(out["yhat"], np.r_[y[-7:], y[-7:-4]])
    _assert_ordered(out)


def test_moving_average_is_flat_at_the_window_mean_and_intervals_cover():
    rng = np.random.default_rng(0)
    y = rng.normal(50, 5, 400)
    out = moving_average_forecast(y, 28, window=28)
    np.testing.assert_allclose(out["yhat"], y[-28:].mean())
    _assert_ordered(out)
    future = rng.normal(50, 5, (200, 28))  # 200 futures from the same process
    cov80 = ((future >= out["yhat_lower_80"]) & (future <= out["yhat_upper_80"])).mean()
    cov95 = ((future >= out["yhat_lower_95"]) & (future <= out["yhat_upper_95"])).mean()
    assert 0.7 <= cov80 <= 0.9
    assert 0.9 <= cov95 <= 0.99


def test_baselines_never_go_negative_on_sparse_series():
    y = np.zeros(60)
    y[::9] = 3.0
    for out in (seasonal_naive_forecast(y, 30), moving_average_forecast(y, 30)):
        _assert_ordered(out)


def test_holiday_calendar_has_festivals_for_every_year():
    hol = build_holidays(range(2022, 2028))
    bf = hol[hol["holiday"] == "black_friday"]["ds"].dt.date.astype(str).tolist()
    assert "2024-11-29" in bf and "2025-11-28" in bf
    assert set(hol[hol["holiday"] == "diwali"]["ds"].dt.year) == set(range(2022, 2028))
    assert (hol[hol["holiday"] == "christmas"]["ds"].dt.strftime("%m-%d") == "12-25").all()


def test_prophet_forecast_is_reproducible_from_its_json():
    rng = np.random.default_rng(1)
    y = pd.Series(_seasonal_values(120, rng), index=pd.date_range(end=AS_OF, periods=120))
    fitted = fit_model(PROPHET, y)
    direct = fitted.forecast(30)
    restored = model_from_state(fitted.state).forecast(30)
    pd.testing.assert_frame_equal(direct, restored)
    _assert_ordered(direct)
    assert direct["forecast_date"].iloc[0] == AS_OF + pd.Timedelta(days=1)


# ------------------------------------------------------------------------------ backtest and selection


def test_backtest_table_is_tidy(run):
    bt = run.backtest
    assert list(bt.columns) == BACKTEST_COLUMNS
    seasonal = bt[bt["product_id"] == "seasonal"]
    assert set(seasonal["model"]) == {"seasonal_naive", "moving_average", "prophet"}
    assert sorted(seasonal["window"].unique()) == [1, 2, 3]
    # The most recent window ends exactly at the as-of date.
    assert seasonal["cutoff"].max() == (AS_OF - pd.Timedelta(days=28)).date()


def test_prophet_beats_seasonal_naive_on_weekly_and_yearly_seasonality(run):
    bt = run.backtest[run.backtest["product_id"] == "seasonal"]
    mean_wape = bt.groupby("model")["wape"].mean()
    assert mean_wape["prophet"] < mean_wape["seasonal_naive"]
    sel = run.selection.set_index("product_id")
    assert sel.loc["seasonal", "model"] == "prophet"
    assert "lowest mean WAPE" in sel.loc["seasonal", "selection_reason"]


def test_white_noise_does_not_need_prophet(run):
    bt = run.backtest[run.backtest["product_id"] == "noise"]
    mean_wape = bt.groupby("model")["wape"].mean()
    best_baseline = mean_wape[["seasonal_naive", "moving_average"]].min()
    # Prophet is not meaningfully better than the best baseline on noise...
    assert mean_wape["prophet"] > (1 - PROPHET_MARGIN) * best_baseline
    # ...so the selection keeps the best baseline (the one the metrics favour).
    chosen = run.selection.set_index("product_id").loc["noise", "model"]
    assert chosen == mean_wape[["seasonal_naive", "moving_average"]].idxmin()


def test_short_history_gets_a_baseline_with_a_reason(run):
    row = run.selection.set_index("product_id").loc["new"]
    assert row["model"] in {"seasonal_naive", "moving_average"}
    assert "20 days of history" in row["selection_reason"]
    assert "new" not in set(run.backtest["product_id"])


def test_short_history_never_fits_prophet(monkeypatch):
    import ml.forecasting.prophet_model as pm

    def _boom(*args, **kwargs):
        raise AssertionError("Prophet must not be fitted on a short series")

    monkeypatch.setattr(pm, "fit_prophet", _boom)
    rng = np.random.default_rng(5)
    short = _frame("t1", "p", rng.poisson(4.0, 25).astype(float))
    result = train_demand_forecaster(short)
    assert result.selection["model"].tolist() == ["moving_average"]
    assert len(result.forecasts) == 30


def test_backtest_parallel_matches_serial(sales):
    series = series_from_sales(sales[sales["product_id"].isin(["seasonal", "noise"])])
    models = ("seasonal_naive", "moving_average")
    serial = rolling_origin_backtest(series, models=models)
    parallel = rolling_origin_backtest(series, models=models, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)


# -------------------------------------------------------------------------------------------- batch


def test_batch_forecasts_thirty_ordered_nonnegative_rows_per_active_series(run):
    fc = run.forecasts
    assert list(fc.columns) == FORECAST_COLUMNS
    counts = fc.groupby(["tenant_id", "product_id"]).size()
    assert set(counts.index) == {("t1", "seasonal"), ("t1", "noise"), ("t1", "new")}
    assert (counts == 30).all()
    _assert_ordered(fc)
    for _, grp in fc.groupby("product_id"):
        dates = pd.to_datetime(grp["forecast_date"])
        assert dates.iloc[0] == AS_OF + pd.Timedelta(days=1)
        assert (dates.diff().dropna() == pd.Timedelta(days=1)).all()
    # Model and reason come from the selection.
    merged = fc.drop_duplicates("product_id").merge(run.selection, on=["tenant_id", "product_id"])
    assert (merged["model_x"] == merged["model_y"]).all()
    assert (merged["selection_reason_x"] == merged["selection_reason_y"]).all()


def test_dormant_series_is_skipped_with_a_reason(run):
    skipped = run.skipped.set_index("product_id")
    assert "dormant" in skipped.index
    assert "90 days" in skipped.loc["dormant", "reason"]


def test_run_metrics_compare_selection_with_seasonal_naive(run):
    m = run_metrics(run)
    assert m["n_series_forecast"] == 3 and m["n_series_skipped"] == 1
    assert m["n_series_prophet"] + m["n_series_moving_average"] + m.get("n_series_seasonal_naive", 0) == 3
    # Selection picks the per-series best on these windows, so it cannot do worse than seasonal naive.
    assert m["selected_wape"] <= m["seasonal_naive_wape"]
    assert 0.0 <= m["selected_coverage_80"] <= 1.0


def test_as_of_cuts_off_later_sales(sales):
    series = series_from_sales(sales, as_of="2025-05-31")
    assert all(s.index.max() == pd.Timestamp("2025-05-31") for s in series.values())


# -------------------------------------------------------------------------------------------- pyfunc


@pytest.mark.slow  # MLflow import + sqlite store migrations: ~10-20 s on a busy 2-core box
def test_demand_pyfunc_round_trip(run, tmp_path):
    import mlflow

    from ml.forecasting.pyfunc import DEMAND_INPUT_EXAMPLE, DemandForecastModel, build_demand_pyfunc
    from ml.registry import configure_tracking, ensure_experiment

    # ensure_experiment keeps artifacts beside the SQLite file (MLflow's default is ./mlruns in the CWD).
    configure_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    ensure_experiment("demand-test")
    model = build_demand_pyfunc(run)
    assert isinstance(model, DemandForecastModel)
    request = pd.DataFrame(
        {
            "tenant_id": ["t1", "t1", "t1"],
            "product_id": ["seasonal", "noise", "new"],
            "horizon_days": [30, 30, 30],
        }
    )
    example = DEMAND_INPUT_EXAMPLE.assign(tenant_id="t1", product_id="seasonal")
    with mlflow.start_run():
        # Explicit requirements skip MLflow's inference, which reloads the model in a subprocess.
        info = mlflow.pyfunc.log_model(
            name="model", python_model=model, input_example=example, pip_requirements=["prophet", "pandas"]
        )
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    got = loaded.predict(request)
    expected = run.forecasts.set_index("product_id").loc[["seasonal", "noise", "new"]].reset_index()
    expected = expected[FORECAST_COLUMNS]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True).assign(forecast_date=lambda f: pd.to_datetime(f["forecast_date"])),
        expected.assign(forecast_date=lambda f: pd.to_datetime(f["forecast_date"])),
        check_dtype=False,
    )
    # Shorter horizons are a prefix; unknown series and bad horizons are clear errors.
    short = loaded.predict(request.iloc[[0]].assign(horizon_days=7))
    assert len(short) == 7
    with pytest.raises(Exception, match="no forecaster"):
        loaded.predict(request.iloc[[0]].assign(product_id="nope"))
    with pytest.raises(Exception, match="horizon_days"):
        loaded.predict(request.iloc[[0]].assign(horizon_days=0))


# ------------------------------------------------------------------------------ per-tenant as-of


A_END = pd.Timestamp("2025-06-30")
B_END = pd.Timestamp("2025-06-02")  # tenant b's uploads stop four weeks before tenant a's


@pytest.fixture(scope="module")
def two_tenants() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.concat(
        [
            _frame("a", "p1", rng.poisson(5.0, 120).astype(float), end=A_END),
            _frame("b", "q1", rng.poisson(5.0, 120).astype(float), end=B_END),
        ],
        ignore_index=True,
    )


def test_series_end_on_their_own_tenants_as_of(two_tenants):
    from ml.forecasting import tenant_last_dates

    series = series_from_sales(two_tenants)
    assert series[("a", "p1")].index.max() == A_END
    assert series[("b", "q1")].index.max() == B_END  # no four weeks of invented zeros
    assert tenant_last_dates(two_tenants) == {"a": A_END, "b": B_END}
    # One date is a cap (a backfill), a mapping is exact per tenant.
    capped = series_from_sales(two_tenants, as_of="2025-06-15")
    assert capped[("a", "p1")].index.max() == pd.Timestamp("2025-06-15")
    assert capped[("b", "q1")].index.max() == B_END
    cut = series_from_sales(two_tenants, as_of={"a": "2025-06-20", "b": "2025-05-20"})
    assert cut[("a", "p1")].index.max() == pd.Timestamp("2025-06-20")
    assert cut[("b", "q1")].index.max() == pd.Timestamp("2025-05-20")


def test_forecasts_start_the_day_after_each_tenants_as_of(two_tenants):
    run = train_demand_forecaster(two_tenants, models=("seasonal_naive", "moving_average"), n_windows=2)
    first = run.forecasts.groupby("tenant_id")["forecast_date"].min()
    assert first["a"] == (A_END + pd.Timedelta(days=1)).date()
    assert first["b"] == (B_END + pd.Timedelta(days=1)).date()
    assert run.tenant_as_of == {"a": A_END, "b": B_END}
    # Activity is judged on the tenant's own last 90 days: b is active although it stopped weeks earlier.
    assert run.skipped.empty


# ------------------------------------------------------------------------------ one series never fails the run


def test_seasonal_naive_on_two_days_falls_back_to_the_moving_average():
    from ml.forecasting import forecast_with_fallback

    y = pd.Series([3.0, 5.0], index=pd.date_range(end=AS_OF, periods=2))
    with pytest.raises(ValueError, match="at least 7 days"):
        fit_model("seasonal_naive", y).forecast(28)  # the library contract stays strict...
    out = forecast_with_fallback("seasonal_naive", y, 28)  # ...the callers never see it
    assert out.model == "moving_average" and out.fell_back and "has 2" in out.note
    assert len(out.frame) == 28 and (out.frame["yhat"] == 4.0).all()


def _prophet_fails_on(monkeypatch, predicate):
    """Make real Prophet fits raise for the histories where ``predicate(history)`` is true."""
    import ml.forecasting.prophet_model as pm

    real = pm.fit_prophet

    def fit(history, *args, **kwargs):
        if predicate(history):
            raise RuntimeError("Error during optimization! (simulated CmdStan failure)")
        return real(history, *args, **kwargs)

    monkeypatch.setattr(pm, "fit_prophet", fit)


def test_a_model_failing_in_the_backtest_is_dropped_for_that_series_only(monkeypatch, sales):
    data = sales[sales["product_id"].isin(["seasonal", "noise"])]
    seasonal_days = int((data["product_id"] == "seasonal").sum())
    # Prophet fails on the latest backtest window of "seasonal" only (its first value marks the series):
    # the window where it worked must not count either.
    first_value = float(data[data["product_id"] == "seasonal"]["quantity_sold"].iloc[0])
    _prophet_fails_on(monkeypatch, lambda h: len(h) == seasonal_days - 28 and float(h.iloc[0]) == first_value)
    run = train_demand_forecaster(data, n_windows=2)
    bt = run.backtest
    assert "prophet" not in set(bt[bt["product_id"] == "seasonal"]["model"])
    assert set(bt[bt["product_id"] == "seasonal"]["window"]) == {1, 2}
    assert "prophet" in set(bt[bt["product_id"] == "noise"]["model"])
    sel = run.selection.set_index("product_id")
    assert sel.loc["seasonal", "model"] in {"seasonal_naive", "moving_average"}
    assert "prophet failed in the backtest" in sel.loc["seasonal", "selection_reason"]
    assert sel.loc["seasonal", "selection_basis"] == "backtest"
    fails = run.failures
    assert set(fails["product_id"]) == {"seasonal"} and set(fails["stage"]) == {"backtest"}
    assert fails["outcome"].iloc[0] == f"forecast by {sel.loc['seasonal', 'model']}"
    assert "simulated CmdStan failure" in fails["error"].iloc[0]
    assert (run.forecasts.groupby("product_id").size() == 30).all()


def test_chosen_model_failing_on_the_final_fit_falls_back_flagged(monkeypatch, sales):
    data = sales[sales["product_id"].isin(["seasonal", "noise"])]
    full = int((data["product_id"] == "seasonal").sum())
    _prophet_fails_on(monkeypatch, lambda h: len(h) == min(full, 3 * 365))  # only the final fit
    run = train_demand_forecaster(data, n_windows=2)
    sel = run.selection.set_index("product_id")
    assert sel.loc["seasonal", "model"] == "moving_average"
    assert sel.loc["seasonal", "selection_basis"] == "fallback"
    assert "FALLBACK: prophet failed on this series" in sel.loc["seasonal", "selection_reason"]
    fc = run.forecasts[run.forecasts["product_id"] == "seasonal"]
    assert len(fc) == 30 and set(fc["selection_basis"]) == {"fallback"} and set(fc["model"]) == {"moving_average"}
    assert run.states[("t1", "seasonal")]["model"] == "moving_average"
    row = run.failures[run.failures["stage"] == "forecast"].iloc[0]
    assert (row["product_id"], row["model"], row["outcome"]) == ("seasonal", "prophet", "forecast by moving_average")
    # The other series is untouched.
    assert sel.loc["noise", "selection_basis"] == "backtest"


def test_a_series_nothing_can_forecast_is_listed_and_the_others_still_are(monkeypatch, sales):
    import ml.forecasting.models as models

    real = models.moving_average_forecast

    def broken_for_new(history, horizon, window=28):
        if len(history) == 20:  # "new": 20 days, only ever gets the moving average
            raise FloatingPointError("simulated numeric failure")
        return real(history, horizon, window)

    monkeypatch.setattr(models, "moving_average_forecast", broken_for_new)
    run = train_demand_forecaster(sales, models=("seasonal_naive", "moving_average"), n_windows=2)
    assert ("t1", "new") not in run.states
    assert "new" not in set(run.selection["product_id"]) and "new" not in set(run.forecasts["product_id"])
    failed = run.failures[run.failures["outcome"] == "not forecast"]
    assert failed[["tenant_id", "product_id"]].values.tolist() == [["t1", "new"]]
    assert "simulated numeric failure" in failed["error"].iloc[0]
    assert set(run.forecasts["product_id"]) == {"seasonal", "noise"}
    assert run_metrics(run)["n_series_failed"] == 1


def test_short_history_is_flagged_in_the_selection_and_the_forecasts(run):
    sel = run.selection.set_index("product_id")
    assert sel.loc["new", "selection_basis"] == "short_history"
    assert sel.loc["seasonal", "selection_basis"] == "backtest"
    basis = run.forecasts.drop_duplicates("product_id").set_index("product_id")["selection_basis"]
    assert basis["new"] == "short_history" and basis["seasonal"] == "backtest"


def test_pyfunc_falls_back_when_a_stored_prophet_model_cannot_be_restored(run):
    from ml.forecasting.pyfunc import build_demand_pyfunc

    model = build_demand_pyfunc(run)
    key = ("t1", "seasonal")
    assert model.series[key]["state"]["model"] == "prophet"
    model.series[key]["state"]["prophet_json"] = "{not json"
    request = pd.DataFrame({"tenant_id": ["t1", "t1"], "product_id": ["seasonal", "noise"], "horizon_days": [7, 7]})
    out = model.predict(None, request)
    seasonal = out[out["product_id"] == "seasonal"]
    assert len(seasonal) == 7 and set(seasonal["model"]) == {"moving_average"}
    assert set(seasonal["selection_basis"]) == {"fallback"}
    history = model.series[key]["state"]["history"]
    assert seasonal["yhat"].iloc[0] == pytest.approx(np.mean(history[-28:]))
    assert len(out[out["product_id"] == "noise"]) == 7
    del model.series[key]["state"]["history"]  # nothing to fall back on: a clear error naming the series
    with pytest.raises(ValueError, match="t1/seasonal"):
        model.predict(None, request)


# ------------------------------------------------------------------------------ progress and Prophet's logs


def test_progress_reports_done_total_rate_and_time_left_at_a_bounded_interval():
    from ml.progress import Progress

    now = [0.0]
    messages: list[str] = []
    p = Progress("demand: fit", 100, messages.append, every_seconds=30, clock=lambda: now[0])
    for _ in range(100):
        now[0] += 1.0  # one series per second
        p.advance()
    p.finish()
    assert messages[0].startswith("demand: fit: 1/100 series (1%)")
    assert "1.0 series/s" in messages[1] and "~69 s left" in messages[1]  # 31/100 after 31 s
    gaps = [int(m.split(":")[2].split("/")[0].strip()) for m in messages[:-1]]
    assert gaps == [1, 31, 61, 91]  # never more than 30 s apart
    assert messages[-1] == "demand: fit: done, 100/100 series in 1.7 min"


def test_training_logs_progress_to_the_callers_log(sales):
    messages: list[str] = []
    train_demand_forecaster(sales, models=("seasonal_naive", "moving_average"), log=messages.append)
    assert messages[0].startswith("demand: backtest, select and forecast: 1/3 series")
    assert messages[-1].startswith("demand: backtest, select and forecast: done, 3/3 series")


def test_cmdstan_exit_code_is_not_reported_as_operation_not_permitted(caplog):
    from prophet import Prophet

    from ml.forecasting.prophet_model import _silence_prophet_logging

    _silence_prophet_logging()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"ds": pd.date_range(end=AS_OF, periods=200), "y": rng.poisson(5.0, 200)})
    caplog.set_level("DEBUG", logger="cmdstanpy")
    # An absurd line-search step makes CmdStan's L-BFGS exit with code 1 (a real optimizer failure); the
    # Newton retry then rejects the option, so the fit raises: the failure itself is never hidden.
    with pytest.raises(ValueError, match="init_alpha"):
        Prophet().fit(frame, init_alpha=1e10)
    cmdstan = [r for r in caplog.records if r.name == "cmdstanpy"]
    assert not [r for r in cmdstan if "Operation not permitted" in r.getMessage()]
    assert not [r for r in cmdstan if r.levelno >= 40]
    assert any("CmdStan exited with code 1" in r.getMessage() and r.levelname == "DEBUG" for r in cmdstan)


def test_prophet_fits_leave_no_files_behind(tmp_path, monkeypatch):
    import tempfile

    import cmdstanpy

    before = set(Path(cmdstanpy._TMPDIR).iterdir()) if Path(cmdstanpy._TMPDIR).exists() else set()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    rng = np.random.default_rng(1)
    y = pd.Series(_seasonal_values(120, rng), index=pd.date_range(end=AS_OF, periods=120))
    fit_model(PROPHET, y).forecast(7)
    assert list(tmp_path.iterdir()) == []
    after = set(Path(cmdstanpy._TMPDIR).iterdir()) if Path(cmdstanpy._TMPDIR).exists() else set()
    assert after == before  # nothing accumulates in cmdstanpy's process-wide folder either
