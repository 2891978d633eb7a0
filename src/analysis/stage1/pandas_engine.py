"""Stage 1 with pandas, on this machine: the default engine.

It carries the forgiving reader (encodings, whitespace-separated files, XLSX, mixed date
formats) and is the fastest path measured on one machine.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Params
from ..units import customer_codes
from .clean import clean_transactions
from .load import load_transactions
from .aggregates import Aggregates, compute
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
        tx = load_transactions(source, p.read, warnings)
        clean, ledger = clean_transactions(tx, p.clean, warnings, today)
        del tx
        require_purchases(int((~clean["is_return"]).sum()), ledger, str(source))
        codes = customer_codes(clean["customer_id"])  # and the purchase days: computed once
        daily = purchase_days(clean, codes[0])
        customers = customer_summary(clean, p.summary, codes=codes, daily=daily)
        agg = compute(clean, customers, p, codes, daily)
        if clean_path is not None:
            anonymize(clean, p.read.privacy).to_parquet(clean_path, index=False)
        customers, agg = anonymize_stage1(customers, agg, p.read.privacy)
        return ledger, customers, agg

    def close(self) -> None:
        """Nothing is held between calls."""
