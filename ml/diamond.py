"""Diamond price regressor with split-conformal prediction intervals.

Model: HistGradientBoostingRegressor on log(price) from carat and the ordinal grades cut / color /
clarity (encoded worst=0 .. best using `smartmarket.contracts`), plus depth/table/x/y/z when the training
data has them. Prices are heavy-tailed and multiplicative in the 4Cs, so fitting on the log scale makes
errors relative; the point prediction exp(f(x)) is the conditional *median* price.
Grade and carat effects are constrained to be monotone increasing (a better grade never lowers the price),
which keeps sparse grade combinations from producing inverted prices.

Intervals: split conformal on a calibration split the trees never saw. Scores are absolute log-residuals,
so the interval is [price / e^q, price * e^q] — multiplicative, i.e. wider in dollars for bigger stones.
With exchangeable data the marginal coverage is >= the stated `coverage` (default 90%).

The four Cs alone: at a shop counter nobody measures depth/table/x/y/z. A tree model trained with them routes
a missing dimension down whichever branch held most rows, which is not a prediction (57% MAPE measured on the
tiny data set, against 10% with dimensions). So when the training data has dimensions, a second, four-C-only
model is fitted on the same rows and calibrated on the same split; a row that lacks any of the dimensions the
main model uses is priced by it, with its own conformal quantile, never narrower than the main model's.
`uses_dimensions` says which model priced a row.

Input validation never guesses: an unknown grade or a non-positive carat raises ValueError naming the
column, the bad value(s) and the allowed values. Physically impossible dimensions (x/y/z/depth/table <= 0,
a known defect of public diamond datasets) are treated as missing rather than rejected.

`DiamondPriceModel` follows the sklearn estimator API (fit / predict / score) without subclassing
BaseEstimator, because importing sklearn at module import costs seconds in the Dagster code location.
`predict` returns a DataFrame(price, lower, upper) — which is also what the MLflow pyfunc flavour serves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml.errors import InsufficientDataError
from smartmarket.contracts import DIAMOND_CLARITIES, DIAMOND_COLORS, DIAMOND_CUTS

GRADES: dict[str, tuple[str, ...]] = {
    "cut": DIAMOND_CUTS,
    "color": DIAMOND_COLORS,
    "clarity": DIAMOND_CLARITIES,
}
REQUIRED_COLUMNS: tuple[str, ...] = ("carat", "cut", "color", "clarity")
OPTIONAL_COLUMNS: tuple[str, ...] = ("depth", "table", "x", "y", "z")
FOUR_CS_FEATURES: list[str] = ["carat", "cut_ord", "color_ord", "clarity_ord"]
_GRADE_CODES: dict[str, dict[str, float]] = {col: {g: float(i) for i, g in enumerate(allowed)}
                                              for col, allowed in GRADES.items()}


def _show(values: list[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} distinct)" if len(values) > limit else "")


def _not_positive(col: str, bad: list[Any], n_rows: int, first_index: Any) -> ValueError:
    return ValueError(f"{col} must be a positive number; bad value(s): {_show(bad)} "
                      f"in {n_rows} row(s) (first row index {first_index!r})")


def _unknown_grade(col: str, bad: list[Any], n_rows: int) -> ValueError:
    return ValueError(f"{col} has unknown value(s) {_show(bad)} in {n_rows} row(s); "
                      f"allowed values: {', '.join(GRADES[col])}")


def validate_diamond_input(df: pd.DataFrame, *, require_price: bool = False) -> pd.DataFrame:
    """A cleaned copy of `df`, or ValueError saying exactly what to fix.

    Checks: required columns present; carat numeric and > 0; cut/color/clarity among the contract's
    grades (exact spelling, e.g. 'Very Good', 'VS1'); optional dimensions numeric (<= 0 -> NaN);
    with `require_price`, price numeric and > 0.
    """
    needed = [*REQUIRED_COLUMNS, *(["price"] if require_price else [])]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"missing required column(s): {', '.join(missing)}; diamond input needs {', '.join(needed)}")
    if df.empty:
        raise InsufficientDataError("diamond price regressor: the diamond input has no rows (no diamond prices "
                                    "ingested)")
    out = df.copy()
    for col in ("carat", *(["price"] if require_price else [])):
        num = pd.to_numeric(out[col], errors="coerce")
        bad = out.loc[num.isna() | (num <= 0), col]
        if len(bad):
            raise _not_positive(col, list(pd.unique(bad)), len(bad), bad.index[0])
        out[col] = num.astype(float)
    for col, allowed in GRADES.items():
        values = out[col]
        bad_mask = ~values.isin(allowed)
        if bad_mask.any():
            raise _unknown_grade(col, list(pd.unique(values[bad_mask])), int(bad_mask.sum()))
    for col in OPTIONAL_COLUMNS:
        if col not in out.columns:
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        unparsable = out[col].notna() & num.isna()
        if unparsable.any():
            raise ValueError(
                f"{col} must be numeric when given; bad value(s): {_show(list(pd.unique(out.loc[unparsable, col])))}"
            )
        out[col] = num.where(num > 0).astype(float)
    return out


def diamond_features(df: pd.DataFrame, optional_columns: list[str]) -> pd.DataFrame:
    """Model matrix from validated input: carat, ordinal grades, then the optional columns (NaN if absent)."""
    feats = pd.DataFrame({"carat": df["carat"].astype(float).to_numpy()}, index=df.index)
    for col in GRADES:
        feats[f"{col}_ord"] = df[col].map(_GRADE_CODES[col]).astype(float)
    for col in optional_columns:
        feats[col] = df[col].astype(float) if col in df.columns else np.nan
    return feats


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The ceil((n+1)·coverage)-th smallest score (split conformal); +inf when n is too small."""
    s = np.sort(np.asarray(scores, dtype=float))
    n = s.size
    k = math.ceil((n + 1) * coverage)
    return float("inf") if k > n or n == 0 else float(s[k - 1])


def _thread_limit(n_threads: int | None) -> Any:
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return nullcontext() if n_threads is None else threadpool_limits(limits=n_threads, user_api="openmp")


@dataclass(frozen=True)
class DiamondQuote:
    """One priced stone: the median price and the conformal interval at the model's coverage."""

    price: float
    lower: float
    upper: float
    coverage: float
    uses_dimensions: bool  # False: priced from the four Cs alone (wider interval)


class DiamondPriceModel:
    """Log-price gradient boosting + split-conformal intervals.

    `predict(X)` -> DataFrame(price, lower, upper); `quote(...)` prices one stone without pandas.
    """

    def __init__(
        self,
        coverage: float = 0.9,
        calibration_fraction: float = 0.25,
        optional_columns: list[str] | None = None,
        random_state: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        self.coverage = coverage
        self.calibration_fraction = calibration_fraction
        self.optional_columns = optional_columns  # None = those present (and not all-missing) at fit time
        self.random_state = random_state
        # OpenMP threads for the trees; 1 by default because OpenMP busy-waiting under CPU contention
        # (parallel Dagster steps) made fits an order of magnitude slower. None = all cores.
        self.n_threads = n_threads
        self.estimator_: Any = None
        self.feature_columns_: list[str] = []
        self.optional_columns_: list[str] = []
        self.conformal_q_: float = float("nan")
        # The four-C-only model and its quantile (None when the training data had no dimensions).
        self.four_cs_estimator_: Any = None
        self.four_cs_conformal_q_: float = float("nan")
        self.n_fit_: int = 0
        self.n_calibration_: int = 0

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "coverage": self.coverage,
            "calibration_fraction": self.calibration_fraction,
            "optional_columns": self.optional_columns,
            "random_state": self.random_state,
            "n_threads": self.n_threads,
        }

    def fit(self, X: pd.DataFrame, y: Any = None) -> DiamondPriceModel:
        """Fit on rows of `X` (with `price`, or prices passed as `y`), holding out a calibration split."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        data = X.copy()
        if y is not None:
            data["price"] = np.asarray(y, dtype=float)
        data = validate_diamond_input(data, require_price=True)
        if self.optional_columns is None:
            self.optional_columns_ = [c for c in OPTIONAL_COLUMNS if c in data.columns and data[c].notna().any()]
        else:
            self.optional_columns_ = list(self.optional_columns)
        feats = diamond_features(data, self.optional_columns_)
        self.feature_columns_ = list(feats.columns)
        target = np.log(data["price"].to_numpy())

        rng = np.random.default_rng(self.random_state)
        order = rng.permutation(len(feats))
        n_cal = round(self.calibration_fraction * len(feats))
        if n_cal < MIN_CALIBRATION_ROWS or len(feats) - n_cal < MIN_FIT_ROWS:
            raise InsufficientDataError(
                f"diamond price regressor: need at least ~70 priced diamonds to fit and calibrate, got {len(feats)}")
        cal_idx, fit_idx = order[:n_cal], order[n_cal:]

        monotone = {"carat": 1, "cut_ord": 1, "color_ord": 1, "clarity_ord": 1}

        def regressor() -> Any:
            return HistGradientBoostingRegressor(
                learning_rate=0.1,
                max_iter=500,
                max_leaf_nodes=31,
                min_samples_leaf=20,
                monotonic_cst=monotone,
                early_stopping=True,
                validation_fraction=0.1,
                n_iter_no_change=20,
                random_state=self.random_state,
            )

        self.estimator_ = regressor()
        with _thread_limit(self.n_threads):
            self.estimator_.fit(feats.iloc[fit_idx], target[fit_idx])
            residuals = np.abs(target[cal_idx] - self.estimator_.predict(feats.iloc[cal_idx]))
            if self.optional_columns_:
                four = feats[FOUR_CS_FEATURES]
                self.four_cs_estimator_ = regressor().fit(four.iloc[fit_idx], target[fit_idx])
                four_residuals = np.abs(target[cal_idx] - self.four_cs_estimator_.predict(four.iloc[cal_idx]))
            else:
                self.four_cs_estimator_ = None
        self.conformal_q_ = conformal_quantile(residuals, self.coverage)
        if self.four_cs_estimator_ is not None:
            # Less information is never reported as more certainty: a four-C quantile below the full model's
            # comes from the finite calibration split (or from dimensions that add nothing, as in generated
            # data). Widening keeps the coverage guarantee.
            self.four_cs_conformal_q_ = max(conformal_quantile(four_residuals, self.coverage), self.conformal_q_)
        self.n_fit_, self.n_calibration_ = len(fit_idx), len(cal_idx)
        return self

    def _four_cs(self) -> Any:
        # Models trained before the four-C model existed unpickle without the attribute.
        return getattr(self, "four_cs_estimator_", None)

    def uses_dimensions(self, X: pd.DataFrame) -> np.ndarray:
        """Per row: True when the main model prices it (every dimension it was trained with is given)."""
        return self._full_rows(validate_diamond_input(X))

    def _full_rows(self, data: pd.DataFrame) -> np.ndarray:
        if self._four_cs() is None or not self.optional_columns_:
            return np.ones(len(data), dtype=bool)
        dims = [data[c] if c in data.columns else pd.Series(np.nan, index=data.index) for c in self.optional_columns_]
        return np.asarray(pd.concat(dims, axis=1).notna().all(axis=1), dtype=bool)

    def _predict_log(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(log price, conformal log quantile) per row."""
        if self.estimator_ is None:
            raise RuntimeError("DiamondPriceModel is not fitted")
        data = validate_diamond_input(X)
        feats = diamond_features(data, self.optional_columns_)[self.feature_columns_]
        full = self._full_rows(data)
        log_p = np.empty(len(feats))
        q = np.where(full, self.conformal_q_, getattr(self, "four_cs_conformal_q_", self.conformal_q_))
        with _thread_limit(getattr(self, "n_threads", 1)):
            if full.any():
                log_p[full] = self.estimator_.predict(feats[full])
            if not full.all():
                log_p[~full] = self._four_cs().predict(feats.loc[~full, FOUR_CS_FEATURES])
        return log_p, q

    def predict_log_price(self, X: pd.DataFrame) -> np.ndarray:
        return self._predict_log(X)[0]

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """DataFrame(price, lower, upper), index aligned with `X`."""
        log_p, q = self._predict_log(X)
        return pd.DataFrame(
            {"price": np.exp(log_p), "lower": np.exp(log_p - q), "upper": np.exp(log_p + q)},
            index=X.index,
        )

    def quote(self, carat: Any, cut: Any, color: Any, clarity: Any, **dimensions: Any) -> DiamondQuote:
        """One stone, validated like `predict` but without a pandas round trip per column.

        This is the serving path: `predict` on one row spends ~10 ms in pandas and in threadpoolctl, this
        takes ~1 ms. It does not limit OpenMP threads per call (that lookup alone costs ~3 ms): a serving
        process sets OMP_NUM_THREADS=1 once instead. Dimensions <= 0 or None count as missing.
        """
        if self.estimator_ is None:
            raise RuntimeError("DiamondPriceModel is not fitted")
        try:
            weight = float(carat)
        except (TypeError, ValueError):
            weight = math.nan
        if not weight > 0:  # also rejects NaN
            raise _not_positive("carat", [carat], 1, 0)
        row: dict[str, float] = {"carat": weight}
        for col, value in (("cut", cut), ("color", color), ("clarity", clarity)):
            code = _GRADE_CODES[col].get(value) if isinstance(value, str) else None
            if code is None:
                raise _unknown_grade(col, [value], 1)
            row[f"{col}_ord"] = code
        for col in self.optional_columns_:
            value = dimensions.get(col)
            try:
                number = math.nan if value is None else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{col} must be numeric when given; bad value(s): {value!r}") from None
            row[col] = number if number > 0 else math.nan
        full = all(not math.isnan(row[c]) for c in self.optional_columns_)
        if not full and self._four_cs() is None:
            raise ValueError(f"this model needs all of {', '.join(self.optional_columns_)} (it was trained before "
                             "four-C-only pricing existed); give them, or retrain the model")
        if full:
            estimator, columns, q = self.estimator_, self.feature_columns_, self.conformal_q_
        else:
            estimator, columns, q = self._four_cs(), FOUR_CS_FEATURES, self.four_cs_conformal_q_
        log_p = float(estimator.predict(pd.DataFrame([[row[c] for c in columns]], columns=columns))[0])
        return DiamondQuote(math.exp(log_p), math.exp(log_p - q), math.exp(log_p + q), self.coverage, full)

    def predict_price(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.predict_log_price(X))

    def score(self, X: pd.DataFrame, y: Any) -> float:
        """R² of the point price (sklearn's regressor convention)."""
        from sklearn.metrics import r2_score

        return float(r2_score(np.asarray(y, dtype=float), self.predict_price(X)))


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """R², MAPE (as a fraction), RMSE on the price scale, and R² on the log scale."""
    from sklearn.metrics import mean_absolute_percentage_error, mean_squared_error, r2_score

    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return {
        "r2": float(r2_score(y, p)),
        "mape": float(mean_absolute_percentage_error(y, p)),
        "rmse": float(math.sqrt(mean_squared_error(y, p))),
        "r2_log": float(r2_score(np.log(y), np.log(p))),
    }


def interval_metrics(y_true: Any, lower: Any, upper: Any, price: Any) -> dict[str, float]:
    y = np.asarray(y_true, dtype=float)
    lo, hi, p = (np.asarray(a, dtype=float) for a in (lower, upper, price))
    return {
        "interval_coverage": float(np.mean((y >= lo) & (y <= hi))),
        "interval_median_relative_width": float(np.median((hi - lo) / p)),
    }


class CaratPowerLawBaseline:
    """log(price) = a + b·log(carat): the price-per-carat rule of thumb, the honest baseline to beat."""

    def fit(self, X: pd.DataFrame, y: Any) -> CaratPowerLawBaseline:
        b, a = np.polyfit(np.log(X["carat"].astype(float)), np.log(np.asarray(y, dtype=float)), 1)
        self.intercept_, self.slope_ = float(a), float(b)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.exp(self.intercept_ + self.slope_ * np.log(X["carat"].astype(float).to_numpy()))


@dataclass
class DiamondResult:
    model: DiamondPriceModel
    metrics: dict[str, float]  # flat, MLflow-ready: test_*, baseline_test_*, interval_*
    test_predictions: pd.DataFrame  # held-out rows: price_actual, price, lower, upper
    test_frame: pd.DataFrame  # the held-out input rows (for champion re-scoring)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def promotion_score(self) -> float:
        """Held-out MAPE (lower is better): scale-free, so expensive stones do not dominate."""
        return self.metrics["test_mape"]


MIN_CALIBRATION_ROWS = 20
MIN_FIT_ROWS = 50


def min_diamonds(test_fraction: float = 0.2, calibration_fraction: float = 0.25) -> int:
    """Smallest data set ``fit_and_evaluate_diamond`` can split into test, calibration and fit rows."""
    n = 1
    while True:
        train = n - round(test_fraction * n)
        n_cal = round(calibration_fraction * train)
        if n_cal >= MIN_CALIBRATION_ROWS and train - n_cal >= MIN_FIT_ROWS:
            return n
        n += 1


def holdout_mape(model: Any, test: pd.DataFrame) -> float:
    """MAPE of any diamond model (e.g. the loaded champion) on held-out rows with a `price` column."""
    pred = model.predict(test.drop(columns=["price"]))
    price = pred["price"] if isinstance(pred, pd.DataFrame) else np.asarray(pred, dtype=float)
    return regression_metrics(test["price"], price)["mape"]


def fit_and_evaluate_diamond(
    df: pd.DataFrame,
    *,
    coverage: float = 0.9,
    test_fraction: float = 0.2,
    calibration_fraction: float = 0.25,
    random_state: int = 0,
) -> DiamondResult:
    """Hold out test rows, fit (with its own calibration split) on the rest, evaluate on the test rows."""
    data = validate_diamond_input(df, require_price=True).reset_index(drop=True)
    needed = min_diamonds(test_fraction, calibration_fraction)
    if len(data) < needed:
        raise InsufficientDataError(
            f"diamond price regressor: {len(data)} priced diamonds; need at least {needed} ({test_fraction:.0%} "
            f"held out for the gate, then {calibration_fraction:.0%} of the rest for the conformal calibration "
            f"(>= {MIN_CALIBRATION_ROWS}) and >= {MIN_FIT_ROWS} to fit)")
    rng = np.random.default_rng(random_state + 1)
    order = rng.permutation(len(data))
    n_test = round(test_fraction * len(data))
    test, train = data.iloc[order[:n_test]], data.iloc[order[n_test:]]
    model = DiamondPriceModel(coverage, calibration_fraction, random_state=random_state).fit(train)
    pred = model.predict(test.drop(columns=["price"]))
    base = CaratPowerLawBaseline().fit(train, train["price"])
    # The same held-out stones priced from the four Cs alone, as at a shop counter.
    four = model.predict(test[list(REQUIRED_COLUMNS)])

    metrics: dict[str, float] = {f"test_{k}": v for k, v in regression_metrics(test["price"], pred["price"]).items()}
    metrics.update(interval_metrics(test["price"], pred["lower"], pred["upper"], pred["price"]))
    metrics.update({f"baseline_test_{k}": v for k, v in regression_metrics(test["price"], base.predict(test)).items()})
    metrics.update({f"test_{k}_four_cs": v for k, v in regression_metrics(test["price"], four["price"]).items()})
    metrics.update({f"{k}_four_cs": v for k, v in
                    interval_metrics(test["price"], four["lower"], four["upper"], four["price"]).items()})
    metrics.update(
        {
            "coverage_target": coverage,
            "conformal_log_q": model.conformal_q_,
            "conformal_log_q_four_cs": model.four_cs_conformal_q_,
            "n_fit": float(model.n_fit_),
            "n_calibration": float(model.n_calibration_),
            "n_test": float(len(test)),
        }
    )
    params = {
        "model": "HistGradientBoostingRegressor on log(price), monotone in carat and grades",
        "features": ",".join(model.feature_columns_),
        "coverage": coverage,
        "test_fraction": test_fraction,
        "calibration_fraction": calibration_fraction,
        "random_state": random_state,
        "baseline": "log-log power law on carat",
    }
    preds = pred.assign(price_actual=test["price"].to_numpy())[["price_actual", "price", "lower", "upper"]]
    return DiamondResult(model=model, metrics=metrics, test_predictions=preds, test_frame=test, params=params)
