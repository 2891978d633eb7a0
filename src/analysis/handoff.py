"""What the transaction stage hands the later stages besides the ledger and the customers
table (computed in ``stage1.aggregates`` on pandas, ``stage1.ibis_aggregates`` on DuckDB and
Spark): a layer of its own, so that a later stage reads it without importing stage 1."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .units import Window

__all__ = ["MASTER_COLUMNS", "ClvInputs", "Aggregates", "uncategorised"]

#: the customers table's columns from the customer master (``stage1.master``), besides its
#: attributes
MASTER_COLUMNS = ("signup_date", "customer_nature")


@dataclass
class ClvInputs:
    """What notebook 04 needs from transaction level."""
    calibration_end: pd.Timestamp
    historical_clv: pd.Series  # by customer id, in the customers table's order
    calibration: pd.DataFrame | None  # summary.calibration_holdout's frame; None: no holdout
    repeat_days: pd.DataFrame  # day (day number), purchases: repeat purchase days that day
    cohorts: pd.DataFrame  # first_day (day number), customers: of the calibration customers
    #: the earlier backtests' calibration frames (``units.backtest_origins`` after the
    #: first), stacked, with ``origin`` (their calibration end); no customer ids
    backtests: pd.DataFrame | None = None


@dataclass
class Aggregates:
    """The transaction stage's hand-over besides the ledger and the customers table."""
    window: Window
    last_date: pd.Timestamp
    transactions: int
    zero_amount_rows: int
    monthly: pd.DataFrame  # month (first day), transactions, revenue
    split: pd.Timestamp
    halves: pd.DataFrame  # customer_id, first_half, second_half (NaN: no purchase in it)
    clv: ClvInputs
    sample: pd.DataFrame  # the first clean rows by date, customer and the other columns
    #: per first-purchase month (cohort) and calendar month: the cohort's buying customers
    #: and its net revenue (``aggregates.cohort_months``)
    cohort_months: pd.DataFrame | None = None
    #: the input line per file read (file name, rows, cents as typed and left out before
    #: typing), when the engine counts it; for a database, one row for the table or query
    sources: pd.DataFrame | None = None
    #: SHA-256 of the rows read from a database (a file's digest is of its bytes)
    read_digest: str | None = None
    #: with ``columns.category``: each customer's net spend per category (customer_id,
    #: category, None where the row had none; cents), by id and category
    category_spend: pd.DataFrame | None = None
    #: with ``customers_file``: the master's people with no purchase in the window
    #: (customer_id, signup_date, nature, attributes), and the match counts
    potential: pd.DataFrame | None = None
    master: dict | None = None


def uncategorised(spend: pd.DataFrame) -> tuple[int, int]:
    """(cents without a category, cents in all) of a ``category_spend`` table, a customer's
    net spend in a category counted from 0 (more returned than bought adds nothing)."""
    cents = spend["cents"].to_numpy(dtype="int64").clip(min=0)
    return int(cents[spend["category"].isna().to_numpy()].sum()), int(cents.sum())
