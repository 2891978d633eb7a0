"""Ranking customers by revenue and cutting the ranking into tiers: shared by the value
tiers (stage 2) and the CLV tiers (stage 4), which rank by different values the same way
(conventions in ``tiers``' docstring: ties keep the customers table's order; shares in
integer cents)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .units import cents

__all__ = ["TIERS", "rank_order", "abc_tiers"]

TIERS = ("A", "B", "C")


def rank_order(customers: pd.DataFrame) -> np.ndarray:
    """Row positions of ``customers`` from the highest revenue down (ties: row order, never
    the id's text, which anonymisation changes)."""
    revenue = customers["revenue"].to_numpy(dtype="float64")
    return np.argsort(-revenue, kind="stable")


def abc_tiers(customers: pd.DataFrame, method: str = "rank_share",
              rank_cuts=(0.05, 0.20), revenue_cuts=(0.80, 0.95)) -> pd.Series:
    """ABC tier of each customer (Series aligned with ``customers``). See the module doc."""
    n = len(customers)
    order = rank_order(customers)
    tier_in_rank = np.full(n, "C", dtype=object)
    if method == "rank_share":
        k_a = math.ceil(rank_cuts[0] * n - 1e-9)
        k_ab = math.ceil(rank_cuts[1] * n - 1e-9)
        tier_in_rank[:k_a] = "A"
        tier_in_rank[k_a:k_ab] = "B"
    elif method == "revenue_share":
        c = np.clip(cents(customers["revenue"].to_numpy()[order]), 0, None)
        total = int(c.sum())
        if total > 0:
            before = (np.cumsum(c) - c) / total
            tier_in_rank[before < revenue_cuts[1]] = "B"
            tier_in_rank[before < revenue_cuts[0]] = "A"
            tier_in_rank[c == 0] = "C"  # a customer with nothing adds no revenue share
    else:
        raise ValueError(f"unknown abc method {method!r}")
    tiers = np.empty(n, dtype=object)
    tiers[order] = tier_in_rank
    return pd.Series(pd.Categorical(tiers, categories=list(TIERS)), index=customers.index,
                     name="abc_tier")
