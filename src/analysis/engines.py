"""Stage 1 on a query engine: load, clean (with its ledger) and summarise with DuckDB or Spark.

The rules are written once, as Ibis expressions, and Ibis compiles them to DuckDB's SQL
or to Spark SQL; the same code therefore defines the ledger and the BTYD summary on a
laptop (``engine: duckdb``) and on a cluster (``engine: spark``). Ibis gives both engines
what this stage uses (``try_cast``, ``.cache()``, window functions, ``arg_min``/``min_by``
and calls to an engine's own functions) and translates between their dialects, which
hand-written SQL would have to do itself. (Narwhals also has lazy DuckDB and PySpark
support; it was not tried.)

The default engine stays ``pandas`` (``clean.py``, ``summary.py``): on one machine it is
the fastest path measured (issue 7) and it carries the forgiving reader (encodings,
whitespace-separated files, XLSX, mixed date formats). ``tests/test_engines.py`` runs
the same files through every engine and asserts identical ledgers (to the row and the
cent), summaries (to the day and the cent) and clean transactions.

What runs where:

* on the engine: reading the file(s), typing every column, the input checks (counts of
  unparseable values and one example row), every cleaning rule and the ledger, the purchase
  days and the per-customer summary;
* on the driver (this process): the ledger (a dozen rows), the customers table (one row per
  customer) and the clean transactions, which the later notebooks use for the migration,
  holdout and tracking figures. Ids are hashed here, last, when ``anonymize`` is on
  (``load.anonymize_stage1``).

Amounts are turned into integer cents with round-half-to-even on ``amount * 100``, the
same operation numpy's ``round(2)`` performs, so every engine gets the same cents.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from . import clean as clean_mod
from . import load, summary
from .config import cancel_regex, missing_tokens, time_unit_days
from .errors import InputError

ENGINES = ("pandas", "duckdb", "spark")
WHITESPACE = (" ", "\t", "\n", "\r")
#: Spark settings the rules rely on: UTC timestamps (no shift by the session's zone) and
#: NULL, not an error, for a value that does not parse (the checks count and report them)
SPARK_REQUIRED = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
SPARK_DEFAULTS = {"spark.ui.showConsoleProgress": "false", "spark.ui.enabled": "false",
                  "spark.sql.execution.arrow.pyspark.enabled": "true",
                  "spark.sql.shuffle.partitions": "8"}


# -- where the data is ----------------------------------------------------------------------

is_uri = load.is_uri


def native_format(source: str | Path, cfg: Mapping[str, Any]) -> str | None:
    """'parquet' or 'csv' when the engine can read ``source`` itself, None when the pandas
    reader must (XLSX, whitespace-separated or non-UTF-8 text, no header line)."""
    s = str(source)
    if not is_uri(s) and Path(s).is_dir():
        files = _data_files(s)
        if not files:
            raise InputError("the data directory holds no files", file=s)
        suffixes = {p.suffix.lower() for p in files}
        if suffixes <= load.PARQUET_SUFFIXES:
            return "parquet"
        if suffixes <= load.TEXT_SUFFIXES:
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
    if suffix in load.PARQUET_SUFFIXES:
        return "parquet"
    if suffix in load.EXCEL_SUFFIXES:
        return None
    return "csv" if _csv_ok(cfg) else None


def _csv_ok(cfg: Mapping[str, Any]) -> bool:
    return (cfg["header"] and not cfg["names"] and cfg["sep"] != "whitespace"
            and cfg["encoding"].lower().replace("_", "-") in ("utf-8", "utf8"))


def check_source(source: str | Path, cfg: Mapping[str, Any]) -> str:
    """The data location as given to the engine; local paths must exist (files or, for the
    query engines, directories); URIs are passed on as they are."""
    s = str(source)
    if cfg["engine"] == "pandas" or not (is_uri(s) or Path(s).is_dir()):
        return str(load.check_path(s).resolve())
    if is_uri(s):
        if cfg["engine"] != "spark" and not s.startswith(("file://", "s3://", "http")):
            raise InputError("this URI can only be read by the spark engine", file=s,
                             hint="Set engine: spark, or copy the data to a local file")
        return s
    native_format(s, cfg)  # raises on an empty or mixed directory
    return str(Path(s).resolve())


# -- sessions ------------------------------------------------------------------------------

def spark_session(cfg: Mapping[str, Any]):
    """The Spark session for ``spark_master`` with ``spark_config`` passed through."""
    import shutil
    if shutil.which("java") is None and not __import__("os").environ.get("JAVA_HOME"):
        raise InputError("engine 'spark' needs Java (17 or newer), which is not installed",
                         file="java", hint="Run `make java` (Debian's openjdk-17-jre-headless) "
                         "or set JAVA_HOME")
    from pyspark.sql import SparkSession
    builder = SparkSession.builder.master(cfg["spark_master"]).appName("customer-analytics")
    for key, value in {**SPARK_DEFAULTS, **cfg["spark_config"], **SPARK_REQUIRED}.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    for key, value in SPARK_REQUIRED.items():  # an existing session keeps its own settings
        session.conf.set(key, value)
    session.sparkContext.setLogLevel("ERROR")
    return session


class Engine:
    """An Ibis connection plus how to bring a result to the driver as Arrow."""

    def __init__(self, name: str, cfg: Mapping[str, Any]):
        import ibis
        self.name = name
        self._cached: list = []
        self.parsed = None  # the typed table (cached), set by typed()
        self.subcent_1e4 = 0  # what rounding to the cent changed, set by typed()
        if name == "duckdb":
            self.con = ibis.duckdb.connect(**{k: v for k, v in cfg["duckdb_config"].items()})
        elif name == "spark":
            self.con = ibis.pyspark.connect(spark_session(cfg))
        else:
            raise ValueError(f"no query engine {name!r}; use one of {ENGINES[1:]}")

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

    def close(self) -> None:
        """Free the cached tables (and DuckDB's connection); a Spark session stays up for
        the next use in this process."""
        for cached in self._cached:
            try:
                cached.release()
            except Exception:  # already gone with its session
                pass
        self._cached.clear()
        if self.name == "duckdb":
            self.con.disconnect()

    def arrow(self, expr):
        """Run ``expr`` and collect it as a pyarrow Table."""
        if self.name == "spark":
            self.con._run_pre_execute_hooks(expr)
            return self.con.raw_sql(self.con.compile(expr)).toArrow()
        return expr.to_pyarrow()

    def frame(self, expr) -> pd.DataFrame:
        return self.arrow(expr).to_pandas()

    def read(self, source: str, fmt: str, cfg: Mapping[str, Any]):
        s = source
        if fmt == "parquet":
            if self.name == "duckdb" and not is_uri(s) and Path(s).is_dir():
                s = str(Path(s) / "**" / "*.parquet")
            return self.con.read_parquet(s)
        sep = cfg["sep"]
        if sep == "auto":
            sep = load._sniff_sep(Path(_first_file(s)), "utf-8") if not is_uri(s) else ","
        if self.name == "duckdb":
            path = str(Path(s) / "*") if not is_uri(s) and Path(s).is_dir() else s
            return self.con.read_csv(path, all_varchar=True, delim=sep, header=True,
                                     quote='"', escape='"', null_padding=False)
        return self.con.read_csv(s, inferSchema=False, header=True, sep=sep, quote='"',
                                 escape='"', mode="FAILFAST")

    def table(self, df: pd.DataFrame):
        """A frame loaded on the driver (the pandas reader's result) as an engine table."""
        import ibis
        import pyarrow as pa
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self.name == "spark":
            session = self.con._session
            name = ibis.util.gen_name("driver_input")
            session.createDataFrame(table).createOrReplaceTempView(name)
            return self.con.table(name)
        return self.con.create_table(ibis.util.gen_name("driver_input"), table, temp=True)


def _arrow_ready(raw: pd.DataFrame) -> pd.DataFrame:
    """The pandas reader's frame with typed columns kept (an XLSX sheet's numbers and dates)
    and anything else as text, so that it converts to Arrow column by column."""
    out = raw.copy()
    for col in out.columns:
        s = out[col]
        dates = load.sheet_dates(s)
        if dates is not None:
            out[col] = dates
        elif not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)) \
                or pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("str").where(s.notna(), None)
    return out


def _data_files(folder: str | Path) -> list[Path]:
    """The files of a data directory, in order; hidden and ``_SUCCESS``-style files skipped."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and not p.name.startswith((".", "_")))


def _first_file(path: str) -> str:
    return str(_data_files(path)[0]) if Path(path).is_dir() else path


# -- typing: text as written to canonical columns ------------------------------------------

def _text(col, missing: list[str]):
    """Text with surrounding whitespace removed; the ``missing`` texts
    (``config.missing_tokens``, compared in lower case) are missing.
    The strip runs only on values that start or end with whitespace: on 3 million rows
    DuckDB takes 0.7 s for that test against 3.6 s for TRIM with a set of characters."""
    import ibis
    t = col.cast("string")
    padded = ibis.literal(False)
    for ch in WHITESPACE:
        padded = padded | t.startswith(ch) | t.endswith(ch)
    t = ibis.ifelse(padded, t.re_replace(r"^\s+|\s+$", ""), t)
    return ibis.ifelse(t.lower().isin(missing), ibis.null("string"), t)


CURRENCY_RE = load.CURRENCY_SYMBOLS  # one pattern for every engine


def _number(col, cfg, text_done: bool = False):
    """(the value as float64, a flag for a currency symbol or None); ``text_done``: ``col``
    went through ``_text`` already."""
    if col.type().is_numeric():
        return col.cast("float64"), None
    t = col if text_done else _text(col, missing_tokens(cfg))
    plain = not cfg["thousands"] and cfg["decimal"] == "."
    direct = t.try_cast("float64") if plain else None
    cleaned = t.re_replace(CURRENCY_RE, "").re_replace(r"^\s+|\s+$", "")
    if cfg["thousands"]:
        cleaned = cleaned.replace(cfg["thousands"], "")
    if cfg["decimal"] != ".":
        cleaned = cleaned.replace(cfg["decimal"], ".")
    if not plain:
        return cleaned.try_cast("float64"), t.re_search(CURRENCY_RE)
    # most values are plain numbers: the regular expressions only run where the cast fails
    # (a value with a currency symbol never casts)
    return direct.coalesce(cleaned.try_cast("float64")), \
        direct.isnull() & t.notnull() & t.re_search(CURRENCY_RE)


def _timestamp(eng: Engine, col, cfg, text_done: bool = False):
    if col.type().is_timestamp() or col.type().is_date():
        return col.cast("timestamp")
    t = col if text_done else _text(col, missing_tokens(cfg))
    fmt = cfg["date_format"]
    if not fmt:
        return t.try_cast("timestamp")
    # the engine's own parser, which gives NULL where the text does not parse
    if eng.name == "duckdb":
        return _timestamp_function("try_strptime")(t, fmt).cast("timestamp")
    return _timestamp_function("try_to_timestamp")(t, java_pattern(fmt)).cast("timestamp")


def _timestamp_function(name: str):
    """An engine's built-in ``name(text, format) -> timestamp`` as an Ibis function."""
    import ibis
    import ibis.expr.datatypes as dt

    def fn(s, f):
        ...
    fn.__name__ = name
    fn.__annotations__ = {"s": dt.string, "f": dt.string, "return": dt.timestamp}
    return ibis.udf.scalar.builtin(name=name)(fn)


_JAVA = {"Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s",
         "f": "SSSSSS", "p": "a", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "z": "Z",
         "j": "D"}


def java_pattern(fmt: str) -> str:
    """A strftime format as a Spark datetime pattern. A number next to another number
    (``%Y%m%d``) gets its full width; otherwise one letter, which reads one or two digits,
    as strptime does (``12/2/2010 8:32`` with ``%m/%d/%Y %H:%M``)."""
    tokens = re.findall(r"%.|[^%]+", fmt)
    out = []
    for i, tok in enumerate(tokens):
        if not tok.startswith("%"):
            out.append("'" + tok.replace("'", "''") + "'" if re.search(r"[A-Za-z]", tok)
                       else tok)
            continue
        code = tok[1]
        if code == "%":
            out.append("%")
            continue
        if code not in _JAVA:
            raise InputError(f"date_format directive {tok!r} is not supported by engine 'spark'",
                             file="parameters", column="date_format",
                             hint="Use %Y %y %m %d %H %I %M %S %f %p %b %B %a %A %z %j")
        pat = _JAVA[code]
        adjacent = any(0 <= j < len(tokens) and tokens[j].startswith("%") for j in (i - 1, i + 1))
        if adjacent and len(pat) == 1:
            pat = pat * 2
        out.append(pat)
    return "".join(out)


def _not_finite(v):
    return v.isnull() | v.isnan() | v.isinf()


def _too_large(v):
    """A money value the run refuses (``load.MAX_ROW_AMOUNT``), or one that is not finite."""
    return _not_finite(v) | (v.abs() > load.MAX_ROW_AMOUNT)


def _rint(y):
    """Round half to even, as numpy's rint, so cents agree with the pandas engine."""
    import ibis
    f = y.floor().cast("int64")
    d = y - f
    return ibis.cases((d > 0.5, f + 1), (d < 0.5, f), else_=f + (f % 2).abs())


def typed(eng: Engine, raw, cfg: Mapping[str, Any], file: str, warnings: list[str] | None,
          today: pd.Timestamp | None = None):
    """The canonical transactions table (``customer_id, date, amount, …, dimensions``) with
    helper columns ``cents``, ``day`` and ``ret``, parsed once and cached on the engine.
    Raises InputError naming the file, the column and an example row when a date or a
    number does not parse; appends the warnings the pandas engine gives, in its order."""
    import ibis
    src = dict(cfg["columns"])
    usecols = list(dict.fromkeys(list(src.values()) + list(cfg["dimensions"])))
    missing = [c for c in usecols if c not in raw.columns]
    if missing:
        raise InputError(load._missing_text(missing, "file"), file=file, column=missing[0],
                         hint=f"The file's columns are {list(raw.columns)[:12]}")
    raw = raw.select(*usecols)
    # built in steps, each on the columns of the last, so that no parsing expression is
    # repeated inside another in the SQL the engine gets
    def kept_type(col):
        return col.type().is_numeric() or col.type().is_timestamp() or col.type().is_date()

    text_cols = {"customer_id": src["customer_id"],
                 **{c: src[c] for c in ("order_id", "product_code") if c in src},
                 **{d: d for d in cfg["dimensions"]}}
    numeric = [c for c in ("amount", "quantity", "unit_price", "cost", "profit") if c in src]
    money = [c for c in ("cost", "profit") if c in src]  # the row's cost, or its profit
    nulls = missing_tokens(cfg)
    step1 = raw.select(
        **{c: _text(raw[col], nulls) for c, col in text_cols.items()},
        _date_in=raw[src["date"]] if kept_type(raw[src["date"]])
        else _text(raw[src["date"]], nulls),
        **{f"_{c}_in": raw[src[c]] if kept_type(raw[src[c]]) else _text(raw[src[c]], nulls)
           for c in numeric})
    passthrough = list(text_cols)
    pattern = cancel_regex(cfg)
    step2: dict[str, Any] = {
        "date": _timestamp(eng, step1._date_in, cfg, text_done=True),
        "_blank_date": step1._date_in.isnull(),
        "_marked": step1.order_id.re_search(pattern).fill_null(False)
        if pattern and "order_id" in src else ibis.literal(False)}
    symbols: dict[str, int] = {}
    for canon in numeric:
        value, symbol = _number(step1[f"_{canon}_in"], cfg, text_done=True)
        step2[f"_{canon}_v"] = value
        if symbol is not None:
            step2[f"_sym_{len(symbols)}"] = symbol
            symbols[src[canon]] = len(symbols)
    step2 = step1.select(*passthrough, **step2)
    amount = step2._amount_v if "amount" in src else step2._quantity_v * step2._unit_price_v
    step3 = step2.mutate(_amount=amount,
                         **{f"_bad_{c}": _not_finite(step2[f"_{c}_v"]) for c in numeric})
    # rows too large to count exactly are refused below (as load refuses them); their cents
    # stay NULL so that no cast overflows on the engine
    big = _too_large(step3._amount)
    big_money = {c: _too_large(step3[f"_{c}_v"]) for c in money}
    step4 = step3.mutate(_big=big,
                         **{f"_big_{c}": b for c, b in big_money.items()},
                         cents=ibis.ifelse(big, ibis.null("int64"),
                                           _rint(step3._amount * 100)),
                         _fine=ibis.ifelse(big, ibis.null("int64"),
                                           _rint(step3._amount * 10_000)),
                         **{f"_{c}_cents": ibis.ifelse(b, ibis.null("int64"),
                                                       _rint(step3[f"_{c}_v"] * 100))
                            for c, b in big_money.items()})
    negative = (step4._quantity_v < 0) if "quantity" in src else (step4._amount < 0)
    cost = {}
    if "cost" in src:
        cost["cost"] = step4._cost_cents.cast("float64") / 100
    elif "profit" in src:
        cost["cost"] = (step4.cents - step4._profit_cents).cast("float64") / 100
    step5 = step4.mutate(amount=step4.cents.cast("float64") / 100, day=_day(step4.date),
                         ret=step4._marked | negative.fill_null(False), **cost)
    checks = {"date": src["date"], **{c: src[c] for c in numeric}}
    canon_order = ["customer_id", "date", "amount",
                   *[c for c in ("quantity", "unit_price") if c in src], *cost,
                   *[c for c in ("order_id", "product_code") if c in src],
                   *cfg["dimensions"]]
    cols = {**{c: step5[c] for c in canon_order if c not in ("quantity", "unit_price")},
            **{c: step5[f"_{c}_v"] for c in ("quantity", "unit_price") if c in src},
            "cents": step5.cents, "day": step5.day, "ret": step5.ret}
    cols = {c: cols[c] for c in [*canon_order, "cents", "day", "ret"]}
    flags = {"_marked": step5._marked, "_blank_date": step5._blank_date, "_big": step5._big,
             **{f"_big_{c}": step5[f"_big_{c}"] for c in money},
             "_sub": step5._fine - step5.cents * 100,
             **{f"_bad_{c}": step5[f"_bad_{c}"] for c in numeric},
             **{f"_sym_{i}": step5[f"_sym_{i}"] for i in symbols.values()}}
    # DuckDB reads the file here; Spark only when the checks below run
    with _reading(eng, file, cfg):
        t = eng.cache(step5.select(**cols, **flags))
        eng.parsed = t

    # one pass over the cached table for every check and warning
    odd = _implausible(t, today)
    aggs = {"rows": t.count(), "bad_date": t.date.isnull().sum(),
            "blank_date": t._blank_date.sum(),
            **{f"bad_{c}": t[f"_bad_{c}"].sum() for c in checks if c != "date"},
            **{f"sym_{i}": t[f"_sym_{i}"].sum() for i in range(len(symbols))},
            "ids": t.customer_id.count(),
            "float_ids": t.customer_id.re_search(r"^\d+\.0$").sum(),
            "id_example": t.customer_id.min(),
            "odd": odd.sum(), "odd_first": t.date.argmin(ibis.ifelse(odd, 0, 1))}
    aggs.update(big=t._big.sum(), abs_cents=t.cents.abs().cast("float64").sum(),
                sub=t._sub.sum(), **{f"big_{c}": t[f"_big_{c}"].sum() for c in money})
    if "quantity" in t.columns:  # among the rows the rules before cancellations keep
        neg = (t.quantity < 0) & ~t._marked
        if cfg["drop_missing_customer"]:
            neg = neg & t.customer_id.notnull()
        if cfg.get("drop_implausible_dates", True):
            neg = neg & ~odd
        aggs["neg"] = neg.sum()
    with _reading(eng, file, cfg):
        counts = eng.frame(t.aggregate(**aggs)).iloc[0]
    if int(counts["rows"]) == 0:
        raise InputError("the data file has a header but no data rows", file=file)
    for canon, column in checks.items():
        n = int(counts[f"bad_{canon}"])
        if not n:
            continue
        example = eng.frame(raw.filter(_raw_mask(eng, raw, cfg, src, canon)).limit(1))
        example = load.redact_row(example.iloc[0].to_dict(), cfg) if len(example) else None
        if canon == "date":
            raise load.date_error(n, int(counts["blank_date"]) == n, cfg["date_format"] or
                                  "ISO 8601 (set date_format for any other format)", file,
                                  column, example)
        raise load.number_error(n, canon, file, column, example)
    # money the pandas engine refuses (load._refuse_large_rows / _refuse_large_total)
    shown = [c for c in cols if c not in ("cents", "day", "ret")]

    def refuse(problem: str, column: str, rows) -> None:
        example = eng.frame(rows.select(*shown).limit(1))
        raise load.amount_error(problem, file, column,
                                load.redact_row(example.iloc[0].to_dict(), cfg, canonical=True))

    amount_column = src.get("amount") or src["unit_price"]
    for flag, column in [("_big", amount_column), *((f"_big_{c}", src[c]) for c in money)]:
        if int(counts[flag[1:]] or 0):
            refuse(load.too_large_row(int(counts[flag[1:]])), column, t.filter(t[flag]))
    if float(counts["abs_cents"] or 0) >= load.MAX_TOTAL_CENTS:
        refuse(load.too_large_total(float(counts["abs_cents"])), amount_column,
               t.order_by(t.cents.abs().desc()))
    eng.subcent_1e4 = int(counts["sub"] or 0)
    customer_id = t.customer_id
    if int(counts["ids"]) and int(counts["float_ids"]) == int(counts["ids"]):
        customer_id = customer_id.left(customer_id.length() - 2)
        if warnings is not None:
            warnings.append(load.float_ids_warning(
                src["customer_id"], None if cfg.get("anonymize") else counts["id_example"]))
    if warnings is not None:  # in the order the pandas engine gives them
        for i, column in enumerate(symbols):
            if int(counts[f"sym_{i}"]):
                warnings.append(load.currency_warning(column, int(counts[f"sym_{i}"])))
        if cfg.get("drop_implausible_dates", True) and int(counts["odd"]):
            warnings.append(clean_mod.implausible_warning(int(counts["odd"]),
                                                          counts["odd_first"]))
        if int(counts.get("neg", 0) or 0):
            warnings.append(clean_mod.negative_quantity_warning(
                int(counts["neg"]), pattern if "order_id" in src else None))
    keep = [c for c in cols if not c.startswith("_")]
    return t.select(*[customer_id.name("customer_id") if c == "customer_id" else c
                      for c in keep])


@contextmanager
def _reading(eng: Engine, file: str, cfg: Mapping[str, Any]):
    """The engine's reader failing (bad encoding, ragged rows, no access) as an InputError."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        raise InputError(f"engine {eng.name!r} could not read the data: {first[:300]}",
                         file=file, hint=f"Check the path, the separator (now "
                         f"{cfg['sep']!r}) and that the file is UTF-8 text with a header "
                         f"line, or use engine: pandas") from None


def _raw_mask(eng: Engine, raw, cfg, src, canon):
    """Rows of the raw table whose ``canon`` value does not parse (for the example row)."""
    if canon == "date":
        return _timestamp(eng, raw[src["date"]], cfg).isnull()
    return _not_finite(_number(raw[src[canon]], cfg)[0])


def _implausible(t, today: pd.Timestamp | None):
    """Dates before 1900 or in the future (``clean.date_limit``)."""
    return (t.date < clean_mod.EARLIEST_DATE.to_pydatetime()) | \
        (t.date >= clean_mod.date_limit(today).to_pydatetime())


def _day(ts):
    import ibis
    return ts.date().delta(ibis.date(1970, 1, 1), unit="day").cast("int64")


# -- cleaning ---------------------------------------------------------------------------------

def clean_rules(eng: Engine, t, cfg: Mapping[str, Any], today: pd.Timestamp | None = None,
                warnings: list[str] | None = None):
    """The rules of ``clean.py`` in the same order. Returns (ledger as pandas, clean rows as
    a cached engine table with ``ret``, ``cents`` and ``day``)."""
    import ibis
    canon = [c for c in t.columns if c not in ("cents", "day", "ret")]
    odd = _implausible(t, today)
    price = t.unit_price if "unit_price" in t.columns else t.amount
    rules = []
    if cfg["drop_missing_customer"]:
        rules.append((t.customer_id.isnull(), "missing_customer_id"))
    if cfg.get("drop_implausible_dates", True):
        rules.append((odd, "implausible_dates"))
    if cfg["returns"] == "drop":
        rules.append((t.ret, "cancellations"))
    if cfg["drop_non_product"] and "product_code" in t.columns and cfg["non_product_codes"]:
        codes = sorted({s.upper() for s in cfg["non_product_codes"]})
        rules.append((t.product_code.upper().isin(codes).fill_null(False), "non_product_codes"))
    if cfg["drop_non_positive_price"]:
        rules.append(((price <= 0) & ~t.ret, "non_positive_price"))
    rule = ibis.cases(*rules, else_=ibis.null("string")) if rules else ibis.null("string")
    flagged = t.mutate(rule=rule)

    # identical rows share their fate (every rule is a function of the row's values), so the
    # rows the row-wise rules keep are grouped once: of n copies, n - 1 are duplicates
    alive = flagged.filter(flagged.rule.isnull()).drop("rule")
    if cfg["drop_duplicates"]:
        alive = alive.group_by([*canon, "cents", "day", "ret"]).aggregate(n=ibis._.count())
    else:
        alive = alive.mutate(n=ibis.literal(1, "int64"))
    start, end = clean_mod.window_bounds(cfg)
    outside = ibis.literal(False)
    if start is not None:
        outside = outside | (alive.date < start.to_pydatetime())
    if end is not None:
        outside = outside | (alive.date >= (end + pd.Timedelta(days=1)).to_pydatetime())
    alive = alive.mutate(rule=ibis.ifelse(outside, "out_of_window", ibis.null("string")))
    if cfg["returns"] == "net":
        key = alive.customer_id.fill_null("\x00")
        buyers = alive.filter(alive.rule.isnull() & ~alive.ret) \
            .select(k=alive.customer_id.fill_null("\x00")).distinct()
        orphan = alive.ret & alive.rule.isnull() & ~key.isin(buyers.k)
        alive = alive.mutate(rule=ibis.ifelse(orphan, "returns_without_purchase", alive.rule))
    alive = eng.cache(alive)

    one = ibis.literal(1, "int64")
    parts = [
        t.aggregate(step=ibis.literal("input"), rows=t.count(), cents=t.cents.sum()),
        flagged.filter(flagged.rule.notnull()).group_by(step=flagged.rule)
        .aggregate(rows=ibis._.count(), cents=ibis._.cents.sum()),
        alive.aggregate(step=ibis.literal("duplicates"), rows=(alive.n - one).sum(),
                        cents=((alive.n - one) * alive.cents).sum()),
        alive.group_by(step=alive.rule.fill_null("kept"))
        .aggregate(rows=alive.count(), cents=alive.cents.sum()),
    ]
    found = eng.frame(ibis.union(*[p.select("step", "rows", "cents") for p in parts]))
    found = found.groupby("step")[["rows", "cents"]].sum()
    ledger = clean_mod.make_ledger(found["rows"].to_dict(),
                                   {**found["cents"].to_dict(),
                                    "rounding": clean_mod.rounding_cents(eng.subcent_1e4)})
    if warnings is not None:
        def example(rule: str):
            rows = alive.filter(alive.n > 1) if rule == "duplicates" else \
                alive.filter(alive.rule == rule) if rule in ("out_of_window",
                                                             "returns_without_purchase") \
                else flagged.filter(flagged.rule == rule)
            key = [rows[c].fill_null("") if rows[c].type().is_string() else rows[c]
                   for c in clean_mod.example_order(rows.columns)]
            found = eng.frame(rows.order_by(key).select(*canon).limit(1))
            return load.redact_row(found.iloc[0].to_dict(), cfg, canonical=True) \
                if len(found) else None
        warnings.extend(clean_mod.large_drop_warnings(ledger, cfg.get("drop_warning_share",
                                                                      0.10), example))
    return ledger, alive.filter(alive.rule.isnull()).drop("rule", "n")


# -- the summary ------------------------------------------------------------------------------

def summarise(eng: Engine, kept, cfg: Mapping[str, Any], end_day: int) -> pd.DataFrame:
    """``summary.customer_summary`` on the engine: one row per customer with a purchase."""
    import ibis
    unit = time_unit_days(cfg)
    buy = kept.filter(~kept.ret & kept.customer_id.notnull())
    daily = buy.group_by("customer_id", "day").aggregate(cents=buy.cents.sum())
    per = daily.group_by("customer_id").aggregate(
        first_day=daily.day.min(), last_day=daily.day.max(), days=daily.count(),
        total=daily.cents.sum(), first_cents=daily.cents.argmin(daily.day))
    freq = (per.days - 1).cast("float64")
    per = per.select(
        "customer_id", "first_day", "last_day", frequency=freq,
        recency=(per.last_day - per.first_day).cast("float64") / unit,
        T=(ibis.literal(end_day, "int64") - per.first_day).cast("float64") / unit,
        monetary_value=ibis.ifelse(freq > 0, ((per.total - per.first_cents).cast("float64")
                                              / 100) / freq, 0.0))
    if "order_id" in kept.columns:
        orders = buy.select("customer_id", "day", "order_id").distinct() \
            .group_by("customer_id").aggregate(n_orders=ibis._.count())
    else:
        orders = buy.group_by("customer_id").aggregate(n_orders=ibis._.count())
    known = kept.filter(kept.customer_id.notnull())
    sums = {"rev_cents": known.cents.sum()}
    if "cost" in kept.columns:  # profit = revenue - cost, summed in cents
        sums["profit_cents"] = (known.cents - _rint(known.cost * 100)).sum()
    revenue = known.group_by("customer_id").aggregate(**sums)
    out = per.join(orders, "customer_id").join(revenue, "customer_id")
    for dim in [d for d in cfg["dimensions"] if d in kept.columns]:
        seen = known.filter(known[dim].notnull()).group_by("customer_id", dim) \
            .aggregate(n=ibis._.count(), latest=ibis._.date.max())
        rank = ibis.row_number().over(group_by=seen.customer_id,
                                      order_by=[seen.n.desc(), seen.latest.desc(), seen[dim]])
        best = seen.mutate(rank=rank).filter(ibis._.rank == 0).select("customer_id", dim)
        out = out.left_join(best, "customer_id").drop("customer_id_right")
    df = eng.frame(out)
    res = pd.DataFrame({"customer_id": pd.array(df["customer_id"], dtype="str")})
    res["first_purchase"] = summary._to_dates(df["first_day"].to_numpy(dtype="int64"))
    res["last_purchase"] = summary._to_dates(df["last_day"].to_numpy(dtype="int64"))
    res["n_orders"] = df["n_orders"].to_numpy(dtype="int64")
    for col in ("frequency", "recency", "T", "monetary_value"):
        res[col] = df[col].to_numpy(dtype="float64")
    res["revenue"] = np.rint(df["rev_cents"].to_numpy(dtype="float64")) / 100
    if "profit_cents" in df:
        res["profit"] = np.rint(df["profit_cents"].to_numpy(dtype="float64")) / 100
    for dim in [d for d in cfg["dimensions"] if d in df]:
        res[dim] = pd.array(df[dim], dtype="str")
    return res


def _clean_frame(eng: Engine, kept) -> pd.DataFrame:
    """The clean transactions on the driver, typed as the pandas engine types them, ordered
    by date, customer and the other columns on the engine (file order is not defined on a
    cluster, so this order makes the file the same from run to run)."""
    cols = [c for c in kept.columns if c not in ("cents", "day", "ret")]  # canonical order
    key = ["date", "customer_id", *[c for c in cols if c not in ("date", "customer_id")]]
    df = eng.frame(kept.select(*cols, "ret").order_by(key))
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c in cols:
        if c == "date":
            out[c] = df[c].to_numpy(dtype="datetime64[ns]")
        elif c in ("amount", "quantity", "unit_price", "cost"):
            out[c] = df[c].to_numpy(dtype="float64")
        else:
            out[c] = pd.array(df[c], dtype="str")
    out["is_return"] = df["ret"].to_numpy(dtype=bool)
    return out


def transaction_stage(source: str | Path, cfg: Mapping[str, Any],
                      warnings: list[str] | None = None, today: pd.Timestamp | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(clean transactions, ledger, customers) computed on ``cfg['engine']``; the same
    frames, to the cent and the day, as ``pipeline.transaction_stage`` with pandas."""
    eng = Engine(cfg["engine"], cfg)
    try:
        return _stage(eng, str(source), cfg, warnings, today)
    finally:
        eng.close()


def _stage(eng: Engine, s: str, cfg: Mapping[str, Any], warnings: list[str] | None,
           today: pd.Timestamp | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    fmt = native_format(s, cfg)
    if fmt is None:  # a file only the pandas reader understands: read here, typed there
        raw = eng.table(_arrow_ready(load.read_raw(s, cfg)))
    else:
        raw = eng.read(s, fmt, cfg)
    t = typed(eng, raw, cfg, s, warnings, today)
    ledger, kept = clean_rules(eng, t, cfg, today, warnings)
    eng.release(eng.parsed)  # the ledger was its last use; the clean rows are cached apart
    clean = _clean_frame(eng, kept)
    clean_mod.require_purchases(clean, ledger, s)
    customers = summarise(eng, kept, cfg, summary.day_number(summary.observation_end(clean, cfg)))
    customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
    clean, customers = load.anonymize_stage1(clean, customers, cfg)
    return clean, ledger, customers
