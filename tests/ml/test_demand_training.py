"""Demand training end to end on a real MLflow (sqlite) registry: per-tenant time, short series, no leftovers.

Two tenants whose data end four weeks apart, and a product first sold two days before its tenant's holdout
cut (the shape that used to kill a 12-minute run with "seasonal naive needs at least 7 days of history").
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.training.demand import HOLDOUT_DAYS

A_END = pd.Timestamp("2025-06-30")
B_END = pd.Timestamp("2025-06-02")
A_CUT = A_END - pd.Timedelta(days=HOLDOUT_DAYS)
LATE_FIRST_SALE = A_CUT - pd.Timedelta(days=1)  # two days of history at the cut


def _series(tenant: str, product: str, start: pd.Timestamp, end: pd.Timestamp, lam: float, seed: int) -> pd.DataFrame:
    dates = pd.date_range(start, end, freq="D")
    q = np.random.default_rng(seed).poisson(lam, len(dates)).astype(float)
    q[0] = max(q[0], 1.0)  # the first day is a sale (the mart starts a product at its first sale)
    return pd.DataFrame({"tenant_id": tenant, "product_id": product, "sales_date": dates.date, "quantity_sold": q})


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    return pd.concat([
        _series("a", "p1", A_END - pd.Timedelta(days=199), A_END, 6.0, 1),
        _series("a", "late", LATE_FIRST_SALE, A_END, 4.0, 2),
        _series("b", "q1", B_END - pd.Timedelta(days=199), B_END, 5.0, 3),
    ], ignore_index=True)


@pytest.fixture(scope="module")
def trained(sales, tmp_path_factory):
    """One training call with the system temp dir pointed at an empty folder, and its progress log.

    cmdstanpy makes one (empty) folder per process when it is first imported and removes it at exit; that is
    not the training call's doing, so it is imported first, and its folder must not grow either.
    """
    import cmdstanpy

    from ml.training.demand import train_demand

    cmdstan_before = sorted(Path(cmdstanpy._TMPDIR).iterdir())
    root = tmp_path_factory.mktemp("demand_training")
    temp_dir = root / "tmp"
    temp_dir.mkdir()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    messages: list[str] = []
    mp = pytest.MonkeyPatch()
    mp.setattr(tempfile, "tempdir", str(temp_dir))
    try:
        outcome = train_demand(sales, tracking_uri=uri, log=messages.append)
    finally:
        mp.undo()
    return {"outcome": outcome, "uri": uri, "messages": messages, "temp_dir": temp_dir,
            "cmdstan_added": sorted(set(Path(cmdstanpy._TMPDIR).iterdir()) - set(cmdstan_before))}


@pytest.mark.slow
def test_forecasts_and_holdout_follow_each_tenants_as_of(trained):
    out = trained["outcome"]
    fc = out.frames["forecasts"]
    first = pd.to_datetime(fc.groupby("tenant_id")["forecast_date"].min())
    assert first["a"] == A_END + pd.Timedelta(days=1)
    assert first["b"] == B_END + pd.Timedelta(days=1)
    assert (fc.groupby(["tenant_id", "product_id"]).size() == 30).all()
    hold = out.frames["holdout"]
    days = hold.groupby("tenant_id")["forecast_date"].agg(["min", "max"])
    assert (days.loc["a", "min"], days.loc["a", "max"]) == (A_CUT + pd.Timedelta(days=1), A_END)
    b_cut = B_END - pd.Timedelta(days=HOLDOUT_DAYS)
    assert (days.loc["b", "min"], days.loc["b", "max"]) == (b_cut + pd.Timedelta(days=1), B_END)
    assert "'a': '2025-06-30', 'b': '2025-06-02'" in out.notes[0]


@pytest.mark.slow
def test_a_product_first_sold_two_days_before_the_cut_is_forecast_flagged(trained):
    out = trained["outcome"]
    sel = out.frames["selection"].set_index("product_id")
    assert sel.loc["late", "selection_basis"] == "short_history"
    assert "days of history" in sel.loc["late", "selection_reason"]
    late = out.frames["forecasts"][out.frames["forecasts"]["product_id"] == "late"]
    assert len(late) == 30 and set(late["selection_basis"]) == {"short_history"}
    # Its seasonal-naive baseline cannot exist with two days: it is the moving average, and counted.
    assert out.baseline_metrics["baseline_fallback_series"] == 1.0
    assert out.frames["failures"].empty


@pytest.mark.slow
def test_training_reports_progress_and_leaves_nothing_in_the_temp_dir(trained):
    assert list(trained["temp_dir"].iterdir()) == []  # no plot folders, no CmdStan output
    assert trained["cmdstan_added"] == []
    messages = trained["messages"]
    fit = [m for m in messages if m.startswith("demand: backtest, select and fit at the holdout cut")]
    assert fit and "/3 series" in fit[0] and "series/s" in fit[0] and "left" in fit[0]
    assert fit[-1].endswith("in " + fit[-1].split(" in ")[-1]) and "done, 3/3 series" in fit[-1]
    assert any(m.startswith("demand: refit the chosen models on the full history") for m in messages)


@pytest.mark.slow
def test_registered_version_records_each_tenants_as_of(trained):
    from ml.registry import configure_tracking

    client = configure_tracking(trained["uri"])
    mv = client.get_model_version("demand_forecaster", trained["outcome"].version)
    assert json.loads(mv.tags["as_of_by_tenant"]) == {"a": "2025-06-30", "b": "2025-06-02"}
    assert mv.tags["as_of"] == "2025-06-30"
    run = client.get_run(mv.run_id)
    assert json.loads(run.data.params["holdout_cut_by_tenant"]) == {"a": "2025-06-02", "b": "2025-05-05"}
    assert set(trained["outcome"].plots) == {"forecast_vs_actual", "top_series"}
    assert all(png.startswith(b"\x89PNG") for png in trained["outcome"].plots.values())
    assert trained["outcome"].plot_artifacts["top_series"] == f"runs:/{mv.run_id}/plots/top_series_holdout.png"


@pytest.mark.slow
def test_scoring_starts_each_tenant_and_its_stockout_clock_at_its_own_origin(trained, sales):
    from ml.training.common import DEMAND
    from ml.training.scoring import forecast_completeness, load_champion_model, score_demand

    model, version = load_champion_model(DEMAND, trained["uri"])
    extra = pd.DataFrame({"tenant_id": ["a"], "product_id": ["brand_new"], "sales_date": [A_END.date()],
                          "quantity_sold": [3.0]})
    # The inventory mart's as-of may still be one global date: the stock-out clock must not follow it.
    inventory = pd.DataFrame({
        "tenant_id": ["a", "b"], "product_id": ["p1", "q1"], "as_of_date": [A_END.date(), A_END.date()],
        "snapshot_date": [A_END.date(), B_END.date()], "on_hand": [1000.0, 12.0], "lead_time_days": [7, 7],
    })
    result = score_demand(model, pd.concat([sales, extra], ignore_index=True), inventory, version)
    fc = result.frame
    origin = fc.groupby("tenant_id")["forecast_origin"].first()
    assert origin["a"] == A_END.date() and origin["b"] == B_END.date()
    q1 = fc[fc["product_id"] == "q1"].iloc[0]
    cum = fc[fc["product_id"] == "q1"]["yhat"].cumsum().to_numpy()
    expected_day = int(np.argmax(cum > 12.0)) + 1
    assert q1["days_until_stockout"] == expected_day
    assert q1["stockout_date"] == (B_END + pd.Timedelta(days=expected_day)).date()
    assert set(fc["selection_basis"]) <= {"backtest", "short_history"}
    assert result.unscored == [("a", "brand_new")]
    assert "unknown to champion" in result.reasons[("a", "brand_new")]
    # The check: complete and non-negative; the unknown product is a reported gap (warning), not an error.
    expected = [("a", "brand_new"), ("a", "late"), ("a", "p1"), ("b", "q1")]
    c = forecast_completeness(fc, expected, 30, result.reasons)
    assert not c.errors and c.warnings and list(c.missing_explained) == [("a", "brand_new")]
    assert forecast_completeness(fc, expected, 30, {}).errors  # unexplained gaps are errors


@pytest.mark.slow
def test_seasonal_naive_winning_everywhere_ties_its_baseline_and_passes(tmp_path):
    from ml.training.demand import train_demand

    pattern = np.array([2.0, 3.0, 2.0, 4.0, 12.0, 15.0, 6.0])  # a strictly weekly shop: last week is the forecast
    days = pd.date_range(end=A_END, periods=182, freq="D")
    sales = pd.concat([
        pd.DataFrame({"tenant_id": "w", "product_id": p, "sales_date": days.date,
                      "quantity_sold": np.tile(pattern * k, 26)})
        for p, k in (("x", 1.0), ("y", 3.0))
    ], ignore_index=True)
    out = train_demand(sales, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert set(out.frames["selection"]["model"]) == {"seasonal_naive"}
    assert out.champion_check_score == out.baseline_check_score  # the champion IS the baseline
    assert out.champion_not_worse_than_baseline
