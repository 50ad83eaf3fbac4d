"""A mapping's row rules applied to string rows: which rows a rule hits, and the rows it skips.

Rules look at the trimmed text as it came in the file, before typing, so a skipped row (a postage line,
a holiday left blank) is never validated and never quarantined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smartmarket.ingest.mapping import Mapping, RowRule


def rule_hits(frame: pd.DataFrame, source: str, rule: RowRule) -> np.ndarray:
    """Boolean mask of the rows whose `source` column matches `rule` (values/prefix case-insensitive)."""
    text = pc.utf8_trim_whitespace(pa.array(frame[source].to_numpy(dtype=object), type=pa.string()))
    hits = pa.array(np.zeros(len(frame), dtype=bool))
    if rule.blank:
        hits = pc.or_(hits, pc.equal(text, ""))
    lowered = pc.utf8_lower(text)
    if rule.values:
        wanted = pa.array([v.lower() for v in rule.values], type=pa.string())
        hits = pc.or_(hits, pc.is_in(lowered, value_set=wanted))
    for prefix in rule.prefixes:
        hits = pc.or_(hits, pc.starts_with(lowered, pattern=prefix.lower()))
    if rule.pattern:
        hits = pc.or_(hits, pc.match_substring_regex(text, pattern=rule.pattern))
    return hits.fill_null(False).to_numpy(zero_copy_only=False)


def skipped_rows(frame: pd.DataFrame, rule_sources: dict[RowRule, str],
                 mapping: Mapping) -> tuple[np.ndarray, dict[str, int]]:
    """Rows the mapping skips, and how many each rule skipped (a row counts for the first rule it hits)."""
    skip = np.zeros(len(frame), dtype=bool)
    counts: dict[str, int] = {}
    for rule in mapping.rules_for("skip"):
        hit = rule_hits(frame, rule_sources[rule], rule) & ~skip
        if hit.any():
            counts[rule.describe()] = counts.get(rule.describe(), 0) + int(hit.sum())
            skip |= hit
    return skip, counts
