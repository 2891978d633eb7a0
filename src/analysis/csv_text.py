"""A table as CSV text, the same bytes as pandas' ``to_csv(index=False, date_format=
"%Y-%m-%d")`` writes, built a column at a time with Arrow's string kernels.

pandas formats every cell through Python's ``csv`` writer: at 10 million customers the
customers table took four minutes of CPU. Here a column becomes one array of strings
(floats by ``repr``, as pandas writes them; text quoted only where the ``csv`` module's
minimal quoting would quote it; dates by day) and the rows are joined in C++. A column of
any other kind (categories, time zones, mixed objects, float32) leaves the piece to
pandas, so the bytes never depend on which path ran.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["csv_bytes"]

#: characters that make Python's csv writer (QUOTE_MINIMAL, pandas' line terminator) put a
#: field in quotes: the separator, the quote and those of the line terminator
_QUOTE_IF = "[,\"" + "".join(f"\\x{ord(c):02x}" for c in os.linesep) + "]"


def _text(values: pa.Array) -> pa.Array:
    """A string array as the csv module writes it: quoted, with doubled quotes, where it
    holds the separator, a quote or a character of the line terminator; missing cells
    empty."""
    quoted = pc.binary_join_element_wise(
        '"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(pc.match_substring_regex(values, _QUOTE_IF),
                                   quoted, values), "")


def _floats(values: np.ndarray) -> pa.Array:
    """float64 cells as pandas writes them: Python's ``repr`` (shortest round trip,
    ``2.0``, ``1e-05``, ``inf``), missing cells empty."""
    text = np.array(list(map(repr, values.tolist())), dtype=object)
    text[np.isnan(values)] = ""
    return pa.array(text, type=pa.string())


def _column(col: pd.Series) -> pa.Array | None:
    """One column's cells as strings, or None when this module does not format its kind."""
    dtype = col.dtype
    if dtype == np.float64:
        return _floats(col.to_numpy())
    if dtype == np.bool_:
        return pa.array(np.where(col.to_numpy(), "True", "False"), type=pa.string())
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return pc.fill_null(pc.cast(pa.array(col), pa.string()), "")
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        values = col.to_numpy()
        days = values.astype("datetime64[D]").astype(str).astype(object)
        days[np.isnat(values)] = ""
        return pa.array(days, type=pa.string())
    if (dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")
            or isinstance(dtype, pd.StringDtype)):
        return _text(pa.array(col, type=pa.string(), from_pandas=True))
    return None


def csv_bytes(frame: pd.DataFrame, header: bool = True) -> bytes:
    """``frame.to_csv(index=False, header=header, date_format="%Y-%m-%d")`` as UTF-8 bytes."""
    columns = [_column(frame[c]) for c in frame.columns] \
        if frame.columns.is_unique and len(frame.columns) > 1 else [None]
    if any(c is None for c in columns) or not all(isinstance(c, str) for c in frame.columns):
        return frame.to_csv(index=False, header=header,
                            date_format="%Y-%m-%d").encode("utf-8")
    line = os.linesep
    head = ",".join(_text(pa.array(list(frame.columns), type=pa.string())).to_pylist()) \
        + line if header else ""
    if not len(frame):
        return head.encode("utf-8")
    # each row joined and ended in C++; the body is the result's character buffer
    rows = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, ","), line, "")
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    rows = rows.cast(pa.large_string())
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=len(rows) + 1,
                            offset=rows.offset * 8)
    return head.encode("utf-8") + rows.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
