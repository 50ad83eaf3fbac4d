"""Matplotlib figures for MLflow artifacts (`mlflow.log_figure(fig, "name.png")`).

Figures are built with the object-oriented API on a `matplotlib.figure.Figure` attached to an Agg
canvas: no pyplot, so no global figure registry to leak memory in a long-running Dagster process and no
GUI backend needed on a server. Inputs are plain arrays / DataFrames; every function returns the Figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def calibration_plot(table: pd.DataFrame, title: str = "Calibration (holdout)") -> Figure:
    """Reliability diagram from `metrics_classification.calibration_table` (with Wilson intervals)."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    if not table.empty:
        yerr = np.vstack([table["observed_rate"] - table["ci_low"], table["ci_high"] - table["observed_rate"]]).clip(
            min=0
        )
        ax.errorbar(table["mean_predicted"], table["observed_rate"], yerr=yerr, marker="o", capsize=3, label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return fig


def residuals_plot(y_true: Any, y_pred: Any, title: str = "Residuals", log_scale: bool = False) -> Figure:
    """Predicted vs actual (left) and residuals vs predicted (right). `log_scale` for prices."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig = _figure(11, 4.5)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(p, y, s=6, alpha=0.4)
    lo, hi = float(np.nanmin([y.min(), p.min()])), float(np.nanmax([y.max(), p.max()]))
    ax1.plot([lo, hi], [lo, hi], linestyle="--", color="grey")
    ax1.set_xlabel("predicted")
    ax1.set_ylabel("actual")
    ax1.set_title(f"{title}: actual vs predicted")
    resid = np.log(y) - np.log(p) if log_scale else y - p
    ax2.scatter(p, resid, s=6, alpha=0.4)
    ax2.axhline(0, linestyle="--", color="grey")
    ax2.set_xlabel("predicted")
    ax2.set_ylabel("log(actual) - log(predicted)" if log_scale else "actual - predicted")
    ax2.set_title(f"{title}: residuals")
    if log_scale:
        for ax in (ax1, ax2):
            ax.set_xscale("log")
        ax1.set_yscale("log")
    return fig


def feature_importance_plot(
    names: Any, importances: Any, errors: Any | None = None, title: str = "Feature importance", top: int = 20
) -> Figure:
    """Horizontal bar chart of the `top` largest importances (e.g. permutation importance)."""
    df = pd.DataFrame({"name": list(names), "value": np.asarray(importances, dtype=float)})
    df["err"] = np.asarray(errors, dtype=float) if errors is not None else 0.0
    df = df.sort_values("value", ascending=True).tail(top)
    fig = _figure(7, max(3.0, 0.3 * len(df) + 1))
    ax = fig.add_subplot()
    ax.barh(df["name"], df["value"], xerr=df["err"] if errors is not None else None)
    ax.set_xlabel("importance")
    ax.set_title(title)
    return fig


def forecast_vs_actual_plot(
    dates: Any,
    actual: Any,
    forecast: Any,
    lower: Any | None = None,
    upper: Any | None = None,
    history_dates: Any | None = None,
    history: Any | None = None,
    title: str = "Forecast vs actual",
) -> Figure:
    """Actuals and forecast over the same dates, optional interval band and preceding history."""
    fig = _figure(10, 4.5)
    ax = fig.add_subplot()
    d = pd.to_datetime(pd.Series(dates)).to_numpy()
    if history_dates is not None and history is not None:
        ax.plot(
            pd.to_datetime(pd.Series(history_dates)).to_numpy(),
            np.asarray(history, float),
            color="grey",
            label="history",
        )
    if lower is not None and upper is not None:
        ax.fill_between(d, np.asarray(lower, float), np.asarray(upper, float), alpha=0.25, label="interval")
    ax.plot(d, np.asarray(actual, float), marker=".", label="actual")
    ax.plot(d, np.asarray(forecast, float), marker=".", label="forecast")
    ax.set_title(title)
    ax.legend(loc="best")
    fig.autofmt_xdate()
    return fig
