"""A table as CSV text, the same bytes as pandas' ``to_csv(index=False, date_format=
"%Y-%m-%d")`` writes, built a column at a time with Arrow's string kernels.

pandas formats every cell through Python's ``csv`` writer: 300,000 rows of the customers
table took 7-9 s (about four minutes of CPU at 10 million customers, by extrapolation),
this 1.7-2.2 s. Here a column becomes one array of strings
(floats as pandas writes them, Python's ``repr``; text quoted only where the ``csv`` module's
minimal quoting would quote it; dates by day) and the rows are joined in C++. A column of
any other kind (categories, time zones, mixed objects, float32) leaves the piece to
pandas, so the bytes never depend on which path ran.
"""
from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["csv_bytes", "text_data", "has_bytes"]

#: characters that make Python's csv writer (QUOTE_MINIMAL, pandas' line terminator) put a
#: field in quotes: the separator, the quote and those of the line terminator
_QUOTE_IF = "[,\"" + "".join(f"\\x{ord(c):02x}" for c in os.linesep) + "]"
_QUOTE_CHARS = [",", '"', *os.linesep]


def _text(values: pa.Array) -> pa.Array:
    """A string array as the csv module writes it: quoted, with doubled quotes, where it
    holds the separator, a quote or a character of the line terminator; missing cells
    empty."""
    if not any(has_bytes(values, c.encode()) for c in _QUOTE_CHARS):  # the usual case
        return pc.fill_null(values, "")
    quoted = pc.binary_join_element_wise(
        '"', pc.replace_substring(values, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(pc.match_substring_regex(values, _QUOTE_IF),
                                   quoted, values), "")


def text_data(values: pa.Array | pa.ChunkedArray) -> Iterator[np.ndarray]:
    """The character data of a string array, chunk by chunk, as bytes (no copy): for checks
    that one pass over the bytes answers for every cell. A chunk's buffer may hold bytes
    outside the array's slice, so a check must only ever send it down a careful path."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        data = chunk.buffers()[2]
        if data is not None:
            yield np.frombuffer(data, dtype=np.uint8)


def has_bytes(values: pa.Array | pa.ChunkedArray, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the character data of a string array (one byte search
    instead of a test per cell; True may also come from bytes outside its slice)."""
    return any(needle in data.tobytes() for data in text_data(values))


def _floats(values: np.ndarray) -> pa.Array:
    """float64 cells as pandas writes them: Python's ``repr`` (shortest round trip,
    ``2.0``, ``1e-05``, ``inf``), missing cells empty.

    Arrow's cast writes the same shortest digits three times faster, but its own notation:
    ``2`` for ``2.0`` and exponents from other magnitudes. Its text is kept where the two
    notations agree (magnitudes from 1e-4 to 1e15 written without an exponent, with
    ``.0`` added to whole numbers); every other cell (zero, tiny, huge, infinite) is
    written by ``repr``."""
    text = pc.cast(pa.array(values), pa.string())
    size = np.abs(values)
    with np.errstate(invalid="ignore"):
        arrow = (size >= 1e-4) & (size < 1e15)
        if has_bytes(text, b"e"):  # an exponent somewhere: those cells go to repr
            arrow &= ~np.asarray(pc.match_substring(text, "e"), dtype=bool)
        # without an exponent, Arrow writes a whole number without a point
        whole = arrow & (values == np.trunc(values))
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    rest = ~arrow
    if rest.any():
        part = values[rest]
        cells = np.full(len(part), "", dtype=object)  # missing: empty
        zero = part == 0  # the commonest: no repr needed
        cells[zero] = np.where(np.signbit(part[zero]), "-0.0", "0.0")
        other = ~zero & ~np.isnan(part)
        cells[other] = [repr(v) for v in part[other].tolist()]
        text = pc.replace_with_mask(text, pa.array(rest), pa.array(cells, type=pa.string()))
    return text


def _dates(values: np.ndarray) -> pa.Array:
    """Timestamps as their day (pandas' ``date_format="%Y-%m-%d"``), missing cells empty."""
    days = values.astype("datetime64[D]").astype(str).astype(object)
    days[np.isnat(values)] = ""
    return pa.array(days, type=pa.string())


def _formatter(col: pd.Series) -> Callable[[], pa.Array] | None:
    """What turns one column's cells into strings, or None when this module does not
    format its kind (then pandas writes the whole table)."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return None
    if dtype == np.float64:
        return lambda: _floats(col.to_numpy())
    if dtype == np.bool_:
        return lambda: pa.array(np.where(col.to_numpy(), "True", "False"), type=pa.string())
    if pd.api.types.is_integer_dtype(dtype):
        return lambda: pc.fill_null(pc.cast(pa.array(col), pa.string()), "")
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return lambda: _dates(col.to_numpy())
    if (dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty")
            or isinstance(dtype, pd.StringDtype)):
        return lambda: _text(pa.array(col, type=pa.string(), from_pandas=True))
    return None


def csv_bytes(frame: pd.DataFrame, header: bool = True) -> bytes:
    """``frame.to_csv(index=False, header=header, date_format="%Y-%m-%d")`` as UTF-8 bytes."""
    names = frame.columns
    simple = names.is_unique and len(names) > 1 and all(isinstance(c, str) for c in names)
    formatters = [_formatter(frame[c]) for c in names] if simple else [None]
    if any(f is None for f in formatters):
        return frame.to_csv(index=False, header=header,
                            date_format="%Y-%m-%d").encode("utf-8")
    columns = [f() for f in formatters]
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
