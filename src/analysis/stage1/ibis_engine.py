"""Stage 1 on a query engine: load, clean (with its ledger) and summarise with DuckDB or Spark.

The rules are written once, as Ibis expressions (``ibis_typing``, ``ibis_rules``), and
Ibis compiles them to DuckDB's SQL or to Spark SQL; the same code therefore defines the
ledger and the BTYD summary on a laptop (``engine: duckdb``) and on a cluster
(``engine: spark``). Ibis gives both engines what this stage uses (``try_cast``,
``.cache()``, window functions, ``arg_min``/``min_by`` and calls to an engine's own
functions) and translates between their dialects, which hand-written SQL would have to
do itself. (Narwhals also has lazy DuckDB and PySpark support; it was not tried.)

The default engine stays ``pandas`` (``pandas_engine``): on one machine it is the fastest
path measured (issue 7) and it carries the forgiving reader (encodings,
whitespace-separated files, XLSX, mixed date formats). ``tests/test_engines.py`` runs the
same files through every engine and asserts identical ledgers (to the row and the cent),
summaries (to the day and the cent), aggregates and clean transactions.

What runs where:

* on the engine: reading the file(s), typing every column, the input checks (counts of
  unparseable values and one example row), every cleaning rule and the ledger, the purchase
  days and the per-customer summary;
* also on the engine: the aggregates the notebooks need instead of the transactions
  (``ibis_aggregates``: monthly series, the halves' revenue, historical CLV, the
  calibration/holdout frame, the tracking counts) and the clean rows, written as Parquet
  where ``clean_transactions`` says (``ibis_aggregates.write_clean``);
* on the driver (this process): the ledger (a dozen rows), the customers table and the
  aggregates (at most one row per customer, or per day or month). Ids are hashed here,
  last, when ``anonymize`` is on (``privacy.anonymize_stage1``).

Amounts are turned into integer cents with round-half-to-even on ``amount * 100``, the
same operation numpy's ``round(2)`` performs, so every engine gets the same cents.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Params
from ..units import day_number
from .ibis_inputs import per_file, prepare
from .ibis_io import Connection, arrow_ready, reading
from .aggregates import Aggregates
from .ibis_aggregates import ibis_aggregates, window_facts, write_clean
from .ibis_rules import clean_rules, customer_days, summarise
from .ibis_typing import typed
from .database import is_database, read_batches
from .inputs import columns_to_read, database_line, database_needs
from .load import read_raw
from ..progress import step
from .privacy import anonymize_stage1
from .rules import require_purchases
from .sources import native_format

__all__ = ["IbisEngine"]


class IbisEngine:
    """The transaction stage on DuckDB or Spark, through one open connection."""

    def __init__(self, params: Params):
        self.params = params
        self.name = params.engine.engine
        self.connection = Connection.open(self.name, params.engine)

    def transaction_stage(self, source: str | Path, warnings: list[str] | None = None,
                          today: pd.Timestamp | None = None, clean_path: str | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, Aggregates]:
        """(ledger, customers, aggregates): the same, to the cent and the day, as the pandas
        engine's; the clean rows are written by the engine to ``clean_path`` when given."""
        try:
            return self._stage(str(source), warnings, today, clean_path)
        finally:
            self.connection.release_all()

    def _stage(self, s: str, warnings: list[str] | None, today: pd.Timestamp | None,
               clean_path: str | None) -> tuple[pd.DataFrame, pd.DataFrame, Aggregates]:
        p, eng = self.params, self.connection
        step("reading")
        raw, digest = self._raw(s)
        raw, before, left_out = prepare(eng, raw, p.read, s)
        step("typing")
        t = typed(eng, raw, p.read, p.clean, s, warnings, today)
        step("cleaning")
        ledger, kept = clean_rules(eng, t, p.clean, today, warnings, before)
        step("one row per customer", **{"clean rows": int(ledger.set_index("step").at[
            "kept", "rows"])})
        files = per_file(s, eng.files, left_out) if eng.files is not None else \
            database_line(p.read, ledger, None if digest else Path(s).name)
        eng.release(eng.parsed)  # the ledger was its last use; the clean rows are cached apart
        purchases = eng.frame(kept.aggregate(n=(~kept.ret).sum()))["n"].iloc[0]
        require_purchases(int(purchases) if pd.notna(purchases) else 0, ledger, s)
        facts = window_facts(eng, kept, p)
        days = customer_days(eng, kept)  # the summary's and the aggregates' one grouping
        customers = summarise(eng, kept, days, p.summary, day_number(facts[0].end))
        customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
        step("aggregates for the notebooks", customers=len(customers))
        agg = ibis_aggregates(eng, kept, days, customers, p, facts)
        eng.release(days)
        agg.sources, agg.read_digest = files, digest
        if clean_path is not None:
            step("writing the clean rows")
            write_clean(eng, kept, clean_path, p.read.privacy)
        customers, agg = anonymize_stage1(customers, agg, p.read.privacy)
        return ledger, customers, agg

    def _raw(self, s: str):
        """(the source as an engine table, the digest of the rows read from a database)."""
        p, eng = self.params, self.connection
        if is_database(s):  # streamed in batches, hashed as they come
            schema, batches, hashed, conn = read_batches(s, p.read, database_needs(s, p.read))
            try:
                return eng.stream(schema, batches), hashed.hexdigest()
            finally:
                conn.close()
        eng.fit_partitions(s, p.engine.spark_config)
        fmt = native_format(s, p.read)
        with reading(eng, s, p.read):
            if fmt is None:  # a file only the pandas reader understands: read here, typed there
                return eng.table(arrow_ready(read_raw(s, p.read, columns_to_read(s, p.read)))), \
                    None
            return eng.read(s, fmt, p.read), None

    def close(self) -> None:
        self.connection.close()
