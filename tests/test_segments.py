import re

import numpy as np
import pandas as pd
import pytest

from analysis import config, narrative, playbook, segments
from analysis.clusters import cluster
from analysis.errors import ParamError
from analysis.narrative.describe import cluster_display, cluster_table, describe
from analysis.narrative.stages import thresholds_sentence
from analysis.narrative.translate import translate_table
from analysis.units import TimeUnit, Window, days_since_last

END = pd.Timestamp("2020-12-31")
PARAMS = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"}})


def seg_params(**changes):
    return PARAMS.replace(**changes).segments


def window(days: int) -> Window:
    return Window(END - pd.Timedelta(days=days - 1), END, TimeUnit("day"))


def customers(n=500, seed=0):
    rng = np.random.default_rng(seed)
    orders = rng.geometric(0.5, n)
    last = pd.Series(END - pd.to_timedelta(rng.integers(0, 365, n), unit="D"))
    first = last - pd.to_timedelta(rng.integers(0, 300, n) * (orders > 1), unit="D")
    return pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(n)],
                         "first_purchase": first, "last_purchase": last, "n_orders": orders,
                         "frequency": (orders - 1).astype(float),
                         "recency": ((last - first).dt.days).astype(float),
                         "revenue": np.round(rng.lognormal(3, 1, n) * orders, 2)})


def test_segment_table_partitions_all_125_combinations():
    table = playbook.segment_table()
    combos = pd.DataFrame([(r, f, m) for r in range(1, 6) for f in range(1, 6)
                           for m in range(1, 6)], columns=["r_score", "f_score", "m_score"])
    seg = segments.assign_segments(combos, table)
    assert seg.notna().all() and len(seg) == 125
    assert set(seg) == set(playbook.segment_names()) and len(set(seg)) == 11
    playbook.check_partition(table)


def test_overrides_replace_rows_and_are_checked():
    # move "Need Attention" to cover nothing new: same cell, still a partition
    table = playbook.segment_table({"Need Attention": [[3, 3], [3, 3.5]]})
    assert len(table[table["segment"] == "Need Attention"]) == 1
    with pytest.raises(ParamError, match="exactly one segment"):
        playbook.segment_table({"Champions": [[4, 5], [3, 5]]})  # overlaps Loyal
    with pytest.raises(ParamError, match="segment_map"):
        config.validate({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                         "segment_map": {"Lost": [[1, 1], [1, 1]]}})  # leaves a gap


def test_quintile_scores_share_a_score_on_ties():
    # 80 % bought once: they all score 1; 80 % of customers are below a two-order customer
    values = np.array([1] * 80 + [2] * 15 + [10] * 5)
    scores = segments.quintile_scores(values)
    assert np.bincount(scores, minlength=6)[1:].tolist() == [80, 0, 0, 0, 20]
    assert segments.quintile_scores([7.0]).tolist() == [1]
    assert segments.quintile_scores([1.0, 2.0]).tolist() == [1, 3]
    assert segments.quintile_scores(np.arange(10.0)[::-1]).tolist() == \
        [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_scores_are_monotone():
    c = customers()
    s = segments.rfm_scores(c, END, {"active_days": 60, "churn_days": 180})
    days = days_since_last(c, END)
    more_recent = days[:, None] < days[None, :]
    assert not (more_recent & (s["r_score"].to_numpy()[:, None] < s["r_score"].to_numpy()[None, :])).any()
    more_orders = c["n_orders"].to_numpy()[:, None] > c["n_orders"].to_numpy()[None, :]
    assert not (more_orders & (s["f_score"].to_numpy()[:, None] < s["f_score"].to_numpy()[None, :])).any()
    assert s["rfm_score"].str.fullmatch(r"[1-5]{3}").all()


def test_clusters_are_deterministic_and_ordered_by_revenue():
    c = customers(800)
    p = seg_params(k_range=[2, 5], seed=3, silhouette_sample=500)
    a = cluster(c, END, p)
    b = cluster(c, END, p)
    assert a["status"] == "ok" and a["k"] == b["k"]
    assert (a["labels"] == b["labels"]).all()
    prof = a["profile"]
    assert prof["mean_revenue"].is_monotonic_decreasing
    assert prof["customers"].sum() == len(c) and set(a["labels"]) == set(range(1, a["k"] + 1))
    assert 2 <= a["k"] <= 5 and -1 <= a["best_silhouette"] <= 1
    assert 0 <= a["ari"]["min"] <= 1


def test_clusters_degrade_gracefully():
    c = customers(3)
    c["n_orders"], c["revenue"], c["last_purchase"] = 1, 10.0, END
    out = cluster(c, END, seg_params(seed=1))
    assert out["status"].kind == "not estimated" and (out["labels"] == 1).all()
    assert out["status"].reason.key == "reason.not_enough_profiles"


def test_minibatch_is_used_above_the_threshold():
    c = customers(600)
    p = dict(k_range=[2, 3], seed=1, silhouette_sample=300)
    out = cluster(c, END, seg_params(**p, minibatch_threshold=100))
    assert out["status"] == "ok" and out["labels"].nunique() == out["k"]
    assert out["algorithm"] == "MiniBatchKMeans"
    below = cluster(c, END, seg_params(**p, minibatch_threshold=1000))
    assert below["algorithm"] == "KMeans"


def test_lifecycle_boundaries_on_hand_made_dates():
    th = {"new_days": 30, "active_days": 60, "churn_days": 120}
    c = pd.DataFrame({
        "first_purchase": pd.to_datetime(["2020-12-01", "2020-01-01", "2020-01-01",
                                          "2020-01-01", "2020-01-01", "2020-01-01"]),
        "last_purchase": pd.to_datetime(["2020-12-01", "2020-11-01", "2020-10-31",
                                         "2020-09-02", "2020-09-01", "2020-01-01"])})
    # days since last: 30, 60, 61, 120, 121, 365; since first of the first: 30 -> new
    stages = segments.lifecycle(c, END, th).astype(str).tolist()
    assert stages == ["new", "active", "dormant", "dormant", "churned", "churned"]


def test_lifecycle_thresholds_from_median_gap_or_params():
    c = customers()
    th = segments.lifecycle_thresholds(c, seg_params(), window(365))
    g = segments.median_interpurchase_days(c, 1)
    assert th["active_days"] == int(np.ceil(2 * g)) and th["churn_days"] == int(np.ceil(4 * g))
    th = segments.lifecycle_thresholds(c, seg_params(active_days=10, churn_days=20),
                                       window(365))
    assert (th["active_days"], th["churn_days"]) == (10, 20)
    one_timers = c.assign(frequency=0.0)
    assert segments.lifecycle_thresholds(one_timers, seg_params(), window(400))["new_days"] == 50


def test_playbook_precedence():
    labels = pd.DataFrame({"abc_tier": ["A", "A", "C", "C", "B"],
                           "lifecycle_stage": ["churned", "active", "new", "churned", "active"],
                           "rfm_segment": ["Lost", "Champions", "Champions", "Lost", "At Risk"]})
    rec = segments.recommend(labels)
    assert rec["action"].tolist() == ["win_back", "retain_reward", "nurture", "low_cost",
                                      "win_back"]
    assert rec["playbook_rule"].tolist()[:3] == [2, 4, 3]
    zh = segments.recommend(labels, "zh")
    assert zh["recommended_action"].iloc[0] == "挽回"


def test_every_english_label_has_a_chinese_one():
    book = playbook.playbook_table()
    for lang in ("en", "zh"):
        assert all(playbook.rationale(p, lang) for p in book["priority"])
    assert set(book["action"]) == set(narrative.ACTIONS)
    for labels in list(narrative.ACTIONS.values()) + list(narrative.STAGE_LABELS.values()):
        assert labels["zh"] and labels["zh"] != labels["en"]
    for name in playbook.segment_names():
        zh = playbook.segment_label(name, "zh")
        assert zh and zh != name and not zh.isascii()
    # every segment has a playbook rule
    assert set(playbook.segment_names()) <= set(book["rfm_segment"])


def test_describe_thresholds_states_the_numbers_used():
    th = {"new_days": 30, "active_days": 60, "churn_days": 120, "median_interpurchase_days": 29.5,
          "source": {"active_days": "median inter-purchase time"}}
    text = thresholds_sentence(th)
    assert "29.5 days" in text and "active ≤ 60" in text and "dormant ≤ 120" in text
    assert "no repeat buyers" in thresholds_sentence({**th, "median_interpurchase_days": None})
    zh = thresholds_sentence(th, "zh")
    assert "29.5 天" in zh and "60" in zh and "120" in zh and "购买间隔中位数" in zh


def test_the_stage_result_labels_every_customer_once_and_says_so_in_both_languages():
    c = customers(400).assign(abc_tier="C")
    c.loc[c["revenue"].nlargest(20).index, "abc_tier"] = "A"
    result = segments.run(c, window(365), seg_params(k_range=[2, 3], silhouette_sample=300))
    cols = result.columns()
    assert list(cols.columns) == ["r_score", "f_score", "m_score", "rfm_segment", "cluster",
                                  "lifecycle_stage", "recommended_action"]
    assert cols.notna().all().all() and len(cols) == len(c)
    assert result.summary["customers"].sum() == len(c)
    assert result.playbook["customers"].sum() == len(c)
    assert set(result.tables()) == {"segments", "playbook"}
    m = result.metrics()
    assert sum(m["rfm"]["segments"].values()) == len(c)
    assert sum(m["lifecycle"][s] for s in playbook.STAGES) == len(c)
    top = result.summary.index[0]
    assert top in describe(result, "en")
    assert playbook.segment_label(top, "zh") in describe(result, "zh")
    zh = segments.run(c, window(365), seg_params(k_range=[2, 3], silhouette_sample=300,
                                                 language="zh"))
    assert set(zh.columns()["recommended_action"]) <= {v["zh"] for v in narrative.ACTIONS.values()}
    assert not cluster_table(zh.clusters, "zh")["profile"].str.isascii().any()


#: the actions that fit each lifecycle stage (a new customer is active too)
FITTING = {"new": {"nurture"}, "active": {"retain_reward", "upsell", "nurture"},
           "dormant": {"win_back", "nurture", "low_cost"}, "churned": {"win_back", "low_cost"}}
CLASS = {5: "active", 4: "active", 3: "dormant", 2: "dormant", 1: "churned"}


def test_every_segment_belongs_to_one_lifecycle_class_and_every_action_fits():
    """Each segment's R range lies in one lifecycle class; over the whole grid of tier x stage
    x segment that can occur together, the playbook's action fits the stage (a churned
    customer is never nurtured or upsold, only key ones are won back)."""
    table = playbook.segment_table()
    classes = {}
    for row in table.itertuples():
        got = {CLASS[r] for r in range(int(row.r_min), int(row.r_max) + 1)}
        assert len(got) == 1, (row.segment, got)
        cls = got.pop()
        assert classes.setdefault(row.segment, cls) == cls, row.segment  # all its rectangles
    assert {s for s, c in classes.items() if c == "churned"} == {"Lost"}
    assert set(playbook.SLIPPING) <= {s for s, c in classes.items() if c == "dormant"}
    grid = pd.DataFrame([(t, st, s) for t in "ABC" for st in playbook.STAGES
                         for s in playbook.segment_names()
                         if classes[s] == ("active" if st == "new" else st)],
                        columns=["abc_tier", "lifecycle_stage", "rfm_segment"])
    rec = segments.recommend(grid)
    for (tier, stage), action in zip(grid[["abc_tier", "lifecycle_stage"]].itertuples(
            index=False), rec["action"]):
        assert action in FITTING[stage], (tier, stage, action)
        if stage == "churned":
            assert (action == "win_back") == (tier == "A")


def test_recency_scores_follow_the_lifecycle_thresholds():
    th = {"active_days": 60, "churn_days": 180}
    days = np.array([0, 30, 31, 60, 61, 120, 121, 180, 181, 900])
    assert segments.recency_scores(days, th).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    c = customers(600)
    result = segments.run(c.assign(abc_tier="C"), window(365),
                          seg_params(k_range=[2, 3], silhouette_sample=300))
    stage = result.stages.astype(str).replace("new", "active")
    assert (stage == result.scores["r_score"].map(CLASS)).all()
    assert (result.segments == "Lost").sum() == (result.stages == "churned").sum()


def test_clusters_are_described_from_their_numbers_and_say_when_they_add_nothing():
    """A cluster's words come from its means and its customers' lifecycle stages (so one
    long gone is never 'average recency'); clusters that only split one-time from repeat
    buyers are called that."""
    c = customers(500)
    th = segments.lifecycle_thresholds(c, seg_params(), window(365))
    stages = segments.lifecycle(c, END, th)
    out = cluster(c, END, seg_params(k_range=[2, 3], silhouette_sample=300), stages)
    for k, row in cluster_table(out).iterrows():
        words = row["profile"]
        assert f"{row['mean_days_since_last']:,.0f} days since the last purchase" in words
        members = stages[out["labels"] == k].astype(str)
        main = members.value_counts()
        assert f"({main.iloc[0] / len(members):.0%} {main.index[0]})" in words
    assert -1 <= out["repeat_split_ari"] <= 1
    clusters = {**out, "repeat_split_ari": 0.95}
    seg_summary = pd.DataFrame({"customers": [10], "revenue": [1.0], "revenue_share": [1.0],
                                "customer_share": [1.0]}, index=["Lost"])
    text = narrative.stages.segments_paragraph(seg_summary, stages, clusters, th, "EUR", {})
    assert "separate one-time from repeat buyers" in text
    zh = narrative.stages.segments_paragraph(seg_summary, stages, clusters, th, "EUR", {},
                                             "zh")
    assert "一次性客户与复购客户" in zh
    plain = narrative.stages.segments_paragraph(seg_summary, stages,
                                                {**out, "repeat_split_ari": 0.1}, th, "EUR", {})
    assert "repeat buyers" not in plain


def test_lifecycle_follows_each_repeat_buyers_own_rhythm():
    """Issue 30: a weekly buyer 60 days quiet is churned, a twice-a-year buyer 60 days quiet
    is active, a one-time buyer keeps the population's thresholds; R says the same; with
    lifecycle_rhythm: population all three are judged by the same days."""
    end = pd.Timestamp("2021-12-31")
    c = pd.DataFrame({
        "customer_id": ["weekly", "slow", "once"],
        "first_purchase": pd.to_datetime(["2021-01-04", "2020-01-01", "2021-03-01"]),
        "last_purchase": pd.to_datetime(["2021-11-01"] * 3),
        "frequency": [43, 3, 0], "recency": [301.0, 670.0, 0.0], "n_orders": [44, 4, 1],
        "revenue": [440.0, 40.0, 10.0], "T": [361.0, 730.0, 305.0]})
    th = {"new_days": 30, "active_days": 60, "churn_days": 120,
          "median_interpurchase_days": 30.0, "rhythm": "own", "unit_days": 1}
    days = segments.rhythm_days(c, end, th)
    # weekly: own gap 7 days shrunk toward 30 with two gaps' weight: (43*7 + 2*30)/45 = 8.0
    assert days[0] == pytest.approx(60 * 30 / ((301 + 60) / 45))
    assert days[2] == 60  # no rhythm of its own
    assert segments.lifecycle(c, end, th).astype(str).tolist() == ["churned", "active", "active"]
    r = segments.rfm_scores(c, end, th)["r_score"].tolist()
    assert r[0] == 1 and r[1] >= 4
    flat = {**th, "rhythm": "population"}
    assert segments.lifecycle(c, end, flat).astype(str).tolist() == ["active"] * 3


def test_the_silhouette_is_read_in_words():
    from analysis.narrative.describe import silhouette_meaning
    assert "well apart" in silhouette_meaning(0.58)
    assert "overlap" in silhouette_meaning(0.3)
    assert "no clear groups" in silhouette_meaning(0.1)
    assert "彼此分明" in silhouette_meaning(0.58, "zh") and silhouette_meaning(None) == ""


def test_the_cluster_profile_reads_as_words_first_with_headers_in_words():
    """Notebook 03's cluster table: the profile first and wide (not one word a line), the
    headers words with the currency in English and translated codes in Chinese."""
    c = customers(300)
    th = segments.lifecycle_thresholds(c, seg_params(), window(365))
    out = cluster(c, END, seg_params(k_range=[2, 3], silhouette_sample=200),
                  segments.lifecycle(c, END, th))
    heads = lambda html: re.findall(r"<th[^>]*col_heading[^>]*>([^<]*)</th>", html)
    en = heads(cluster_display(cluster_table(out), "en", "EUR").to_html())
    assert en[0] == "profile" and "mean revenue (EUR)" in en
    assert not any("_" in h for h in en)
    assert "min-width: 26em" in cluster_display(cluster_table(out), "en", "EUR").to_html()
    zh = heads(translate_table(cluster_display(cluster_table(out, "zh"), "zh", "EUR"),
                               "zh").to_html())
    assert "客户数" in zh and not any("_" in h for h in zh)
