"""Stage 1 with pandas, on this machine: the default engine.

It carries the forgiving reader (encodings, whitespace-separated files, XLSX, mixed date
formats) and is the fastest path measured on one machine.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..background import Background
from ..config import Params
from ..units import customer_codes
from .clean import clean_transactions
from .inputs import gather
from .aggregates import Aggregates, compute
from ..progress import step
from .privacy import anonymize, anonymize_stage1
from .rules import require_purchases
from .summary import customer_summary, purchase_days

__all__ = ["PandasEngine"]


class PandasEngine:
    """Load (``load``, ``parse``), clean (``clean``), summarise (``summary``) and aggregate
    (``aggregates``) in pandas; the clean rows are written to ``clean_path`` when given."""
    name = "pandas"

    def __init__(self, params: Params):
        self.params = params

    def transaction_stage(self, source: str | Path, warnings: list[str] | None = None,
                          today: pd.Timestamp | None = None, clean_path: str | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, Aggregates]:
        p = self.params
        step("reading and typing")
        tx, before, files = gather(source, p.read, warnings)
        step("cleaning", rows=len(tx))
        clean, ledger = clean_transactions(tx, p.clean, warnings, today, before)
        del tx
        step("one row per customer", **{"clean rows": len(clean)})
        require_purchases(int((~clean["is_return"]).sum()), ledger, str(source))
        writer = None
        if clean_path is not None:  # written on the other core while the summaries run
            rows = pa.Table.from_pandas(anonymize(clean, p.read.privacy), preserve_index=False)
            writer = Background("clean rows", pq.write_table, rows, clean_path)
            del rows
        try:
            codes = customer_codes(clean["customer_id"])  # and the purchase days: once
            daily = purchase_days(clean, codes[0])
            customers = customer_summary(clean, p.summary, codes=codes, daily=daily)
            step("aggregates for the notebooks", customers=len(customers))
            agg = compute(clean, customers, p, codes, daily)
            agg.sources, agg.read_digest = files, files.attrs.get("digest")
        finally:
            if writer is not None:
                step("writing the clean rows")
                writer.join()  # never left writing into a file the caller removes
        if writer is not None:
            writer.result()  # the write's own error, if any
        customers, agg = anonymize_stage1(customers, agg, p.read.privacy)
        return ledger, customers, agg

    def close(self) -> None:
        """Nothing is held between calls."""
