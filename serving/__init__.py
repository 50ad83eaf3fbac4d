"""The SmartMarket prediction and data API (FastAPI): champion models from the MLflow registry, marts from the
published serving snapshot. ``python -m serving`` (``make serve``) runs it; ``serving.app.create_app`` builds it.
"""

import os

# A one-row tree prediction spread over OpenMP threads spends 10-30 ms waking them on a busy 2-core machine,
# against under 1 ms on one thread, and requests already run in parallel threads. Set here, before anything
# in the package can import sklearn (the OpenMP runtime reads it once).
os.environ.setdefault("OMP_NUM_THREADS", "1")
