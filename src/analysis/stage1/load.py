"""Stage 1a: read a transaction file (CSV/TXT, XLSX or Parquet) as written, then type it.

Canonical columns (see ``schema.CANONICAL_COLUMNS``): ``customer_id`` (text, kept
exactly as written: leading zeros survive), ``date`` (datetime64), ``amount``
(line revenue, float rounded to the cent), and when mapped ``quantity``,
``unit_price``, ``order_id``, ``product_code``, plus the ``dimensions`` columns
under their own names. When only ``quantity`` and ``unit_price`` are mapped, the
line amount is ``quantity * unit_price`` rounded to the cent, so that the cleaning
ledger can reconcile to the cent. This module reads (:func:`read_raw`); ``parse.coerce``
types.

Every problem becomes an :class:`~analysis.errors.InputError` naming the file, the
column and an example row; the file is only ever opened for reading.
"""
from __future__ import annotations

import codecs
import glob
import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from ..config import ReadParams
from ..csv_text import has_bytes
from ..errors import InputError
from .bounds import check_parquet, check_workbook, missing_columns_text
from .parse import line_of, coerce

__all__ = ["TEXT_SUFFIXES", "EXCEL_SUFFIXES", "PARQUET_SUFFIXES", "check_path", "sniff_sep",
           "missing_columns_text", "read_raw", "valid_utf8", "csv_encoding", "is_glob", "several", "data_files", "load_transactions", "is_uri", "source_info",
           "sha256"]

TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".dat", ""}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_SNIFF = [",", ";", "\t", "|"]

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


def sniff_sep(p: Path, encoding: str) -> str:
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


def csv_encoding(encoding: str) -> str:
    """The codec a text file is opened with: UTF-8 as ``utf-8-sig`` (a byte-order mark is
    accepted), any other encoding as it is named."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _read_csv(p: Path, params: ReadParams, usecols: list[str]) -> pd.DataFrame:
    enc = csv_encoding(params.encoding)
    magic = _magic(p)
    if magic.startswith(b"\x1f\x8b") and p.suffix.lower() != ".gz":
        raise InputError("the file is gzip-compressed, not plain text", file=str(p),
                         hint="Decompress it first (gunzip), or name it *.csv.gz")
    wide = "16" in enc or "32" in enc
    if magic.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")) and not wide:
        raise InputError("the file is UTF-32 encoded", file=str(p),
                         hint="Set encoding: utf-32 in the parameter file")
    if magic.startswith((b"\xff\xfe", b"\xfe\xff")) and not wide:
        raise InputError("the file is UTF-16 encoded", file=str(p),
                         hint="Set encoding: utf-16 in the parameter file")
    if not wide and p.suffix.lower() != ".gz":
        with open(p, "rb") as fh:
            head = fh.read(8192)
        if b"\x00" in head:
            raise InputError("the file is binary, not a text table", file=str(p),
                             hint="Give a CSV/TXT, XLSX or Parquet file")
    sep = params.sep
    try:
        if sep == "auto":
            sep = sniff_sep(p, enc)
        if p.suffix.lower() != ".gz":
            with open(p, "r", encoding=enc, newline="") as fh:
                fh.read(1 << 16)  # the encoding's own check of its start (UTF-32's BOM)
    except UnicodeError as exc:
        raise _not_text(p, params, exc) from None
    header = 0 if params.header else None
    names = params.names
    kw: dict[str, Any] = dict(header=header, dtype=str, keep_default_na=False,
                              na_values=[""], encoding=enc)
    if names:
        kw["names"] = list(names)
        if params.header:
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
    except UnicodeError as exc:
        raise _not_text(p, params, exc) from None
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
        raise InputError(missing_columns_text(missing, "file"), file=str(p), column=missing[0],
                         hint=hint)
    return df[usecols]


def _not_text(p: Path, params: ReadParams, exc: UnicodeError) -> InputError:
    at = f" (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else \
        f" ({str(exc)[:200]})"
    return InputError(f"the file is not valid {params.encoding} text{at}", file=str(p),
                      hint="Set encoding (for example latin-1 or cp1252) in the parameter "
                      "file")


def valid_utf8(p: Path, chunk: int = 16 << 20) -> bool:
    """Whether the whole file is UTF-8 (~1 GB/s, constant memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(chunk), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _read_csv_arrow(p: Path, params: ReadParams, usecols: list[str], sep: str,
                    enc: str) -> pd.DataFrame | None:
    """The fast path for large files: pyarrow's multi-threaded CSV reader, every mapped
    column as text (as the pandas reader below), ~7x faster than pandas' C parser.

    It takes only the plain case (UTF-8, a one-character separator, a header line or
    ``names``); anything it cannot read (ragged rows, odd quoting, unknown columns)
    returns None, so the pandas reader below reads it and words the error."""
    if len(sep) != 1 or enc.lower() not in ("utf-8-sig", "utf-8", "utf8") or \
            p.suffix.lower() == ".gz" or not (params.header or params.names):
        return None
    if not valid_utf8(p):  # arrow checks only the mapped columns; pandas reports it
        return None
    names = params.names
    read = pcsv.ReadOptions(column_names=list(names) if names else None,
                            skip_rows=1 if (names and params.header) else 0,
                            block_size=8 << 20)
    parse = pcsv.ParseOptions(delimiter=sep, newlines_in_values=True)
    # large_string is what pandas' ``str`` dtype holds: the columns become Series without a
    # copy (with ``string`` every column was cast again, ~2 s at 10 million rows)
    convert = pcsv.ConvertOptions(include_columns=usecols,
                                  column_types={c: pa.large_string() for c in usecols},
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


def _read_excel(p: Path, params: ReadParams, usecols: list[str]) -> pd.DataFrame:
    check_workbook(p)
    try:
        sheet = params.sheet if params.sheet is not None else 0
        df = pd.read_excel(p, sheet_name=sheet, engine="calamine", dtype=object)
    except Exception as exc:  # calamine raises its own error types
        raise InputError(f"the workbook could not be read: {exc}", file=str(p),
                         column=f"sheet {params.sheet}" if params.sheet else None
                         ) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in usecols if c not in df.columns]
    if missing:
        raise InputError(missing_columns_text(missing, "sheet"), file=str(p),
                         column=missing[0], hint=f"The sheet's columns are "
                         f"{list(df.columns)[:12]}; set 'sheet' to pick another sheet")
    return df[usecols]


def _read_parquet(p: Path, usecols: list[str]) -> pd.DataFrame:
    check_parquet(p, usecols)
    try:
        return pd.read_parquet(p, columns=usecols)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"the Parquet file could not be read: {str(exc)[:300]}",
                         file=str(p)) from None


def _nowhere(column: pd.Series, text: str) -> bool:
    """Whether ``text`` is certainly in no cell of an Arrow-backed text column: its bytes
    are not in the column's data buffers (one byte search, ~20x faster than looking at
    each cell). False when it may be, or when the column is not Arrow-backed."""
    if getattr(column.dtype, "storage", None) != "pyarrow":
        return False
    return not has_bytes(pa.array(column.array), text.encode("utf-8"))


def _check_repeated_header(df: pd.DataFrame, params: ReadParams, file: str) -> None:
    """A header line in the middle of the data (files concatenated) is an error, not data."""
    cid, date = params.columns["customer_id"], params.columns["date"]
    if df[cid].dtype == object or pd.api.types.is_string_dtype(df[cid]):
        if _nowhere(df[date], date):  # the usual case, found without trimming every cell
            return
        again = (df[cid].astype("str").str.strip() == cid) & \
            (df[date].astype("str").str.strip() == date)
        if again.any():
            pos = int(np.flatnonzero(again.to_numpy())[0])
            raise InputError(f"the header line appears again in the data ({int(again.sum())} "
                             f"time(s)); were several exports concatenated?", file=file,
                             column=cid, line=line_of(pos, params),
                             row={c: df.iloc[pos][c] for c in df.columns},
                             hint="Remove the repeated header lines")


def read_raw(path: str | Path, params: ReadParams, usecols: list[str] | None = None
             ) -> pd.DataFrame:
    """Read the mapped columns (or ``usecols``) of a CSV / XLSX / Parquet file, as written
    (no typing yet)."""
    p = check_path(path)
    if usecols is None:
        usecols = list(dict.fromkeys(list(params.columns.values()) + list(params.dimensions)))
    suffix = p.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        df = _read_excel(p, params, usecols)
    elif suffix in PARQUET_SUFFIXES:
        df = _read_parquet(p, usecols)
    else:
        df = _read_csv(p, params, usecols)
    if len(df) == 0:
        raise InputError("the data file has a header but no data rows", file=str(p))
    if params.header and params.columns["customer_id"] in df and params.columns["date"] in df:
        _check_repeated_header(df, params, str(p))
    return df


def load_transactions(path: str | Path, params: ReadParams,
                      warnings: list[str] | None = None) -> pd.DataFrame:
    """Read, map and type a transaction file (ids as written: ``anonymize`` is applied at
    the end of the transaction stage, :func:`analysis.privacy.anonymize_stage1`). Raises InputError on
    anything unusable; appends what is worth knowing to ``warnings``."""
    from .inputs import gather  # (inputs builds on this module)
    return gather(path, params, warnings)[0]


def is_uri(source: str | Path) -> bool:
    """``s3://…``, ``hdfs://…``, ``file://…``: a location only a query engine can open."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", str(source)))


def is_glob(source: str | Path) -> bool:
    """A local pattern of files (``data/sales_*.csv``), not a file or URI of that name."""
    s = str(source)
    return not is_uri(s) and any(ch in s for ch in "*?[") and not Path(s).exists()


def several(source: str | Path) -> bool:
    """Whether ``source`` names several files: a directory or a glob."""
    s = str(source)
    return not is_uri(s) and (Path(s).is_dir() or is_glob(s))


def data_files(source: str | Path) -> list[Path]:
    """The files of a data directory or glob, in order (hidden and ``_SUCCESS``-style files
    skipped), or the one file named."""
    s = str(source)
    if is_glob(s):
        found = (Path(p) for p in glob.glob(s, recursive=True))
    elif Path(s).is_dir():
        found = Path(s).rglob("*")
    else:
        return [Path(s)]
    return sorted(p for p in found if p.is_file() and not p.name.startswith((".", "_")))


def source_info(source: str | Path) -> dict[str, Any]:
    """What identifies the input: path, bytes and modification time of a file or of the
    files of a directory; a URI (read by Spark) only by its text."""
    s = str(source)
    if is_uri(s):
        return {"data": s, "bytes": None, "mtime_ns": None}
    files = [q.resolve() for q in data_files(s)]
    stats = [q.stat() for q in files]
    shown = s if is_glob(s) else str(Path(s).resolve())
    return {"data": shown, "bytes": sum(st.st_size for st in stats),
            "mtime_ns": max((st.st_mtime_ns for st in stats), default=None)}


def sha256(path: str | Path, chunk: int = 1 << 20) -> str | None:
    """SHA-256 of a file; of a directory, the SHA-256 of its files' relative paths and
    digests in order; None for a URI."""
    if is_uri(path):
        return None
    p = Path(path)
    if several(path):
        h = hashlib.sha256()
        for q in data_files(path) if not p.is_dir() else \
                sorted(x for x in p.rglob("*") if x.is_file()):
            name = q.relative_to(p).as_posix() if p.is_dir() else q.name
            h.update(f"{name}\0{sha256(q)}\n".encode("utf-8"))
        return h.hexdigest()
    return _file_sha256(p, chunk)


def _file_sha256(path: Path, chunk: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
