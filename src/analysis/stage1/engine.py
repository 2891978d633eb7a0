"""The one small engine protocol of the transaction stage, and the one place that chooses
the engine from the ``engine`` parameter: nothing else in the package branches on it."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol

import pandas as pd

from ..config import Params
from ..errors import InputError
from .aggregates import Aggregates
from .load import check_path, is_uri
from .pandas_engine import PandasEngine
from .sources import native_format

__all__ = ["ENGINES", "TransactionEngine", "open_engine", "check_source"]

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
    """The data location as given to the engine; local paths must exist (files or, for the
    query engines, directories); URIs are passed on as they are."""
    s = str(source)
    engine = params.engine.engine
    if engine == "pandas" or not (is_uri(s) or Path(s).is_dir()):
        return str(check_path(s).resolve())
    if is_uri(s):
        if engine != "spark" and not s.startswith(("file://", "s3://", "http")):
            raise InputError("this URI can only be read by the spark engine", file=s,
                             hint="Set engine: spark, or copy the data to a local file")
        return s
    native_format(s, params.read)  # a directory: refused when empty or mixed
    return str(Path(s).resolve())
