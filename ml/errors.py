"""The one error a model raises when its input cannot support it (empty, or too little of it).

``InsufficientDataError`` means "this shop has no data for this model (yet)": a grocer without metal prices, a
new shop with two weeks of sales. It is not a failure of the pipeline, so the Dagster training and scoring
assets turn it into a skip with the reason shown in the UI instead of a failed step. Its message always says
what was found and what the model needs (numbers included). Bad data (an unknown diamond grade, a missing
column) stays a plain ``ValueError``: that is something to fix, not to skip.
"""

from __future__ import annotations


class InsufficientDataError(ValueError):
    """Input empty or too small for the model; ``reason`` is the user-facing explanation."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
