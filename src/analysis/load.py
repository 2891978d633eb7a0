"""Stage 1a: read a transaction file into the canonical transactions frame.

Canonical columns (see ``config.CANONICAL_COLUMNS``): ``customer_id`` (text, kept
exactly as written: leading zeros survive), ``date`` (datetime64), ``amount``
(line revenue, float rounded to the cent), and when mapped ``quantity``,
``unit_price``, ``order_id``, ``product_code``, plus the ``dimensions`` columns
under their own names. When only ``quantity`` and ``unit_price`` are mapped, the
line amount is ``quantity * unit_price`` rounded to the cent, so that the cleaning
ledger can reconcile to the cent.

Every problem becomes an :class:`~analysis.errors.InputError` naming the file, the
column and an example row; the file is only ever opened for reading.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .config import missing_tokens
from .errors import InputError

TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat", ""}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_SNIFF = [",", ";", "\t", "|"]

#: the contract of a loaded frame, checked with pandera after coercion
TRANSACTIONS_SCHEMA = pa.DataFrameSchema(
    {
        "customer_id": pa.Column(str, nullable=True),
        "date": pa.Column("datetime64[ns]", nullable=False),
        "amount": pa.Column(float, pa.Check(lambda s: np.isfinite(s), element_wise=False,
                                            error="amount must be finite"), nullable=False),
    },
    strict=False,
    coerce=False,
)


def check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError("data file not found", file=str(p),
                         hint="Check the path; it is relative to the current directory")
    if p.is_dir():
        raise InputError("the data path is a directory, not a file", file=str(p),
                         hint="Name one CSV, XLSX or Parquet file")
    if not p.is_file():  # a FIFO would hang, a device would never end
        raise InputError("the data path is not a regular file (a device, pipe or socket)",
                         file=str(p), hint="Name one CSV, XLSX or Parquet file")
    if p.stat().st_size == 0:
        raise InputError("the data file is empty (0 bytes)", file=str(p))
    return p


def _sniff_sep(p: Path, encoding: str) -> str:
    with open(p, "r", encoding=encoding, errors="replace", newline="") as fh:
        first = fh.readline()
    counts = {s: first.count(s) for s in _SNIFF}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        return "whitespace" if len(first.split()) > 1 else ","
    return best


def _magic(p: Path) -> bytes:
    with open(p, "rb") as fh:
        return fh.read(8)


def _missing_text(missing: list[str], where: str) -> str:
    if len(missing) == 1:
        return f"mapped column {missing[0]!r} is not in the {where}"
    return f"mapped columns {', '.join(repr(m) for m in missing)} are not in the {where}"


def _read_csv(p: Path, params: Mapping[str, Any], usecols: list[str]) -> pd.DataFrame:
    enc = params["encoding"]
    if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
        enc = "utf-8-sig"  # accept a byte-order mark
    magic = _magic(p)
    if magic.startswith(b"\x1f\x8b") and p.suffix.lower() != ".gz":
        raise InputError("the file is gzip-compressed, not plain text", file=str(p),
                         hint="Decompress it first (gunzip), or name it *.csv.gz")
    if magic.startswith((b"\xff\xfe", b"\xfe\xff")) and "16" not in enc:
        raise InputError("the file is UTF-16 encoded", file=str(p),
                         hint="Set encoding: utf-16 in the parameter file")
    if "16" not in enc and p.suffix.lower() != ".gz":
        with open(p, "rb") as fh:
            head = fh.read(8192)
        if b"\x00" in head:
            raise InputError("the file is binary, not a text table", file=str(p),
                             hint="Give a CSV/TXT, XLSX or Parquet file")
    sep = params["sep"]
    if sep == "auto":
        sep = _sniff_sep(p, enc)
    header = 0 if params["header"] else None
    names = params["names"]
    kw: dict[str, Any] = dict(header=header, dtype=str, keep_default_na=False,
                              na_values=[""], encoding=enc)
    if names:
        kw["names"] = names
        if params["header"]:
            kw["header"] = 0
    df = _read_csv_arrow(p, params, usecols, sep, enc)
    if df is not None:
        return df
    if sep == "whitespace":
        kw["sep"] = r"\s+"
    else:
        kw["sep"] = sep
        kw["engine"] = "c"
    try:
        df = pd.read_csv(p, **kw)
    except UnicodeDecodeError as exc:
        raise InputError(f"the file is not valid {params['encoding']} text (byte "
                         f"{exc.start})", file=str(p),
                         hint="Set encoding (for example latin-1 or cp1252) in the "
                         "parameter file") from None
    except pd.errors.EmptyDataError:
        raise InputError("the data file has no columns (empty or blank)", file=str(p)) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"the file could not be read as a table: {str(exc).strip()}",
                         file=str(p), hint=f"Check the separator (now {sep!r}) and quoting"
                         ) from None
    except ValueError as exc:  # e.g. binary content
        raise InputError(f"the file could not be read as text: {exc}", file=str(p)) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in usecols if c not in df.columns]
    if missing:
        hint = f"The file's columns are {list(df.columns)[:12]}"
        if len(df.columns) == 1 and sep != "whitespace":
            hint += f"; only one column was found, so the separator {sep!r} is probably wrong"
        raise InputError(_missing_text(missing, "file"), file=str(p), column=missing[0],
                         hint=hint)
    return df[usecols]


def _valid_utf8(p: Path, chunk: int = 16 << 20) -> bool:
    """Whether the whole file is UTF-8 (~1 GB/s, constant memory)."""
    import codecs
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read_csv_arrow(p: Path, params: Mapping[str, Any], usecols: list[str], sep: str,
                    enc: str) -> pd.DataFrame | None:
    """The fast path for large files: pyarrow's multi-threaded CSV reader, every mapped
    column as text (as the pandas reader below), ~7x faster than pandas' C parser.

    It takes only the plain case (UTF-8, a one-character separator, a header line or
    ``names``); anything it cannot read (ragged rows, odd quoting, unknown columns)
    returns None, so the pandas reader below reads it and words the error."""
    if len(sep) != 1 or enc.lower() not in ("utf-8-sig", "utf-8", "utf8") or \
            p.suffix.lower() == ".gz" or not (params["header"] or params["names"]):
        return None
    if not _valid_utf8(p):  # arrow checks only the mapped columns; pandas reports it
        return None
    import pyarrow as pa
    import pyarrow.csv as pcsv
    names = params["names"]
    read = pcsv.ReadOptions(column_names=names or None,
                            skip_rows=1 if (names and params["header"]) else 0,
                            block_size=8 << 20)
    parse = pcsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    convert = pcsv.ConvertOptions(include_columns=usecols,
                                  column_types={c: pa.string() for c in usecols},
                                  null_values=[""], strings_can_be_null=True,
                                  quoted_strings_can_be_null=True)
    try:
        table = pcsv.read_csv(p, read_options=read, parse_options=parse,
                              convert_options=convert)
    except (pa.ArrowException, KeyError, ValueError, OSError):
        return None
    if table.num_rows == 0:
        return None
    return table.to_pandas()


def _read_excel(p: Path, params: Mapping[str, Any], usecols: list[str]) -> pd.DataFrame:
    try:
        sheet = params["sheet"] if params["sheet"] is not None else 0
        df = pd.read_excel(p, sheet_name=sheet, engine="calamine", dtype=object)
    except Exception as exc:  # calamine raises its own error types
        raise InputError(f"the workbook could not be read: {exc}", file=str(p),
                         column=f"sheet {params['sheet']}" if params["sheet"] else None
                         ) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in usecols if c not in df.columns]
    if missing:
        raise InputError(_missing_text(missing, "sheet"), file=str(p),
                         column=missing[0], hint=f"The sheet's columns are "
                         f"{list(df.columns)[:12]}; set 'sheet' to pick another sheet")
    return df[usecols]


def _read_parquet(p: Path, usecols: list[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq
    try:
        names = pq.read_schema(p).names
    except Exception as exc:
        raise InputError(f"the file is not a readable Parquet file: {exc}", file=str(p)) from None
    missing = [c for c in usecols if c not in names]
    if missing:
        raise InputError(_missing_text(missing, "Parquet file"), file=str(p),
                         column=missing[0], hint=f"Its columns are {names[:12]}")
    return pd.read_parquet(p, columns=usecols)


def _check_repeated_header(df: pd.DataFrame, params: Mapping[str, Any], file: str) -> None:
    """A header line in the middle of the data (files concatenated) is an error, not data."""
    cid, date = params["columns"]["customer_id"], params["columns"]["date"]
    if df[cid].dtype == object or pd.api.types.is_string_dtype(df[cid]):
        again = (df[cid].astype("str").str.strip() == cid) & \
            (df[date].astype("str").str.strip() == date)
        if again.any():
            pos = int(np.flatnonzero(again.to_numpy())[0])
            raise InputError(f"the header line appears again in the data ({int(again.sum())} "
                             f"time(s)); were several exports concatenated?", file=file,
                             column=cid, line=_line_of(pos, params),
                             row={c: df.iloc[pos][c] for c in df.columns},
                             hint="Remove the repeated header lines")


def read_raw(path: str | Path, params: Mapping[str, Any]) -> pd.DataFrame:
    """Read the mapped columns of a CSV / XLSX / Parquet file, as written (no typing yet)."""
    p = check_path(path)
    usecols = list(dict.fromkeys(list(params["columns"].values()) + list(params["dimensions"])))
    suffix = p.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        df = _read_excel(p, params, usecols)
    elif suffix in PARQUET_SUFFIXES:
        df = _read_parquet(p, usecols)
    else:
        df = _read_csv(p, params, usecols)
    if len(df) == 0:
        raise InputError("the data file has a header but no data rows", file=str(p))
    if params["header"]:
        _check_repeated_header(df, params, str(p))
    return df


def _line_of(pos: int, params: Mapping[str, Any]) -> int:
    """1-based line of the file for a data row at position ``pos``."""
    return pos + (2 if params["header"] else 1)


def _example(raw: pd.DataFrame, mask: np.ndarray, params) -> tuple[dict, int, int]:
    pos = int(np.flatnonzero(mask)[0])
    row = {c: raw.iloc[pos][c] for c in raw.columns}
    return redact_row(row, params), _line_of(pos, params), int(mask.sum())


def redact_row(row: dict | None, params: Mapping[str, Any], canonical: bool = False
               ) -> dict | None:
    """An example row as it may be shown: with ``anonymize`` on, the customer id (and the
    ``anonymize_columns``) hashed, so that no message or warning prints a raw id.
    ``canonical``: the row's keys are canonical names (customer_id), not the file's."""
    if not row or not params.get("anonymize"):
        return row
    cid = "customer_id" if canonical else params["columns"]["customer_id"]
    out = dict(row)
    for col in [cid, *params.get("anonymize_columns", [])]:
        value = out.get(col)
        if col in out and value is not None and not (isinstance(value, float) and
                                                       np.isnan(value)):
            out[col] = "hash:" + hash_ids(pd.Series([str(value)]),
                                          params["anonymize_salt"]).iloc[0]
    return out


def _arrow_text(s: pd.Series):
    """A text column as a pyarrow array (no copy), or None when it is not arrow-backed."""
    if getattr(s.dtype, "storage", None) == "pyarrow" and pd.api.types.is_string_dtype(s):
        import pyarrow as pa
        return pa.array(s.array)
    return None


def _as_text(s: pd.Series, missing: list[str] | None = None) -> pd.Series:
    """Text with surrounding blanks removed; the ``missing`` texts (``config.missing_tokens``,
    compared in lower case) are missing."""
    missing = missing_tokens({}) if missing is None else missing
    out = s if s.dtype == "str" else s.astype("str")
    arr = _arrow_text(out)
    if arr is not None:  # one pass in pyarrow instead of four in pandas
        import pyarrow as pa
        import pyarrow.compute as pc
        arr = pc.utf8_trim_whitespace(arr)
        hit = pc.is_in(pc.utf8_lower(arr), value_set=pa.array(missing, arr.type))
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
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        if to == "number":
            out = pc.cast(arr, pa.float64())
        elif fmt:
            out = pc.strptime(arr, format=fmt, unit="ns", error_is_null=False)
        else:
            out = pc.cast(arr, pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if out.null_count != arr.null_count:
        return None
    return pd.Series(out.to_numpy(zero_copy_only=False), index=text.index)


# -- what a failed or odd value reads as (one wording for every engine) --------------------

def date_error(n: int, blank: bool, fmt: str, file: str, column: str, row: dict | None,
               line: int | None = None) -> InputError:
    kind = "is empty" if blank else "could not be read as a date"
    return InputError(f"{n} row(s) have a date that {kind} (expected format {fmt})",
                      file=file, column=column, row=row, line=line,
                      hint="Set date_format in the parameter file, or fix those rows")


def number_error(n: int, canon: str, file: str, column: str, row: dict | None,
                 line: int | None = None) -> InputError:
    return InputError(f"{n} row(s) have a {canon.replace('_', ' ')} that is not a finite number "
                      f"(empty, text, NaN or inf)", file=file, column=column, row=row,
                      line=line, hint="Amounts must be numbers; set decimal: ',' for decimal "
                      "commas and thousands: ',' (or '.') for digit grouping")


def currency_warning(column: str, n: int) -> str:
    return f"column {column!r}: currency symbols removed from {n:,} values"


def float_ids_warning(column: str, example: str | None) -> str:
    """``example``: a raw id, or None when ids are anonymised (no raw id is ever printed)."""
    shown = f" (e.g. {example!r})" if example is not None else ""
    return (f"column {column!r}: customer ids were written as decimals{shown}; "
            f"the trailing '.0' was removed")


def sheet_dates(s: pd.Series) -> pd.Series | None:
    """A workbook column whose cells are all real dates (object dtype), as datetime64; None
    otherwise. Such cells need no ``date_format``: they are dates already."""
    import datetime as _dt
    if s.dtype != object:
        return None
    present = s.dropna()
    if len(present) == 0 or not present.map(lambda v: isinstance(v, _dt.date)).all():
        return None
    return pd.to_datetime(s).astype("datetime64[ns]")


def _parse_dates(s: pd.Series, params, warnings: list[str] | None = None,
                 column: str = "date") -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.astype("datetime64[ns]")
    typed = sheet_dates(s)
    if typed is not None:
        return typed
    text = _as_text(s, missing_tokens(params))
    fmt = params["date_format"]
    fast = _arrow_parse(text, "date", fmt)
    if fast is not None:
        return fast.astype("datetime64[ns]")
    if fmt:
        out = pd.to_datetime(text, format=fmt, errors="coerce")
    else:
        out = pd.to_datetime(text, format="ISO8601", errors="coerce")
        n_iso_failed = int(out.isna().sum() - text.isna().sum())
        if n_iso_failed:
            out = pd.to_datetime(text, format="mixed", errors="coerce",
                                 dayfirst=params["dayfirst"])
            if warnings is not None and out.notna().sum() > 0:
                warnings.append(f"column {column!r}: {n_iso_failed:,} dates are not ISO 8601 "
                                f"and were read one by one (dayfirst={params['dayfirst']}); "
                                f"set date_format to be explicit")
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.astype("datetime64[ns]")


CURRENCY_SYMBOLS = r"[$€£¥₹]|\b(?:USD|EUR|GBP|CNY|RMB|JPY)\b"


def _parse_number(s: pd.Series, params: Mapping[str, Any] | None = None,
                  warnings: list[str] | None = None, column: str = "") -> pd.Series:
    """Numbers as written; ``thousands``/``decimal`` parameters and currency symbols handled."""
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    params = params or {}
    text = _as_text(s, missing_tokens(params))
    if not params.get("thousands") and params.get("decimal", ".") == ".":
        fast = _arrow_parse(text, "number")
        if fast is not None:
            return fast.astype("float64")
    has_symbol = text.str.contains(CURRENCY_SYMBOLS, regex=True).fillna(False)
    if has_symbol.any():
        n = int(has_symbol.sum())
        text = text.str.replace(CURRENCY_SYMBOLS, "", regex=True).str.strip()
        if warnings is not None:
            warnings.append(currency_warning(column, n))
    if params.get("thousands"):
        text = text.str.replace(params["thousands"], "", regex=False)
    if params.get("decimal", ".") != ".":
        text = text.str.replace(params["decimal"], ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _customer_ids(values: pd.Series, warnings: list[str] | None, column: str,
                  missing: list[str] | None = None, show_example: bool = True) -> pd.Series:
    """Ids as text; ids written as floats by a spreadsheet (``12345.0``) lose the ``.0``."""
    ids = _as_text(values, missing).astype("str")
    present = ids.dropna()
    if len(present) and present.iloc[:1].str.fullmatch(r"\d+\.0").all() and \
            present.str.fullmatch(r"\d+\.0").all():
        ids = ids.str.slice(stop=-2)
        if warnings is not None:
            warnings.append(float_ids_warning(column, present.iloc[0] if show_example
                                              else None))
    return ids


#: the largest amount of one row: its value in 1/10,000 of the currency fits an int64 with
#: room to spare, and a file of such rows is refused by the total check below
MAX_ROW_AMOUNT = 1e13
#: the largest total of amounts (in cents) counted exactly: every sum, in integers or in
#: float64 (which holds whole numbers exactly up to 2**53), stays exact below it
MAX_TOTAL_CENTS = 2 ** 53


def amount_error(problem: str, file: str, column: str, row: dict | None,
                 line: int | None = None) -> InputError:
    return InputError(problem, file=file, column=column, row=row, line=line,
                      hint="Check the column mapping, the decimal and thousands marks, and "
                      "that the amounts are in currency units (not in a scaled unit)")


def too_large_row(n: int) -> str:
    return (f"{n} row(s) have an amount beyond ±{MAX_ROW_AMOUNT:,.0f}, too large to count "
            f"exactly to the cent")


def too_large_total(total_cents: float) -> str:
    return (f"the amounts add up to {total_cents / 100:,.0f} in absolute value, beyond the "
            f"{MAX_TOTAL_CENTS / 100:,.0f} that can be summed exactly to the cent")


def _refuse_large_rows(values: np.ndarray, raw: pd.DataFrame, params: Mapping[str, Any],
                       file: str, column: str) -> None:
    """Exit 2 when a money value (amount, cost or profit) of a row is beyond the limit."""
    big = ~(np.abs(values) <= MAX_ROW_AMOUNT)
    if big.any():
        row, line, n = _example(raw, big, params)
        raise amount_error(too_large_row(n), file, column, row, line)


def _refuse_large_total(amount_cents: np.ndarray, raw: pd.DataFrame,
                        params: Mapping[str, Any], file: str, column: str) -> None:
    """Exit 2 when the amounts' absolute total could not be summed exactly: no ledger,
    summary or headline may overflow or lose a cent in silence."""
    size = np.abs(amount_cents)
    total = float(size.sum())
    if total >= MAX_TOTAL_CENTS:
        row, line, _ = _example(raw, size == size.max(), params)
        raise amount_error(too_large_total(total), file, column, row, line)


def subcent_1e4(amount: np.ndarray, amount_cents: np.ndarray) -> int:
    """Σ (amount − amount rounded to the cent), in 1/10,000 of the currency, exactly: what
    rounding each row to the cent changes (the ledger's ``rounding`` line)."""
    fine = np.rint(amount * 10_000).astype("int64")
    return int((fine - amount_cents.astype("int64") * 100).sum())


def row_cost(amount_cents: np.ndarray, cost: np.ndarray | None, profit: np.ndarray | None
             ) -> np.ndarray:
    """The cost of each row to the cent: the mapped cost, or amount − profit (both rounded to
    the cent first, so revenue − cost is the file's profit to the cent). A loss-making row
    (negative profit) is a row like any other: no rule drops it for that."""
    if cost is not None:
        return np.rint(cost * 100) / 100
    return (amount_cents - np.rint(profit * 100)) / 100


def coerce(raw: pd.DataFrame, params: Mapping[str, Any], file: str = "data",
           warnings: list[str] | None = None) -> pd.DataFrame:
    """Map the file's columns to canonical names and types; raise on values that do not parse.
    Things that were usable but worth knowing are appended to ``warnings``."""
    cols = params["columns"]
    src = {canon: col for canon, col in cols.items()}
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))

    missing_words = missing_tokens(params)
    out["customer_id"] = _customer_ids(raw[src["customer_id"]], warnings, src["customer_id"],
                                       missing_words, not params.get("anonymize"))

    dates = _parse_dates(raw[src["date"]], params, warnings, src["date"])
    missing = dates.isna().to_numpy()
    if missing.any():
        original = raw[src["date"]]
        blank = _as_text(original, missing_words).isna().to_numpy() if not \
            pd.api.types.is_datetime64_any_dtype(original) else missing
        row, line, n = _example(raw, missing, params)
        raise date_error(n, bool(blank[missing].all()),
                         params["date_format"] or "ISO 8601 / inferred", file, src["date"],
                         row, line)
    out["date"] = dates

    numeric = {}
    for canon in ("amount", "quantity", "unit_price", "cost", "profit"):
        if canon in src:
            values = _parse_number(raw[src[canon]], params, warnings, src[canon])
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
    out.attrs["subcent_1e4"] = subcent_1e4(exact, amount_cents)
    for canon in ("quantity", "unit_price"):
        if canon in numeric:
            out[canon] = numeric[canon]
    if money:
        out["cost"] = row_cost(amount_cents, money.get("cost"), money.get("profit"))
    for canon in ("order_id", "product_code"):
        if canon in src:
            out[canon] = _as_text(raw[src[canon]], missing_words).astype("str")
    for dim in params["dimensions"]:
        out[dim] = _as_text(raw[dim], missing_words).astype("str")
    try:
        TRANSACTIONS_SCHEMA.validate(out, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        first = fc.iloc[0]
        col = str(first.get("column"))
        idx = first.get("index")
        row = redact_row({c: raw.iloc[int(idx)][c] for c in raw.columns}, params) \
            if pd.notna(idx) else None
        raise InputError(f"the loaded data breaks the transaction schema: {first.get('check')}",
                         file=file, column=src.get(col, col), row=row) from None
    return out


def hash_ids(values: pd.Series, salt: str) -> pd.Series:
    """Salted SHA-256 of each value (first 16 hex digits); missing values stay missing."""
    import hashlib
    uniq = pd.unique(values.dropna().to_numpy())
    table = {v: hashlib.sha256((salt + "\x1f" + str(v)).encode("utf-8")).hexdigest()[:16]
             for v in uniq}
    return values.map(table).astype("str")


def anonymize(frame: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Hash customer ids and ``anonymize_columns`` when ``anonymize`` is on (rows keep their
    order)."""
    if not params.get("anonymize"):
        return frame
    out = frame.copy()
    for col in ["customer_id"] + list(params.get("anonymize_columns", [])):
        if col in out:
            out[col] = hash_ids(out[col], params["anonymize_salt"])
    return out


def anonymize_stage1(clean: pd.DataFrame, customers: pd.DataFrame,
                     params: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The transaction stage's frames with ids hashed, as its very last step.

    Everything before it (duplicates, dimension ties, the customers' order: by raw id) ran
    on the ids as written, and the rows keep that order, so every later tie-break, rank and
    sample sees the same customers in the same order with or without ``anonymize``: the
    analysis cannot change with the salt."""
    return anonymize(clean, params), anonymize(customers, params)


def load_transactions(path: str | Path, params: Mapping[str, Any],
                      warnings: list[str] | None = None) -> pd.DataFrame:
    """Read, map and type a transaction file (ids as written: ``anonymize`` is applied at
    the end of the transaction stage, :func:`anonymize_stage1`). Raises InputError on
    anything unusable; appends what is worth knowing to ``warnings``."""
    raw = read_raw(path, params)
    return coerce(raw, params, file=str(path), warnings=warnings)


def is_uri(source: str | Path) -> bool:
    """``s3://…``, ``hdfs://…``, ``file://…``: a location only a query engine can open."""
    import re
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", str(source)))


def source_info(source: str | Path) -> dict[str, Any]:
    """What identifies the input: path, bytes and modification time of a file or of the
    files of a directory; a URI (read by Spark) only by its text."""
    s = str(source)
    if is_uri(s):
        return {"data": s, "bytes": None, "mtime_ns": None}
    p = Path(s).resolve()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    stats = [q.stat() for q in files]
    return {"data": str(p), "bytes": sum(st.st_size for st in stats),
            "mtime_ns": max((st.st_mtime_ns for st in stats), default=None)}


def sha256(path: str | Path, chunk: int = 1 << 20) -> str | None:
    """SHA-256 of a file; of a directory, the SHA-256 of its files' relative paths and
    digests in order; None for a URI."""
    if is_uri(path):
        return None
    p = Path(path)
    if p.is_dir():
        import hashlib
        h = hashlib.sha256()
        for q in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(f"{q.relative_to(p).as_posix()}\0{sha256(q)}\n".encode("utf-8"))
        return h.hexdigest()
    return _file_sha256(p, chunk)


def _file_sha256(path: Path, chunk: int) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
