"""Ranking customers by a value and cutting the ranking into tiers: shared by the value
tiers (stage 2), the CLV tiers (stage 4) and the RFM scores (stage 3).

**Equal values, equal labels.** A label depends only on the customer's value, never on the
row's place or on how the id is written: values are compared in integer cents (so two
equal totals summed in another order are equal), and a group of customers with the same
value takes, as a whole, the label of the place where the group begins in the ranking —
SQL's ``RANK()`` (and ``PERCENT_RANK()``): a tier holds every customer tied with one who
made its cut, and a score counts the customers with a strictly lower value. Where such a
tie straddles a cut the tier is larger than its nominal share; :func:`tier_ties` reports
it. A customer with no positive value is never in tier A or B (there is nothing to rank
them by)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .units import cents

__all__ = ["TIERS", "rank_order", "tie_starts", "abc_tiers", "tier_ties", "fifth_scores"]

TIERS = ("A", "B", "C")


def rank_order(customers: pd.DataFrame) -> np.ndarray:
    """Row positions of ``customers`` from the highest revenue down (ties: row order; used
    where only the sorted values matter, such as the Lorenz curve)."""
    revenue = customers["revenue"].to_numpy(dtype="float64")
    return np.argsort(-revenue, kind="stable")


def tie_starts(sorted_values: np.ndarray) -> np.ndarray:
    """For each position of a sorted array, the position where its run of equal values
    begins."""
    n = len(sorted_values)
    if n == 0:
        return np.zeros(0, dtype="int64")
    start = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    return np.flatnonzero(start)[np.cumsum(start) - 1]


def _positional(c_sorted: np.ndarray, method: str, rank_cuts, revenue_cuts) -> np.ndarray:
    """The tier of each place of the ranking (highest first) before ties are joined."""
    n = len(c_sorted)
    tier = np.full(n, "C", dtype=object)
    if method == "rank_share":
        k_a = math.ceil(rank_cuts[0] * n - 1e-9)
        k_ab = math.ceil(rank_cuts[1] * n - 1e-9)
        tier[:k_a] = "A"
        tier[k_a:k_ab] = "B"
    elif method == "revenue_share":
        c = np.clip(c_sorted, 0, None)
        total = int(c.sum())
        if total > 0:
            before = (np.cumsum(c) - c) / total
            tier[before < revenue_cuts[1]] = "B"
            tier[before < revenue_cuts[0]] = "A"
    else:
        raise ValueError(f"unknown abc method {method!r}")
    tier[c_sorted <= 0] = "C"  # nothing to rank: never A or B
    return tier


def _sorted_cents(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = cents(values)
    order = np.argsort(-c, kind="stable")
    return order, c[order]


def abc_tiers(customers: pd.DataFrame, method: str = "rank_share",
              rank_cuts=(0.05, 0.20), revenue_cuts=(0.80, 0.95)) -> pd.Series:
    """ABC tier of each customer by ``revenue`` (Series aligned with ``customers``): the
    tier of the place where the customer's group of equal revenue begins (module doc)."""
    n = len(customers)
    order, c_sorted = _sorted_cents(customers["revenue"])
    tier_in_rank = _positional(c_sorted, method, rank_cuts, revenue_cuts)
    tier_in_rank = tier_in_rank[tie_starts(c_sorted)]
    tiers = np.empty(n, dtype=object)
    tiers[order] = tier_in_rank
    return pd.Series(pd.Categorical(tiers, categories=list(TIERS)), index=customers.index,
                     name="abc_tier")


def tier_ties(customers: pd.DataFrame, method: str = "rank_share", rank_cuts=(0.05, 0.20),
              revenue_cuts=(0.80, 0.95)) -> list[dict[str, Any]]:
    """Groups of customers with equal revenue that straddle a tier's cut, each with the
    value, the customers tied and how many places the tier had for them (``places``); the
    whole group is in the upper tier, which is that much larger than its nominal share."""
    order, c_sorted = _sorted_cents(customers["revenue"])
    pos = _positional(c_sorted, method, rank_cuts, revenue_cuts)
    starts = tie_starts(c_sorted)
    out = []
    for upper in ("A", "B"):
        inside = np.flatnonzero(pos == upper)
        if not len(inside):
            continue
        last = inside[-1]
        begin = starts[last]
        end = np.searchsorted(-c_sorted, -c_sorted[last], side="right")
        if end - 1 > last and pos[begin] == upper:  # begins in the tier, goes on past it
            out.append({"tier": upper, "value": float(c_sorted[last]) / 100,
                        "customers": int(end - begin), "places": int(last + 1 - begin)})
    return out


def fifth_scores(values: pd.Series | np.ndarray) -> np.ndarray:
    """Scores 1..5: one plus the whole fifths of customers whose value is strictly lower
    (a higher value never scores lower; equal values score alike). With heavy ties some
    scores stay empty: when half the customers bought once, they all have F = 1 and the
    next score given is 3."""
    v = pd.Series(np.asarray(values, dtype="float64"))
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype="int64")
    below = v.rank(method="min").to_numpy(dtype="int64") - 1
    return (1 + (5 * below) // n).astype("int64")
