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
"""

from __future__ import annotations

import base64
import io
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ml.registry import PromotionDecision, configure_tracking, data_snapshot_id, ensure_experiment, git_commit

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

# Registered model names (ARCHITECTURE.md); each model's experiment carries the same name.
DEMAND = "demand_forecaster"
PROPENSITY = "purchase_propensity"
GOLD = "gold_price_forecaster"
DIAMOND = "diamond_price_regressor"

# Float noise must never move the champion: a candidate has to be better by more than this.
SCORE_TOLERANCE = 1e-9


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
    # The `champion_beats_baseline` check: the champion vs the honest baseline on this holdout. Usually the
    # gate metric; propensity uses the Brier score against the base rate (a constant has no ranking, so its
    # ROC-AUC is 0.5 by construction and says nothing).
    check_metric: str
    check_higher_is_better: bool
    champion_check_score: float | None
    baseline_check_score: float
    data_snapshot_id: str
    # True where the baseline may itself be the champion's model (gold: the random walk), so matching it passes.
    check_allows_tie: bool = False
    check_baseline_name: str = ""  # the baseline the check compares with, when not `baseline_name`
    plots: dict[str, Path] = field(default_factory=dict)  # local PNG copies of the logged plots
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables a caller may want (forecasts...)
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = float("nan")

    @property
    def champion_beats_baseline(self) -> bool:
        champ, base = self.champion_check_score, self.baseline_check_score
        if champ is None or math.isnan(champ) or math.isnan(base):
            return False
        if self.check_allows_tie and champ == base:
            return True
        return champ > base if self.check_higher_is_better else champ < base


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


def log_plot(fig: Figure, artifact_file: str, local_dir: Path) -> Path:
    """Log a figure as a PNG artifact and keep a small local copy for Dagster metadata; returns the copy."""
    import mlflow

    mlflow.log_figure(fig, artifact_file)
    local_dir.mkdir(parents=True, exist_ok=True)
    path = local_dir / Path(artifact_file).name
    fig.savefig(path, format="png", dpi=60)
    return path


def png_data_uri(path: Path) -> str:
    """``data:image/png;base64,...`` for embedding a plot in Markdown metadata."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure_png(fig: Figure, dpi: int = 60) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def champion_tag(client: MlflowClient, name: str, tag: str) -> str | None:
    """A version tag of the current champion (e.g. its training as-of date), None without champion/tag."""
    from ml.registry import champion_version

    mv = champion_version(name, client)
    return None if mv is None else (mv.tags or {}).get(tag)


def freshness_min_improvement(champion_as_of: str | None, candidate_as_of: str) -> tuple[float, str]:
    """Gate margin for forecasters, whose forecasts start the day after the data they were fitted on.

    On the same data the candidate must be strictly better (beyond float noise) to move the alias. On newer
    data a tie goes to the candidate: keeping yesterday's champion would serve forecasts from a stale origin
    for as long as the two keep tying.
    """
    if champion_as_of is not None and candidate_as_of > champion_as_of:
        return -SCORE_TOLERANCE, (
            f"candidate trained on newer data (as of {candidate_as_of}) than the champion (as of "
            f"{champion_as_of}): a tie promotes the fresher model"
        )
    return SCORE_TOLERANCE, "same data as the champion: the candidate must be strictly better"


def finish_outcome_scores(
    decision: PromotionDecision, new_version: str, higher_is_better: bool
) -> tuple[str | None, float | None]:
    """(champion version, champion score on this holdout) after the gate was applied."""
    if decision.promote:
        return new_version, decision.new_score
    return decision.champion_version, decision.champion_score
