"""PostgreSQL in and out, through the ADBC PostgreSQL driver (Arrow both ways, COPY
underneath; libpq reads ``PGPASSWORD`` and ``~/.pgpass``, so no password is ever a
parameter or lands in an output).

In: ``source: postgresql://user@host/db`` with ``table:`` or ``query:``. Only the columns the
run needs are selected; the query runs in a read-only transaction (a parameter file cannot
change the database), and a query must be one SELECT (or WITH … SELECT). The rows arrive in
Arrow batches and are hashed as they come (the manifest's digest of the rows read), then go
through the same typing, rules and ledger as a file's: numbers as the text PostgreSQL
writes them (so a NUMERIC gives the double a CSV of it gives), dates as dates.

Out: :func:`write_table` puts a frame into ``schema.table`` atomically: a new table is filled,
then swapped in for the old one in the same transaction, and only a table that a run wrote
before (its comment says so) is ever replaced.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config import ReadParams
from ..errors import InputError

__all__ = ["is_database", "check_database", "shown_url", "connect", "select_sql",
           "read_batches", "read_frame", "database_columns", "MARK", "write_table",
           "check_target", "read_back"]

#: the comment of every table a run writes: only such a table is ever replaced
MARK = "written by customer-analytics"


def is_database(source: Any) -> bool:
    return str(source).startswith(("postgresql://", "postgres://"))


def shown_url(url: str) -> str:
    """The URL as outputs may show it: without a password (none is accepted anyway)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"{parts.username}@" if parts.username else "") + host + \
        (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _no_password(url: str, what: str) -> None:
    if urlsplit(url).password is not None:
        raise InputError(f"the {what} URL holds a password, which would end up in the "
                         f"manifest and the shell's history", file=shown_url(url),
                         hint="Set PGPASSWORD or use ~/.pgpass, and leave the password out "
                         "of the URL")


_SELECT = re.compile(r"^\s*(\(\s*)*(select|with)\b", re.IGNORECASE)


def check_database(url: str, cfg: ReadParams) -> str:
    """The source URL, checked: no password in it; ``table`` or ``query`` set; a query one
    SELECT. Nothing is connected yet."""
    _no_password(url, "database")
    if not cfg.table and not cfg.query:
        raise InputError("a postgresql:// source needs table or query in the parameters",
                         file=shown_url(url), column="table",
                         hint="For example -p table=sales.orders")
    if cfg.query is not None:
        body = cfg.query.strip().rstrip(";")
        if not _SELECT.match(body) or ";" in body:
            raise InputError("query must be one SELECT (or WITH … SELECT) statement",
                             file=shown_url(url), column="query")
    return url


def connect(url: str, read_only: bool = False):
    """An ADBC connection; a refused login, an unknown host or database as one InputError."""
    import adbc_driver_postgresql.dbapi as pg  # (the driver loads only for a database)
    target = url
    if read_only:  # every transaction of this connection is read-only
        sep = "&" if "?" in url else "?"
        target = f"{url}{sep}options=-c%20default_transaction_read_only%3Don"
    try:
        return pg.connect(target)
    except Exception as exc:
        raise InputError(f"could not connect to the database: {_first_line(exc)}",
                         file=shown_url(url), hint="Check the URL, and the password in "
                         "PGPASSWORD or ~/.pgpass") from None


def _first_line(exc: Exception) -> str:
    text = str(exc)
    for mark in ("FATAL:", "ERROR:"):
        if mark in text:
            text = text[text.index(mark) + len(mark):]
    line = next((s.strip() for s in text.splitlines() if s.strip()), type(exc).__name__)
    return re.sub(r"password=\S+", "password=…", line)[:300]


def _relation(cfg: ReadParams) -> str:
    return cfg.table if cfg.table else f"({cfg.query.strip().rstrip(';')}) AS source_query"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database_columns(conn, url: str, cfg: ReadParams) -> list[str]:
    """The columns the table or query gives (a missing table as one InputError)."""
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT * FROM {_relation(cfg)} LIMIT 0")
        names = [d[0] for d in cur.description]
        cur.fetchall()
    except Exception as exc:
        raise InputError(f"the database could not read the {'table' if cfg.table else 'query'}"
                         f": {_first_line(exc)}", file=shown_url(url),
                         column="table" if cfg.table else "query") from None
    finally:
        cur.close()
    return names


def select_sql(cfg: ReadParams, columns: list[str]) -> str:
    return f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_relation(cfg)}"


def _readable(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Numbers as the text PostgreSQL writes them parse (a NUMERIC), dates as timestamps."""
    cols = []
    for col in batch.columns:
        if pa.types.is_decimal(col.type):
            col = pc.cast(pc.cast(col, pa.string()), pa.float64())
        elif pa.types.is_date(col.type):
            col = pc.cast(col, pa.timestamp("us"))
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


def read_batches(url: str, cfg: ReadParams, columns: list[str]
                 ) -> tuple[pa.Schema, Iterator[pa.RecordBatch], hashlib._Hash, Any]:
    """(schema, the batches as they arrive, the digest they update, the connection to close
    when done): ``columns`` of the table or query, in a read-only transaction."""
    conn = connect(url, read_only=True)
    cur = conn.cursor()
    try:
        cur.execute(select_sql(cfg, columns))
        reader = cur.fetch_record_batch()
    except Exception as exc:
        conn.close()
        raise InputError(f"the database could not read the data: {_first_line(exc)}",
                         file=shown_url(url)) from None
    digest = hashlib.sha256()
    first = _readable(pa.RecordBatch.from_pylist([], schema=reader.schema))

    def batches() -> Iterator[pa.RecordBatch]:
        _ = cur  # the cursor lives as long as its stream
        for batch in reader:
            batch = _readable(batch)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as w:
                w.write_batch(batch)
            digest.update(sink.getvalue())
            yield batch
    return first.schema, batches(), digest, conn


def read_frame(url: str, cfg: ReadParams, columns: list[str]) -> tuple[pd.DataFrame, str]:
    """The rows as a DataFrame for the pandas engine, and the digest of the rows read."""
    schema, batches, digest, conn = read_batches(url, cfg, columns)
    try:
        table = pa.Table.from_batches(list(batches), schema=schema)
    finally:
        conn.close()
    if table.num_rows == 0:
        raise InputError("the table or query gave no rows", file=shown_url(url))
    return table.to_pandas(), digest.hexdigest()


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or "public", name


def _comment(cur, schema: str, name: str) -> tuple[bool, str | None]:
    cur.execute("SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                parameters=(schema, name))
    found = cur.fetchall()
    return (bool(found), found[0][0] if found else None)


def check_target(url: str, table: str) -> None:
    """Before a run: the database answers, and ``table`` is new or one a run wrote."""
    _no_password(url, "export_postgres")
    conn = connect(url)
    try:
        cur = conn.cursor()
        exists, comment = _comment(cur, *_split(table))
        cur.close()
    finally:
        conn.close()
    if exists and not str(comment or "").startswith(MARK):
        raise InputError("export_postgres would replace a table that no run wrote",
                         file=shown_url(url), column=table,
                         hint="Name a new table; a table is only replaced when a run wrote it")


def write_table(url: str, table: str, frame: pd.DataFrame, run: str,
                comments: dict[str, str] | None = None) -> int:
    """Write ``frame`` to ``table`` in one transaction (filled as a new table, swapped in for
    the one an earlier run wrote); returns the rows written."""
    schema, name = _split(table)
    fresh = f"{name}__new"
    data = pa.Table.from_pandas(frame, preserve_index=False)
    data = data.cast(pa.schema([pa.field(f.name, f.type.value_type if
                                         pa.types.is_dictionary(f.type) else f.type)
                                for f in data.schema]))
    conn = connect(url)
    try:
        cur = conn.cursor()
        exists, comment = _comment(cur, schema, name)
        if exists and not str(comment or "").startswith(MARK):
            raise InputError("export_postgres would replace a table that no run wrote",
                             file=shown_url(url), column=table)
        cur.execute(f"DROP TABLE IF EXISTS {_quote(schema)}.{_quote(fresh)}")
        cur.adbc_ingest(fresh, data, mode="create", db_schema_name=schema)
        if exists:
            cur.execute(f"DROP TABLE {_quote(schema)}.{_quote(name)}")
        cur.execute(f"ALTER TABLE {_quote(schema)}.{_quote(fresh)} RENAME TO {_quote(name)}")
        text = f"{MARK} (run {run})".replace("'", "''")
        cur.execute(f"COMMENT ON TABLE {_quote(schema)}.{_quote(name)} IS '{text}'")
        for col, doc in (comments or {}).items():
            if col in frame.columns:
                cur.execute(f"COMMENT ON COLUMN {_quote(schema)}.{_quote(name)}.{_quote(col)} "
                            f"IS '{doc.replace(chr(39), chr(39) * 2)}'")
        conn.commit()
        cur.close()
    except InputError:
        conn.rollback()
        raise
    except Exception as exc:
        conn.rollback()
        raise InputError(f"writing {table} failed: {_first_line(exc)}",
                         file=shown_url(url)) from None
    finally:
        conn.close()
    return len(frame)


def read_back(url: str, table: str) -> pd.DataFrame:
    """A table as a DataFrame (what a CRM loading it would see)."""
    schema, name = _split(table)
    conn = connect(url, read_only=True)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT * FROM {_quote(schema)}.{_quote(name)}")
        out = cur.fetch_arrow_table().to_pandas()
        cur.close()
    finally:
        conn.close()
    return out
