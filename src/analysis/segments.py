"""Stage 3: behaviour segments — RFM scores, named segments, clusters, lifecycle, playbook.

**RFM scores (1–5).** R ranks days since the last purchase at the observation end
(most recent = 5), F ranks the number of orders, M ranks revenue (or mean order
value, ``rfm_monetary``). Each is a quintile of ranks: ``rank(method="first")``
then ``qcut`` into five equal groups. Ranking first means heavy ties (most
customers buy once) still give five usable, equally sized bins; tied customers are
ordered by customer id (the table's order), so scores are deterministic. A
strictly more recent customer never gets a lower R.

**Named segments.** ``segments.csv`` holds the eleven segments as rectangles on R
and FM = (F + M) / 2; a segment may take several rectangles. Together they
partition all 125 (R, F, M) combinations (tested); ``segment_map`` in the
parameters replaces a segment's rectangles, and the partition is checked again.

**Clusters.** k-means on log1p of (days since last purchase, orders, revenue
clipped at 0), standardised; k chosen by the silhouette over ``k_range``, computed
on a seeded sample of at most ``silhouette_sample`` customers; ``MiniBatchKMeans``
above ``minibatch_threshold`` customers. Clusters are numbered 1..k from the highest
mean revenue down. Stability: adjusted Rand index between fits with 5 seeds.

**Lifecycle.** new (first purchase at most ``new_days`` before the end), else active
(last purchase at most ``active_days`` before the end), dormant (up to
``churn_days``), churned (beyond). Defaults come from the median inter-purchase
time g of repeat buyers: new = g, active = 2g, churn = 4g days (rounded up).
Potential customers (no purchase yet) are outside a transaction log.

**Playbook.** ``playbook.csv``: rules with an ABC tier, lifecycle stage and RFM
segment (``*`` = any) and an action; the first matching rule by ``priority`` wins.
So an A-tier customer who is dormant or churned is a win-back case whatever the
segment, a new customer is nurtured, and everyone else gets their segment's action.
"""
from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import ParamError

STAGES = ("new", "active", "dormant", "churned")
ACTIONS = {
    "retain_reward": {"en": "Retain and reward", "zh": "保留并奖励"},
    "upsell": {"en": "Upsell", "zh": "向上销售"},
    "nurture": {"en": "Nurture", "zh": "培育"},
    "win_back": {"en": "Win back", "zh": "挽回"},
    "low_cost": {"en": "Low-cost maintenance", "zh": "低成本维护"},
}
TIER_WORD = {"en": "tier {}", "zh": "{} 层级"}
STAGE_LABELS = {"new": {"en": "new", "zh": "新客户"}, "active": {"en": "active", "zh": "活跃"},
                "dormant": {"en": "dormant", "zh": "沉睡"},
                "churned": {"en": "churned", "zh": "流失"}}


def _package_csv(name: str) -> pd.DataFrame:
    with resources.files("analysis").joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, keep_default_na=False)


@lru_cache(maxsize=None)
def _default_segments() -> pd.DataFrame:
    return _package_csv("segments.csv")


@lru_cache(maxsize=None)
def playbook_table() -> pd.DataFrame:
    return _package_csv("playbook.csv").sort_values("priority").reset_index(drop=True)


def segment_names() -> list[str]:
    return list(dict.fromkeys(_default_segments()["segment"]))


def segment_label(name: str, language: str) -> str:
    if language == "zh":
        table = _default_segments()
        hit = table.loc[table["segment"] == name, "segment_zh"]
        return hit.iloc[0] if len(hit) else name
    return name


def segment_table(overrides: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The segment rectangles, with ``overrides`` ({name: [[r_lo, r_hi], [fm_lo, fm_hi]] or a
    list of such}) replacing a segment's rows; raises ParamError unless it partitions."""
    table = _default_segments().copy()
    for name, spec in (overrides or {}).items():
        rects = spec if spec and isinstance(spec[0][0], (list, tuple)) else [spec]
        try:
            rows = [{"segment": name, "r_min": float(r[0]), "r_max": float(r[1]),
                     "fm_min": float(fm[0]), "fm_max": float(fm[1])} for r, fm in rects]
        except (TypeError, ValueError, IndexError):
            raise ParamError(f"segment_map entry {name!r} must be [[r_lo, r_hi], [fm_lo, "
                             f"fm_hi]] or a list of them, got {spec!r}",
                             column="segment_map") from None
        table = pd.concat([table[table["segment"] != name], pd.DataFrame(rows)],
                          ignore_index=True)
    check_partition(table)
    return table


def check_partition(table: pd.DataFrame) -> None:
    """Every (R, F, M) in 1..5³ must fall in exactly one rectangle."""
    problems = []
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                fm = (f + m) / 2
                hits = table[(table["r_min"] <= r) & (r <= table["r_max"]) &
                             (table["fm_min"] <= fm) & (fm <= table["fm_max"])]["segment"]
                if len(hits) != 1:
                    problems.append(f"R={r} F={f} M={m}: "
                                    + (", ".join(hits) if len(hits) else "no segment"))
    if problems:
        raise ParamError(f"the segment table must give every R/F/M combination exactly one "
                         f"segment; {len(problems)} do not, e.g. {problems[0]}",
                         column="segment_map")


def days_since_last(customers: pd.DataFrame, end: pd.Timestamp) -> np.ndarray:
    return (pd.Timestamp(end).normalize() - customers["last_purchase"]).dt.days.to_numpy()


def quintile_scores(values: np.ndarray | pd.Series) -> np.ndarray:
    """Scores 1..5: quintiles of ``rank(method='first')`` (higher value → higher score)."""
    s = pd.Series(np.asarray(values, dtype="float64"))
    if len(s) == 1:
        return np.array([3], dtype="int64")
    ranks = s.rank(method="first")
    return pd.qcut(ranks, 5, labels=[1, 2, 3, 4, 5]).astype("int64").to_numpy()


def rfm_scores(customers: pd.DataFrame, end: pd.Timestamp, monetary: str = "revenue"
               ) -> pd.DataFrame:
    """r_score, f_score, m_score (1–5) and the three digits ``rfm_score``."""
    days = days_since_last(customers, end)
    if monetary == "mean_order_value":
        m = customers["revenue"] / customers["n_orders"].clip(lower=1)
    else:
        m = customers["revenue"]
    out = pd.DataFrame({"r_score": quintile_scores(-days),
                        "f_score": quintile_scores(customers["n_orders"]),
                        "m_score": quintile_scores(m)}, index=customers.index)
    out["rfm_score"] = (out["r_score"].astype(str) + out["f_score"].astype(str)
                        + out["m_score"].astype(str))
    return out


def assign_segments(scores: pd.DataFrame, table: pd.DataFrame | None = None) -> pd.Series:
    """The named segment of each customer from its R score and FM = (F + M) / 2."""
    table = segment_table() if table is None else table
    r = scores["r_score"].to_numpy()
    fm = (scores["f_score"].to_numpy() + scores["m_score"].to_numpy()) / 2
    out = np.full(len(scores), None, dtype=object)
    for row in table.itertuples():
        hit = (row.r_min <= r) & (r <= row.r_max) & (row.fm_min <= fm) & (fm <= row.fm_max)
        out[hit] = row.segment
    return pd.Series(out, index=scores.index, name="rfm_segment")


# -- clusters ---------------------------------------------------------------------------

def cluster_features(customers: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({
        "recency_days": np.log1p(np.clip(days_since_last(customers, end), 0, None)),
        "orders": np.log1p(customers["n_orders"].to_numpy(dtype="float64")),
        "revenue": np.log1p(np.clip(customers["revenue"].to_numpy(dtype="float64"), 0, None)),
    }, index=customers.index)


def _kmeans(k: int, seed: int, n: int, threshold: int):
    from sklearn.cluster import KMeans, MiniBatchKMeans
    if n > threshold:
        return MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3,
                               batch_size=4096, max_iter=100)
    return KMeans(n_clusters=k, random_state=seed, n_init=4)


def cluster(customers: pd.DataFrame, end: pd.Timestamp, k_range=(2, 8), seed: int = 42,
            sample: int = 5000, minibatch_threshold: int = 50000, stability_seeds: int = 5,
            fit_sample: int = 200_000) -> dict[str, Any]:
    """k-means on standardised log R/F/M with k chosen by sampled silhouette.

    Above ``fit_sample`` customers the models (one per k, and the stability refits) are
    fitted on a seeded random sample of that size and every customer is assigned to the
    nearest centre of the chosen model: at a million customers this cuts the cost ~6x,
    and 200,000 points pin three-dimensional centres down far below what matters here.

    Returns labels (1 = highest mean revenue), the silhouette per k, the chosen k, the
    algorithm (``KMeans`` or, above ``minibatch_threshold``, ``MiniBatchKMeans``), the
    adjusted Rand index across seeds (on the fitted sample), and centroid profiles."""
    from sklearn.metrics import adjusted_rand_score, silhouette_score
    from sklearn.preprocessing import StandardScaler

    feats = cluster_features(customers, end)
    X_all = StandardScaler().fit_transform(feats.to_numpy())
    rng = np.random.default_rng(seed)
    X = X_all[np.sort(rng.choice(len(X_all), fit_sample, replace=False))] \
        if len(X_all) > fit_sample else X_all
    n = len(X)
    distinct = len(np.unique(X.round(9), axis=0))
    idx = rng.choice(n, size=min(sample, n), replace=False) if n > sample else np.arange(n)
    lo, hi = int(k_range[0]), int(k_range[1])
    hi = min(hi, distinct - 1, max(n - 1, 2))
    scores: dict[int, float] = {}
    models = {}
    for k in range(lo, hi + 1):
        model = _kmeans(k, seed, len(X_all), minibatch_threshold).fit(X)
        labels = model.labels_
        if len(np.unique(labels[idx])) < 2:
            continue
        scores[k] = float(silhouette_score(X[idx], labels[idx], n_jobs=-1))
        models[k] = model
    if not scores:
        return {"status": f"not enough distinct customers to cluster ({distinct} distinct "
                          f"R/F/M profiles)", "labels": pd.Series(1, index=customers.index),
                "k": 1, "silhouette": {}, "best_silhouette": None, "ari": None,
                "profile": None}
    best = max(scores, key=lambda k: (round(scores[k], 6), -k))
    fitted = models[best].labels_
    # stability: the same k with other seeds
    aris = [float(adjusted_rand_score(fitted, _kmeans(best, seed + s, len(X_all),
                                                      minibatch_threshold).fit(X).labels_))
            for s in range(1, stability_seeds)]
    raw = fitted if X is X_all else models[best].predict(X_all)
    X = X_all
    # relabel 1..k by mean revenue, highest first
    rev = customers["revenue"].to_numpy(dtype="float64")
    means = pd.Series(rev).groupby(raw).mean().sort_values(ascending=False)
    mapping = {old: new for new, old in enumerate(means.index, start=1)}
    labels = pd.Series(np.vectorize(mapping.get)(raw), index=customers.index, name="cluster")
    return {"status": "ok", "labels": labels, "k": best, "silhouette": scores,
            "algorithm": type(models[best]).__name__,
            "best_silhouette": scores[best], "ari": {"mean": float(np.mean(aris)),
                                                     "min": float(np.min(aris))},
            "profile": cluster_profile(customers, labels, end, X)}


def cluster_profile(customers: pd.DataFrame, labels: pd.Series, end: pd.Timestamp,
                    X: np.ndarray) -> pd.DataFrame:
    """Per cluster: size, shares, raw means, standardised means and a plain-words profile."""
    frame = pd.DataFrame({"cluster": labels.to_numpy(),
                          "days_since_last": days_since_last(customers, end),
                          "orders": customers["n_orders"].to_numpy(),
                          "revenue": customers["revenue"].to_numpy()})
    g = frame.groupby("cluster")
    prof = pd.DataFrame({"customers": g.size(),
                         "mean_days_since_last": g["days_since_last"].mean(),
                         "mean_orders": g["orders"].mean(),
                         "mean_revenue": g["revenue"].mean(),
                         "revenue": g["revenue"].sum()})
    prof.insert(1, "customer_share", prof["customers"] / len(frame))
    prof.insert(5, "revenue_share", prof["revenue"] / frame["revenue"].sum()
                if frame["revenue"].sum() else np.nan)
    z = pd.DataFrame(X, columns=["z_recency_days", "z_orders", "z_revenue"]) \
        .groupby(labels.to_numpy()).mean()
    prof = prof.join(z)
    prof["profile"] = [describe_centroid(r) for r in z.itertuples()]
    return prof


def describe_centroid(z) -> str:
    def word(v, high, low, mid):
        return high if v > 0.5 else low if v < -0.5 else mid
    return ", ".join([word(-z.z_recency_days, "bought recently", "long inactive",
                           "average recency"),
                      word(z.z_orders, "frequent", "one-off or rare", "occasional"),
                      word(z.z_revenue, "high spend", "low spend", "medium spend")])


# -- lifecycle --------------------------------------------------------------------------

def median_interpurchase_days(customers: pd.DataFrame, unit_days: int) -> float | None:
    """Median over repeat buyers of their mean gap between purchase days, in days."""
    rep = customers[customers["frequency"] > 0]
    if rep.empty:
        return None
    return float((rep["recency"] * unit_days / rep["frequency"]).median())


def lifecycle_thresholds(customers: pd.DataFrame, params: Mapping[str, Any], unit_days: int,
                         window_days: int) -> dict[str, Any]:
    gap = median_interpurchase_days(customers, unit_days)
    basis = gap if gap else max(window_days / 8, 1.0)
    derived = {"new_days": math.ceil(basis), "active_days": math.ceil(2 * basis),
               "churn_days": math.ceil(4 * basis)}
    out = {k: params.get(k) or v for k, v in derived.items()}
    if out["active_days"] >= out["churn_days"]:
        raise ParamError(f"active_days ({out['active_days']}) must be smaller than churn_days "
                         f"({out['churn_days']})", column="active_days")
    out["median_interpurchase_days"] = gap
    out["source"] = {k: "parameter" if params.get(k) else
                     ("median inter-purchase time" if gap else "window length / 8 (no "
                      "repeat buyers)") for k in derived}
    return out


def describe_thresholds(thresholds: Mapping[str, Any]) -> str:
    """One sentence (Markdown) on the lifecycle thresholds used and where they came from."""
    gap = thresholds["median_interpurchase_days"]
    gap_text = f"**{gap:.1f} days**" if gap else "not defined (no repeat buyers)"
    return (f"Median time between purchases: {gap_text}; thresholds used: new ≤ "
            f"{thresholds['new_days']} days since first purchase, active ≤ "
            f"{thresholds['active_days']}, dormant ≤ {thresholds['churn_days']} days since last "
            f"purchase, churned beyond ({thresholds['source']['active_days']}).")


def lifecycle(customers: pd.DataFrame, end: pd.Timestamp, thresholds: Mapping[str, Any]
              ) -> pd.Series:
    """new / active / dormant / churned, in that precedence."""
    end = pd.Timestamp(end).normalize()
    since_first = (end - customers["first_purchase"]).dt.days.to_numpy()
    since_last = days_since_last(customers, end)
    stage = np.where(since_last <= thresholds["active_days"], "active",
                     np.where(since_last <= thresholds["churn_days"], "dormant", "churned"))
    stage = np.where(since_first <= thresholds["new_days"], "new", stage)
    return pd.Series(pd.Categorical(stage, categories=list(STAGES)), index=customers.index,
                     name="lifecycle_stage")


# -- playbook ---------------------------------------------------------------------------

def check_playbook_covers(segment_names_: list[str]) -> None:
    """Raise ParamError unless the playbook gives an action to every (tier, stage, segment)
    combination that these segment names can produce: checked with the parameters, before a
    run writes anything, instead of failing in notebook 03 minutes later."""
    grid = pd.MultiIndex.from_product([["A", "B", "C"], list(STAGES), list(segment_names_)],
                                      names=["abc_tier", "lifecycle_stage", "rfm_segment"])
    labels = grid.to_frame(index=False)
    book = playbook_table()
    covered = np.zeros(len(labels), dtype=bool)
    for _, r in book.iterrows():
        hit = np.ones(len(labels), dtype=bool)
        for col in ("abc_tier", "lifecycle_stage", "rfm_segment"):
            if r[col] != "*":
                hit &= labels[col].to_numpy() == r[col]
        covered |= hit
    if not covered.all():
        first = labels[~covered].iloc[0]
        raise ParamError(f"segment_map adds segment {first['rfm_segment']!r}, for which the "
                         f"playbook has no action (e.g. a tier-{first['abc_tier']} "
                         f"{first['lifecycle_stage']} customer)", column="segment_map",
                         hint="Name an existing segment (" + ", ".join(
                             _default_segments()["segment"].unique()[:4]) + ", …) or keep the "
                         "default segment names")


def recommend(labels: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """Action key, label and rationale for each customer from ``abc_tier``,
    ``lifecycle_stage`` and ``rfm_segment``: the first playbook rule that matches wins."""
    book = playbook_table()
    n = len(labels)
    action = np.full(n, None, dtype=object)
    rule = np.full(n, -1)
    cols = {"abc_tier": labels["abc_tier"].astype(str).to_numpy(),
            "lifecycle_stage": labels["lifecycle_stage"].astype(str).to_numpy(),
            "rfm_segment": labels["rfm_segment"].astype(str).to_numpy()}
    for i, r in book.iterrows():
        hit = action == None  # noqa: E711 - elementwise on an object array
        for col in cols:
            if r[col] != "*":
                hit &= cols[col] == r[col]
        action[hit] = r["action"]
        rule[hit] = i
    if (rule < 0).any():
        raise ValueError("playbook leaves customers without an action")
    rationale_col = "rationale_zh" if language == "zh" else "rationale_en"
    return pd.DataFrame({
        "action": action,
        "recommended_action": [ACTIONS[a][language] for a in action],
        "rationale": book[rationale_col].to_numpy()[rule],
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
        parts = [TIER_WORD[language].format(b["abc_tier"]) if b["abc_tier"] != "*" else None,
                 STAGE_LABELS[b["lifecycle_stage"]][language] if b["lifecycle_stage"] != "*"
                 else None,
                 segment_label(b["rfm_segment"], language) if b["rfm_segment"] != "*" else None]
        who.append(" & ".join(p for p in parts if p))
    g.insert(1, "who", who)
    g["revenue_share"] = g["revenue"] / customers["revenue"].sum()
    g["why"] = [book.loc[r, "rationale_zh" if language == "zh" else "rationale_en"]
                for r in g["rule"]]
    return g.sort_values("revenue", ascending=False).reset_index(drop=True)


# -- text and metrics -------------------------------------------------------------------

SLIPPING = ("At Risk", "Cannot Lose Them", "About to Sleep")


def segment_table_summary(customers: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"segment": segments, "revenue": customers["revenue"]})
    g = frame.groupby("segment").agg(customers=("revenue", "size"), revenue=("revenue", "sum"))
    g["customer_share"] = g["customers"] / len(frame)
    g["revenue_share"] = g["revenue"] / frame["revenue"].sum()
    g = g.reindex([s for s in segment_names() if s in g.index])
    return g.sort_values("revenue", ascending=False)


def describe(seg_summary: pd.DataFrame, stages: pd.Series, clusters: Mapping[str, Any],
             thresholds: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    cur = params["currency"]
    top = seg_summary.head(2)
    parts = [f"{name} ({int(r.customers):,} customers, {r.revenue_share:.1%} of revenue)"
             for name, r in top.iterrows()]
    text = f"The revenue sits mostly with {' and '.join(parts)}."
    slip = seg_summary.loc[[s for s in SLIPPING if s in seg_summary.index]]
    if len(slip):
        text += (f" Slipping away: {int(slip['customers'].sum()):,} customers in "
                 f"{', '.join(slip.index)} who together brought "
                 f"{slip['revenue'].sum():,.0f} {cur} ({slip['revenue_share'].sum():.1%} of "
                 f"revenue) but have not bought recently.")
    counts = stages.value_counts()
    n = len(stages)
    text += (f" By lifecycle, {counts.get('active', 0):,} customers ({counts.get('active', 0) / n:.1%}) "
             f"are active (bought within {thresholds['active_days']} days), "
             f"{counts.get('dormant', 0):,} dormant, {counts.get('churned', 0):,} churned "
             f"(nothing for over {thresholds['churn_days']} days) and "
             f"{counts.get('new', 0):,} new.")
    if clusters.get("status") == "ok":
        prof = clusters["profile"]
        first = prof.iloc[0]
        text += (f" k-means finds {clusters['k']} clusters (silhouette "
                 f"{clusters['best_silhouette']:.2f}); the highest-revenue cluster is "
                 f"{first['customer_share']:.1%} of customers — {first['profile']} — bringing "
                 f"{first['revenue_share']:.1%} of revenue.")
        ari = clusters["ari"]["mean"]
        text += (" The clustering is stable across seeds (mean ARI "
                 f"{ari:.2f})." if ari >= 0.8 else " The clustering changes with the seed "
                 f"(mean ARI {ari:.2f}), so read clusters as a rough grouping.")
    return text


def metrics(seg_summary: pd.DataFrame, stages: pd.Series, clusters: Mapping[str, Any],
            thresholds: Mapping[str, Any]) -> dict[str, Any]:
    counts = stages.value_counts()
    return {
        "rfm": {"segments": {s: int(v) for s, v in seg_summary["customers"].items()}},
        "clusters": {"status": clusters["status"], "k": clusters["k"],
                     "silhouette": clusters["best_silhouette"],
                     "silhouette_by_k": {str(k): v for k, v in clusters["silhouette"].items()},
                     "ari": clusters["ari"]},
        "lifecycle": {**{s: int(counts.get(s, 0)) for s in STAGES},
                      "thresholds_days": {k: thresholds[k] for k in
                                          ("new_days", "active_days", "churn_days")},
                      "median_interpurchase_days": thresholds["median_interpurchase_days"]},
    }
