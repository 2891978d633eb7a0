"""Where the data is, for the query engines: a file, a directory of files, or a URI, and
whether the engine can read it itself (CSV or Parquet) or the pandas reader must."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from ..config import ReadParams
from ..errors import InputError
from .load import EXCEL_SUFFIXES, PARQUET_SUFFIXES, TEXT_SUFFIXES, is_uri

__all__ = ["native_format", "data_files", "first_file"]


def native_format(source: str | Path, cfg: ReadParams) -> str | None:
    """'parquet' or 'csv' when the engine can read ``source`` itself, None when the pandas
    reader must (XLSX, whitespace-separated or non-UTF-8 text, no header line)."""
    s = str(source)
    if not is_uri(s) and Path(s).is_dir():
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
            and cfg.encoding.lower().replace("_", "-") in ("utf-8", "utf8"))


def data_files(folder: str | Path) -> list[Path]:
    """The files of a data directory, in order; hidden and ``_SUCCESS``-style files skipped."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and not p.name.startswith((".", "_")))


def first_file(path: str) -> str:
    return str(data_files(path)[0]) if Path(path).is_dir() else path
