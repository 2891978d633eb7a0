"""The one small engine protocol of the transaction stage, and the one place that chooses
the engine from the ``engine`` parameter: nothing else in the package branches on it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol

import pandas as pd

from ..config import Params, ReadParams
from ..errors import InputError
from .aggregates import Aggregates
from .database import check_database, is_database
from .load import check_path, data_files, is_glob, is_uri, several
from .pandas_engine import PandasEngine
from .sources import native_format, same_columns

__all__ = ["ENGINES", "TransactionEngine", "open_engine", "check_source", "dataset_of"]

ENGINES = ("pandas", "duckdb", "spark")


class TransactionEngine(Protocol):
    """What an engine does: stage 1 on a data location, and freeing what it holds."""
    name: str

    def transaction_stage(self, source: str | Path, warnings: list[str] | None = None,
                          today: pd.Timestamp | None = None, clean_path: str | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, Aggregates]:
        """(cleaning ledger, one row per customer, the aggregates the notebooks need); the
        clean transactions are written to ``clean_path`` (Parquet) when given, never
        returned."""

    def close(self) -> None:
        """Free the engine's connections, caches and sessions."""


@contextmanager
def open_engine(params: Params) -> Iterator[TransactionEngine]:
    """The engine ``params.engine.engine`` names, closed when the block ends."""
    if params.engine.engine == "pandas":
        engine: TransactionEngine = PandasEngine(params)
    else:
        # Ibis, DuckDB and Spark are heavy to import and only needed for these engines
        from .ibis_engine import IbisEngine
        engine = IbisEngine(params)
    try:
        yield engine
    finally:
        engine.close()


def check_source(source: str | Path, params: Params) -> str:
    """The data location as given to the engine: a file, a directory or a glob of files with
    the same columns (refused, by the file's name, when one has others), a PostgreSQL URL,
    or a URI a query engine opens; local paths must exist."""
    s = str(source)
    engine = params.engine.engine
    if is_database(s):
        return check_database(s, params.read)
    if is_uri(s):
        if engine == "pandas" or (engine != "spark" and
                                  not s.startswith(("file://", "s3://", "http"))):
            raise InputError("this URI can only be read by the spark engine", file=s,
                             hint="Set engine: spark, or copy the data to a local file")
        return s
    if not several(s):
        return str(check_path(s).resolve())
    files = data_files(s)
    if not files:
        raise InputError("no data file matches this pattern" if is_glob(s) else
                         "the data directory holds no files", file=s)
    if engine != "pandas":
        native_format(s, params.read)  # refused when mixed
    same_columns(files, params.read)
    return s if is_glob(s) else str(Path(s).resolve())


def dataset_of(source: str, cfg: ReadParams) -> str:
    """A dataset's default name: a file's name without extension, a glob's folder, a
    database table's name (or the database's, for a query)."""
    if is_database(source):
        return (cfg.table or "").rpartition(".")[2] or source.rstrip("/").rpartition("/")[2] \
            .split("?")[0] or "query"
    if is_glob(source):
        return Path(source).parent.name or "data"
    return Path(source.rstrip("/")).stem
