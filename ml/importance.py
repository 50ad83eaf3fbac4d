"""Permutation feature importance as a table, for any model and any higher-is-better score."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def permutation_importance_table(
    model: Any, X: pd.DataFrame, y: Any, scorer: Callable[[Any, pd.DataFrame, Any], float],
    n_repeats: int = 3, random_state: int = 0,
) -> pd.DataFrame:
    """How much `scorer(model, X, y)` (higher is better) drops when each column of `X` is shuffled.

    Returns feature, importance_mean, importance_std, most important first. `scorer` is a plain
    callable so models without sklearn's estimator tags (our wrappers, loaded champions) work too.
    """
    from sklearn.inspection import permutation_importance

    res = permutation_importance(model, X, y, scoring=scorer, n_repeats=n_repeats, random_state=random_state)
    return (
        pd.DataFrame({"feature": list(X.columns), "importance_mean": np.asarray(res.importances_mean),
                      "importance_std": np.asarray(res.importances_std)})
        .sort_values("importance_mean", ascending=False)
        .reset_index(drop=True)
    )
