"""Shared plumbing for the training steps: the outcome record, MLflow run setup, provenance, plots, requirements.

Plain Python (no Dagster). MLflow is imported inside functions so importing ``ml.training`` stays cheap.

Every training function in this package follows the same recipe:

1. split off an honest holdout (the most recent window for forecasters, a later cutoff for propensity, a random
   split for diamonds) and train the candidate;
2. score the candidate and the model's honest baseline on that holdout;
3. in one MLflow run (experiment named after the model): params, metrics (incl. baseline and lift), plots, the
   backtest / comparison tables, signature + input example, tags ``git_commit`` / ``dagster_run_id`` /
   ``data_snapshot_id``; log the model with explicit ``pip_requirements`` and register a new version;
4. run the champion gate (``ml.registry.promote_if_better``): the current champion is re-scored on the SAME
   holdout with the same metric; ``force`` is the operator override and is recorded as such.

Input that is empty or too small for a model raises ``ml.errors.InsufficientDataError`` (re-exported here)
before anything is logged or registered: the Dagster asset turns it into a skip with the reason.

The baseline rule is the same for every model: after the gate, the champion must not be worse than the
honest baseline on this run's holdout (``TrainingOutcome.champion_not_worse_than_baseline``); a tie passes,
because the baseline may honestly be the best model (seasonal naive chosen for every series, the random walk
on daily gold).

Nothing is left in the system temp directory: plots are kept as PNG bytes in the outcome (and as MLflow
artifacts); a caller that wants files passes ``plot_dir``.
"""

from __future__ import annotations

import base64
import io
import math
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ml.errors import InsufficientDataError
from ml.registry import PromotionDecision, configure_tracking, data_snapshot_id, ensure_experiment, git_commit

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

# Registered model names (ARCHITECTURE.md); each model's experiment carries the same name.
DEMAND = "demand_forecaster"
PROPENSITY = "purchase_propensity"
GOLD = "gold_price_forecaster"
DIAMOND = "diamond_price_regressor"

# Float noise must never move the champion: a candidate has to be better by more than this. The same
# tolerance makes a champion that matches its baseline up to float noise a tie (which passes).
SCORE_TOLERANCE = 1e-9

# MLflow's limit for a tag value: a longer per-tenant as-of map is kept in the run params only.
MAX_TAG_CHARS = 5000

__all__ = ["InsufficientDataError"]  # re-exported for callers of the training functions


@dataclass
class TrainingOutcome:
    """What one training call produced; the Dagster asset turns it into materialization metadata."""

    model_name: str
    version: str  # the version registered by this run
    run_id: str
    decision: PromotionDecision
    metric_name: str  # the gate metric, e.g. "holdout_wape"
    higher_is_better: bool
    metrics: dict[str, float]  # headline metrics of the candidate on the holdout
    baseline_metrics: dict[str, float]  # the honest baseline on the same holdout
    lift: dict[str, float]  # candidate vs baseline (see each module for the definition)
    baseline_name: str
    # After the gate: who holds `champion` and its gate score on THIS holdout.
    champion_version: str | None
    champion_score: float | None
    # The `champion_beats_baseline` check (champion not worse than the honest baseline on this holdout).
    # Usually the gate metric; propensity uses the Brier score against the base rate (a constant has no
    # ranking, so its ROC-AUC is 0.5 by construction and says nothing).
    check_metric: str
    check_higher_is_better: bool
    champion_check_score: float | None
    baseline_check_score: float
    data_snapshot_id: str
    check_baseline_name: str = ""  # the baseline the check compares with, when not `baseline_name`
    plots: dict[str, bytes] = field(default_factory=dict)  # PNG bytes of the logged plots (small, for metadata)
    plot_artifacts: dict[str, str] = field(default_factory=dict)  # the same plots as MLflow artifact URIs
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables a caller may want (forecasts...)
    notes: list[str] = field(default_factory=list)
    # Per-item problems that did not stop the run (a series that fell back or could not be forecast).
    warnings: list[str] = field(default_factory=list)
    wall_seconds: float = float("nan")

    @property
    def champion_not_worse_than_baseline(self) -> bool:
        """The one baseline rule for every model: champion <= baseline (lower is better), ties pass."""
        return not_worse_than(self.champion_check_score, self.baseline_check_score, self.check_higher_is_better)


def not_worse_than(champion: float | None, baseline: float | None, higher_is_better: bool) -> bool:
    """True when ``champion`` is at least as good as ``baseline`` (equal within SCORE_TOLERANCE passes).

    An undefined score (no champion, NaN) cannot show it is not worse, so it fails.
    """
    if champion is None or baseline is None or math.isnan(champion) or math.isnan(baseline):
        return False
    if higher_is_better:
        return champion >= baseline - SCORE_TOLERANCE
    return champion <= baseline + SCORE_TOLERANCE


def requirement(package: str) -> str:
    """``package==<installed version>`` (the model's pip requirement), or the bare name when not installed."""
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:
        return package


def pip_requirements(*packages: str) -> list[str]:
    """Explicit requirements: MLflow's inference would otherwise export the whole lock file (slow, bloated)."""
    return [requirement(p) for p in ("mlflow", "pandas", "numpy", *packages)]


def clean_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Numeric, finite-or-NaN floats only (MLflow rejects None and strings)."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, (bool, int, float)):
            out[k] = float(v)
    return out


def relative_lift(model: float, baseline: float, higher_is_better: bool) -> float:
    """Relative improvement over the baseline (0.25 = 25% better); NaN when undefined."""
    if any(x is None or math.isnan(x) for x in (model, baseline)) or baseline == 0:
        return float("nan")
    return (model - baseline) / abs(baseline) if higher_is_better else (baseline - model) / abs(baseline)


@contextmanager
def training_run(
    model_name: str,
    tracking_uri: str,
    *,
    data: pd.DataFrame,
    dagster_run_id: str | None,
    run_name: str | None = None,
) -> Iterator[tuple[Any, MlflowClient, str]]:
    """Start an MLflow run in the model's experiment with the provenance tags; yields (run, client, snapshot)."""
    import mlflow

    client = configure_tracking(tracking_uri)
    ensure_experiment(model_name)
    snapshot = data_snapshot_id(data)
    tags = {
        "model_name": model_name,
        "data_snapshot_id": snapshot,
        "git_commit": git_commit() or "unknown",
        "dagster_run_id": dagster_run_id or "none",
    }
    with mlflow.start_run(run_name=run_name or f"{model_name}-{snapshot[:8]}", tags=tags) as run:
        yield run, client, snapshot


def log_table(df: pd.DataFrame, artifact_file: str) -> None:
    """A DataFrame as a CSV artifact of the active run (CSV opens anywhere, unlike MLflow's JSON tables)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        df.to_csv(path, index=False)
        parent = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def log_plot(fig: Figure, artifact_file: str, local_dir: Path | None = None) -> bytes:
    """Log a figure as a PNG artifact of the active run; returns a small PNG (for Dagster metadata).

    ``local_dir``: also write that small PNG there (the caller owns the folder; nothing is written otherwise).
    """
    import mlflow

    mlflow.log_figure(fig, artifact_file)
    png = figure_png(fig)
    if local_dir is not None:
        local_dir.mkdir(parents=True, exist_ok=True)
        (local_dir / Path(artifact_file).name).write_bytes(png)
    return png


def artifact_uris(run_id: str, artifact_files: dict[str, str]) -> dict[str, str]:
    """``runs:/<run_id>/<path>`` per plot name: where the full-size plots live."""
    return {name: f"runs:/{run_id}/{path}" for name, path in artifact_files.items()}


def png_data_uri(png: bytes | Path) -> str:
    """``data:image/png;base64,...`` for embedding a plot in Markdown metadata (PNG bytes or a PNG file)."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_png(fig: Figure, dpi: int = 60) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def champion_tag(client: MlflowClient, name: str, tag: str) -> str | None:
    """A version tag of the current champion (e.g. its training as-of date), None without champion/tag."""
    from ml.registry import champion_version

    mv = champion_version(name, client)
    return None if mv is None else (mv.tags or {}).get(tag)


def freshness_min_improvement(
    champion_as_of: str | Mapping[str, str] | None, candidate_as_of: str | Mapping[str, str]
) -> tuple[float, str]:
    """Gate margin for forecasters, whose forecasts start the day after the data they were fitted on.

    On the same data the candidate must be strictly better (beyond float noise) to move the alias. On newer
    data a tie goes to the candidate: keeping yesterday's champion would serve forecasts from a stale origin
    for as long as the two keep tying. With per-tenant as-of dates (ISO strings per tenant), the candidate is
    newer when any tenant's as-of moved forward (or a tenant is new): that tenant's forecasts would go stale.
    """
    if champion_as_of is None:
        return SCORE_TOLERANCE, "same data as the champion: the candidate must be strictly better"
    if isinstance(candidate_as_of, Mapping) and isinstance(champion_as_of, Mapping):
        newer = sorted(t for t, d in candidate_as_of.items() if t not in champion_as_of or d > champion_as_of[t])
        if newer:
            shown = ", ".join(f"{t} {champion_as_of.get(t, 'new')} -> {candidate_as_of[t]}" for t in newer[:5])
            return -SCORE_TOLERANCE, (
                f"candidate trained on newer data for {len(newer)} tenant(s) ({shown}): a tie promotes the "
                "fresher model"
            )
        return SCORE_TOLERANCE, "same data as the champion: the candidate must be strictly better"
    cand = max(candidate_as_of.values()) if isinstance(candidate_as_of, Mapping) else candidate_as_of
    champ = max(champion_as_of.values()) if isinstance(champion_as_of, Mapping) else champion_as_of
    if cand > champ:
        return -SCORE_TOLERANCE, (
            f"candidate trained on newer data (as of {cand}) than the champion (as of {champ}): a tie promotes "
            "the fresher model"
        )
    return SCORE_TOLERANCE, "same data as the champion: the candidate must be strictly better"


def finish_outcome_scores(
    decision: PromotionDecision, new_version: str, higher_is_better: bool
) -> tuple[str | None, float | None]:
    """(champion version, champion score on this holdout) after the gate was applied."""
    if decision.promote:
        return new_version, decision.new_score
    return decision.champion_version, decision.champion_score
