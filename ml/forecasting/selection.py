"""Choose one demand model per series from the backtest table.

Rules, in order (each choice carries a human-readable ``selection_reason``):
1. Fewer than ``min_history_days`` (30) days of history: the moving-average baseline. Too little data to
   backtest anything or to identify Prophet's seasonalities, so Prophet is never fitted on such series.
2. No backtest window fitted (history too short for ``min_train_days`` + one window): moving average.
3. Otherwise the model with the lowest mean WAPE over the windows, ties broken by mean MASE and then by
   simplicity (seasonal naive, moving average, Prophet). Metrics are compared after rounding to 3 decimals.
   Prophet must also beat the best baseline's WAPE by ``prophet_margin`` (2% relative by default): on three
   28-day windows a smaller gap is noise, and the baseline is cheaper, more robust and easier to explain.
   When every window had zero sales (WAPE undefined), MASE decides; when both are undefined the moving
   average is used.
A model that failed in the backtest of a series is not a candidate for that series (the reason names it);
when every model failed, the moving average is used.

``selection_basis`` flags how much the choice can be trusted: ``backtest`` (rule 3), ``short_history``
(rules 1-2: the simple method the history allows) or ``fallback`` (the backtest failed for every model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ml.forecasting.data import SeriesKey
from ml.forecasting.models import (
    ALL_MODELS,
    BACKTEST,
    BASELINES,
    FALLBACK,
    MOVING_AVERAGE,
    PROPHET,
    SHORT_HISTORY,
)

MIN_HISTORY_DAYS = 30
PROPHET_MARGIN = 0.02
SELECTION_COLUMNS = [
    "tenant_id",
    "product_id",
    "model",
    "selection_reason",
    "selection_basis",
    "history_days",
    "n_windows",
    "wape",
    "mase",
]
_SIMPLICITY = {name: i for i, name in enumerate(ALL_MODELS)}


def _fmt(x: float) -> str:
    return "nan" if pd.isna(x) else f"{x:.3f}"


def _choose(scores: pd.DataFrame, prophet_margin: float) -> tuple[str, str, float, float]:
    """scores: one row per model with mean wape/mase; returns (model, reason, wape, mase)."""
    ranked = scores.assign(
        _w=scores["wape"].round(3).fillna(np.inf),
        _m=scores["mase"].round(3).fillna(np.inf),
        _s=scores["model"].map(_SIMPLICITY).fillna(len(_SIMPLICITY)),
    ).sort_values(["_w", "_m", "_s"])
    best = ranked.iloc[0]
    note = ""
    baselines = ranked[ranked["model"].isin(BASELINES)]
    if best["model"] == PROPHET and not baselines.empty and np.isfinite(best["_w"]):
        runner_up = baselines.iloc[0]
        if best["wape"] > (1.0 - prophet_margin) * runner_up["wape"]:
            note = (
                f"; prophet ({_fmt(best['wape'])}) is within {prophet_margin:.0%} of it, so the simpler "
                "baseline is kept"
            )
            ranked = pd.concat([baselines.iloc[[0]], ranked.drop(index=runner_up.name)])
            best = ranked.iloc[0]
    others = ", ".join(f"{r.model} {_fmt(r.wape)} ({_fmt(r.mase)})" for r in ranked.iloc[1:].itertuples())
    if np.isfinite(best["_w"]):
        criterion = "lowest mean WAPE"
    elif np.isfinite(best["_m"]):
        criterion = "no sales in the backtest windows (WAPE undefined); lowest mean MASE"
    else:
        return (
            MOVING_AVERAGE,
            "backtest metrics undefined (no sales and no in-sample variation): moving_average baseline",
            float("nan"),
            float("nan"),
        )
    reason = (
        f"{criterion} over {int(best['n_windows'])} backtest windows: {best['model']} "
        f"WAPE {_fmt(best['wape'])} (MASE {_fmt(best['mase'])})" + (f" vs {others}" if others else "") + note
    )
    return str(best["model"]), reason, float(best["wape"]), float(best["mase"])


def select_models(
    backtest: pd.DataFrame,
    history_days: Mapping[SeriesKey, int],
    min_history_days: int = MIN_HISTORY_DAYS,
    prophet_margin: float = PROPHET_MARGIN,
    failed_models: Mapping[SeriesKey, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """One row per series in ``history_days``: the chosen model and why (SELECTION_COLUMNS).

    ``failed_models``: per series, the models whose backtest failed (``_backtest_one``'s error rows).
    """
    failed_models = failed_models or {}
    scores = (
        backtest.groupby(["tenant_id", "product_id", "model"], sort=False)
        .agg(wape=("wape", "mean"), mase=("mase", "mean"), n_windows=("window", "nunique"))
        .reset_index()
    )
    by_series = {key: grp for key, grp in scores.groupby(["tenant_id", "product_id"], sort=False)}
    rows = []
    for key, n_days in history_days.items():
        tenant, product = key
        n_days = int(n_days)
        failed = sorted(set(failed_models.get(key, ())))
        failed_note = f"; {', '.join(failed)} failed in the backtest and were not considered" if failed else ""
        basis = SHORT_HISTORY
        if n_days < min_history_days:
            model = MOVING_AVERAGE
            reason = (
                f"only {n_days} days of history (< {min_history_days} needed for a backtested choice): "
                "moving_average baseline, Prophet not fitted"
            )
            w = m = float("nan")
            n_windows = 0
        elif key not in by_series and failed:
            model = MOVING_AVERAGE
            basis = FALLBACK
            reason = f"every backtested model failed ({', '.join(failed)}): moving_average baseline"
            w = m = float("nan")
            n_windows = 0
        elif key not in by_series:
            model = MOVING_AVERAGE
            reason = (
                f"{n_days} days of history is too short for a complete backtest window: "
                "moving_average baseline, Prophet not fitted"
            )
            w = m = float("nan")
            n_windows = 0
        else:
            grp = by_series[key]
            model, reason, w, m = _choose(grp, prophet_margin)
            reason += failed_note
            basis = BACKTEST
            n_windows = int(grp["n_windows"].max())
        rows.append(
            {
                "tenant_id": tenant,
                "product_id": product,
                "model": model,
                "selection_reason": reason,
                "selection_basis": basis,
                "history_days": n_days,
                "n_windows": n_windows,
                "wape": w,
                "mase": m,
            }
        )
    return pd.DataFrame(rows, columns=SELECTION_COLUMNS)
