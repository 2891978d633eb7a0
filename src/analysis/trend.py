"""The revenue trend a director asks about first: the last months against as many before.

From the transaction stage's monthly series (``Aggregates.monthly``: transactions, net
revenue and buying customers per calendar month), whole months only (a first or last month
the window cuts is left out): the last ``n`` months against the ``n`` before them, ``n`` =
12 when the window holds 24 whole months, else half the whole months. Revenue and orders
are summed; customers are the mean number buying per month (a customer buys in several
months).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .units import Window

__all__ = ["TREND_MONTHS", "trend_metrics"]

#: the period compared with the one before, at most
TREND_MONTHS = 12


def _period(frame: pd.DataFrame) -> dict[str, Any]:
    return {"start": frame["month"].iloc[0].strftime("%Y-%m"),
            "end": frame["month"].iloc[-1].strftime("%Y-%m"),
            "revenue": float(frame["revenue"].sum()),
            "transactions": int(frame["transactions"].sum()),
            "customers_per_month": float(frame["customers"].mean())
            if "customers" in frame else None}


def trend_metrics(monthly: pd.DataFrame, window: Window) -> dict[str, Any] | None:
    """``trend`` of metrics.json: the two periods compared and the whole months of the
    series (for the page's chart); None with fewer than two whole months."""
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    month = pd.to_datetime(monthly["month"])
    last_day = month + pd.offsets.MonthEnd(0)
    whole = monthly[(month >= start) & (last_day <= end)].reset_index(drop=True)
    whole["month"] = pd.to_datetime(whole["month"])
    n = min(TREND_MONTHS, len(whole) // 2)
    if n < 1:
        return None
    recent, before = whole.iloc[-n:], whole.iloc[-2 * n:-n]
    return {"months": n, "recent": _period(recent), "before": _period(before),
            "monthly": {"month": [m.strftime("%Y-%m") for m in whole["month"]],
                        "revenue": whole["revenue"].astype(float).tolist(),
                        "transactions": whole["transactions"].astype(int).tolist()}}
