"""Stage 2: how concentrated revenue is, and ABC value tiers.

Conventions (stated once, used everywhere):

* **Ranking and ties.** Customers are ranked by revenue (in cents), highest first; a
  group of customers with equal revenue takes, as a whole, the tier of the place where
  it begins (``analysis.ranking``), so a tier depends on the revenue alone, never on the
  id or the row's place, and anonymising changes no tier. A tie that straddles a cut
  makes the upper tier larger than its nominal share: ``abc.ties`` in metrics.json
  records each such group (value, customers, places), and the notebook says so.
* **Negative revenue.** Net revenue can be negative when returns exceed purchases.
  For the ranking (Lorenz, Gini, top-share, 80/20) and for the revenue-share cut-offs
  it is clipped to 0; the number of such customers is reported as
  ``negative_revenue_customers``. Every *share* (top-x %, the 80 % line, the tier
  table) is of one total, the net revenue of all customers (the headline figure).
* **rank_share** (default): with n customers and cuts (a, b), tier A holds the
  first ceil(a·n) places of the ranking, A+B the first ceil(b·n), C the rest (plus
  whoever ties with the last customer of a tier); no positive revenue, no A or B.
* **revenue_share**: tier A holds the customers who together bring the first
  ``a`` of revenue — every customer whose preceding cumulative share is below
  ``a``, so the customer who crosses the line is in A — B likewise up to ``b``, C
  the rest. With no positive revenue at all, everybody is C.
* Cumulative sums are taken in integer cents, so shares do not drift with
  floating-point error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .config import TierParams
from .groups import migration_split_date
from .ranking import TIERS, abc_tiers, rank_order, tier_ties
from .units import Window, cents, days_since_last

__all__ = ["TIERS", "TOP_SHARES", "rank_order", "gini", "concentration", "lorenz_curve",
           "abc_tiers", "tiers_from_params", "tier_table", "dimension_breakdown",
           "migration_split_date", "migration", "metrics", "TierResult", "run"]

TOP_SHARES = (0.01, 0.05, 0.10, 0.20)


def _clipped_cents_desc(revenue: pd.Series | np.ndarray) -> np.ndarray:
    c = np.clip(cents(revenue), 0, None)
    return np.sort(c)[::-1]


def gini(revenue: pd.Series | np.ndarray) -> float:
    """Gini coefficient of revenue clipped at 0: 0 when equal, (n−1)/n when one customer has all."""
    x = np.sort(np.clip(cents(revenue), 0, None)).astype("float64")
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(2 * (i * x).sum() / (n * total) - (n + 1) / n)


def concentration(revenue: pd.Series | np.ndarray) -> dict[str, Any]:
    """Gini, top-x % revenue shares and the smallest customer share bringing 80 % of revenue."""
    rev = np.asarray(revenue, dtype="float64")
    n = len(rev)
    desc = _clipped_cents_desc(rev)
    # shares are of the net total (the headline revenue, the tier table's denominator);
    # it equals the clipped total unless returns are netted (returns: net)
    total = max(int(cents(rev).sum()), 0)
    out: dict[str, Any] = {"customers": n, "gini": gini(rev),
                           "negative_revenue_customers": int((rev < 0).sum()),
                           "zero_revenue_customers": int((cents(rev) == 0).sum())}
    cum = np.cumsum(desc)
    for p in TOP_SHARES:
        k = math.ceil(p * n - 1e-9)
        out[_top_key(p)] = float(cum[k - 1] / total) if total and k else 0.0
    if total:
        k80 = int(np.searchsorted(cum, 0.8 * total, side="left")) + 1
        out["customer_share_for_80pct_revenue"] = k80 / n
        out["customers_for_80pct_revenue"] = k80
    else:
        out["customer_share_for_80pct_revenue"] = None
        out["customers_for_80pct_revenue"] = None
    return out


def lorenz_curve(revenue: pd.Series | np.ndarray, points: int = 201) -> pd.DataFrame:
    """Lorenz curve (customers ascending by revenue) at ``points`` evenly spaced shares.

    The size does not grow with the number of customers, so it can be plotted as is."""
    asc = np.sort(np.clip(cents(revenue), 0, None))
    n, total = len(asc), asc.sum()
    cum = np.concatenate([[0], np.cumsum(asc)]) / (total if total else 1)
    share = np.linspace(0, 1, points)
    idx = np.round(share * n).astype(int)
    return pd.DataFrame({"customer_share": share, "revenue_share": cum[idx]})


def tiers_from_params(customers: pd.DataFrame, params: TierParams) -> pd.Series:
    return abc_tiers(customers, params.abc_method, params.abc_rank_cuts,
                     params.abc_revenue_cuts)


def tier_table(customers: pd.DataFrame, tiers: pd.Series, end: pd.Timestamp) -> pd.DataFrame:
    """Per tier: customers and revenue with their shares, mean/median revenue, mean orders,
    mean days since last purchase."""
    frame = pd.DataFrame({"tier": tiers, "revenue": customers["revenue"],
                          "n_orders": customers["n_orders"],
                          "days_since_last": days_since_last(customers, end)})
    g = frame.groupby("tier", observed=False)
    table = pd.DataFrame({
        "customers": g.size(),
        "revenue": g["revenue"].sum().round(2),
        "mean_revenue": g["revenue"].mean(),
        "median_revenue": g["revenue"].median(),
        "mean_orders": g["n_orders"].mean(),
        "mean_days_since_last_purchase": g["days_since_last"].mean(),
    })
    table.insert(1, "customer_share", table["customers"] / max(len(frame), 1))
    total = frame["revenue"].sum()
    table.insert(3, "revenue_share", table["revenue"] / total if total else np.nan)
    table.index.name = "abc_tier"
    return table


def dimension_breakdown(customers: pd.DataFrame, tiers: pd.Series, dim: str
                        ) -> dict[str, pd.DataFrame]:
    """Tiers by a customer attribute: counts, share of each value's customers in each tier,
    and revenue by tier × value."""
    frame = pd.DataFrame({"tier": tiers, dim: customers[dim].fillna("(missing)"),
                          "revenue": customers["revenue"]})
    counts = pd.crosstab(frame[dim], frame["tier"]).reindex(columns=list(TIERS), fill_value=0)
    revenue = frame.pivot_table(index=dim, columns="tier", values="revenue", aggfunc="sum",
                                observed=False, fill_value=0.0).reindex(columns=list(TIERS),
                                                                        fill_value=0.0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    order = revenue.sum(axis=1).sort_values(ascending=False).index
    return {"customers": counts.loc[order], "tier_share": shares.loc[order],
            "revenue": revenue.loc[order].round(2)}


def migration(halves: pd.DataFrame, params: TierParams, split: pd.Timestamp
              ) -> dict[str, Any]:
    """Tier in the first half (before ``split``) vs the second (from ``split``), same method.

    ``halves``: each customer's net revenue in the two halves (``first_half``,
    ``second_half``; empty where they made no purchase in it), from the transaction stage
    (``aggregates.half_revenues``); ties share a tier as in :func:`abc_tiers`. Rows: A/B/C in the first half, or ``new`` (no purchase
    in it); columns: A/B/C in the second half, or ``lapsed`` (no purchase in it)."""
    rows, cols = list(TIERS) + ["new"], list(TIERS) + ["lapsed"]
    # each customer's tier in each half as a position in rows / cols (one row per customer:
    # no join on the ids is needed), the last position where they bought nothing in it
    where = []
    for c in ("first_half", "second_half"):
        bought = halves[c].notna().to_numpy()
        part = halves.loc[bought, ["customer_id", c]].rename(columns={c: "revenue"}) \
            .reset_index(drop=True)
        at = np.full(len(halves), len(TIERS))
        at[bought] = pd.Index(list(TIERS)).get_indexer(
            tiers_from_params(part, params).astype(str).to_numpy())
        where.append(at)
    seen = (where[0] < len(TIERS)) | (where[1] < len(TIERS))
    counts = pd.DataFrame(np.bincount(where[0][seen] * len(cols) + where[1][seen],
                                      minlength=len(rows) * len(cols))
                          .reshape(len(rows), len(cols)), index=rows, columns=cols)
    counts.index.name, counts.columns.name = "first half", "second half"
    row_sum = counts.sum(axis=1)
    shares = counts.div(row_sum.where(row_sum > 0), axis=0)
    a_first = int(counts.loc["A"].sum())
    return {"split": split.date().isoformat(), "counts": counts, "row_shares": shares,
            "a_retention": float(counts.at["A", "A"] / a_first) if a_first else None,
            "a_lapsed": float(counts.at["A", "lapsed"] / a_first) if a_first else None}


def metrics(pareto: Mapping[str, Any], table: pd.DataFrame, params: TierParams,
            moves: Mapping[str, Any], ties: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    """The ``pareto``, ``abc`` and ``migration`` entries of metrics.json."""
    method = params.abc_method
    return {
        "pareto": dict(pareto),
        "abc": {"method": method,
                "cuts": params.abc_rank_cuts if method == "rank_share"
                else params.abc_revenue_cuts,
                "tiers": {t: {"customers": int(table.at[t, "customers"]),
                              "revenue": float(table.at[t, "revenue"]),
                              "revenue_share": float(table.at[t, "revenue_share"])
                              if pd.notna(table.at[t, "revenue_share"]) else None}
                          for t in TIERS},
                "ties": list(ties or [])},
        "migration": {"split": moves["split"], "a_retention": moves["a_retention"],
                      "a_lapsed": moves["a_lapsed"],
                      "counts": {r: {c: int(v) for c, v in row.items()}
                                 for r, row in moves["counts"].iterrows()}},
    }


def _top_key(share: float) -> str:
    """The pareto entry of the revenue share of the top ``share`` of customers."""
    return f"top_{int(round(share * 100))}pct_revenue_share"


@dataclass
class TierResult:
    """Stage 2's result: concentration, the Lorenz curve, each customer's tier, the tier
    table, the breakdown by each dimension and the migration between the window's halves."""
    pareto: dict[str, Any]
    curve: pd.DataFrame
    tiers: pd.Series
    table: pd.DataFrame
    breakdowns: dict[str, dict[str, pd.DataFrame]]
    moves: dict[str, Any]
    params: TierParams
    ties: list[dict[str, Any]] = field(default_factory=list)
    stage: ClassVar[str] = "tiers"

    def metrics(self) -> dict[str, Any]:
        return metrics(self.pareto, self.table, self.params, self.moves, self.ties)

    def columns(self) -> pd.DataFrame:
        """The customers table's new column (``abc_tier``)."""
        return self.tiers.astype(str).to_frame()

    def top_shares(self) -> pd.DataFrame:
        """Share of revenue brought by the top 1, 5, 10 and 20 % of customers
        (:data:`TOP_SHARES`), formatted as notebook 02 shows it."""
        return pd.DataFrame({
            "top customers": [f"{p:.0%}".replace("%", " %") for p in TOP_SHARES],
            "share of revenue": [f"{self.pareto[_top_key(p)]:.1%}" for p in TOP_SHARES]},
        ).set_index("top customers")

    def tables(self) -> dict[str, pd.DataFrame]:
        """What the report shows of this stage: the Lorenz curve (201 points)."""
        return {"lorenz": self.curve}


def run(customers: pd.DataFrame, halves: pd.DataFrame, split: pd.Timestamp, window: Window,
        params: TierParams, dimensions: tuple[str, ...] = ()) -> TierResult:
    """Stage 2 on the customers table and the transaction stage's revenue of each customer
    in the two halves of the window (``halves``, split at ``split``)."""
    abc = tiers_from_params(customers, params)
    return TierResult(
        pareto=concentration(customers["revenue"]),
        curve=lorenz_curve(customers["revenue"]),
        tiers=abc,
        table=tier_table(customers, abc, window.end),
        breakdowns={dim: dimension_breakdown(customers, abc, dim) for dim in dimensions
                    if dim in customers},
        moves=migration(halves, params, split),
        params=params,
        ties=tier_ties(customers, params.abc_method, params.abc_rank_cuts,
                       params.abc_revenue_cuts))
