"""Wide tables into records: `Date,USD,EUR,GBP` becomes one record per date and currency.

A melted record keeps its source row number, so a quarantined record points at the line a person opens;
its raw record holds the row's other columns and the one melted cell it came from.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from smartmarket.ingest.mapping import Melt

# Column names no header can carry (NUL is never read from a text header), used inside a melted chunk.
NAME = "\x00melt:name"
VALUE = "\x00melt:value"
HEADER = "\x00melt:header"
_SYNTHETIC = (NAME, VALUE, HEADER)


def melt_frame(frame: pd.DataFrame, numbers: np.ndarray, melt: Melt,
               present: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """One record per source row and melted column, in row order then column order."""
    k = len(present)
    keep = [c for c in frame.columns if c not in present]
    repeat = np.repeat(np.arange(len(frame)), k)
    long = frame[keep].iloc[repeat].reset_index(drop=True)
    long[VALUE] = frame[present].to_numpy(dtype=object).ravel()
    long[HEADER] = np.tile(np.asarray(present, dtype=object), len(frame))
    long[NAME] = np.tile(np.asarray([melt.columns[c] for c in present], dtype=object), len(frame))
    return long, np.repeat(numbers, k)


def is_melted(frame: pd.DataFrame) -> bool:
    return HEADER in frame.columns


def raw_records(frame: pd.DataFrame) -> list[str]:
    """The original values of each row as JSON; for a melted record, its row's columns plus its own cell."""
    if not is_melted(frame):
        return [json.dumps(dict(zip(frame.columns, r, strict=True)), ensure_ascii=False)
                for r in frame.itertuples(index=False, name=None)]
    columns = [c for c in frame.columns if c not in _SYNTHETIC]
    out = []
    for values, header, cell in zip(frame[columns].itertuples(index=False, name=None), frame[HEADER],
                                    frame[VALUE], strict=True):
        record = dict(zip(columns, values, strict=True))
        record[header] = cell
        out.append(json.dumps(record, ensure_ascii=False))
    return out
