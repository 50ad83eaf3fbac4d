"""Training steps for the four registered models (plain Python, no Dagster): train, log to MLflow, register,
gate the champion; plus batch scoring with the champions (``ml.training.scoring``).

One module per model (``demand``, ``propensity``, ``gold``, ``diamond``), each exposing ``train_<model>``
returning a ``common.TrainingOutcome``. Importing this package is cheap; heavy libraries load on first use.
"""
