"""Where the data is: a file, a directory of files, a glob of files (``sales_*.csv``), or a
URI; whether a query engine can read it itself (CSV or Parquet) or the pandas reader must;
and that several files have the same columns (a file with others is refused by name)."""
from __future__ import annotations

import csv
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.parquet as pq

from ..config import ReadParams
from ..errors import InputError
from .load import (EXCEL_SUFFIXES, PARQUET_SUFFIXES, TEXT_SUFFIXES, csv_encoding, data_files,
                   is_glob,
                   is_uri, several, sniff_sep)

__all__ = ["native_format", "data_files", "first_file", "is_glob", "several",
           "same_columns", "file_columns"]


def native_format(source: str | Path, cfg: ReadParams) -> str | None:
    """'parquet' or 'csv' when the engine can read ``source`` itself, None when the pandas
    reader must (XLSX, whitespace-separated or non-UTF-8 text, no header line)."""
    s = str(source)
    if several(s):
        files = data_files(s)
        if not files:
            raise InputError("the data directory holds no files", file=s)
        suffixes = {p.suffix.lower() for p in files}
        if suffixes <= PARQUET_SUFFIXES:
            return "parquet"
        if suffixes <= TEXT_SUFFIXES:
            if not _csv_ok(cfg):
                raise InputError("a directory of CSV files is read by the engine itself, so "
                                 "the files must be UTF-8 with a header line and a "
                                 "one-character separator", file=s,
                                 hint="Set sep (e.g. ',') and header: true, or convert the "
                                 "files to Parquet")
            return "csv"
        raise InputError("a data directory must hold only Parquet files or only CSV files",
                         file=s, hint=f"Found file types {sorted(suffixes)}")
    suffix = Path(urlparse(s).path if is_uri(s) else s).suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        return None
    return "csv" if _csv_ok(cfg) else None


def _csv_ok(cfg: ReadParams) -> bool:
    return (cfg.header and not cfg.names and cfg.sep != "whitespace"
            and csv_encoding(cfg.encoding) == "utf-8-sig")


def first_file(path: str) -> str:
    return str(data_files(path)[0]) if several(path) else path


def file_columns(path: Path, cfg: ReadParams) -> list[str] | None:
    """The column names of a data file as its header gives them (None: no header to read,
    or a workbook, whose sheet is read whole anyway)."""
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        try:
            return list(pq.read_schema(path).names)
        except (OSError, ValueError):  # not Parquet after all: the reader words it
            return None
    if suffix in EXCEL_SUFFIXES or suffix == ".gz" or not cfg.header or cfg.names:
        return None
    enc = csv_encoding(cfg.encoding)
    try:
        with open(path, "r", encoding=enc, errors="replace", newline="") as fh:
            line = fh.readline()
    except (OSError, UnicodeError, LookupError):  # the reader words what is wrong
        return None
    if cfg.sep == "whitespace":
        return line.split()
    sep = cfg.sep if cfg.sep != "auto" else (sniff_sep(path, enc) if line else ",")
    if len(sep) != 1:
        return None
    return [c.strip() for c in next(csv.reader([line], delimiter=sep), [])]


def same_columns(files: list[Path], cfg: ReadParams) -> None:
    """Several files must have the same columns: the first one that has others is refused
    by name, with what it lacks and what it has besides."""
    first, ref = None, None
    for f in files:
        cols = file_columns(f, cfg)
        if cols is None:
            continue
        if ref is None:
            first, ref = f, cols
            continue
        if set(cols) != set(ref):
            lacks = [c for c in ref if c not in cols]
            extra = [c for c in cols if c not in ref]
            raise InputError(f"the file has other columns than {first.name} (the first file): "
                             f"it lacks {lacks[:6]} and has besides {extra[:6]}", file=str(f),
                             hint="Several files are read as one table: give them the same "
                             "columns, or read them in separate runs")
