"""Valuable customers whose activity is falling: the at-risk list (``at_risk.csv`` and the
report's table).

A repeat buyer is *overdue* when the days since their last purchase exceed
:data:`OVERDUE_FACTOR` times their own usual gap (first-to-last span divided by their
repeat purchase days). Where the purchase model gave a P(alive), an overdue customer is
at risk only if it is also below :data:`P_ALIVE_LIMIT` (a very frequent buyer a few days
late is not), so the list never contradicts the model. Customers at risk are ranked by
what they have brought (revenue), most first; the list keeps the top ``limit``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .units import Window

__all__ = ["OVERDUE_FACTOR", "P_ALIVE_LIMIT", "AT_RISK_COLUMNS", "at_risk"]

OVERDUE_FACTOR = 2.0
P_ALIVE_LIMIT = 0.5
AT_RISK_COLUMNS = ["customer_id", "revenue", "abc_tier", "rfm_segment", "lifecycle_stage",
                   "n_orders", "last_purchase", "days_since_last", "usual_gap_days",
                   "times_usual_gap", "p_alive", "recommended_action"]


def at_risk(customers: pd.DataFrame, window: Window, limit: int = 100) -> pd.DataFrame:
    """The ``limit`` customers with the most revenue whose activity is falling (overdue
    against their own rhythm and, where the model gave one, P(alive) below the limit),
    with why."""
    c = customers
    last = pd.to_datetime(c["last_purchase"])
    since = (window.end - last.dt.normalize()).dt.days.to_numpy(dtype="float64")
    freq = c["frequency"].to_numpy(dtype="float64")
    gap = np.where(freq > 0, c["recency"].to_numpy(dtype="float64") * window.unit.days
                   / np.where(freq > 0, freq, 1.0), np.nan)
    times = np.where(gap > 0, since / np.where(gap > 0, gap, 1.0), np.nan)
    overdue = np.nan_to_num(times) >= OVERDUE_FACTOR
    p_alive = c["p_alive"].to_numpy(dtype="float64") if "p_alive" in c \
        else np.full(len(c), np.nan)
    fading = np.where(np.isnan(p_alive), True, p_alive < P_ALIVE_LIMIT)
    keep = overdue & fading & (c["revenue"].to_numpy(dtype="float64") > 0)
    out = c.assign(days_since_last=since.astype("int64"), usual_gap_days=gap,
                   times_usual_gap=times, p_alive=p_alive)[keep]
    out = out.sort_values(["revenue", "customer_id"], ascending=[False, True], kind="stable")
    return out[[col for col in AT_RISK_COLUMNS if col in out]].head(limit) \
        .reset_index(drop=True)
