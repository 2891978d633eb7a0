"""Stage 1a, second half: the file's columns as canonical, typed transactions.

:func:`coerce` maps the file's columns to the canonical names (``customer_id`` as text,
exactly as written; ``date`` as datetime64; ``amount`` rounded to the cent, or
``quantity * unit_price`` rounded to the cent; the optional columns and dimensions) and
refuses what does not parse, with the file, the column and an example row. Text is
parsed with pyarrow where every value parses (~10x faster), else with pandas, which
words the error. The wording of each error and warning is defined here once and used by
every engine (``stage1.rules``).
"""
from __future__ import annotations

import datetime as _dt
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa_schema
import pyarrow as pa
import pyarrow.compute as pc

from ..config import ReadParams, missing_tokens
from ..csv_text import text_data
from ..errors import InputError
from ..messages import msg
from .privacy import redact_row
from .rules import (CURRENCY_SYMBOLS, DATE_CEILING, DATE_FLOOR, MAX_ROW_AMOUNT,
                    MAX_TOTAL_CENTS, SUBCENT_UNITS, amount_error, currency_warning,
                    date_error, dimension_missing_warning, float_ids_warning, number_error,
                    too_large_row, too_large_total)

__all__ = ["TRANSACTIONS_SCHEMA", "coerce", "sheet_dates", "subcent", "row_cost",
           "as_text", "line_of", "parse_number", "customer_ids"]

#: the contract of a loaded frame, checked with pandera after coercion
TRANSACTIONS_SCHEMA = pa_schema.DataFrameSchema(
    {
        "customer_id": pa_schema.Column(str, nullable=True),
        "date": pa_schema.Column("datetime64[ns]", nullable=False),
        "amount": pa_schema.Column(float, pa_schema.Check(
            lambda s: np.isfinite(s), element_wise=False, error="amount must be finite"),
            nullable=False),
    },
    strict=False,
    coerce=False,
)


def line_of(pos: int, params: ReadParams) -> int:
    """1-based line of the file for a data row at position ``pos``."""
    return pos + (2 if params.header else 1)


def _example(raw: pd.DataFrame, mask: np.ndarray, params: ReadParams
             ) -> tuple[dict, int, int]:
    pos = int(np.flatnonzero(mask)[0])
    row = {c: raw.iloc[pos][c] for c in raw.columns}
    at = raw.attrs.get("lines", range(len(raw)))[pos]  # rows left out before typing shift
    return redact_row(row, params.privacy), line_of(int(at), params), int(mask.sum())


def _arrow_text(s: pd.Series):
    """A text column as a pyarrow array (no copy), or None when it is not arrow-backed."""
    if getattr(s.dtype, "storage", None) == "pyarrow" and pd.api.types.is_string_dtype(s):
        return pa.array(s.array)
    return None


def _plain_ascii(arr) -> bool:
    """Whether every byte of the text is ASCII other than the separators \\x1c-\\x1f: there
    pyarrow's ASCII trimming and lower-casing give exactly what its UTF-8 ones give (which
    also trim those four separators, as Python's ``str.strip`` does)."""
    return not any(b.max(initial=0) >= 0x80 or np.count_nonzero((b - np.uint8(0x1c)) < 4)
                   for b in text_data(arr))


def as_text(s: pd.Series, missing: list[str] | None = None) -> pd.Series:
    """Text with surrounding blanks removed; the ``missing`` texts (``ReadParams.missing_tokens``,
    compared in lower case) are missing."""
    missing = missing_tokens() if missing is None else missing
    out = s if s.dtype == "str" else s.astype("str")
    arr = _arrow_text(out)
    if arr is not None:  # one pass in pyarrow instead of four in pandas
        if _plain_ascii(arr):  # the same result, 5-10x faster
            arr = pc.ascii_trim_whitespace(arr)
            hit = pc.is_in(pc.ascii_lower(arr), value_set=pa.array(missing, arr.type))
        else:
            arr = pc.utf8_trim_whitespace(arr)
            hit = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(missing, arr.type))
        if pc.any(hit).as_py():
            arr = pc.if_else(hit, pa.scalar(None, arr.type), arr)
        return pd.Series(arr.to_pandas(), index=s.index, name=s.name)
    out = out.str.strip()
    return out.mask(out.isna() | out.str.lower().isin(missing))


def _arrow_parse(text: pd.Series, to: str, fmt: str | None = None) -> pd.Series | None:
    """Parse text with pyarrow (numbers, ISO dates, or ``fmt`` with strptime), ~10x faster
    than pandas; None when any value does not parse, so the caller's careful pandas path
    runs and reports it."""
    arr = _arrow_text(text)
    if arr is None:
        return None
    try:
        if to == "number":
            out = pc.cast(arr, pa.float64())
        elif fmt:  # microseconds: years 1 to 9999, which bounded_dates then takes in
            out = pc.strptime(arr, format=fmt, unit="us", error_is_null=False)
        else:
            try:
                out = pc.cast(arr, pa.timestamp("us"))
            except pa.ArrowInvalid:  # texts with a zone offset: as UTC
                out = pc.cast(arr, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if out.null_count != arr.null_count:
        return None
    if getattr(out.type, "tz", None):  # zoned: pandas keeps the zone for bounded_dates
        return pd.Series(out.to_pandas(), index=text.index)
    return pd.Series(out.to_numpy(zero_copy_only=False), index=text.index)

# -- what a failed or odd value reads as (one wording for every engine) --------------------

#: where dates outside what a datetime64[ns] holds (``rules.DATE_FLOOR`` … ``DATE_CEILING``)
#: are put: far outside [1900, today], so the implausible-dates rule drops them with their
#: revenue, on every reader, instead of a reader failing on them
_NS_MIN = np.datetime64(DATE_FLOOR.date(), "us")
_NS_MAX = np.datetime64(DATE_CEILING.date(), "us")


def bounded_dates(out: pd.Series) -> pd.Series:
    """Dates of any unit and zone as naive datetime64[ns]: a zone (Parquet timestamps with
    one, texts with offsets) converted to UTC; dates out of the ns range moved to the
    sentinels above (which the implausible-dates rule drops)."""
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    values = out.to_numpy()
    if values.dtype != np.dtype("datetime64[ns]"):
        wide = values.astype("datetime64[us]")
        early, late = wide < _NS_MIN, wide > _NS_MAX
        if early.any() or late.any():
            wide = wide.copy()
            wide[early], wide[late] = _NS_MIN, _NS_MAX
        values = wide.astype("datetime64[ns]")
    return pd.Series(values, index=out.index, name=out.name)


_TIME_ONLY = re.compile(r"^\s*\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?\s*$")


def sheet_dates(s: pd.Series) -> pd.Series | None:
    """A workbook column whose cells are all real dates (object dtype), as datetime64; None
    otherwise. Such cells need no ``date_format``: they are dates already."""
    if s.dtype != object:
        return None
    present = s.dropna()
    if len(present) == 0 or not present.map(lambda v: isinstance(v, _dt.date)).all():
        return None
    return bounded_dates(pd.Series(pd.to_datetime(
        present.map(lambda v: np.datetime64(v, "us")).to_numpy(dtype="datetime64[us]")),
        index=present.index).reindex(s.index))


def _to_datetime(text: pd.Series, **kw) -> pd.Series:
    """pandas' parser; texts with different offsets (+02:00, -05:00) converted to UTC."""
    try:
        return pd.to_datetime(text, errors="coerce", **kw)
    except ValueError:  # mixed offsets, or offsets beside naive texts
        return pd.to_datetime(text, errors="coerce", utc=True, **kw)


def _parse_dates(s: pd.Series, params: ReadParams, warnings: list[str] | None = None,
                 column: str = "date") -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return bounded_dates(s)
    typed = sheet_dates(s)
    if typed is not None:
        return typed
    times = None
    text = as_text(s, params.missing_tokens)
    fmt = params.date_format
    fast = _arrow_parse(text, "date", fmt)
    if fast is not None:
        out = bounded_dates(fast)
    else:
        # a cell holding a time of day only (a sheet's time cell, as text "10:30:00", or
        # "10:30") is no date: it must not become a transaction dated today (pandas'
        # "mixed" parser would). Only here: no such text passes the fast parser above
        clock = text.str.match(_TIME_ONLY.pattern).fillna(False).to_numpy(dtype=bool)
        # and no date is written in more than 64 characters: such a cell is not parsed
        # (pandas' one-by-one parser takes minutes on a cell of megabytes)
        clock = clock | (text.str.len() > 64).fillna(False).to_numpy(dtype=bool)
        if clock.any():
            times = clock
            text = text.mask(clock)
        if fmt:
            out = _to_datetime(text, format=fmt)
        else:
            out = _to_datetime(text, format="ISO8601")
            n_iso_failed = int(out.isna().sum() - text.isna().sum())
            if n_iso_failed:
                out = _to_datetime(text, format="mixed", dayfirst=params.dayfirst)
                if warnings is not None and out.notna().sum() > 0:
                    warnings.append(msg("warning.iso_dates", column=str(column),
                                        n=n_iso_failed, dayfirst=params.dayfirst))
        out = bounded_dates(out)
    if times is not None and times.any():
        out = out.mask(times)  # missing: the date check reports them with an example row
    return out


def parse_number(s: pd.Series, params: ReadParams, warnings: list[str] | None = None,
                 column: str = "") -> pd.Series:
    """Numbers as written; ``thousands``/``decimal`` parameters and currency symbols handled."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    text = as_text(s, params.missing_tokens)
    if not params.thousands and params.decimal == ".":
        fast = _arrow_parse(text, "number")
        if fast is not None:
            return fast.astype("float64")
    has_symbol = text.str.contains(CURRENCY_SYMBOLS, regex=True).fillna(False)
    if has_symbol.any():
        n = int(has_symbol.sum())
        text = text.str.replace(CURRENCY_SYMBOLS, "", regex=True).str.strip()
        if warnings is not None:
            warnings.append(currency_warning(column, n))
    if params.thousands:
        text = text.str.replace(params.thousands, "", regex=False)
    if params.decimal != ".":
        text = text.str.replace(params.decimal, ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def customer_ids(values: pd.Series, warnings: list[str] | None, column: str,
                  missing: list[str] | None = None, show_example: bool = True) -> pd.Series:
    """Ids as text; ids written as floats by a spreadsheet (``12345.0``) lose the ``.0``."""
    ids = as_text(values, missing).astype("str")
    present = ids.dropna()
    if len(present) and present.iloc[:1].str.fullmatch(r"\d+\.0").all() and \
            present.str.fullmatch(r"\d+\.0").all():
        ids = ids.str.slice(stop=-2)
        if warnings is not None:
            warnings.append(float_ids_warning(column, present.iloc[0] if show_example
                                              else None))
    return ids


def _refuse_large_rows(values: np.ndarray, raw: pd.DataFrame, params: ReadParams,
                       file: str, column: str) -> None:
    """Exit 2 when a money value (amount, cost or profit) of a row is beyond the limit."""
    big = ~(np.abs(values) <= MAX_ROW_AMOUNT)
    if big.any():
        row, line, n = _example(raw, big, params)
        raise amount_error(too_large_row(n), file, column, row, line)


def _refuse_large_total(amount_cents: np.ndarray, raw: pd.DataFrame,
                        params: ReadParams, file: str, column: str) -> None:
    """Exit 2 when the amounts' absolute total could not be summed exactly: no ledger,
    summary or headline may overflow or lose a cent in silence."""
    size = np.abs(amount_cents)
    total = float(size.sum())
    if total >= MAX_TOTAL_CENTS:
        row, line, _ = _example(raw, size == size.max(), params)
        raise amount_error(too_large_total(total), file, column, row, line)


def subcent(amount: np.ndarray, amount_cents: np.ndarray) -> int:
    """Σ (amount − amount rounded to the cent), in units of :data:`SUBCENT_UNITS` per unit
    of the currency, each row's difference rounded once: what rounding each row to the
    cent changes (the ledger's ``rounding`` line). At 10⁻⁸ a price written with five or
    more decimals still adds up (20,000 rows of 0.12345 are 2,469.00, not 2,468.00)."""
    diff = np.rint((amount - amount_cents / 100) * SUBCENT_UNITS)
    return int(diff.astype("int64").sum())


def row_cost(amount_cents: np.ndarray, cost: np.ndarray | None, profit: np.ndarray | None
             ) -> np.ndarray:
    """The cost of each row to the cent: the mapped cost, or amount − profit (both rounded to
    the cent first, so revenue − cost is the file's profit to the cent). A loss-making row
    (negative profit) is a row like any other: no rule drops it for that."""
    if cost is not None:
        return np.rint(cost * 100) / 100
    return (amount_cents - np.rint(profit * 100)) / 100


def _in_parallel(tasks: dict[str, Callable[[list[str]], Any]]
                 ) -> dict[str, tuple[Any, list[str]]]:
    """Each task called with a warnings list of its own, on two threads: (its result, its
    warnings) by key. An exception of a task is raised here."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = {key: (pool.submit(fn, said), said)
                for key, fn, said in ((k, f, []) for k, f in tasks.items())}
        return {key: (job.result(), said) for key, (job, said) in jobs.items()}


def _text_column(values: pd.Series, words: list[str], warnings: list, column: str,
                 dimension: bool) -> pd.Series:
    """Text, its ``words`` missing; a dimension losing many values to them warns."""
    text = as_text(values, words).astype("str")
    if dimension and len(words) > 1:
        lost = int((as_text(values, [""]).notna() & text.isna()).sum())
        said = dimension_missing_warning(column, lost, len(values))
        if said is not None:
            warnings.append(said)
    return text


def coerce(raw: pd.DataFrame, params: ReadParams, file: str = "data",
           warnings: list[str] | None = None) -> pd.DataFrame:
    """Map the file's columns to canonical names and types; raise on values that do not parse.
    Things that were usable but worth knowing are appended to ``warnings``."""
    cols = params.columns
    src = {canon: col for canon, col in cols.items()}
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))

    missing_words = params.missing_tokens
    # every column parsed on two threads (Arrow's kernels let go of the GIL), each with its
    # own warnings; below, the warnings join the run's and errors are raised column by
    # column in the order they always were
    number_cols = [c for c in ("amount", "quantity", "unit_price", "cost", "profit")
                   if c in src]
    # (output column, task key, file column); a dimension's key cannot clash with a
    # canonical name, whatever the file calls its columns
    # ids are strict (every missing word); a dimension loses only the blank cell by default
    # (dimension_missing_values), so a region "NA" (North America) stays a region
    text_cols = [(c, c, src[c], missing_words) for c in ("order_id", "product_code", "category")
                 if c in src] + \
        [(d, f"dimension {d}", d, params.dimension_missing_tokens) for d in params.dimensions]
    cells = {**{c: raw[col] for c, col in src.items()},
             **{key: raw[col] for _, key, col, _ in text_cols}}
    parsed = _in_parallel({
        "customer_id": lambda w: customer_ids(cells["customer_id"], w, src["customer_id"],
                                               missing_words, not params.privacy.anonymize),
        "date": lambda w: _parse_dates(cells["date"], params, w, src["date"]),
        **{c: (lambda w, c=c: parse_number(cells[c], params, w, src[c])) for c in number_cols},
        **{key: (lambda w, key=key, words=words, col=col, dim=name in params.dimensions:
                 _text_column(cells[key], words, w, col, dim))
           for name, key, col, words in text_cols}})

    def take(canon: str):
        value, said = parsed[canon]
        if warnings is not None:
            warnings.extend(said)
        return value

    out["customer_id"] = take("customer_id")
    dates = take("date")
    missing = dates.isna().to_numpy()
    if missing.any():
        original = raw[src["date"]]
        blank = as_text(original, missing_words).isna().to_numpy() if not \
            pd.api.types.is_datetime64_any_dtype(original) else missing
        row, line, n = _example(raw, missing, params)
        raise date_error(n, bool(blank[missing].all()),
                         params.date_format or "ISO 8601 / inferred", file, src["date"],
                         row, line)
    out["date"] = dates

    numeric = {}
    for canon in number_cols:
        values = take(canon)
        bad = (~np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan)))
        if bad.any():
            row, line, n = _example(raw, bad, params)
            raise number_error(n, canon, file, src[canon], row, line)
        numeric[canon] = values
    money = {c: numeric[c].to_numpy(dtype="float64") for c in ("cost", "profit")
             if c in numeric}
    exact = (numeric["amount"] if "amount" in numeric else
             numeric["quantity"] * numeric["unit_price"]).to_numpy(dtype="float64")
    amount_column = src.get("amount") or src["unit_price"]
    for values, column in [(exact, amount_column), *((v, src[c]) for c, v in money.items())]:
        _refuse_large_rows(values, raw, params, file, column)
    amount_cents = np.rint(exact * 100)  # what numpy's round(2) computes, once
    _refuse_large_total(amount_cents, raw, params, file, amount_column)
    out["amount"] = amount_cents / 100
    out.attrs["subcent"] = subcent(exact, amount_cents)
    for canon in ("quantity", "unit_price"):
        if canon in numeric:
            out[canon] = numeric[canon]
    if money:
        out["cost"] = row_cost(amount_cents, money.get("cost"), money.get("profit"))
    for name, key, _, _ in text_cols:
        out[name] = take(key)
    try:
        TRANSACTIONS_SCHEMA.validate(out, lazy=True, inplace=True)  # no copy of the frame
    except pa_schema.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        first = fc.iloc[0]
        col = str(first.get("column"))
        idx = first.get("index")
        row = redact_row({c: raw.iloc[int(idx)][c] for c in raw.columns}, params.privacy) \
            if pd.notna(idx) else None
        raise InputError(f"the loaded data breaks the transaction schema: {first.get('check')}",
                         file=file, column=src.get(col, col), row=row) from None
    return out
