"""MLflow pyfunc wrapper for the demand forecaster (import only from training code: it imports mlflow).

Log with ``mlflow.pyfunc.log_model(name=..., python_model=build_demand_pyfunc(run),
input_example=DEMAND_INPUT_EXAMPLE)``. The model object holds, per series, the chosen model, the selection
reason and what that model needs to predict (history tail for baselines, Prophet JSON for Prophet), so it
needs no artifacts and no warehouse access at serving time. Forecasts start the day after the series' tenant's
as-of date (the last day of the data it was fitted on).

A stored model that cannot forecast (a Prophet state that no longer restores) falls back to the moving
average on the history kept in its state, flagged ``selection_basis = fallback``; a series that cannot be
forecast at all is a ``ValueError`` naming it and the error. Versions trained before ``selection_basis``
existed report it as ``unknown``.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from ml.forecasting.batch import FORECAST_COLUMNS, DemandForecastRun, forecast_frame
from ml.forecasting.models import FALLBACK, FittedModel, SeriesForecast, forecast_state_with_fallback

DEFAULT_MAX_HORIZON_DAYS = 90
DEMAND_INPUT_EXAMPLE = pd.DataFrame({"tenant_id": ["default"], "product_id": ["P001"], "horizon_days": [30]})


def _key(tenant_id: Any, product_id: Any) -> tuple[str, str]:
    # Serving receives JSON, so ids arrive as strings whatever their dtype was in the warehouse.
    return str(tenant_id), str(product_id)


class DemandForecastModel(mlflow.pyfunc.PythonModel):
    """Per-series demand forecaster; ``predict`` takes tenant_id, product_id, horizon_days."""

    def __init__(self, series: list[dict[str, Any]], max_horizon_days: int = DEFAULT_MAX_HORIZON_DAYS,
                 failed_series: dict[tuple[str, str], str] | None = None):
        # series: dicts with tenant_id, product_id, selection_reason, selection_basis and ``state``
        # (models.fit_model state). failed_series: series training could not forecast -> the error.
        self.series = {_key(s["tenant_id"], s["product_id"]): s for s in series}
        self.max_horizon_days = int(max_horizon_days)
        self.failed_series = {_key(*k): v for k, v in (failed_series or {}).items()}
        # Restored models (Prophet deserialisation is the slow part), kept across predict calls.
        self._fitted: dict[tuple[str, str], FittedModel] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Deserialised Prophet objects are a cache; the JSON in ``series`` is the source of truth.
        state = self.__dict__.copy()
        state["_fitted"] = {}
        return state

    def _forecast(self, key: tuple[str, str], horizon: int) -> SeriesForecast:
        if key in self._fitted:
            fitted = self._fitted[key]
            try:
                return SeriesForecast(fitted.model, fitted.model, fitted, fitted.forecast(horizon))
            except Exception:  # retried from the state below, with its fallback
                del self._fitted[key]
        attempt = forecast_state_with_fallback(self.series[key]["state"], horizon)
        if attempt.fitted is not None and not attempt.fell_back:
            self._fitted[key] = attempt.fitted
        return attempt

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        missing = {"tenant_id", "product_id", "horizon_days"} - set(model_input.columns)
        if missing:
            raise ValueError(
                f"input is missing columns {sorted(missing)}; expected tenant_id, product_id, horizon_days"
            )
        frames = []
        unknown = []
        failed = []
        for row in model_input.itertuples(index=False):
            key = _key(row.tenant_id, row.product_id)
            if key not in self.series:
                unknown.append(key)
                continue
            horizon = int(row.horizon_days)
            if not 1 <= horizon <= self.max_horizon_days:
                raise ValueError(f"horizon_days must be between 1 and {self.max_horizon_days}, got {horizon}")
            entry = self.series[key]
            attempt = self._forecast(key, horizon)
            if attempt.model is None or attempt.frame is None:
                failed.append(f"{key[0]}/{key[1]} ({attempt.note})")
                continue
            reason, basis = entry["selection_reason"], entry.get("selection_basis", "unknown")
            if attempt.fell_back:
                reason, basis = f"{reason}; FALLBACK: {attempt.note}", FALLBACK
            frames.append(forecast_frame(row.tenant_id, row.product_id, attempt.model, reason, attempt.frame, basis))
        if unknown:
            shown = ", ".join(f"{t}/{p}" for t, p in unknown[:10])
            raise ValueError(f"no forecaster for {len(unknown)} series (tenant/product): {shown}")
        if failed:
            raise ValueError(f"{len(failed)} series could not be forecast: {'; '.join(failed[:5])}")
        if not frames:
            return pd.DataFrame(columns=FORECAST_COLUMNS)
        return pd.concat(frames, ignore_index=True)


def build_demand_pyfunc(
    run: DemandForecastRun, max_horizon_days: int = DEFAULT_MAX_HORIZON_DAYS
) -> DemandForecastModel:
    """Wrap a training run's fitted per-series states for ``mlflow.pyfunc.log_model``."""
    series = []
    for row in run.selection.itertuples(index=False):
        key = (row.tenant_id, row.product_id)
        series.append(
            {
                "tenant_id": row.tenant_id,
                "product_id": row.product_id,
                "selection_reason": row.selection_reason,
                "selection_basis": row.selection_basis,
                "state": run.states[key],
            }
        )
    # Series training could not forecast at all: kept so scoring can say why they have no forecast.
    failed = {(r.tenant_id, r.product_id): str(r.error)
              for r in run.failures.itertuples(index=False) if r.outcome == "not forecast"}
    return DemandForecastModel(series, max_horizon_days=max_horizon_days, failed_series=failed)
