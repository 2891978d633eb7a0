"""Stage 1 on a query engine, part 1: connections, sessions and reading the data.

:class:`Connection` wraps an Ibis backend (one class per backend: DuckDB, or Spark through
its session) with what
the stage needs of it: reading CSV or Parquet files (or a directory of them, or a URI on
Spark), caching intermediate tables and bringing results to the driver as Arrow.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa

from ..config import EngineParams, ReadParams
from ..errors import InputError
from .load import data_files, is_uri, several, sniff_sep, valid_utf8
from .parse import sheet_dates
from .sources import data_files, first_file

__all__ = ["SPARK_REQUIRED", "SPARK_DEFAULTS", "duckdb_settings", "spark_session", "Connection",
           "DuckDBConnection", "SparkConnection", "arrow_ready", "reading"]

#: Spark settings the rules rely on: UTC timestamps (no shift by the session's zone) and
#: NULL, not an error, for a value that does not parse (the checks count and report them)
SPARK_REQUIRED = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}


SPARK_DEFAULTS = {"spark.ui.showConsoleProgress": "false", "spark.ui.enabled": "false",
                  "spark.sql.execution.arrow.pyspark.enabled": "true",
                  "spark.sql.adaptive.enabled": "true",
                  "spark.sql.adaptive.coalescePartitions.enabled": "true"}


def duckdb_settings(user: dict) -> dict:
    """DuckDB's connection settings: the user's ``duckdb_config`` over the run's defaults,
    which keep the engine out of core on one machine: ``memory_limit`` a quarter of the
    machine's memory (what DuckDB may hold before it spills; the driver's pandas work
    needs the rest), a fresh ``temp_directory`` to spill into (removed when the
    connection closes), and no insertion order to keep (every result that needs an order
    asks for it)."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    defaults = {"memory_limit": f"{max(ram // 4 >> 20, 256)}MB",
                "preserve_insertion_order": False}
    if "temp_directory" not in user:
        defaults["temp_directory"] = tempfile.mkdtemp(prefix="duckdb-spill-")
    return {**defaults, **user}


def spark_session(cfg: EngineParams):
    """(the Spark session for ``spark_master`` with ``spark_config`` passed through, whether
    this call started it)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise InputError("engine 'spark' needs Java (17 or newer), which is not installed",
                         file="java", hint="Run `make java` (Debian's openjdk-17-jre-headless) "
                         "or set JAVA_HOME")
    from pyspark.sql import SparkSession  # heavy (starts a JVM), and only for engine spark
    started = SparkSession.getActiveSession() is None
    builder = SparkSession.builder.master(cfg.spark_master).appName("customer-analytics")
    for key, value in {**SPARK_DEFAULTS, **cfg.spark_config, **SPARK_REQUIRED}.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    for key, value in SPARK_REQUIRED.items():  # an existing session keeps its own settings
        session.conf.set(key, value)
    session.sparkContext.setLogLevel("ERROR")
    return session, started


class Connection:
    """An Ibis connection plus how to bring a result to the driver as Arrow: what both
    backends share; :class:`DuckDBConnection` and :class:`SparkConnection` what differs.
    :meth:`open` gives the one an engine name means."""
    name = ""
    #: whether casting a text with an offset to a timestamp honours the offset (Spark's,
    #: its session being in UTC); DuckDB's cast needs TIMESTAMPTZ (``ibis_typing``)
    casts_offsets = False
    #: what ``to_parquet`` needs to replace an existing output
    overwrite: dict = {}
    #: the engine's ``parse(text, format)`` returning NULL where a text does not parse, and
    #: whether it takes Java's date pattern rather than strftime's
    date_parser = ("try_strptime", False)

    @staticmethod
    def open(name: str, cfg: EngineParams) -> "Connection":
        kinds = {c.name: c for c in (DuckDBConnection, SparkConnection)}
        if name not in kinds:
            raise ValueError(f"no query engine {name!r}; use 'duckdb' or 'spark'")
        return kinds[name](cfg)

    def __init__(self, cfg: EngineParams):
        self._cached: list = []
        self.parsed = None  # the typed table (cached), set by typed()
        self.subcent = 0  # what rounding to the cent changed, set by typed()
        self.files = None  # rows and cents per file read, set by typed() (several files)

    def fit_partitions(self, source: str, user: dict) -> int | None:
        """The engine's shuffle partitions from the input's size (None: nothing set)."""
        return None

    def cache(self, expr):
        """Materialise ``expr`` once (DuckDB temp table, Spark persist); freed by close()."""
        cached = expr.cache()
        self._cached.append(cached)
        return cached

    def release(self, cached) -> None:
        """Free one cached table now (its results are no longer needed)."""
        if cached in self._cached:
            self._cached.remove(cached)
            cached.release()

    def release_all(self) -> None:
        """Free every cached table (the connection stays open)."""
        for cached in self._cached:
            try:
                cached.release()
            except Exception:  # already gone with its session
                pass
        self._cached.clear()
        self.parsed = None

    def close(self) -> None:
        """Free the cached tables and what the backend holds."""
        self.release_all()

    def arrow(self, expr):
        """Run ``expr`` and collect it as a pyarrow Table."""
        return expr.to_pyarrow()

    def frame(self, expr) -> pd.DataFrame:
        """Run ``expr`` and collect it as a DataFrame, each Arrow column freed as soon as it
        is converted, so that a result is held about once, not twice, while it converts."""
        return self.arrow(expr).to_pandas(self_destruct=True, split_blocks=True)

    def read(self, source: str, fmt: str, cfg: ReadParams, one_file: bool = False):
        """The data (every column as the file has it, CSV as text); several local files
        (a directory or a glob) with a column ``_file`` naming each row's file, where the
        engine can say it (DuckDB)."""
        files = None if one_file or not several(source) else \
            [str(p) for p in data_files(source)]
        if fmt == "parquet":
            return self._read_parquet(source, files)
        sep = cfg.sep
        if sep == "auto":
            sep = sniff_sep(Path(first_file(source)), "utf-8") if not is_uri(source) else ","
        return self._read_csv(source, sep, files)

    def _read_parquet(self, source: str, files: list[str] | None):
        return self.con.read_parquet(source)

    def _read_csv(self, source: str, sep: str, files: list[str] | None):
        raise NotImplementedError

    def table(self, df: pd.DataFrame):
        """A frame loaded on the driver (the pandas reader's result) as an engine table."""
        raise NotImplementedError


class DuckDBConnection(Connection):
    name = "duckdb"

    def __init__(self, cfg: EngineParams):
        super().__init__(cfg)
        settings = duckdb_settings(cfg.duckdb_config)
        self._spill = None if "temp_directory" in cfg.duckdb_config \
            else settings["temp_directory"]
        self.con = ibis.duckdb.connect(**settings)
        # texts with an offset become UTC (ibis_typing._timestamp), on any machine
        self.con.raw_sql("SET TimeZone = 'UTC'")

    def close(self) -> None:
        """Also DuckDB's connection and the spill folder this connection made."""
        super().close()
        self.con.disconnect()
        if self._spill:
            shutil.rmtree(self._spill, ignore_errors=True)

    def _read_parquet(self, source: str, files: list[str] | None):
        if files:
            return self.con.read_parquet(files, filename="_file")
        return self.con.read_parquet(source)

    def _read_csv(self, source: str, sep: str, files: list[str] | None):
        return self.con.read_csv(files or source, all_varchar=True, delim=sep, header=True,
                                 quote='"', escape='"', null_padding=False,
                                 **({"filename": "_file"} if files else {}))

    def table(self, df: pd.DataFrame):
        table = pa.Table.from_pandas(df, preserve_index=False)
        return self.con.create_table(ibis.util.gen_name("driver_input"), table, temp=True)

    def stream(self, schema: pa.Schema, batches):
        """Arrow batches (a database's rows as they arrive) into a temporary table, which
        DuckDB spills to disk beyond its memory limit: no more than a batch is held here."""
        name = ibis.util.gen_name("database_input")
        duck = self.con.con
        duck.register("_arrow_stream", pa.RecordBatchReader.from_batches(schema, batches))
        try:
            duck.execute(f'CREATE TEMP TABLE "{name}" AS SELECT * FROM _arrow_stream')
        finally:
            duck.unregister("_arrow_stream")
        return self.con.table(name)


class SparkConnection(Connection):
    name = "spark"
    casts_offsets = True
    overwrite = {"mode": "overwrite"}
    date_parser = ("try_to_timestamp", True)

    def __init__(self, cfg: EngineParams):
        super().__init__(cfg)
        # PySpark installs a SIGINT handler that cancels its jobs and fails once the
        # context is stopped: the handler in place before is put back by close()
        self._sigint = signal.getsignal(signal.SIGINT)
        self.session, self._started_session = spark_session(cfg)
        self.con = ibis.pyspark.connect(self.session)

    def fit_partitions(self, source: str, user: dict) -> int | None:
        """``spark.sql.shuffle.partitions`` from the input's size, one partition per 64 MiB
        and at least two per core (unless ``spark_config`` sets it); adaptive execution
        then merges partitions that turn out small. Returns the number set."""
        if "spark.sql.shuffle.partitions" in user:
            return None
        size = 0 if is_uri(source) else sum(p.stat().st_size for p in data_files(source))
        cores = self.session.sparkContext.defaultParallelism
        n = int(min(max(-(-size // (64 << 20)), 2 * cores), 2000))
        self.session.conf.set("spark.sql.shuffle.partitions", str(n))
        return n

    def close(self) -> None:
        """Also the Spark session when this connection started it (one that was running
        before is left running)."""
        super().close()
        if self._started_session:
            self.session.stop()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, self._sigint)

    def arrow(self, expr):
        self.con._run_pre_execute_hooks(expr)
        return self.con.raw_sql(self.con.compile(expr)).toArrow()

    def _read_parquet(self, source: str, files: list[str] | None):
        return self.con.read_parquet(source)  # a directory or a glob, as Spark reads them

    def _read_csv(self, source: str, sep: str, files: list[str] | None):
        return self.con.read_csv(files or source, inferSchema=False, header=True, sep=sep, quote='"',
                                 escape='"', mode="FAILFAST")

    def stream(self, schema: pa.Schema, batches):
        """A database's rows (gathered on the driver: Spark reads them from there)."""
        return self.table(pa.Table.from_batches(list(batches), schema=schema).to_pandas())

    def table(self, df: pd.DataFrame):
        table = pa.Table.from_pandas(df, preserve_index=False)
        name = ibis.util.gen_name("driver_input")
        self.session.createDataFrame(table).createOrReplaceTempView(name)
        return self.con.table(name)


def arrow_ready(raw: pd.DataFrame) -> pd.DataFrame:
    """The pandas reader's frame with typed columns kept (an XLSX sheet's numbers and dates)
    and anything else as text, so that it converts to Arrow column by column."""
    out = raw.copy()
    for col in out.columns:
        s = out[col]
        dates = sheet_dates(s)
        if dates is not None:
            out[col] = dates
        elif not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)) \
                or pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("str").where(s.notna(), None)
    return out




@contextmanager
def reading(eng: Connection, file: str, cfg: ReadParams):
    """The engine's reader failing (bad encoding, ragged rows, no access) as an InputError;
    a text that is not UTF-8 is named by its file (the engine reads a folder's files as
    UTF-8 and says only "Invalid unicode")."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        if "unicode" in str(exc).lower() and not is_uri(file):
            bad = next((p for p in data_files(file) if not valid_utf8(p)), None)
            if bad is not None:
                raise InputError(f"the file is not UTF-8 text, which engine {eng.name!r} "
                                 f"reads a CSV as", file=str(bad),
                                 hint="Convert it to UTF-8, or use engine: pandas with "
                                 "encoding (for example latin-1 or cp1252)") from None
        raise InputError(f"engine {eng.name!r} could not read the data: {first[:300]}",
                         file=file, hint=f"Check the path, the separator (now "
                         f"{cfg.sep!r}) and that the file is UTF-8 text with a header "
                         f"line, or use engine: pandas") from None
