import math

import numpy as np
import pandas as pd
import pytest

from analysis import config, tiers
from analysis.stage1 import aggregates, summary
from analysis.narrative.describe import describe
from analysis.units import TimeUnit, Window

PARAMS = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"}})
CFG = PARAMS.tiers


def cust(revenues, ids=None):
    ids = ids or [f"c{i:03d}" for i in range(len(revenues))]
    return pd.DataFrame({"customer_id": ids, "revenue": np.asarray(revenues, dtype=float)})


@pytest.mark.parametrize("n", [1, 2, 3, 19, 20, 21, 100, 101, 997])
def test_rank_share_counts_are_exact_without_ties(n):
    rng = np.random.default_rng(n)
    t = tiers.abc_tiers(cust(rng.permutation(n) + 1.0), "rank_share", (0.05, 0.20))
    counts = t.value_counts()
    assert counts["A"] == math.ceil(0.05 * n)
    assert counts["A"] + counts["B"] == math.ceil(0.20 * n)
    assert counts.sum() == n


@pytest.mark.parametrize("n", [19, 100, 997])
def test_ties_share_a_tier_and_are_reported(n):
    rng = np.random.default_rng(n)
    c = cust(rng.integers(1, 6, n))
    t = tiers.abc_tiers(c, "rank_share", (0.05, 0.20))
    # one tier per revenue value, better revenue never a worse tier
    per_value = pd.DataFrame({"r": c["revenue"], "t": t.astype(str)}).groupby("r")["t"]
    assert (per_value.nunique() == 1).all()
    ranks = per_value.first().sort_index(ascending=False)
    assert ranks.tolist() == sorted(ranks.tolist())
    # at least the nominal number of places; a tier is larger only by a reported tie
    counts = t.value_counts()
    assert counts["A"] >= math.ceil(0.05 * n)
    ties = tiers.tier_ties(c, "rank_share", (0.05, 0.20))
    grown = {tie["tier"]: tie["customers"] - tie["places"] for tie in ties}
    assert counts["A"] == math.ceil(0.05 * n) + grown.get("A", 0)
    assert all(tie["customers"] > tie["places"] for tie in ties)


def test_ties_ignore_the_row_order_and_the_id_text():
    # twenty customers tied at 5 around the cut: all tier A whatever their ids or rows,
    # so hashing the ids (anonymize) or sorting the table cannot move anyone
    c = cust([9.0] + [5.0] * 20 + [1.0] * 20, ids=[f"z{i:02d}" for i in range(41)][::-1])
    t = tiers.abc_tiers(c, "rank_share", (0.05, 0.20))
    assert t.astype(str).tolist() == ["A"] + ["A"] * 20 + ["C"] * 20
    assert tiers.tier_ties(c, "rank_share", (0.05, 0.20)) == [
        {"tier": "A", "value": 5.0, "customers": 20, "places": 2}]
    shuffled = c.sample(frac=1, random_state=3)
    assert tiers.abc_tiers(shuffled, "rank_share", (0.05, 0.20)).loc[c.index].tolist() \
        == t.tolist()
    # totals equal in cents are equal, however the floats were summed
    assert tiers.abc_tiers(cust([0.1 + 0.2, 0.3, 0.0, 0.0]), "rank_share", (0.25, 0.5)) \
        .astype(str).tolist() == ["A", "A", "C", "C"]


def test_all_equal_and_zero_revenue():
    # nothing to rank by: nobody is A or B
    assert (tiers.abc_tiers(cust([0.0] * 10), "rank_share") == "C").all()
    assert (tiers.abc_tiers(cust([0.0] * 10), "revenue_share") == "C").all()
    assert tiers.abc_tiers(cust([7.0] * 10), "rank_share").astype(str).tolist() == ["A"] * 10
    assert tiers.gini([7.0] * 10) == 0.0
    assert tiers.concentration([0.0, 0.0])["customer_share_for_80pct_revenue"] is None


def test_revenue_share_includes_the_customer_who_crosses_the_line():
    # shares: 50, 25, 10, 9, 6 (%): A needs the first two (75 %) and the third crosses 80 %
    t = tiers.abc_tiers(cust([50, 25, 10, 9, 6]), "revenue_share", revenue_cuts=(0.80, 0.95))
    assert t.astype(str).tolist() == ["A", "A", "A", "B", "B"]
    # the fourth ties with the one who crossed the line: it is tier A too
    t = tiers.abc_tiers(cust([50, 25, 10, 10, 5]), "revenue_share", revenue_cuts=(0.80, 0.95))
    assert t.astype(str).tolist() == ["A", "A", "A", "A", "C"]


def test_gini_hand_calculations():
    assert tiers.gini([0, 0, 0, 10]) == pytest.approx(3 / 4)  # one buyer: (n-1)/n
    assert tiers.gini([0] * 9 + [1]) == pytest.approx(9 / 10)
    # 1,2,3,4: G = sum_i sum_j |xi-xj| / (2 n^2 mean) = 20 / (2*16*2.5) = 0.25
    assert tiers.gini([1, 2, 3, 4]) == pytest.approx(0.25)
    # negative revenue is clipped to 0
    assert tiers.gini([-5, 0, 0, 10]) == pytest.approx(3 / 4)


def test_concentration_top_shares_and_80_20():
    p = tiers.concentration([60, 20, 10, 5, 5])
    assert p["top_20pct_revenue_share"] == pytest.approx(0.60)
    assert p["customers_for_80pct_revenue"] == 2 and p["customer_share_for_80pct_revenue"] == 0.4
    # shares are of the net total (80): the top customer brings 125 % of it, the returns of
    # the second take 25 % back; the same total as the tier table's shares
    p = tiers.concentration([100, -20, 0])
    assert p["negative_revenue_customers"] == 1 and p["top_1pct_revenue_share"] == 1.25


def test_lorenz_curve_ends_and_is_monotone():
    curve = tiers.lorenz_curve(np.random.default_rng(0).lognormal(size=5000))
    assert len(curve) == 201
    assert curve["revenue_share"].iloc[0] == 0 and curve["revenue_share"].iloc[-1] == pytest.approx(1)
    assert curve["revenue_share"].is_monotonic_increasing
    assert (curve["revenue_share"] <= curve["customer_share"] + 1e-12).all()


def test_tier_table_adds_up():
    c = cust([100, 50, 10, 5, 1, 0, 0, 0, 0, 0])
    c["n_orders"] = [5, 3, 1, 1, 1, 1, 1, 1, 1, 1]
    c["last_purchase"] = pd.Timestamp("2020-01-01")
    t = tiers.abc_tiers(c, "rank_share", (0.1, 0.3))
    table = tiers.tier_table(c, t, pd.Timestamp("2020-01-31"))
    assert table["customers"].tolist() == [1, 2, 7]
    assert table["revenue"].sum() == 166 and table["revenue_share"].sum() == pytest.approx(1)
    assert table.at["A", "mean_days_since_last_purchase"] == 30


def test_dimension_breakdown():
    c = cust([100, 50, 10, 5])
    c["Country"] = ["FR", "FR", "DE", None]
    t = tiers.abc_tiers(c, "rank_share", (0.25, 0.5))
    parts = tiers.dimension_breakdown(c, t, "Country")
    assert parts["customers"].loc["FR"].tolist() == [1, 1, 0]
    assert parts["revenue"].loc["DE", "C"] == 10 and "(missing)" in parts["customers"].index
    np.testing.assert_allclose(parts["tier_share"].sum(axis=1), 1)


def test_migration_matrix_rows_and_labels():
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "d", "e"],
        "date": pd.to_datetime(["2020-01-05", "2020-03-05", "2020-01-06", "2020-03-06",
                                "2020-01-07", "2020-03-07", "2020-01-08"]),
        "amount": [100.0, 100.0, 10.0, 1.0, 5.0, 50.0, 1.0],
        "is_return": False})
    cfg = PARAMS.replace(abc_rank_cuts=[0.25, 0.5]).tiers
    split = pd.Timestamp("2020-02-01")
    halves = aggregates.half_revenues(tx, split, pd.Series(list("abcde")))
    assert halves["first_half"].tolist()[:3] == [100.0, 10.0, 5.0]
    assert np.isnan(halves["first_half"].iloc[3]) and np.isnan(halves["second_half"].iloc[4])
    moves = tiers.migration(halves, cfg, split)
    counts = moves["counts"]
    assert counts.values.sum() == 5  # every customer once
    # first half: a(100) A, b(10) B, c(5) C, e(1) C; second half: a A, d(50) B, b(1) C
    assert counts.at["A", "A"] == 1 and counts.at["B", "C"] == 1
    assert counts.at["C", "lapsed"] == 2 and counts.at["new", "B"] == 1
    assert counts.loc[["A", "B", "C"]].sum(axis=1).tolist() == [1, 1, 2]
    np.testing.assert_allclose(moves["row_shares"].loc[["A", "B", "C", "new"]].sum(axis=1), 1)
    assert moves["a_retention"] == 1.0


def test_metrics_keys_follow_the_design():
    c = cust([100, 50, 10, 5])
    c["n_orders"], c["last_purchase"] = 1, pd.Timestamp("2020-01-01")
    t = tiers.tiers_from_params(c, CFG)
    table = tiers.tier_table(c, t, pd.Timestamp("2020-02-01"))
    moves = {"split": "2020-01-15", "a_retention": 0.5, "a_lapsed": 0.5,
             "counts": pd.DataFrame([[1]], index=["A"], columns=["A"])}
    m = tiers.metrics(tiers.concentration(c["revenue"]), table, CFG, moves)
    assert {"gini", "top_20pct_revenue_share", "customer_share_for_80pct_revenue"} <= set(m["pareto"])
    assert m["abc"]["method"] == "rank_share"
    assert set(m["abc"]["tiers"]) == {"A", "B", "C"}
    assert set(m["abc"]["tiers"]["A"]) == {"customers", "revenue", "revenue_share"}


def test_the_stage_result_holds_what_the_notebook_and_report_show():
    """tiers.run gives the tiers, their table, the curve the report draws, the migration
    (split at the window's midpoint) and words in both languages that quote the numbers."""
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "d", "e"],
        "date": pd.to_datetime(["2020-01-05", "2020-03-05", "2020-01-06", "2020-03-06",
                                "2020-01-07", "2020-03-07", "2020-01-08"]),
        "amount": [100.0, 100.0, 10.0, 1.0, 5.0, 50.0, 1.0], "is_return": False,
        "Country": ["FR", "FR", "DE", "DE", "FR", "DE", "FR"]})
    params = PARAMS.replace(abc_rank_cuts=[0.25, 0.5], dimensions=["Country"])
    customers = summary.customer_summary(tx, params.summary)
    window = Window.of(tx, None, TimeUnit("day"))
    agg = aggregates.compute(tx, customers, params)
    assert agg.window == window
    result = tiers.run(customers, agg.halves, agg.split, window, params.tiers,
                       params.read.dimensions)
    # revenue a 200, b 11, c 5, d 50, e 1: A = the first ceil(0.25 * 5) = 2 (a, d), A + B the
    # first ceil(0.5 * 5) = 3 (b), C the rest
    assert result.columns()["abc_tier"].tolist() == ["A", "B", "C", "A", "C"]
    assert result.moves["split"] == "2020-02-05"  # midpoint of 2020-01-05 .. 2020-03-07
    assert result.metrics() == tiers.metrics(result.pareto, result.table, params.tiers,
                                             result.moves)
    assert list(result.tables()) == ["lorenz"] and len(result.tables()["lorenz"]) == 201
    assert set(result.breakdowns) == {"Country"}
    en, zh = describe(result, "en"), describe(result, "zh")
    gini = f"{result.pareto['gini']:.2f}"
    assert f"Gini coefficient is {gini}" in en and f"基尼系数为 {gini}" in zh
    assert "Tier A is 2 customers (40.0%)" in en and "A 层级有 2 位客户（40.0%）" in zh
    # notebook 02's table of the top shares: revenue 267, the top customer (a, 200) is the
    # top 1, 5, 10 and 20 % alike
    top = result.top_shares()
    assert top.index.tolist() == ["1 %", "5 %", "10 %", "20 %"]
    assert top["share of revenue"].tolist() == [f"{200 / 267:.1%}"] * 4
