"""MLflow helpers: provenance, the promotion gate on a real sqlite registry, a fresh-process round trip."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.registry import (
    CHAMPION_ALIAS,
    champion_version,
    configure_tracking,
    data_snapshot_id,
    decide_promotion,
    ensure_experiment,
    git_commit,
    load_champion,
    log_sklearn_model,
    promote_if_better,
    register_run_model,
    score_champion_on,
    sqlite_tracking_uri,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SKLEARN_REQS = ["scikit-learn", "pandas", "numpy"]  # skips requirement inference: keeps the tests fast


# ------------------------------------------------------------------ pure decision


def test_decide_promotion_without_champion_promotes():
    d = decide_promotion(0.7, None, higher_is_better=True)
    assert d.promote and not d.forced and d.champion_score is None
    assert "no champion" in d.reason


@pytest.mark.parametrize(
    ("new", "champ", "higher", "min_imp", "promote"),
    [
        (0.80, 0.75, True, 0.0, True),
        (0.75, 0.75, True, 0.0, False),  # a tie keeps the incumbent
        (0.70, 0.75, True, 0.0, False),
        (0.76, 0.75, True, 0.02, False),  # better, but not by the required margin
        (0.78, 0.75, True, 0.02, True),
        (0.10, 0.12, False, 0.0, True),  # lower is better (MAPE, RMSE)
        (0.12, 0.10, False, 0.0, False),
    ],
)
def test_decide_promotion_compares_in_the_right_direction(new, champ, higher, min_imp, promote):
    d = decide_promotion(new, champ, higher_is_better=higher, min_improvement=min_imp)
    assert d.promote is promote
    assert d.new_score == new and d.champion_score == champ and not d.forced
    assert f"{new:.6g}" in d.reason and f"{champ:.6g}" in d.reason


def test_decide_promotion_force_and_nan():
    forced = decide_promotion(0.5, 0.9, higher_is_better=True, force=True)
    assert forced.promote and forced.forced
    assert "forced" in forced.reason and "rejected" in forced.reason  # says the gate alone would have said no
    assert not decide_promotion(math.nan, 0.5, higher_is_better=True).promote
    assert not decide_promotion(math.nan, None, higher_is_better=True).promote
    broken_champion = decide_promotion(0.6, math.nan, higher_is_better=True)
    assert broken_champion.promote and "unavailable" in broken_champion.reason


# ------------------------------------------------------------------ provenance


def test_data_snapshot_id_is_content_hash_independent_of_order():
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]})
    sid = data_snapshot_id(df)
    assert len(sid) == 16 and int(sid, 16) >= 0
    assert data_snapshot_id(df.iloc[::-1]) == sid
    assert data_snapshot_id(df[["c", "a", "b"]]) == sid
    changed = df.copy()
    changed.loc[1, "c"] = 1.5000001
    assert data_snapshot_id(changed) != sid
    assert data_snapshot_id(df.rename(columns={"a": "A"})) != sid
    assert data_snapshot_id(df.astype({"a": float})) != sid
    assert data_snapshot_id(df.head(2)) != sid


def test_git_commit(tmp_path):
    sha = git_commit(REPO_ROOT)
    assert sha is not None and len(sha) == 40 and int(sha, 16) >= 0
    assert git_commit(tmp_path) is None  # not a repository


def test_plain_file_store_is_refused(tmp_path):
    with pytest.raises(ValueError, match="sqlite"):
        configure_tracking(str(tmp_path / "mlruns"))


# ------------------------------------------------------------------ real registry


@pytest.fixture
def tracking(tmp_path):
    import mlflow

    previous = mlflow.get_tracking_uri()
    uri = sqlite_tracking_uri(tmp_path / "mlflow.db")
    client = configure_tracking(uri)
    ensure_experiment("registry-tests")
    yield uri, client
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


def _holdout(seed: int = 0, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y = (X.sum(axis=1) + rng.normal(0, 0.7, n) > 0).astype(int).to_numpy()
    return X, y


def _fixed_logistic(coef: list[float]):
    """A logistic model with hand-set weights, so the quality order of versions is known exactly."""
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression()
    m.coef_ = np.array([coef], dtype=float)
    m.intercept_ = np.zeros(1)
    m.classes_ = np.array([0, 1])
    m.n_features_in_ = 3
    m.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
    return m


def test_promotion_gate_on_a_real_registry(tracking):
    import mlflow
    from sklearn.metrics import roc_auc_score

    _, client = tracking
    name = "purchase_propensity"
    X, y = _holdout()

    def scorer(model) -> float:
        return float(roc_auc_score(y, model.predict_proba(X)[:, 1]))

    def candidate(coef: list[float], force: bool = False):
        model = _fixed_logistic(coef)
        with mlflow.start_run() as run:
            info = log_sklearn_model(
                model, "model", X.head(5), pyfunc_predict_fn="predict_proba", pip_requirements=SKLEARN_REQS
            )
        mv = register_run_model(info.model_uri, name, data_snapshot=data_snapshot_id(X), git_sha="abc123")
        decision = promote_if_better(
            name, mv, scorer(model), higher_is_better=True, scorer=scorer, force=force, client=client
        )
        return mv, run.info.run_id, decision

    assert champion_version(name, client) is None
    v1, _, d1 = candidate([1, 0, 0])  # uses one of three signals: AUC ~0.75
    assert d1.promote and d1.champion_score is None
    assert str(champion_version(name, client).version) == str(v1.version) == "1"
    tags1 = client.get_model_version(name, "1").tags
    assert tags1["validation_status"] == "passed" and tags1["data_snapshot_id"] == data_snapshot_id(X)

    v2, run2, d2 = candidate([-1, 0, 0])  # deliberately worse: AUC ~0.25
    assert not d2.promote
    assert str(champion_version(name, client).version) == "1"
    assert d2.champion_score == pytest.approx(d1.new_score)  # the champion was re-scored on the same data
    assert d2.new_score < d2.champion_score and d2.champion_version == "1"
    tags2 = client.get_model_version(name, str(v2.version)).tags
    assert tags2["validation_status"] == "rejected" and tags2["forced"] == "false"
    run = client.get_run(run2)
    assert run.data.metrics["promotion_new_score"] == pytest.approx(d2.new_score)
    assert run.data.metrics["promotion_champion_score"] == pytest.approx(d1.new_score)
    assert run.data.metrics["promotion_promoted"] == 0.0
    assert run.data.params["promotion_forced"] == "False"
    logged = json.loads(run.data.tags["promotion_decision"])
    assert logged["promote"] is False and logged["champion_score"] == pytest.approx(d1.new_score)
    artifact = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/promotion_decision.json")
    assert artifact["version"] == str(v2.version) and artifact["reason"] == d2.reason

    v3, _, d3 = candidate([1, 1, 1])  # uses every signal: AUC ~0.95
    assert d3.promote and not d3.forced and d3.new_score > d1.new_score
    assert str(champion_version(name, client).version) == str(v3.version) == "3"

    v4, run4, d4 = candidate([0, 0, -1], force=True)  # worse, but the operator forces it
    assert d4.promote and d4.forced and d4.new_score < d3.new_score
    assert str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version) == str(v4.version) == "4"
    tags4 = client.get_model_version(name, "4").tags
    assert tags4["forced"] == "true" and tags4["validation_status"] == "forced"
    assert "forced by operator" in tags4["promotion_reason"]
    assert client.get_run(run4).data.params["promotion_forced"] == "True"

    scored = score_champion_on(name, scorer, client)
    assert scored is not None and str(scored[1].version) == "4" and scored[0] == pytest.approx(d4.new_score)


# ------------------------------------------------------------------ fresh-process round trip


def _diamonds(n: int = 600, seed: int = 4) -> pd.DataFrame:
    from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS

    rng = np.random.default_rng(seed)
    carat = rng.uniform(0.3, 2.5, n).round(2)
    cut, color, clarity = rng.integers(0, 5, n), rng.integers(0, 7, n), rng.integers(0, 8, n)
    price = 4000 * carat**1.9 * 1.05**cut * 1.09**color * 1.13**clarity * rng.lognormal(0, 0.1, n)
    return pd.DataFrame(
        {
            "carat": carat,
            "cut": np.array(DIAMOND_CUTS)[cut],
            "color": np.array(DIAMOND_COLORS)[color],
            "clarity": np.array(DIAMOND_CLARITIES)[clarity],
            "price": price.round(2),
        }
    )


def _propensity_frame(n: int = 600, seed: int = 5) -> pd.DataFrame:
    from ml.propensity import FEATURE_COLUMNS

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.gamma(2.0, 10.0, size=(n, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    df.loc[rng.random(n) < 0.2, "std_interpurchase_days"] = np.nan  # NaNs must survive the round trip
    df["label"] = (rng.random(n) < 1 / (1 + np.exp((df["recency_days"] - 20) / 5))).astype(int)
    return df


@pytest.mark.slow  # a second interpreter importing mlflow + sklearn: ~20-40 s on a busy 2-core box
def test_champions_round_trip_in_a_fresh_process(tracking, tmp_path):
    import mlflow

    from ml.diamond import DiamondPriceModel
    from ml.propensity import PropensityModel

    uri, client = tracking
    prop = _propensity_frame()
    prop_model = PropensityModel().fit(prop, prop["label"])
    dia = _diamonds()
    dia_model = DiamondPriceModel().fit(dia)

    versions = {}
    for name, model, example, fn in [
        ("purchase_propensity", prop_model, prop.drop(columns="label").head(5), "predict_proba"),
        ("diamond_price_regressor", dia_model, dia.drop(columns="price").head(5), "predict"),
    ]:
        for _ in range(2):  # two versions, so "the loaded version" is not trivially 1
            with mlflow.start_run():
                info = log_sklearn_model(model, "model", example, pyfunc_predict_fn=fn, pip_requirements=SKLEARN_REQS)
            mv = register_run_model(info.model_uri, name)
        promote_if_better(name, mv, 1.0, higher_is_better=True, scorer=lambda m: 0.0, client=client)
        versions[name] = str(mv.version)
    assert versions == {"purchase_propensity": "2", "diamond_price_regressor": "2"}

    x_prop = prop.drop(columns="label")
    x_dia = dia.drop(columns="price")
    x_prop.to_parquet(tmp_path / "prop.parquet")
    x_dia.to_parquet(tmp_path / "dia.parquet")
    expected_prop = prop_model.predict_proba(x_prop)[:, 1]
    expected_dia = dia_model.predict(x_dia)

    # the in-process champion loader agrees with the fitted objects too
    loaded, mv = load_champion("purchase_propensity", client)
    assert str(mv.version) == "2"
    np.testing.assert_array_equal(loaded.predict_proba(x_prop)[:, 1], expected_prop)

    script = textwrap.dedent(
        """
        import json, sys
        import mlflow, numpy as np, pandas as pd
        from ml.registry import configure_tracking, data_snapshot_id, load_champion

        uri, folder = sys.argv[1], sys.argv[2]
        client = configure_tracking(uri)
        x_prop = pd.read_parquet(f"{folder}/prop.parquet")
        x_dia = pd.read_parquet(f"{folder}/dia.parquet")
        out = {"snapshot": data_snapshot_id(x_prop)}
        pf = mlflow.pyfunc.load_model("models:/purchase_propensity@champion")
        out["prop_pyfunc"] = np.asarray(pf.predict(x_prop))[:, 1].tolist()
        alias_mv = client.get_model_version_by_alias("purchase_propensity", "champion")
        out["prop_version"] = str(alias_mv.version)
        model, mv = load_champion("purchase_propensity")
        out["prop_native"] = model.predict_proba(x_prop)[:, 1].tolist()
        out["prop_loaded_version"] = str(mv.version)
        dpf = mlflow.pyfunc.load_model("models:/diamond_price_regressor@champion")
        out["dia_pyfunc"] = pd.DataFrame(dpf.predict(x_dia))[["price", "lower", "upper"]].to_numpy().tolist()
        dmodel, dmv = load_champion("diamond_price_regressor")
        out["dia_native"] = dmodel.predict(x_dia).to_numpy().tolist()
        out["dia_loaded_version"] = str(dmv.version)
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, uri, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repo: `ml` must import as the installed project, and no ./mlruns appears
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["prop_version"] == out["prop_loaded_version"] == "2"
    assert out["dia_loaded_version"] == "2"
    assert out["snapshot"] == data_snapshot_id(x_prop)  # the content hash is stable across processes
    np.testing.assert_allclose(out["prop_pyfunc"], expected_prop, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["prop_native"], expected_prop, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out["dia_pyfunc"], expected_dia.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(out["dia_native"], expected_dia.to_numpy(), rtol=1e-12)
    assert not (tmp_path / "mlruns").exists()
