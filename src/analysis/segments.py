"""Stage 3: behaviour segments — RFM scores, named segments, clusters, lifecycle, playbook.

**RFM scores (1–5).** R scores the days since the last purchase against the lifecycle
thresholds (:func:`recency_scores`: 5 and 4 active, 3 and 2 dormant, 1 churned), so a
segment never says "recent" of a customer the lifecycle calls churned — a quintile of
recency would, on a base where most customers have lapsed (on CDNOW, R = 3 was a year
gone). Of two customers with the same rhythm (module doc, *Lifecycle*), the more recent
never gets the lower R. F ranks the number of
orders, M ranks revenue (or mean order value, ``rfm_monetary``), both in cents; each score
is one plus the whole fifths of customers with a strictly lower value
(:func:`analysis.ranking.fifth_scores`), so customers with equal values share a score and
nothing depends on the id or the row's place. With heavy ties a score can stay empty (on
CDNOW every one-time buyer has F = 1 and two orders give F = 3: no customer has F = 2);
``metrics.json`` lists the scores given (``rfm.scores_given``) and notebook 03 says so.

**Named segments.** ``segments.csv`` holds the eleven segments as rectangles on R
and FM = (F + M) / 2; a segment may take several rectangles, but only R scores of one
lifecycle class: Champions, Loyal, Potential Loyalist, New Customers and Promising are
active (R 4–5; a New Customer whose first purchase is older than ``new_days`` is
Promising instead); Need Attention, About to Sleep, At Risk, Cannot Lose Them and Hibernating
are dormant (R 2–3); Lost is every churned customer (R 1). Together they partition all
125 (R, F, M) combinations (tested); ``segment_map`` in the parameters replaces a
segment's rectangles, and the partition is checked again.

**Clusters** are in :mod:`analysis.clusters`.

**Lifecycle.** new (first purchase at most ``new_days`` before the end), else active
(last purchase at most ``active_days`` before the end), dormant (up to
``churn_days``), churned (beyond). Defaults come from the median inter-purchase
time g of repeat buyers: new = g, active = 2g, churn = 4g days (rounded up). With
``lifecycle_rhythm: own`` (the default) a repeat buyer is measured against their own
rhythm: the days since their last purchase are divided by their own mean gap g_i over g,
with g_i shrunk toward g by :data:`RHYTHM_WEIGHT` gaps' weight ((f·g_i + 2g) / (f + 2),
f repeat purchase days: one repeat purchase says little, twenty say much), so a customer
who buys every 10 days is dormant after about 20 days, one who buys twice a year only
after a year (:func:`rhythm_days`). One-time buyers have no rhythm of their own and keep
the population's thresholds. R scores the same rhythm-relative days, so Lost is still
exactly the churned customers. On CDNOW this leaves 2 churned customers with P(alive)
above 0.5 and no active one below it, against 254 and 35 with the population's
thresholds; the report counts what remains.
Potential customers (no purchase yet) are outside a transaction log.

**Playbook.** ``playbook.csv``: rules with an ABC tier, lifecycle stage and RFM
segment (``*`` = any) and an action; the first matching rule by ``priority`` wins.
So an A-tier customer who is dormant or churned is a win-back case whatever the
segment, a new customer is nurtured, and everyone else gets their segment's action.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .clusters import cluster
from .config import SegmentParams
from .errors import ParamError
from .messages import CATALOG, action_label, stage_label, tier_word
from .playbook import (STAGES, playbook_table, rationale, segment_label, segment_names,
                       segment_table)
from .ranking import fifth_scores
from .units import Window, cents, days_since_last, usual_gap_days

__all__ = ["quintile_scores", "recency_scores", "rfm_scores", "assign_segments",
           "median_interpurchase_days", "RHYTHM_WEIGHT", "rhythm_days", "lifecycle_thresholds",
           "lifecycle", "recommend",
           "playbook_summary", "segment_table_summary", "metrics", "SegmentResult", "run"]

def quintile_scores(values: np.ndarray | pd.Series) -> np.ndarray:
    """Scores 1..5 of ``values`` (:func:`analysis.ranking.fifth_scores`): equal values share
    a score."""
    return fifth_scores(values)


def _r_edges(thresholds: Mapping[str, Any]) -> list[float]:
    """The most days since the last purchase that still score R = 5, 4, 3 and 2."""
    a, c = thresholds["active_days"], thresholds["churn_days"]
    return [a / 2, a, (a + c) / 2, c]


def recency_scores(days: np.ndarray, thresholds: Mapping[str, Any]) -> np.ndarray:
    """R (1–5) from the days since the last purchase, anchored to the lifecycle thresholds
    (a and c: ``active_days`` and ``churn_days``): 5 up to a/2, 4 up to a (both active), 3 up
    to (a + c)/2, 2 up to c (both dormant), 1 beyond c (churned). So an R score says the
    same as the lifecycle stage, whatever share of the base has churned."""
    edges = np.array(_r_edges(thresholds))
    return (5 - np.searchsorted(edges, np.asarray(days, dtype="float64"), side="left")) \
        .astype("int64")


def rfm_scores(customers: pd.DataFrame, end: pd.Timestamp, thresholds: Mapping[str, Any],
               monetary: str = "revenue") -> pd.DataFrame:
    """r_score (:func:`recency_scores`), f_score and m_score (quintiles, 1–5) and the three
    digits ``rfm_score``."""
    days = rhythm_days(customers, end, thresholds)
    m = cents(customers["revenue"]).astype("float64")  # equal totals compare equal
    if monetary == "mean_order_value":
        m = m / customers["n_orders"].clip(lower=1).to_numpy(dtype="float64")
    out = pd.DataFrame({"r_score": recency_scores(days, thresholds),
                        "f_score": quintile_scores(customers["n_orders"]),
                        "m_score": quintile_scores(m)}, index=customers.index)
    out["rfm_score"] = (out["r_score"].astype(str) + out["f_score"].astype(str)
                        + out["m_score"].astype(str))
    return out


def assign_segments(scores: pd.DataFrame, table: pd.DataFrame | None = None,
                    stages: pd.Series | None = None) -> pd.Series:
    """The named segment of each customer from its R score and FM = (F + M) / 2. With the
    lifecycle ``stages``, a customer in the New Customers rectangle who is not new (a
    first purchase long ago, one recent small order) is Promising instead: the name never
    calls an old customer new."""
    table = segment_table() if table is None else table
    r = scores["r_score"].to_numpy()
    fm = (scores["f_score"].to_numpy() + scores["m_score"].to_numpy()) / 2
    out = np.full(len(scores), None, dtype=object)
    for row in table.itertuples():
        hit = (row.r_min <= r) & (r <= row.r_max) & (row.fm_min <= fm) & (fm <= row.fm_max)
        out[hit] = row.segment
    if stages is not None:
        old = (out == "New Customers") & (stages.astype(str).to_numpy() != "new")
        out[old] = "Promising"
    return pd.Series(out, index=scores.index, name="rfm_segment")


# -- lifecycle --------------------------------------------------------------------------

#: the median gap's weight, in purchases, in a repeat buyer's own gap (``rhythm_days``)
RHYTHM_WEIGHT = 2


def rhythm_days(customers: pd.DataFrame, end: pd.Timestamp, thresholds: Mapping[str, Any]
                ) -> np.ndarray:
    """Days since the last purchase, measured in the customer's own rhythm (module doc):
    the days divided by g_i / g for repeat buyers when ``thresholds['rhythm']`` is "own";
    the plain days otherwise (one-time buyers, no repeat buyers, ``population``)."""
    days = days_since_last(customers, end).astype("float64")
    g = thresholds.get("median_interpurchase_days")
    if not g or thresholds.get("rhythm") != "own":
        return days
    f = customers["frequency"].to_numpy(dtype="float64")
    own = np.nan_to_num(usual_gap_days(customers, thresholds["unit_days"]))
    shrunk = (f * own + RHYTHM_WEIGHT * g) / (f + RHYTHM_WEIGHT)
    return np.where(f > 0, days * g / shrunk, days)


def median_interpurchase_days(customers: pd.DataFrame, unit_days: int) -> float | None:
    """Median over repeat buyers of their mean gap between purchase days, in days."""
    gaps = usual_gap_days(customers, unit_days)
    gaps = gaps[~np.isnan(gaps)]
    return float(np.median(gaps)) if len(gaps) else None


def lifecycle_thresholds(customers: pd.DataFrame, params: SegmentParams, window: Window
                         ) -> dict[str, Any]:
    """new / active / churn thresholds in days: the parameters where set, else from the
    median inter-purchase time g (g, 2g, 4g), else from the window's length (no repeat
    buyers)."""
    gap = median_interpurchase_days(customers, window.unit.days)
    basis = gap if gap else max(window.days / 8, 1.0)
    derived = {"new_days": math.ceil(basis), "active_days": math.ceil(2 * basis),
               "churn_days": math.ceil(4 * basis)}
    given = {"new_days": params.new_days, "active_days": params.active_days,
             "churn_days": params.churn_days}
    out = {k: given[k] or v for k, v in derived.items()}
    if out["active_days"] >= out["churn_days"]:
        raise ParamError(f"active_days ({out['active_days']}) must be smaller than churn_days "
                         f"({out['churn_days']})", column="active_days")
    out["median_interpurchase_days"] = gap
    out["rhythm"] = getattr(params, "lifecycle_rhythm", "own")
    out["unit_days"] = window.unit.days
    out["source"] = {k: "parameter" if given[k] else
                     ("median inter-purchase time" if gap else "window length / 8 (no "
                      "repeat buyers)") for k in derived}
    return out


def lifecycle(customers: pd.DataFrame, end: pd.Timestamp, thresholds: Mapping[str, Any]
              ) -> pd.Series:
    """new / active / dormant / churned, in that precedence (the days since the last
    purchase in the customer's own rhythm, :func:`rhythm_days`)."""
    end = pd.Timestamp(end).normalize()
    since_first = (end - customers["first_purchase"]).dt.days.to_numpy()
    since_last = rhythm_days(customers, end, thresholds)
    stage = np.where(since_last <= thresholds["active_days"], "active",
                     np.where(since_last <= thresholds["churn_days"], "dormant", "churned"))
    stage = np.where(since_first <= thresholds["new_days"], "new", stage)
    return pd.Series(pd.Categorical(stage, categories=list(STAGES)), index=customers.index,
                     name="lifecycle_stage")


# -- playbook ---------------------------------------------------------------------------

def recommend(labels: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """Action key, label and rationale for each customer from ``abc_tier``,
    ``lifecycle_stage`` and ``rfm_segment``: the first playbook rule that matches wins."""
    book = playbook_table().reset_index(drop=True)
    rule = np.full(len(labels), -1)
    # each label column as integer codes: a rule's test is a comparison of integers
    cols = {}
    for col in ("abc_tier", "lifecycle_stage", "rfm_segment"):
        codes, values = pd.factorize(labels[col].astype(str).to_numpy())
        cols[col] = (codes, {v: i for i, v in enumerate(values)})
    for i, r in book.iterrows():  # the first rule that matches wins
        hit = rule < 0
        for col, (codes, index) in cols.items():
            if r[col] != "*":
                hit &= codes == index.get(r[col], -2)
        rule[hit] = i
    if (rule < 0).any():
        raise ValueError("playbook leaves customers without an action")
    actions = book["action"].to_numpy()
    names = np.array([action_label(a, language) for a in actions], dtype=object)
    return pd.DataFrame({
        "action": actions[rule],
        "recommended_action": names[rule],
        "rationale": np.array([rationale(p, language) for p in book["priority"]],
                              dtype=object)[rule],
        "playbook_rule": book["priority"].to_numpy()[rule],
    }, index=labels.index)


def playbook_summary(customers: pd.DataFrame, rec: pd.DataFrame, language: str = "en"
                     ) -> pd.DataFrame:
    """Customers and revenue per action and rule, for the groups present in the data."""
    book = playbook_table().set_index("priority")
    frame = pd.DataFrame({"rule": rec["playbook_rule"], "action": rec["recommended_action"],
                          "revenue": customers["revenue"]})
    g = frame.groupby(["rule", "action"]).agg(customers=("revenue", "size"),
                                              revenue=("revenue", "sum")).reset_index()
    who = []
    for r in g["rule"]:
        b = book.loc[r]
        parts = [tier_word(b["abc_tier"], language) if b["abc_tier"] != "*" else None,
                 stage_label(b["lifecycle_stage"], language) if b["lifecycle_stage"] != "*"
                 else None,
                 segment_label(b["rfm_segment"], language) if b["rfm_segment"] != "*" else None]
        who.append(CATALOG[language]["both_separator"].join(p for p in parts if p))
    g.insert(1, "who", who)
    g["revenue_share"] = g["revenue"] / customers["revenue"].sum()
    g["why"] = [rationale(r, language) for r in g["rule"]]
    return g.sort_values("revenue", ascending=False).reset_index(drop=True)


# -- text and metrics -------------------------------------------------------------------

def segment_table_summary(customers: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"segment": segments, "revenue": customers["revenue"]})
    g = frame.groupby("segment").agg(customers=("revenue", "size"), revenue=("revenue", "sum"))
    g["customer_share"] = g["customers"] / len(frame)
    g["revenue_share"] = g["revenue"] / frame["revenue"].sum()
    g = g.reindex([s for s in segment_names() if s in g.index])
    return g.sort_values("revenue", ascending=False)


def metrics(seg_summary: pd.DataFrame, stages: pd.Series, clusters: Mapping[str, Any],
            thresholds: Mapping[str, Any], scores: pd.DataFrame) -> dict[str, Any]:
    counts = stages.value_counts()
    return {
        "rfm": {"segments": {s: int(v) for s, v in seg_summary["customers"].items()},
                "r_score_upper_days": _r_edges(thresholds),
                "scores_given": {k: sorted(int(v) for v in scores[k].unique())
                                 for k in ("r_score", "f_score", "m_score")}},
        "clusters": {"status": clusters["status"], "k": clusters["k"],
                     "repeat_split_ari": clusters.get("repeat_split_ari"),
                     "silhouette": clusters["best_silhouette"],
                     "silhouette_by_k": {str(k): v for k, v in clusters["silhouette"].items()},
                     "ari": clusters["ari"]},
        "lifecycle": {**{s: int(counts.get(s, 0)) for s in STAGES},
                      "thresholds_days": {k: thresholds[k] for k in
                                          ("new_days", "active_days", "churn_days")},
                      "median_interpurchase_days": thresholds["median_interpurchase_days"],
                      "rhythm": thresholds.get("rhythm", "population")},
    }


@dataclass
class SegmentResult:
    """Stage 3's result: RFM scores and named segments, clusters, lifecycle stages and the
    playbook's action for every customer, with the summaries the notebook and the report
    show."""
    scores: pd.DataFrame
    segments: pd.Series
    summary: pd.DataFrame
    clusters: dict[str, Any]
    thresholds: dict[str, Any]
    stages: pd.Series
    actions: pd.DataFrame
    playbook: pd.DataFrame
    params: SegmentParams
    stage: ClassVar[str] = "segments"

    def metrics(self) -> dict[str, Any]:
        return metrics(self.summary, self.stages, self.clusters, self.thresholds, self.scores)

    def columns(self) -> pd.DataFrame:
        """The customers table's new columns."""
        return self.scores[["r_score", "f_score", "m_score"]].assign(
            rfm_segment=self.segments, cluster=self.clusters["labels"],
            lifecycle_stage=self.stages.astype(str),
            recommended_action=self.actions["recommended_action"])

    def tables(self) -> dict[str, pd.DataFrame]:
        """What the report shows of this stage: customers and revenue per named segment and
        per playbook rule."""
        return {"segments": self.summary, "playbook": self.playbook}



def run(customers: pd.DataFrame, window: Window, params: SegmentParams) -> SegmentResult:
    """Stage 3 on the customers table (with its ``abc_tier`` column, from stage 2)."""
    end = window.end
    thresholds = lifecycle_thresholds(customers, params, window)
    stages = lifecycle(customers, end, thresholds)
    scores = rfm_scores(customers, end, thresholds, params.rfm_monetary)
    seg = assign_segments(scores, segment_table(params.segment_map), stages)
    clusters = cluster(customers, end, params, stages)
    labels = pd.DataFrame({"rfm_segment": seg, "abc_tier": customers["abc_tier"],
                           "lifecycle_stage": stages})
    actions = recommend(labels, params.language)
    return SegmentResult(scores, seg, segment_table_summary(customers, seg), clusters,
                         thresholds, stages, actions,
                         playbook_summary(customers, actions, params.language), params)
