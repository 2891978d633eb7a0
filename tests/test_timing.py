"""What marketers act on next (issue 33): purchase probabilities, churn-risk bands, the
next-order date, the monthly value schedule and the revenue trend."""
import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from analysis import cohorts
from analysis.clv import timing
from analysis.clv.models import BetaGeo
from analysis.clv.simulate import bgnbd_log
from analysis.narrative.backtests import story_text
from analysis.stage1 import aggregates
from analysis.trend import trend_metrics
from analysis.units import TimeUnit, Window, customer_codes
from conftest import run_clv

COLUMNS = ["p_purchase_30d", "p_purchase_90d", "churn_risk", "next_order_date",
           "avg_days_between_purchases", "expected_spend"]


def test_purchase_probabilities_match_a_generated_bgnbd_log():
    """4,000 customers drawn from BG/NBD: the mean predicted chance of buying in the next
    30 and 90 days is the share who did, within a point."""
    full = bgnbd_log(4000, 0.25, 28.0, 0.8, 2.4, 730 + 90, seed=7)
    cut = pd.Timestamp("2020-01-01") + pd.Timedelta(days=730)
    seen = full[full["date"] < cut]
    future = full[(full["date"] >= cut) & full["customer_id"].isin(seen["customer_id"])]
    res, customers, window = run_clv(seen, clv_model="bgnbd")
    first = future.groupby("customer_id")["date"].min()
    wait = (first - window.end).dt.days.reindex(customers["customer_id"]).to_numpy()
    for days in (30, 90):
        observed = np.mean(np.nan_to_num(wait, nan=np.inf) <= days)
        assert res.table[f"p_purchase_{days}d"].mean() == pytest.approx(observed, abs=0.01)
    assert set(res.table["churn_risk"]) <= {"low", "medium", "high"}
    assert (res.table["next_order_date"] > window.end).all()


def test_the_next_order_date_is_the_median_wait_of_the_rate_posterior():
    """Alive at T after x repeat purchases, the rate is Gamma(r + x, α + T): draws of the
    wait to the next purchase have the median the formula gives."""
    r, alpha, x, T = 0.25, 4.0, 3.0, 30.0
    model = BetaGeo.from_params([r, alpha, 0.8, 2.4])
    rng = np.random.default_rng(0)
    lam = rng.gamma(r + x, 1 / (alpha + T), 400_000)
    waits = rng.exponential(1 / lam)
    got = timing.median_wait(model, 7, np.array([x]), np.array([T]))[0] / 7
    assert got == pytest.approx(np.median(waits), rel=0.01)


def test_churn_bands_follow_the_documented_cut_offs():
    bands = timing.churn_band([0.95, 0.71, 0.7, 0.31, 0.3, 0.1, np.nan]).tolist()
    assert bands == ["low", "low", "medium", "medium", "high", "high", "not estimated"]
    assert timing.CHURN_BANDS == (0.3, 0.7)


def test_the_trend_compares_whole_months_only():
    monthly = pd.DataFrame({"month": pd.date_range("2020-01-01", periods=26, freq="MS"),
                            "transactions": 1, "revenue": np.arange(26, dtype=float),
                            "customers": 2})
    window = Window(pd.Timestamp("2020-01-15"), pd.Timestamp("2022-02-10"), TimeUnit("week"))
    got = trend_metrics(monthly, window)
    # January 2020 and February 2022 are cut by the window: 24 whole months remain
    assert got["months"] == 12
    assert (got["before"]["start"], got["recent"]["end"]) == ("2020-02", "2022-01")
    assert got["recent"]["revenue"] == sum(range(13, 25))
    assert trend_metrics(monthly.head(1), window) is None


def test_cdnow_new_columns_schedule_calibration_and_page(cdnow_run):
    out, _ = cdnow_run
    c = pd.read_parquet(out / "customers.parquet")
    for col in COLUMNS:
        assert col in c, col
    assert c[["p_purchase_30d", "p_purchase_90d", "expected_spend"]].notna().all().all()
    assert c["next_order_date"].notna().all() and set(c["churn_risk"]) == {"low", "medium",
                                                                             "high"}
    assert (c["p_purchase_30d"] <= c["p_purchase_90d"]).all()
    one_time = c["frequency"] == 0
    assert c.loc[one_time, "avg_days_between_purchases"].isna().all()
    assert c.loc[~one_time, "avg_days_between_purchases"].gt(0).all()
    m = json.loads((out / "metrics.json").read_text())
    schedule = pd.read_parquet(out / "value_schedule.parquet")
    # the schedule's months add up to every horizon column, to the cent
    for h, col in ((3, "predicted_clv_3m"), (12, "predicted_clv"), (24, "predicted_clv_24m")):
        per = schedule[schedule["month"] <= h].groupby("customer_id")["expected_value"].sum()
        diff = per.reindex(c["customer_id"]).to_numpy() - c[col].to_numpy()
        assert np.abs(diff).max() < 0.005, h
        assert round(sum(m["clv"]["schedule"]["expected_value"][:h]), 2) == \
            round(m["clv"]["horizon_totals"][str(h)], 2)
    # the 90-day probability is calibrated on every backtest: within 10 points per decile
    model = m["clv"]["model"]
    for origin in m["clv"]["backtests"]["origins"]:
        assert origin["models"][model]["p90_largest_gap"] < 0.10, origin["calibration_end"]
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", (out / "report" / "index.html")
                                      .read_text(encoding="utf-8")))
    assert "How revenue is moving" in text and "In the last 9 months (1997-10 to 1998-06)" in text
    counts = c["churn_risk"].value_counts()
    assert f"{counts['high']:,} customers high" in text


def test_cohort_tables_from_a_small_log():
    """Two monthly cohorts: retention and value per customer by month since the first, a
    month the window has not reached is unknown, not 0."""
    tx = pd.DataFrame({"customer_id": ["a", "b", "a", "c", "b", "c"],
                       "date": pd.to_datetime(["2020-01-05", "2020-01-20", "2020-02-03",
                                               "2020-02-10", "2020-03-01", "2020-03-15"]),
                       "amount": [10.0, 20.0, 5.0, 8.0, -4.0, 2.0],
                       "is_return": [False, False, False, False, True, False]})
    cm = aggregates.cohort_months(tx, customer_codes(tx["customer_id"]))
    kind, retention, value, size = cohorts.cohort_tables(cm)
    assert kind == "month" and size.to_dict() == {"2020-01": 2, "2020-02": 1}
    # January's cohort: a and b; a bought again in February; b's return in March is revenue
    # but not a purchase
    assert retention.loc["2020-01"].tolist() == [1.0, 0.5, 0.0]
    assert value.loc["2020-01"].tolist() == [15.0, 17.5, 15.5]
    assert retention.loc["2020-02", 1] == 1.0 and np.isnan(retention.loc["2020-02", 2])
    m = cohorts.cohort_metrics(cm)
    assert m["customers"] == [2, 1] and m["retention"][1][2] is None


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 400), st.integers(-500, 5000),
                               st.booleans()), min_size=1, max_size=60))
def test_cohort_months_is_a_plain_count(rows):
    """Buyers and net revenue per (cohort, month) as a plain pandas count gives them, with
    the bitmap and with the hash of (customer, month) pairs alike."""
    tx = pd.DataFrame(rows, columns=["c", "day", "cents", "ret"])
    tx = pd.DataFrame({"customer_id": tx["c"].map(lambda c: f"k{c}" if c else None),
                       "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(tx["day"], "D"),
                       "amount": tx["cents"] / 100, "is_return": tx["ret"]})
    known = tx[tx["customer_id"].notna()].assign(
        month=lambda d: d["date"].dt.to_period("M").dt.to_timestamp())
    buys = known[~known["is_return"]]
    first = buys.groupby("customer_id")["month"].min().rename("cohort")
    j = known.join(first, on="customer_id", how="inner")
    want = j.groupby(["cohort", "month"]).agg(revenue=("amount", "sum"))
    want["customers"] = j[~j["is_return"]].groupby(["cohort", "month"])["customer_id"] \
        .nunique().reindex(want.index).fillna(0).astype("int64")
    bitmap = aggregates.BITMAP_CELLS
    for cells in (bitmap, 0):
        aggregates.BITMAP_CELLS = cells
        try:
            got = aggregates.cohort_months(tx, customer_codes(tx["customer_id"])) \
                .set_index(["cohort", "month"])
        finally:
            aggregates.BITMAP_CELLS = bitmap
        assert got.index.equals(want.index)
        assert (got["customers"] == want["customers"]).all()
        assert np.allclose(got["revenue"], want["revenue"].round(2))


def test_many_monthly_cohorts_become_quarters():
    months = pd.date_range("2018-01-01", periods=30, freq="MS")
    cm = pd.DataFrame({"cohort": months, "month": months, "customers": 1, "revenue": 1.0})
    kind, retention, _, size = cohorts.cohort_tables(cm)
    assert kind == "quarter" and list(size.index[:2]) == ["2018Q1", "2018Q2"]
    assert size.iloc[0] == 3 and len(size) == 10


def test_cdnow_cohorts_cover_every_customer_and_the_page_says_so(cdnow_run):
    out, _ = cdnow_run
    m = json.loads((out / "metrics.json").read_text())
    c = m["cohorts"]
    assert c["granularity"] == "month" and c["cohorts"] == ["1997-01", "1997-02", "1997-03"]
    assert sum(c["customers"]) == m["customers"]
    assert all(r[0] == 1.0 for r in c["retention"])
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", (out / "report" / "index.html")
                                      .read_text(encoding="utf-8")))
    assert "Cohorts: who came back" in text and "the largest 1997-02 with 8,476 customers" in text


def test_one_customers_story_jumps_at_purchases_and_fades_between():
    model = BetaGeo.from_params([0.25, 4.0, 0.8, 2.4])
    rows = pd.DataFrame({"date": pd.to_datetime(["2020-01-01", "2020-01-20", "2020-02-10",
                                                 "2020-02-10"]),
                         "is_return": [False, False, False, True]})
    history = timing.alive_history(model, rows, pd.Timestamp("2020-12-31"), 7)
    assert history["purchase"].sum() == 3 and history["date"].is_monotonic_increasing
    after = history[history["date"] > pd.Timestamp("2020-02-10")]["p_alive"].to_numpy()
    assert (np.diff(after) <= 1e-12).all() and after[-1] < 0.2  # fading while silent
    at = history.set_index("date")["p_alive"]
    assert at[pd.Timestamp("2020-02-10")] > at[pd.Timestamp("2020-02-09")]  # a purchase lifts it
    words = story_text("K1", history)
    assert "(K1) bought on 3 days, the last on 2020-02-10" in words
    assert f"P(alive) {history['p_alive'].iloc[-1]:.0%}" in words
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "revenue": [50, 90, 70, 80],
                              "frequency": [2.0, 0.0, 3.0, 1.0], "T": [30.0, 20.0, 40.0, 10.0]})
    columns = pd.DataFrame({"p_alive": [0.2, 0.1, 0.3, 0.9]})
    assert timing.story_customer(customers, columns) == "c"  # b bought once, d looks alive
    counts = timing.period_counts(customers, model, seed=1, cap=3)
    assert counts["actual"].tolist() == [1, 1, 1, 1] and counts["model"].sum() == 4
