"""Is there enough data to model? Checks run before any fit, each a warning when it fails.

* **window**: the window should hold at least :data:`MIN_GAPS_IN_WINDOW` typical gaps
  between purchases (the median over repeat buyers of their first-to-last span divided by
  their repeat purchases); otherwise nobody has had time to show that they stopped buying;
* **holdout**: the holdout period should be at least one typical gap long, or the check
  of the predictions says little;
* **one-time buyers**: above :data:`MAX_ONE_TIME_SHARE` of customers, drop-out is learnt
  from the few repeat buyers, and most of the predicted value rests on customers the data
  say little about;
* **customers** and **repeat buyers** per estimated parameter (4 for the purchase model,
  3 for the spend model): below :data:`MIN_CUSTOMERS_PER_PARAMETER` and
  :data:`MIN_REPEAT_PER_PARAMETER` the estimates are loose.

Each failed check is a dict (``check`` and its numbers) that ``narrative`` puts in words.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..units import Window

__all__ = ["MIN_GAPS_IN_WINDOW", "MAX_ONE_TIME_SHARE", "MIN_CUSTOMERS_PER_PARAMETER",
           "MIN_REPEAT_PER_PARAMETER", "median_gap_days", "checks"]

MIN_GAPS_IN_WINDOW = 4
MAX_ONE_TIME_SHARE = 0.80
MIN_CUSTOMERS_PER_PARAMETER = 50
MIN_REPEAT_PER_PARAMETER = 25
PURCHASE_PARAMETERS = 4
SPEND_PARAMETERS = 3


def median_gap_days(customers: pd.DataFrame, unit_days: int) -> float | None:
    """Median over repeat buyers of (last − first purchase) / repeat purchases, in days."""
    rep = customers[customers["frequency"] > 0]
    if rep.empty:
        return None
    return float(np.median(rep["recency"].to_numpy(dtype="float64")
                           / rep["frequency"].to_numpy(dtype="float64")) * unit_days)


def checks(customers: pd.DataFrame, window: Window,
           holdout_days: int | None = None) -> list[dict[str, Any]]:
    """The data-sufficiency checks that fail, each with its numbers."""
    out: list[dict[str, Any]] = []
    n = len(customers)
    repeat = int((customers["frequency"] > 0).sum())
    gap = median_gap_days(customers, window.unit.days)
    if gap and window.days < MIN_GAPS_IN_WINDOW * gap:
        out.append({"check": "window", "window_days": window.days, "gap_days": gap,
                    "gaps": window.days / gap, "limit": MIN_GAPS_IN_WINDOW})
    if gap and holdout_days is not None and holdout_days < gap:
        out.append({"check": "holdout", "holdout_days": holdout_days, "gap_days": gap})
    if n and (n - repeat) / n > MAX_ONE_TIME_SHARE:
        out.append({"check": "one_time", "share": (n - repeat) / n,
                    "limit": MAX_ONE_TIME_SHARE})
    if n < MIN_CUSTOMERS_PER_PARAMETER * PURCHASE_PARAMETERS:
        out.append({"check": "customers", "customers": n,
                    "needed": MIN_CUSTOMERS_PER_PARAMETER * PURCHASE_PARAMETERS,
                    "parameters": PURCHASE_PARAMETERS})
    if repeat < MIN_REPEAT_PER_PARAMETER * PURCHASE_PARAMETERS:
        out.append({"check": "repeat_buyers", "repeat": repeat,
                    "needed": MIN_REPEAT_PER_PARAMETER * PURCHASE_PARAMETERS,
                    "parameters": PURCHASE_PARAMETERS})
    return out
