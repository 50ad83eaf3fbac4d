"""Reads Parquet files as DataFrames of strings, batch by batch, so typing and validation are the same
as for CSV: every column is turned into the text a CSV export would hold.

Timestamps with a time zone are converted to UTC wall time; floats that are whole numbers print without
`.0`, as Arrow casts them; nested columns (lists, structs) become JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smartmarket.ingest.reader import FileRejected


def open_parquet(path: Path, batch_rows: int) -> tuple[list[str], Iterator[pd.DataFrame]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        names = [str(n) for n in parquet.schema_arrow.names]
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileRejected(f"not a readable Parquet file: {exc}") from None
    if not names:
        raise FileRejected("Parquet file has no columns")
    return names, _frames(parquet, names, batch_rows)


def _frames(parquet: Any, names: list[str], batch_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa

    done = 0
    try:
        # Row group by row group: a damaged group then stops the reading after the good ones before it.
        for group in range(parquet.num_row_groups):
            for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group]):
                frame = pd.DataFrame({f"c{i}": _text(batch.column(i)) for i in range(batch.num_columns)})
                frame.columns = names  # names may repeat: the loader rejects such a header by name
                done += len(frame)
                yield frame
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileRejected(f"Parquet file cannot be read after data row {done}: {exc}") from None
    finally:
        parquet.close()


def _text(column: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        column = column.cast(pa.timestamp(kind.unit))
    if pa.types.is_nested(kind):
        values = [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in column.to_pylist()]
        text = pa.array(values, type=pa.string())
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        text = pa.array([None if v is None else v.decode("utf-8", "backslashreplace") for v in column.to_pylist()],
                        type=pa.string())
    else:
        text = column.cast(pa.string())
    return pc.fill_null(text, "").to_numpy(zero_copy_only=False).astype(object)
