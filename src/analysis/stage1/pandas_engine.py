"""Stage 1 with pandas, on this machine: the default engine.

It carries the forgiving reader (encodings, whitespace-separated files, XLSX, mixed date
formats) and is the fastest path measured on one machine.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import Params
from .clean import clean_transactions
from .load import load_transactions
from .privacy import anonymize_stage1
from .rules import require_purchases
from .summary import customer_summary

__all__ = ["PandasEngine"]


class PandasEngine:
    """Load (``load``, ``parse``), clean (``clean``) and summarise (``summary``) in pandas."""
    name = "pandas"

    def __init__(self, params: Params):
        self.params = params

    def transaction_stage(self, source: str | Path, warnings: list[str] | None = None,
                          today: pd.Timestamp | None = None
                          ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        p = self.params
        tx = load_transactions(source, p.read, warnings)
        clean, ledger = clean_transactions(tx, p.clean, warnings, today)
        require_purchases(clean, ledger, str(source))
        customers = customer_summary(clean, p.summary)
        clean, customers = anonymize_stage1(clean, customers, p.read.privacy)
        return clean, ledger, customers

    def close(self) -> None:
        """Nothing is held between calls."""
