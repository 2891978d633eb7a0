"""Valuable customers whose activity is falling: the at-risk rule, each customer's value at
risk, and the at-risk list (``at_risk.csv`` and the report's table).

A repeat buyer is *overdue* when the days since their last purchase exceed
:data:`OVERDUE_FACTOR` times their own usual gap (first-to-last span divided by their
repeat purchase days). Where the purchase model gave a P(alive), an overdue customer is
at risk only if it is also below :data:`P_ALIVE_LIMIT` (a very frequent buyer a few days
late is not), so the list never contradicts the model.

**Value at risk** is what the customer is expected to bring over the CLV horizon had they
stayed, times the chance they have left: ``predicted_clv / p_alive × (1 − p_alive)``. The
purchase models' expected purchases are P(alive) times the purchases expected of a
customer who is alive (BG/NBD, MBG/NBD and Pareto/NBD alike), so ``predicted_clv /
p_alive`` is the value had they stayed. Without a predicted CLV it is left empty and the
list is ranked by past revenue, which the page then says.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .units import Window, usual_gap_days

__all__ = ["OVERDUE_FACTOR", "P_ALIVE_LIMIT", "RISK_COLUMNS", "AT_RISK_COLUMNS",
           "risk_columns", "at_risk"]

OVERDUE_FACTOR = 2.0
P_ALIVE_LIMIT = 0.5
#: the columns :func:`risk_columns` adds to the customers table
RISK_COLUMNS = ["days_since_last", "usual_gap_days", "at_risk", "value_at_risk"]
AT_RISK_COLUMNS = ["customer_id", "value_at_risk", "predicted_clv", "p_alive", "revenue",
                   "abc_tier", "rfm_segment", "lifecycle_stage", "n_orders", "last_purchase",
                   "days_since_last", "usual_gap_days", "times_usual_gap",
                   "recommended_action"]


def risk_columns(customers: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Per customer: days since the last purchase, their usual gap in days (repeat buyers),
    whether they are at risk (module doc) and their value at risk (with a predicted CLV)."""
    c = customers
    last = pd.to_datetime(c["last_purchase"])
    since = (window.end - last.dt.normalize()).dt.days.to_numpy(dtype="float64")
    gap = usual_gap_days(c, window.unit.days)
    times = np.where(gap > 0, since / np.where(gap > 0, gap, 1.0), np.nan)
    overdue = np.nan_to_num(times) >= OVERDUE_FACTOR
    p_alive = c["p_alive"].to_numpy(dtype="float64") if "p_alive" in c \
        else np.full(len(c), np.nan)
    fading = np.where(np.isnan(p_alive), True, p_alive < P_ALIVE_LIMIT)
    risky = overdue & fading & (c["revenue"].to_numpy(dtype="float64") > 0)
    clv = c["predicted_clv"].to_numpy(dtype="float64") if "predicted_clv" in c \
        else np.full(len(c), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if_alive = np.where(p_alive > 0, clv / p_alive, 0.0)
    value = np.where(np.isnan(clv) | np.isnan(p_alive), np.nan, if_alive * (1 - p_alive))
    return pd.DataFrame({"days_since_last": since.astype("int64"), "usual_gap_days": gap,
                         "at_risk": risky, "value_at_risk": value}, index=c.index)


def at_risk(customers: pd.DataFrame, window: Window, limit: int | None = 100) -> pd.DataFrame:
    """The customers at risk (all, or the first ``limit``), the most value at risk first
    (past revenue where no CLV was predicted), with why (their gap, P(alive)) and the
    action of their group. ``customers``: the customer-state table, or a customers table
    to which :func:`risk_columns` is added here."""
    c = customers
    if any(col not in c for col in RISK_COLUMNS):
        c = c.drop(columns=[col for col in RISK_COLUMNS if col in c]) \
            .join(risk_columns(c, window))
    out = c[c["at_risk"].to_numpy(dtype=bool)]
    out = out.assign(times_usual_gap=out["days_since_last"] / out["usual_gap_days"])
    key = "value_at_risk" if out["value_at_risk"].notna().any() else "revenue"
    out = out.sort_values([key, "revenue", "customer_id"], ascending=[False, False, True],
                          kind="stable")
    out = out[[col for col in AT_RISK_COLUMNS if col in out]]
    return (out if limit is None else out.head(limit)).reset_index(drop=True)
