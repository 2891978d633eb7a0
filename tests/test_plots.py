"""Every public figure of plots.py on small frames: titled, both axes labelled, drawn on the
caller's axes where it takes one, and in Chinese where the report shows it in Chinese."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis import clv, config, plots, tiers  # noqa: E402
from analysis.stage1 import aggregates, summary  # noqa: E402
from analysis.units import TimeUnit  # noqa: E402

RNG = np.random.default_rng(0)
N = 300
CUSTOMERS = pd.DataFrame({
    "customer_id": [f"c{i}" for i in range(N)],
    "first_purchase": pd.Timestamp("2020-01-01") + pd.to_timedelta(RNG.integers(0, 200, N), "D"),
    "n_orders": RNG.integers(1, 8, N),
    "revenue": RNG.lognormal(3, 1, N).round(2),
})
CUSTOMERS["frequency"] = (CUSTOMERS["n_orders"] - 1).astype(float)
CUSTOMERS["recency"] = CUSTOMERS["frequency"] * 20.0
CUSTOMERS["T"] = CUSTOMERS["recency"] + 30.0
CUSTOMERS["monetary_value"] = np.where(CUSTOMERS["frequency"] > 0, 25.0, 0.0)
LEDGER = pd.DataFrame({"step": ["input", "rounding", "duplicates", "kept"],
                       "rows": [10, 0, 2, 8], "revenue": [100.0, 0.0, 20.0, 80.0]})
CLEAN = pd.DataFrame({"customer_id": ["a", "b", "a"], "amount": [10.0, 5.0, 7.5],
                      "date": pd.to_datetime(["2020-01-03", "2020-02-10", "2020-04-01"])})
MONTHLY = pd.DataFrame({"month": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-04-01"]),
                        "transactions": [1, 1, 1], "revenue": [10.0, 5.0, 7.5]})
PARETO = tiers.concentration(CUSTOMERS["revenue"])
TABLE = tiers.tier_table(CUSTOMERS.assign(last_purchase=CUSTOMERS["first_purchase"]),
                         tiers.abc_tiers(CUSTOMERS), pd.Timestamp("2020-12-31"))
SEGMENTS = pd.DataFrame({"customers": [10, 5], "revenue": [900.0, 100.0],
                         "customer_share": [2 / 3, 1 / 3], "revenue_share": [0.9, 0.1]},
                        index=pd.Index(["Champions", "Lost"], name="segment"))
TRACK = pd.DataFrame({"week_start": pd.date_range("2020-01-06", periods=6, freq="7D"),
                      "actual": [1, 2, 3, 2, 1, 2], "model": [1.5, 2, 2.5, 2, 1.5, 1.8],
                      "holdout": [False, False, False, True, True, True]})
TRACK["actual_cumulative"], TRACK["model_cumulative"] = TRACK["actual"].cumsum(), \
    TRACK["model"].cumsum()
CONDITIONAL = pd.DataFrame({"customers": [5, 3], "actual": [0.2, 1.0], "model": [0.3, 0.9],
                            "naive": [0.0, 1.2]}, index=pd.Index(["0", "1+"]))
BGF = clv.BetaGeo.from_params([0.25, 4.4, 0.8, 2.4])
BACKTESTS = {"error": {"basis": "revenue"}, "origins": [
    {"calibration_end": end, "models": {"BG/NBD": {
        "status": "ok", "deciles": [[i * 2.0 + k, i * 2.5] for i in range(10)]}}}
    for k, end in enumerate(("2020-06-30", "2020-03-31"))]}


TREND = {"months": 2, "monthly": {"month": ["2020-01", "2020-02", "2020-03", "2020-04", "2020-05"],
                                  "revenue": [10.0, 12.0, 9.0, 8.0, 7.5]}}

FIGURES = {  # name -> a call with small data; ax=None lets the figure make its own axes
    "ledger_bars": lambda: plots.ledger_bars(LEDGER, "EUR"),
    "revenue_trend": lambda ax=None: plots.revenue_trend(TREND, "EUR", ax=ax),
    "alive_history": lambda ax=None: plots.alive_history(pd.DataFrame({
        "date": pd.date_range("2020-01-01", periods=4, freq="30D"),
        "p_alive": [1.0, 0.9, 0.95, 0.4], "purchase": [True, False, True, False]}), ax=ax),
    "period_transactions": lambda ax=None: plots.period_transactions(pd.DataFrame(
        {"actual": [10, 4, 2], "model": [9, 5, 2]}, index=["0", "1", "2+"]), ax=ax),
    "cohort_value_curves": lambda ax=None: plots.cohort_value_curves(pd.DataFrame(
        [[30.0, 40.0, 45.0], [28.0, 35.0, np.nan]], index=["2020-01", "2020-02"],
        columns=[0, 1, 2]), "EUR", ax=ax),
    "cohort_heatmap": lambda ax=None: plots.cohort_heatmap(pd.DataFrame(
        [[0.15, 0.1], [0.12, np.nan]], index=["2020-01", "2020-02"], columns=[1, 2]), ax=ax),
    "monthly_activity": lambda: plots.monthly_activity(MONTHLY, "EUR"),
    "rfm_distributions": lambda: plots.rfm_distributions(CUSTOMERS, np.arange(N) % 90, "EUR"),
    "tracking_plots": lambda: plots.tracking_plots(TRACK, "2020-01-27"),
    "first_purchase_cohorts": lambda ax=None: plots.first_purchase_cohorts(CUSTOMERS, ax=ax),
    "annotated_heatmap": lambda ax=None: plots.annotated_heatmap(
        pd.DataFrame([[1, 2], [3, 4]], index=["x", "y"], columns=["A", "B"]), "t", "tier",
        "group", cbar_label="customers", ax=ax),
    "lorenz": lambda ax=None: plots.lorenz(tiers.lorenz_curve(CUSTOMERS["revenue"]), PARETO,
                                           ax=ax),
    "tier_shares": lambda ax=None: plots.tier_shares(TABLE, ax=ax),
    "segment_bars": lambda ax=None: plots.segment_bars(SEGMENTS, ax=ax),
    "silhouette_by_k": lambda ax=None: plots.silhouette_by_k({2: 0.4, 3: 0.5, 4: 0.45}, 3,
                                                             ax=ax),
    "bar_counts": lambda ax=None: plots.bar_counts(pd.Series({"new": 3, "active": 5}),
                                                   "stages", "lifecycle stage", ax=ax),
    "conditional_expectations": lambda ax=None: plots.conditional_expectations(CONDITIONAL,
                                                                               ax=ax),
    "backtest_deciles": lambda ax=None: plots.backtest_deciles(BACKTESTS, "BG/NBD", "EUR",
                                                               ax=ax),
    "btyd_matrix": lambda ax=None: plots.btyd_matrix(BGF, "alive", TimeUnit("week").name,
                                                     CUSTOMERS, ax=ax),
    "spend_vs_frequency": lambda ax=None: plots.spend_vs_frequency(CUSTOMERS, 0.07, "EUR",
                                                                   ax=ax),
    "value_histogram": lambda ax=None: plots.value_histogram(CUSTOMERS["revenue"], "CLV",
                                                             "CLV (EUR)", ax=ax),
    "group_means": lambda ax=None: plots.group_means(CUSTOMERS.assign(g=CUSTOMERS["n_orders"] % 3),
                                                     "g", "revenue", "by group",
                                                     "mean revenue (EUR)", ax=ax),
}


def test_every_public_figure_is_covered():
    drawn = {name for name in plots.__all__ if callable(getattr(plots, name))
             and name not in ("set_style", "style", "styled", "show", "plain_log_ticks")}
    assert drawn == set(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figures_are_titled_with_labelled_axes(name):
    fig = FIGURES[name]()
    try:
        titled = fig._suptitle is not None and fig._suptitle.get_text()
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert axes, name
        assert titled or any(ax.get_title() for ax in axes), name
        for ax in axes:  # a label may sit on the axes it shares (twin or shared) with
            xs = ax.get_shared_x_axes().get_siblings(ax)
            ys = ax.get_shared_y_axes().get_siblings(ax)
            assert any(a.get_xlabel() for a in xs), (name, "x")
            assert any(a.get_ylabel() for a in ys), (name, "y")
    finally:
        plt.close(fig)


#: the figures with more than one panel make their own; every other one draws on an ``ax``
MULTI_PANEL = {"ledger_bars", "monthly_activity", "rfm_distributions", "tracking_plots"}


@pytest.mark.parametrize("name", sorted(set(FIGURES) - MULTI_PANEL))
def test_single_panel_figures_draw_on_the_callers_axes(name, monkeypatch):
    fig, ax = plt.subplots()
    made = []
    real = plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: made.append(1) or real(*a, **k))
    assert FIGURES[name](ax=ax) is fig and not made, name
    assert ax.get_title(), name
    plt.close(fig)


def test_shared_figures_draw_on_the_callers_axes_and_speak_chinese():
    plots.set_style("zh")  # as a zh run does: the CJK font, so no glyph is missing
    fig, (left, right) = plt.subplots(1, 2)
    curve = tiers.lorenz_curve(CUSTOMERS["revenue"])
    assert plots.lorenz(curve, PARETO, "zh", ax=left) is fig
    assert plots.segment_bars(SEGMENTS, ["冠军客户", "已流失"], "zh", ax=right) is fig
    assert "洛伦兹曲线" in left.get_title() and "收入" in left.get_ylabel()
    assert right.get_ylabel() == "分群" and right.get_xlabel() == "占比（%）"
    assert [t.get_text() for t in right.get_yticklabels()] == ["冠军客户", "已流失"]
    plt.close(fig)
    plots.set_style("en")


def test_show_closes_the_figure(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)  # imported where it shows
    fig = FIGURES["bar_counts"]()
    plots.show(fig)
    assert shown == [fig] and not plt.fignum_exists(fig.number)


def test_the_chinese_style_uses_a_cjk_font():
    plots.set_style("zh")
    with plots.style():
        assert plt.rcParams["font.sans-serif"][0] == plots.CJK_FONT
    fig = FIGURES["bar_counts"]()
    with plots.style():  # where show() and the report render it
        assert fig.axes[0].title.get_fontname() == plots.CJK_FONT
    plt.close(fig)
    plots.set_style("en")


def test_summary_frames_feed_the_figures():
    """The cohort figure reads the customers table and the monthly figure the monthly
    series, as the transaction stage hands them on."""
    tx = CLEAN.assign(is_return=False)
    params = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"}})
    customers = summary.customer_summary(tx, params.summary)
    fig = plots.first_purchase_cohorts(customers)
    assert fig.axes[0].get_title()
    plt.close(fig)
    monthly = aggregates.compute(tx, customers, params).monthly
    # March had none: no bar, no row; each month's buying customers beside
    pd.testing.assert_frame_equal(monthly, MONTHLY.assign(customers=[1, 1, 1]),
                                  check_dtype=False)
    fig = plots.monthly_activity(monthly, "EUR")
    assert [p.get_height() for p in fig.axes[0].patches] == [1, 1, 1]
    plt.close(fig)


def test_the_btyd_matrix_has_frequency_across_and_recency_up():
    """Issue 15: the labels match the axes (lifetimes' helper puts frequency across while its
    recency label was read the other way round)."""
    fig = plots.btyd_matrix(BGF, "alive", "week", CUSTOMERS)
    ax = fig.axes[0]
    z = np.ma.filled(ax.images[0].get_array().astype("float64"), np.nan)
    cap = int(CUSTOMERS["frequency"].quantile(0.99)) + 1
    assert z.shape == (int(CUSTOMERS["T"].max()) + 1, cap + 1)
    assert ax.get_xlabel().startswith("frequency") and ax.get_ylabel().startswith("recency")
    # a repeat buyer whose last purchase is recent is likelier alive; P(alive) falls with
    # frequency at a fixed old recency; one-time buyers exist only at recency 0
    assert z[-1, 3] > z[2, 3] and z[2, 1] > z[2, cap]
    assert np.isnan(z[1:, 0]).all() and z[0, 0] == pytest.approx(1.0)
    plt.close(fig)


def test_log_axes_show_plain_numbers_not_raw_tex():
    """With text.parse_math off (data labels are text), matplotlib's log ticks would read
    "$\\mathdefault{10^{2}}$"; every figure the notebooks and the page show has 10, 100…"""
    plots.set_style("en")
    fig = plots.value_histogram(pd.Series(np.geomspace(0.5, 5000, 200)), "Historical CLV",
                                "historical CLV (USD, log scale)", seed=1)
    plots.plain_log_ticks(fig)
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert ticks and not any("\\" in t or "$" in t for t in ticks), ticks
    assert {"10", "100", "1,000"} <= set(ticks), ticks
    plt.close(fig)


def test_bar_labels_do_not_overlap_at_the_report_size():
    """Issue 30: the three tiers' names side by side overlapped on the page's CLV chart."""
    from analysis.report.html import FIGURE_WIDTH
    counts = pd.Series({"A: key customers": 318.0, "B: major customers": 74.0,
                        "C: ordinary customers": 10.0})
    fig = plots.bar_counts(counts, "title", "Tier", "mean predicted CLV (USD)")
    fig.set_size_inches(FIGURE_WIDTH, FIGURE_WIDTH * 0.55)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].get_xticklabels()]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), boxes
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    big = plots.bar_counts(pd.Series({"active": 5762, "churned": 15758}), "t", "stage")
    big.canvas.draw()
    assert "10,000" in [t.get_text() for t in big.axes[0].get_yticklabels()], ticks
    plt.close("all")


def test_the_projects_style_changes_no_global_setting():
    """Issue 31: setup() used to set text.parse_math off for the whole kernel, so an
    analyst's own log-log plot showed $\\mathdefault{10^{4}}$ ticks. The project's figures
    are drawn in their own style context; matplotlib's settings stay the defaults."""
    import matplotlib as mpl
    before = dict(mpl.rcParams)
    plots.set_style("zh")
    fig = FIGURES["bar_counts"]()
    assert dict(mpl.rcParams) == before and mpl.rcParams["text.parse_math"]
    assert fig.axes[0].title.get_fontweight() == "bold"  # drawn in the project's style
    assert not fig.axes[0].title._parse_math  # a "$0_$50" label stays text
    plt.close(fig)
    own, ax = plt.subplots()
    ax.loglog([1, 10_000], [1, 10_000])
    own.canvas.draw()
    assert any("mathdefault" in t.get_text() for t in ax.get_xticklabels()) or \
        any("10^" in t.get_text() for t in ax.get_xticklabels())  # matplotlib's own ticks
    plt.close(own)
    plots.set_style("en")


def test_monthly_ticks_stand_under_the_bars_and_revenue_starts_at_zero():
    """Issue 31: ticks on the 15th under no bar; a revenue axis from 50000, no separators."""
    monthly = pd.DataFrame({"month": pd.date_range("2021-01-01", periods=18, freq="MS"),
                            "transactions": np.arange(18) + 5,
                            "revenue": 50_000.0 + 1_000 * np.arange(18)})
    fig = plots.monthly_activity(monthly, "EUR")
    fig.canvas.draw()
    ax, ax2 = fig.axes
    import matplotlib.dates as mdates
    ticks = [mdates.num2date(x) for x in ax.get_xticks()]
    assert ticks and all(t.day == 1 for t in ticks) and len(ticks) <= 12
    assert ax2.get_ylim()[0] == 0
    assert any("," in t.get_text() for t in ax2.get_yticklabels())
    plt.close(fig)


def test_segment_legend_covers_no_bar():
    # CDNOW's shares of customers and revenue by segment: long bars top and bottom
    shares = [(0.15, 0.46), (0.66, 0.28), (0.07, 0.11), (0.04, 0.06), (0.03, 0.04),
              (0.02, 0.02), (0.01, 0.02), (0.01, 0.01), (0.01, 0.00)]
    summary = pd.DataFrame(shares, columns=["customer_share", "revenue_share"],
                           index=[f"segment {i}" for i in range(9)])
    fig = plots.segment_bars(summary, list(summary.index), "en")
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    # outside the plotting area: inside it covered the rows of the smallest segments, whose
    # bars are too short to see but whose rows must stay readable
    assert not legend.overlaps(ax.get_window_extent())
    assert not legend.overlaps(ax.xaxis.label.get_window_extent())
    plt.close(fig)


def test_the_btyd_matrix_has_whole_ticks_and_explains_its_blank_cells():
    fig = FIGURES["btyd_matrix"]()
    fig.canvas.draw()
    ax = fig.axes[0]
    for locs in (ax.get_xticks(), ax.get_yticks()):
        assert all(float(v).is_integer() for v in locs)
    assert "blank: no repeat purchase yet" in ax.get_xlabel()
    plt.close(fig)


def test_the_spend_figure_without_repeat_buyers_says_so():
    once = CUSTOMERS.assign(frequency=0.0, monetary_value=0.0)
    fig = plots.spend_vs_frequency(once, None, "EUR")
    fig.canvas.draw()  # no log axis over nothing (it raised)
    assert any(t.get_text() == "no repeat buyers" for t in fig.axes[0].texts)
    plt.close(fig)


def test_backtest_deciles_run_one_to_ten_with_money_on_the_y_axis():
    fig = plots.backtest_deciles(BACKTESTS, "BG/NBD", "EUR")
    try:
        ax = fig.axes[0]
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert all(float(t).is_integer() for t in ticks) and min(ticks) >= 1 and max(ticks) <= 10
        assert ax.get_ylabel() == "mean holdout revenue (EUR)"
        assert len(ax.get_lines()) == 4  # actual and predicted, per origin
        legend = ax.get_legend()
        assert legend is not None and legend.get_bbox_to_anchor().y0 < \
            ax.get_window_extent().y0  # below the axes: no line covered
    finally:
        plt.close(fig)


def test_the_revenue_trend_starts_at_zero_with_monthly_ticks_and_the_periods_coloured():
    fig = plots.revenue_trend(TREND, "EUR")
    try:
        ax = fig.axes[0]
        assert ax.get_ylim()[0] == 0 and ax.get_ylabel() == "revenue per month (EUR)"
        colours = [tuple(round(c, 3) for c in p.get_facecolor()) for p in ax.patches]
        assert len(set(colours[-2:])) == 1 and colours[-3] != colours[-1] != colours[0]
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert labels and all(len(x) == 7 and x[4] == "-" for x in labels)
    finally:
        plt.close(fig)


def test_the_cohort_heatmap_has_upright_cohorts_percent_cells_and_no_colour_bar():
    fig = plots.cohort_heatmap(pd.DataFrame([[0.15, 0.1], [0.12, 0.08]],
                                            index=["2020-01", "2020-02"], columns=[1, 3]))
    try:
        ax = fig.axes[0]
        assert len(fig.axes) == 1  # no colour bar
        assert [t.get_rotation() for t in ax.get_yticklabels()] == [0, 0]
        assert sorted(t.get_text() for t in ax.texts) == ["10%", "12%", "15%", "8%"]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3"]
    finally:
        plt.close(fig)


def test_a_cohort_heatmap_without_a_month_after_the_first_says_so():
    fig = plots.cohort_heatmap(pd.DataFrame(index=["2020-01"]))
    try:
        assert "no month after the first purchase" in fig.axes[0].texts[0].get_text()
    finally:
        plt.close(fig)
