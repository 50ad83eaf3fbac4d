"""MLflow tracking / registry helpers shared by every SmartMarket model.

Registered names: demand_forecaster, purchase_propensity, gold_price_forecaster, diamond_price_regressor.
The `champion` alias marks the version serving uses (`models:/<name>@champion`). A new version takes the
alias only when it beats the champion re-scored on the SAME held-out data (`promote_if_better`), or when
an operator forces it (`force=True`, recorded in version tags and run params).

`decide_promotion` is pure; everything else talks to MLflow, imported inside functions so importing this
module stays cheap for the Dagster code location.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models.model import ModelInfo

MODEL_NAMES: tuple[str, ...] = (
    "demand_forecaster",
    "purchase_propensity",
    "gold_price_forecaster",
    "diamond_price_regressor",
)
CHAMPION_ALIAS = "champion"
# Headline metrics per registered model, as logged by ml.training (MLflow run metrics of a version's run):
# what the demo summary prints and what the API's /v1/models reports.
HEADLINE_METRICS: dict[str, list[str]] = {
    "demand_forecaster": ["holdout_wape", "baseline_holdout_wape", "wape_reduction_vs_seasonal_naive",
                          "holdout_coverage_80"],
    "purchase_propensity": ["headline_roc_auc", "rfm_test_roc_auc", "headline_brier", "base_rate_test_brier"],
    "gold_price_forecaster": ["holdout_mape", "baseline_holdout_mape", "holdout_coverage_80"],
    "diamond_price_regressor": ["test_mape", "baseline_test_mape", "interval_coverage", "test_r2",
                                "test_mape_four_cs", "interval_coverage_four_cs"],
}
# packages whose classes we allow skops to rebuild when loading our own sklearn-flavour models
_TRUSTED_TYPE_ROOTS = ("ml", "sklearn", "numpy", "scipy")


# ---------------------------------------------------------------- tracking setup


def configure_tracking(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    """Point MLflow (tracking and registry) at `tracking_uri` and return a client bound to it.

    Locally use `sqlite:///abs/path/mlflow.db` (MLflow 3.13+ refuses the plain file store);
    in production the MLflow server URL.
    """
    import mlflow
    from mlflow import MlflowClient

    if tracking_uri.startswith("file:") or ("://" not in tracking_uri and not tracking_uri.startswith("databricks")):
        raise ValueError(
            f"tracking URI {tracking_uri!r} is a plain file store, which MLflow 3.13+ refuses; "
            "use sqlite:///<absolute path>/mlflow.db or an http(s):// MLflow server"
        )
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


def sqlite_tracking_uri(db_path: str | Path) -> str:
    """`sqlite:///` URI for a database file (absolute, so the working directory does not matter)."""
    return f"sqlite:///{Path(db_path).resolve()}"


def _default_artifact_location(name: str) -> str | None:
    """For a sqlite backend keep artifacts next to the database instead of MLflow's ./mlruns in the CWD."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None  # a tracking server decides its own artifact root
    db = Path(uri.removeprefix("sqlite:///"))
    return (db.parent / "mlartifacts" / name).resolve().as_uri()


def ensure_experiment(name: str, artifact_location: str | None = None) -> str:
    """Create the experiment if needed, make it active, and return its id."""
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        exp_id = mlflow.create_experiment(name, artifact_location=artifact_location or _default_artifact_location(name))
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


# ---------------------------------------------------------------- provenance


def data_snapshot_id(df: pd.DataFrame) -> str:
    """Stable content hash (16 hex chars) of a training DataFrame.

    Independent of row order and column order (rows are hashed individually and the row hashes sorted),
    sensitive to any value, column name or dtype change. Stable across processes and machines
    (pandas' row hashing uses a fixed key).
    """
    cols = sorted(map(str, df.columns))
    frame = df.copy()
    frame.columns = [str(c) for c in df.columns]
    frame = frame[cols]
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    row_hashes.sort()
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(frame[c].dtype)] for c in cols]).encode())
    h.update(str(len(frame)).encode())
    h.update(row_hashes.tobytes())
    return h.hexdigest()[:16]


def git_commit(repo_dir: str | Path | None = None) -> str | None:
    """HEAD commit of the repository holding this code (or `repo_dir`); None outside git or without git."""
    cwd = Path(repo_dir) if repo_dir else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


# ---------------------------------------------------------------- logging and registering


def _skops_trusted_types(model: Any) -> list[str]:
    """Types skops must be told to trust to load `model`; refuses anything outside our own stack."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    foreign = [t for t in untrusted if t.split(".", 1)[0] not in _TRUSTED_TYPE_ROOTS]
    if foreign:
        raise ValueError(f"model contains types outside {_TRUSTED_TYPE_ROOTS}; refusing to trust: {foreign}")
    return list(untrusted)


def log_sklearn_model(
    model: Any,
    name: str,
    input_example: pd.DataFrame,
    *,
    pyfunc_predict_fn: str = "predict",
    registered_model_name: str | None = None,
    pip_requirements: list[str] | None = None,
) -> ModelInfo:
    """Log a sklearn-API model to the active run (skops format, signature inferred from the example).

    `pyfunc_predict_fn="predict_proba"` for classifiers so pyfunc/serving returns probabilities.
    `pip_requirements` skips MLflow's requirement inference (which exports the whole lock file).
    """
    import mlflow.sklearn
    from mlflow.models import infer_signature

    predict = getattr(model, pyfunc_predict_fn)
    signature = infer_signature(input_example, predict(input_example))
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature,
        input_example=input_example,
        pyfunc_predict_fn=pyfunc_predict_fn,
        registered_model_name=registered_model_name,
        pip_requirements=pip_requirements,
        skops_trusted_types=_skops_trusted_types(model),
    )


def register_run_model(
    model_uri: str,
    name: str,
    *,
    tags: dict[str, Any] | None = None,
    data_snapshot: str | None = None,
    git_sha: str | None = None,
) -> ModelVersion:
    """Register a logged model (e.g. `ModelInfo.model_uri` or `runs:/<id>/<path>`) as a new version of `name`.

    Provenance (data snapshot id, git commit) goes into version tags. Returns the new ModelVersion;
    it is NOT made champion here — that is `promote_if_better` / `apply_promotion`'s job.
    """
    import mlflow

    all_tags = {k: str(v) for k, v in (tags or {}).items()}
    if data_snapshot:
        all_tags["data_snapshot_id"] = data_snapshot
    if git_sha:
        all_tags["git_commit"] = git_sha
    return mlflow.register_model(model_uri, name, tags=all_tags or None)


def champion_version(name: str, client: MlflowClient | None = None) -> ModelVersion | None:
    """The version holding the `champion` alias, or None (no such model, or no champion yet)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as exc:
        # unknown model -> RESOURCE_DOES_NOT_EXIST; known model without the alias -> INVALID_PARAMETER_VALUE
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def load_model_version(name: str, version: str | int) -> Any:
    """Native model of a version: the sklearn object for sklearn-flavour models, else the pyfunc model."""
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import get_model_info

    uri = f"models:/{name}/{version}"
    if "sklearn" in get_model_info(uri).flavors:
        return mlflow.sklearn.load_model(uri)
    return mlflow.pyfunc.load_model(uri)


def load_champion(name: str, client: MlflowClient | None = None) -> tuple[Any, ModelVersion] | None:
    """(model, ModelVersion) of the current champion, or None when there is none.

    Loads by the resolved version number rather than `@champion`, so the version reported is exactly
    the one loaded even if the alias moves concurrently.
    """
    mv = champion_version(name, client)
    if mv is None:
        return None
    return load_model_version(name, mv.version), mv


def score_champion_on(
    name: str, scorer: Callable[[Any], float], client: MlflowClient | None = None
) -> tuple[float, ModelVersion] | None:
    """(scorer(champion model), champion ModelVersion), or None without a champion.

    `scorer` must compute the same metric on the same held-out data as the candidate's score.
    """
    loaded = load_champion(name, client)
    if loaded is None:
        return None
    model, mv = loaded
    return float(scorer(model)), mv


# ---------------------------------------------------------------- promotion gate


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    new_score: float
    champion_score: float | None
    forced: bool
    higher_is_better: bool = True
    min_improvement: float = 0.0
    champion_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _fmt(x: float | None) -> str:
    return "none" if x is None else f"{x:.6g}"


def decide_promotion(
    new_score: float,
    champion_score: float | None,
    higher_is_better: bool,
    min_improvement: float = 0.0,
    force: bool = False,
) -> PromotionDecision:
    """Should the candidate replace the champion? Pure function of the two scores.

    Promote when there is no champion, or when the candidate is better by MORE than `min_improvement`
    (a tie keeps the incumbent). A candidate whose score is NaN/None is never promoted unless forced.
    A champion whose score is NaN (it could not be re-scored) loses to any valid candidate.
    `force=True` is the operator override: promote regardless, and say so.
    """
    new = float("nan") if new_score is None else float(new_score)
    champ = None if champion_score is None else float(champion_score)
    kw = {"higher_is_better": higher_is_better, "min_improvement": min_improvement}
    direction = "higher" if higher_is_better else "lower"
    if force:
        would = decide_promotion(new, champ, higher_is_better, min_improvement, force=False)
        return PromotionDecision(
            True,
            f"forced by operator (force=True): new {_fmt(new)} vs champion {_fmt(champ)}; "
            f"the gate alone would have {'promoted' if would.promote else 'rejected'} it ({would.reason})",
            new,
            champ,
            True,
            **kw,
        )
    if math.isnan(new):
        return PromotionDecision(False, f"new score is not a number ({new}); not promoted", new, champ, False, **kw)
    if champ is None:
        return PromotionDecision(True, f"no champion yet; new score {_fmt(new)}", new, None, False, **kw)
    if math.isnan(champ):
        return PromotionDecision(
            True,
            f"champion score unavailable (nan); promoting valid new score {_fmt(new)}",
            new,
            champ,
            False,
            **kw,
        )
    improvement = new - champ if higher_is_better else champ - new
    if improvement > min_improvement:
        reason = (
            f"new {_fmt(new)} beats champion {_fmt(champ)} by {_fmt(improvement)} "
            f"({direction} is better, required > {_fmt(min_improvement)})"
        )
        return PromotionDecision(True, reason, new, champ, False, **kw)
    reason = (
        f"new {_fmt(new)} does not beat champion {_fmt(champ)} by more than {_fmt(min_improvement)} "
        f"(improvement {_fmt(improvement)}, {direction} is better); champion kept"
    )
    return PromotionDecision(False, reason, new, champ, False, **kw)


def _version_str(version: Any) -> str:
    """'3' from 3, '3' or a ModelVersion (whose .version MLflow types as int or str depending on the call)."""
    return str(getattr(version, "version", version))


def apply_promotion(
    client: MlflowClient,
    name: str,
    version: Any,
    decision: PromotionDecision,
    run_id: str | None = None,
) -> None:
    """Act on a decision: move `champion` only when decision.promote; record it on the version and the run.

    Version tags: validation_status (passed | rejected | forced), promotion_reason, forced,
    candidate_score, champion_score. Run (the version's source run unless `run_id` is given):
    params promotion_forced / promotion_min_improvement / promotion_higher_is_better, metrics
    promotion_new_score / promotion_champion_score / promotion_promoted, tags promotion_reason /
    promotion_decision (JSON), and a `promotion_decision.json` artifact.
    """
    v = _version_str(version)
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, v)
    status = "forced" if decision.forced else ("passed" if decision.promote else "rejected")
    tags = {
        "validation_status": status,
        "promotion_reason": decision.reason,
        "forced": str(decision.forced).lower(),
        "candidate_score": _fmt(decision.new_score),
        "champion_score": _fmt(decision.champion_score),
        "compared_with_version": decision.champion_version or "none",
    }
    for k, val in tags.items():
        client.set_model_version_tag(name, v, k, val)

    run_id = run_id or client.get_model_version(name, v).run_id
    if not run_id:
        return
    client.log_param(run_id, "promotion_forced", str(decision.forced))
    client.log_param(run_id, "promotion_min_improvement", str(decision.min_improvement))
    client.log_param(run_id, "promotion_higher_is_better", str(decision.higher_is_better))
    client.log_metric(run_id, "promotion_new_score", decision.new_score)
    if decision.champion_score is not None:
        client.log_metric(run_id, "promotion_champion_score", decision.champion_score)
    client.log_metric(run_id, "promotion_promoted", 1.0 if decision.promote else 0.0)
    client.set_tag(run_id, "promotion_reason", decision.reason)
    client.set_tag(run_id, "promotion_decision", json.dumps({**decision.as_dict(), "version": v}))
    client.log_dict(run_id, {**decision.as_dict(), "model_name": name, "version": v}, "promotion_decision.json")


def promote_if_better(
    name: str,
    version: Any,
    new_score: float,
    *,
    higher_is_better: bool,
    scorer: Callable[[Any], float],
    min_improvement: float = 0.0,
    force: bool = False,
    client: MlflowClient | None = None,
    run_id: str | None = None,
) -> PromotionDecision:
    """The whole gate: re-score the champion with `scorer`, decide, apply, return the decision.

    `scorer(model) -> float` must score on the candidate's held-out data with the candidate's metric.
    If the champion cannot be loaded or scored its score is NaN (a broken champion should not block
    every future retrain), and the failure is written into the reason.
    """
    from mlflow import MlflowClient

    client = client or MlflowClient()
    v = _version_str(version)
    champ_mv = champion_version(name, client)
    champ_score: float | None = None
    note = ""
    # MLflow returns `version` as int from some calls and str from others: compare as strings
    if champ_mv is not None and str(champ_mv.version) == v:
        champ_mv = None  # re-registering the same version: nothing to compare with
    if champ_mv is not None:
        try:
            champ_score = float(scorer(load_model_version(name, champ_mv.version)))
        except Exception as exc:  # any load/score failure of the incumbent is recorded, not raised
            champ_score = float("nan")
            note = f"; champion v{champ_mv.version} failed to load/score: {type(exc).__name__}: {exc}"
    decision = decide_promotion(new_score, champ_score, higher_is_better, min_improvement, force)
    decision = dataclasses.replace(
        decision,
        reason=decision.reason + note,
        champion_version=str(champ_mv.version) if champ_mv is not None else None,
    )
    apply_promotion(client, name, v, decision, run_id=run_id)
    return decision
