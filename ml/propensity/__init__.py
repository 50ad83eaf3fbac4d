"""Purchase propensity: will a known customer buy (a non-return invoice) in the next 30 days?

Point-in-time features (`features`), labels (`labels`), multi-cutoff datasets (`dataset`), the
calibrated classifier with its honest baselines (`model`) and batch scoring (`score`).
Importing this package is cheap: sklearn is imported inside the functions that need it.
"""

from ml.propensity.dataset import PropensityDataset, build_dataset
from ml.propensity.features import FEATURE_COLUMNS, RFM_COLUMNS, build_features
from ml.propensity.labels import build_labels
from ml.propensity.model import PropensityModel, PropensityResult, fit_and_evaluate
from ml.propensity.score import score_customers

__all__ = [
    "FEATURE_COLUMNS",
    "RFM_COLUMNS",
    "PropensityDataset",
    "PropensityModel",
    "PropensityResult",
    "build_dataset",
    "build_features",
    "build_labels",
    "fit_and_evaluate",
    "score_customers",
]
