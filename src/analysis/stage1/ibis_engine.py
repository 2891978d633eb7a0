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
summaries (to the day and the cent) and clean transactions.

What runs where:

* on the engine: reading the file(s), typing every column, the input checks (counts of
  unparseable values and one example row), every cleaning rule and the ledger, the purchase
  days and the per-customer summary;
* on the driver (this process): the ledger (a dozen rows), the customers table (one row per
  customer) and the clean transactions, which the later notebooks use for the migration,
  holdout and tracking figures. Ids are hashed here, last, when ``anonymize`` is on
  (``privacy.anonymize_stage1``).

Amounts are turned into integer cents with round-half-to-even on ``amount * 100``, the
same operation numpy's ``round(2)`` performs, so every engine gets the same cents.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Params
from ..units import day_number
from .ibis_io import Connection, arrow_ready
from .ibis_rules import clean_frame, clean_rules, summarise
from .ibis_typing import typed
from .load import read_raw
from .privacy import anonymize_stage1
from .rules import require_purchases
from .sources import native_format

__all__ = ["IbisEngine"]


class IbisEngine:
    """The transaction stage on DuckDB or Spark, through one open connection."""

    def __init__(self, params: Params):
        self.params = params
        self.name = params.engine.engine
        self.connection = Connection(self.name, params.engine)

    def transaction_stage(self, source: str | Path, warnings: list[str] | None = None,
                          today: pd.Timestamp | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(clean transactions, ledger, customers): the same frames, to the cent and the day,
        as the pandas engine's."""
        try:
            return self._stage(str(source), warnings, today)
        finally:
            self.connection.release_all()

    def _stage(self, s: str, warnings: list[str] | None, today: pd.Timestamp | None
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        p, eng = self.params, self.connection
        fmt = native_format(s, p.read)
        if fmt is None:  # a file only the pandas reader understands: read here, typed there
            raw = eng.table(arrow_ready(read_raw(s, p.read)))
        else:
            raw = eng.read(s, fmt, p.read)
        t = typed(eng, raw, p.read, p.clean, s, warnings, today)
        ledger, kept = clean_rules(eng, t, p.clean, today, warnings)
        eng.release(eng.parsed)  # the ledger was its last use; the clean rows are cached apart
        clean = clean_frame(eng, kept)
        require_purchases(clean, ledger, s)
        end = p.summary.window(clean).end
        customers = summarise(eng, kept, p.summary, day_number(end))
        customers = customers.sort_values("customer_id", kind="stable").reset_index(drop=True)
        clean, customers = anonymize_stage1(clean, customers, p.read.privacy)
        return clean, ledger, customers

    def close(self) -> None:
        self.connection.close()
