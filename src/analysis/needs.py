"""Needs: what kind of products each customer buys, from a product category column
(``columns.category``, or a category a lookup brings).

From the transaction stage's ``category_spend`` (each customer's net spend per category):

* **shares**: a customer's spend in each category over their spend in all categories
  (negative net spend, more returned than bought, counts as 0; spend without a category is
  left out of the shares and its share of the revenue is reported);
* **needs class** (``needs_class``): the largest category when its share is at least
  ``needs_dominant_share``; otherwise the customer's group among those with no dominant
  category — k-means (seeded, k chosen by silhouette from 2 to 6, fitted on at most
  :data:`FIT_SAMPLE` customers) on the share vectors — named by the two largest
  categories of the group's centre, ``A + B``. Equal shares give the same class (the
  nearest centre of the same point), whatever the id or the row. A customer with no
  categorised spend (or no purchase) has none;
* **cross-sell** (:func:`cross_sell`): for each pair of categories, the share of buying
  customers who bought both (support), and how much more often than if the two were
  independent (lift = P(a and b) / (P(a) P(b))); a pair is a hint when its support is at
  least ``cross_sell_min_support`` and its lift at least :data:`MIN_LIFT`. Each needs
  class gets the pair with the highest lift that starts from one of its categories and
  adds another;
* what each value tier and segment buys (:func:`spend_mix`): the share of each group's
  categorised spend by category.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from .groups import CustomerParams
from .handoff import uncategorised
from .units import CustomerOrder

__all__ = ["MIN_LIFT", "FIT_SAMPLE", "SHOWN_CATEGORIES", "shares", "needs_classes",
           "cross_sell", "spend_mix", "class_table", "NeedsResult", "run"]

#: the least lift of a cross-sell hint: bought together a tenth more often than chance
MIN_LIFT = 1.1
#: the most customers k-means is fitted on (the others are assigned to the nearest centre)
FIT_SAMPLE = 50_000
#: categories shown by name in the mix tables (the rest are summed as "other")
SHOWN_CATEGORIES = 8
_K = range(2, 7)


def shares(customers: pd.DataFrame, spend: pd.DataFrame) -> pd.DataFrame:
    """Customers × categories: each customer's share of their categorised spend (rows of
    customers with none are 0), columns by total spend, largest first, then by name."""
    cat = spend[spend["category"].notna()]
    cents = cat["cents"].to_numpy(dtype="float64").clip(min=0)
    names = pd.Series(cents).groupby(cat["category"].to_numpy()).sum()
    order = sorted(names.index, key=lambda c: (-names[c], str(c)))
    rows = CustomerOrder(customers["customer_id"]).positions(cat["customer_id"].to_numpy())
    cols = pd.Index(order).get_indexer(cat["category"])
    ok = rows >= 0
    matrix = np.zeros((len(customers), len(order)))
    np.add.at(matrix, (rows[ok], cols[ok]), cents[ok])
    total = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, matrix / np.where(total > 0, total, 1), 0.0)
    return pd.DataFrame(out, index=customers.index, columns=order)


def _centres_named(centres: np.ndarray, names: list[str]) -> list[str]:
    out = []
    for c in centres:
        top = sorted(range(len(names)), key=lambda i: (-round(c[i], 12), names[i]))[:2]
        out.append(" + ".join(names[i] for i in top))
    return out


def needs_classes(share: pd.DataFrame, dominant: float, seed: int
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``top_category``, ``top_category_share`` and ``needs_class`` per customer (module
    docstring), and how the mixed customers were grouped."""
    values = share.to_numpy()
    names = [str(c) for c in share.columns]
    any_spend = values.sum(axis=1) > 0
    # the largest share; on a tie the category first in the columns' order (by spend)
    top = values.argmax(axis=1) if values.shape[1] else np.zeros(len(share), dtype=int)
    top_share = values.max(axis=1) if values.shape[1] else np.zeros(len(share))
    top_name = np.array(names, dtype=object)[top] if names else np.full(len(share), None)
    cls = np.where(any_spend & (top_share >= dominant - 1e-12), top_name, None).astype(object)
    mixed = any_spend & ~(top_share >= dominant - 1e-12)
    info: dict[str, Any] = {"mixed_customers": int(mixed.sum()), "k": None,
                            "silhouette": None}
    if mixed.sum() >= 2 and len(names) >= 2:
        points = values[mixed]
        distinct = len(np.unique(points.round(12), axis=0))
        # fitted on the points in the order of their values, not of the rows: k-means'
        # start depends on the order, and a class must not depend on where a row sits
        fit = points[np.lexsort(points.T[::-1])]
        if len(fit) > FIT_SAMPLE:
            rng = np.random.default_rng(seed)
            fit = fit[np.sort(rng.choice(len(fit), FIT_SAMPLE, replace=False))]
        best = None
        for k in [k for k in _K if k < min(distinct, len(fit))] or [1]:
            km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(fit)
            score = silhouette_score(fit, km.labels_, sample_size=min(len(fit), 5000),
                                     random_state=seed) if k > 1 else 0.0
            if best is None or score > best[0] + 1e-12:
                best = (score, km)
        score, km = best
        labels = np.array(_centres_named(km.cluster_centers_, names), dtype=object)
        cls[mixed] = labels[km.predict(points)]
        info.update(k=int(km.n_clusters), silhouette=round(float(score), 4))
    out = pd.DataFrame({"top_category": np.where(any_spend, top_name, None),
                        "top_category_share": np.where(any_spend, top_share, np.nan),
                        "needs_class": cls}, index=share.index)
    for col in ("top_category", "needs_class"):
        out[col] = out[col].astype("str")
    return out, info


def cross_sell(share: pd.DataFrame, min_support: float) -> pd.DataFrame:
    """Every pair of categories bought by the same customers at least :data:`MIN_LIFT`
    times as often as chance, with support at least ``min_support``: a, b, customers (who bought both), support, lift and
    confidence (the share of a's buyers who bought b), highest lift first."""
    bought = share.to_numpy() > 0
    buyers = bought.any(axis=1)
    n = int(buyers.sum())
    cols = ["a", "b", "customers", "support", "lift", "confidence"]
    if n == 0 or bought.shape[1] < 2:
        return pd.DataFrame(columns=cols)
    b = bought[buyers].astype("int64")
    both = b.T @ b
    each = np.diag(both).astype("float64")
    rows = []
    names = [str(c) for c in share.columns]
    for i in range(len(names)):
        for j in range(len(names)):
            if i == j or not each[i] or not each[j]:
                continue
            support = both[i, j] / n
            lift = support / ((each[i] / n) * (each[j] / n))
            if support >= min_support and lift >= MIN_LIFT:
                rows.append((names[i], names[j], int(both[i, j]), support, lift,
                             both[i, j] / each[i]))
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["lift", "support", "a", "b"], ascending=[False, False, True, True],
                           kind="stable").reset_index(drop=True)


def spend_mix(share: pd.DataFrame, weights: pd.Series, by: pd.Series) -> pd.DataFrame:
    """Groups (``by``: a tier or a segment per customer) × categories: the share of the
    group's categorised spend in each (the largest :data:`SHOWN_CATEGORIES` by name, the
    rest as ``other``), with the group's customers."""
    spend = share.mul(weights.clip(lower=0).to_numpy(), axis=0)
    shown = list(share.columns[:SHOWN_CATEGORIES])
    if len(share.columns) > SHOWN_CATEGORIES:
        spend = spend[shown].assign(other=spend.drop(columns=shown).sum(axis=1))
    keep = by.notna().to_numpy() & (share.to_numpy().sum(axis=1) > 0)
    g = spend[keep].groupby(by[keep].astype(str).to_numpy(), sort=True).sum()
    mix = g.div(g.sum(axis=1).replace(0, np.nan), axis=0)
    mix.insert(0, "customers", by[keep].astype(str).value_counts().reindex(mix.index)
               .to_numpy(dtype="int64"))
    mix.index.name = by.name
    return mix


def class_table(classes: pd.DataFrame, revenue: pd.Series, pairs: pd.DataFrame
                ) -> pd.DataFrame:
    """Per needs class: customers, revenue, and its cross-sell hint (the pair with the
    highest lift from one of its categories to another; none where no pair qualifies)."""
    cls = classes["needs_class"]
    g = pd.DataFrame({"customers": cls.value_counts()})
    g["revenue"] = revenue.groupby(cls).sum().reindex(g.index).round(2)
    hints = []
    for name in g.index:
        mine = str(name).split(" + ")
        hit = pairs[pairs["a"].isin(mine) & ~pairs["b"].isin(mine)]
        hints.append(hit.iloc[0] if len(hit) else None)
    for col in ("b", "lift", "support", "customers"):
        g[f"cross_sell_{col if col != 'b' else 'category'}"] = [
            None if h is None else h[col] for h in hints]
    g.index.name = "needs_class"
    return g.sort_values(["customers", "revenue"], ascending=False, kind="stable")


@dataclass
class NeedsResult:
    """The needs stage: each customer's class, the mixes, the pairs, the classes."""
    classes: pd.DataFrame
    by_tier: pd.DataFrame | None
    by_segment: pd.DataFrame | None
    pairs: pd.DataFrame
    table: pd.DataFrame
    info: dict[str, Any]
    stage: ClassVar[str] = "needs"

    def columns(self) -> pd.DataFrame:
        return self.classes

    def metrics(self) -> dict[str, Any]:
        return {"needs": {**self.info,
                          "classes": {str(k): int(v) for k, v in
                                      self.table["customers"].items()},
                          "cross_sell": [{k: (round(float(v), 4) if isinstance(v, float)
                                              else v) for k, v in r.items()}
                                         for r in self.pairs.head(20).to_dict("records")]}}

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {"needs_classes": self.table, "cross_sell": self.pairs}
        if self.by_tier is not None:
            out["needs_by_tier"] = self.by_tier
        if self.by_segment is not None:
            out["needs_by_segment"] = self.by_segment
        return out


def run(customers: pd.DataFrame, spend: pd.DataFrame | None, params: CustomerParams
        ) -> NeedsResult | None:
    """The needs stage on the customers table (with ``abc_tier`` and, after notebook 03's
    segments, ``rfm_segment``); None without a category column."""
    if spend is None:
        return None
    share = shares(customers, spend)
    classes, info = needs_classes(share, params.needs_dominant_share, params.seed)
    pairs = cross_sell(share, params.cross_sell_min_support)
    revenue = customers["revenue"].astype("float64")
    empty, total = uncategorised(spend)
    info = {"status": "ok" if share.shape[1] else "no_category", "categories": share.shape[1],
            "dominant_share": params.needs_dominant_share,
            "min_support": params.cross_sell_min_support,
            "no_category_revenue_share": round(empty / total, 4) if total else None,
            "customers_with_class": int(classes["needs_class"].notna().sum()), **info}
    by = {c: spend_mix(share, revenue, customers[c]) if c in customers else None
          for c in ("abc_tier", "rfm_segment")}
    return NeedsResult(classes, by["abc_tier"], by["rfm_segment"], pairs,
                       class_table(classes, revenue, pairs), info)
