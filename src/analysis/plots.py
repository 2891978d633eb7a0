"""Figures shared by the notebooks: seaborn/matplotlib, titled, axes labelled with units.

Every function takes small, already-aggregated frames (or bins/samples large ones
itself), returns the matplotlib ``Figure`` and never writes files. As lifetimes' plotting
functions do, every single-panel figure takes an optional ``ax`` to draw on (the
multi-panel ones, ledger, activity, R/F/M and tracking, make their own); the figures the
report shows too (:func:`lorenz`, :func:`segment_bars`, :func:`bar_counts`) also take the
language of their labels. The CLV figures are drawn in ``plots_clv`` and offered here.
"""
from __future__ import annotations

import textwrap
from typing import Any, Mapping

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker as mticker

from .figstyle import (CJK_FONT, axes_for, legend_below, plain_log_ticks, set_style, show,
                       style, styled)
from .narrative import labels
from .plots_clv import (alive_history, backtest_deciles, btyd_matrix, conditional_expectations,
                        period_transactions, spend_vs_frequency, tracking_plots,
                        value_histogram)

__all__ = ["PALETTE", "CJK_FONT", "set_style", "style", "styled", "ledger_bars", "monthly_activity",
           "revenue_trend", "cohort_heatmap", "cohort_value_curves",
           "first_purchase_cohorts", "show", "plain_log_ticks", "annotated_heatmap", "lorenz", "tier_shares",
           "rfm_distributions", "segment_bars", "silhouette_by_k", "bar_counts", "tracking_plots",
           "conditional_expectations", "backtest_deciles", "btyd_matrix", "spend_vs_frequency", "value_histogram",
           "group_means", "alive_history", "period_transactions"]

PALETTE = "crest"


@styled
def ledger_bars(ledger: pd.DataFrame, currency: str = "USD") -> plt.Figure:
    """Rows and revenue removed by each cleaning rule, beside what was kept."""
    steps = ledger[~ledger["step"].isin(["input"])].copy()
    steps["kind"] = np.where(steps["step"] == "kept", "kept", "dropped")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    sns.barplot(data=steps, y="step", x="rows", hue="kind", dodge=False, ax=axes[0],
                palette={"kept": "#2a9d8f", "dropped": "#e76f51"}, legend=False)
    axes[0].set(title="Rows by cleaning step", xlabel="rows (transactions)", ylabel="step")
    axes[0].set_xscale("symlog")
    sns.barplot(data=steps, y="step", x="revenue", hue="kind", dodge=False, ax=axes[1],
                palette={"kept": "#2a9d8f", "dropped": "#e76f51"}, legend=False)
    axes[1].set(title="Revenue by cleaning step", xlabel=f"revenue ({currency})", ylabel="")
    axes[1].set_xscale("symlog")
    fig.suptitle("Where every input row went (symmetric log scale)")
    fig.tight_layout()
    return fig


@styled
def monthly_activity(monthly: pd.DataFrame, currency: str = "USD") -> plt.Figure:
    """Transactions and revenue per calendar month (the transaction stage's ``monthly``:
    month, transactions, revenue)."""
    per = monthly
    fig, ax = plt.subplots(figsize=(10, 4.2))
    # each month's bar and point centred on the month's first day, where its tick is (a
    # date axis put its ticks on the 15th, under no bar)
    ax.bar(per["month"], per["transactions"], width=20, color="#457b9d", label="transactions")
    ax.set(title="Transactions per month", xlabel="month",
           ylabel="transactions per month (count)")
    months = max(len(per), 1)
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonthday=1,
                                                   interval=max(1, -(-months // 12))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.tick_params(axis="x", rotation=30)
    ax2 = ax.twinx()
    ax2.plot(per["month"], per["revenue"], color="#e76f51", marker="o", label="revenue")
    ax2.set_ylabel(f"revenue per month ({currency})")
    ax2.set_ylim(bottom=min(0.0, float(per["revenue"].min()) if len(per) else 0.0))
    for axis in (ax.yaxis, ax2.yaxis):  # from 0, thousands separated
        axis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax2.grid(False)
    fig.legend(loc="upper right", bbox_to_anchor=(0.88, 0.88))
    fig.tight_layout()
    return fig


@styled
def revenue_trend(trend: Mapping[str, Any], currency: str = "USD",
                  ax: plt.Axes | None = None) -> plt.Figure:
    """Revenue per whole month (``trend.trend_metrics``), the last months compared (dark)
    against as many before (light), the rest grey."""
    monthly, n = trend["monthly"], trend["months"]
    months = pd.to_datetime(pd.Series(monthly["month"]) + "-01")
    colour = ["#c9d6df"] * len(months)
    for i in range(len(months) - 2 * n, len(months)):
        colour[i] = "#1d3557" if i >= len(months) - n else "#a8dadc"
    fig, ax = axes_for(ax, (7.5, 3.4))
    ax.bar(months, monthly["revenue"], width=20, color=colour)
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonthday=1,
                                                   interval=max(1, -(-len(months) // 8))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.tick_params(axis="x", rotation=30)
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax.set_ylim(bottom=min(0.0, float(min(monthly["revenue"]))))
    ax.set(title=f"Revenue per month: the last {n} months (dark) against as many before",
           xlabel="month", ylabel=f"revenue per month ({currency})")
    fig.tight_layout()
    return fig


@styled
def first_purchase_cohorts(customers: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Figure:
    """New customers per month of first purchase (date coverage of the customer base)."""
    per = customers["first_purchase"].dt.to_period("M").value_counts().sort_index()
    fig, ax = axes_for(ax, (10, 3.6))
    ax.bar(per.index.to_timestamp(), per.to_numpy(), width=20, color="#2a9d8f")
    ax.set(title="New customers per month (month of first purchase)", xlabel="month",
           ylabel="new customers (count)")
    fig.tight_layout()
    return fig


@styled
def annotated_heatmap(table: pd.DataFrame, title: str, xlabel: str, ylabel: str,
                      fmt: str = ".0f", cmap: str = "crest",
                      cbar_label: str | None = None, ax: plt.Axes | None = None) -> plt.Figure:
    """A small table as a heatmap with its values written in the cells."""
    fig, ax = axes_for(ax, (max(5, 1.1 * table.shape[1] + 2), max(3, 0.55 * table.shape[0] + 1.5)))
    sns.heatmap(table, annot=True, fmt=fmt, cmap=cmap, ax=ax,
                cbar_kws={"label": cbar_label} if cbar_label else None)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.tight_layout()
    return fig



@styled
def cohort_heatmap(retention: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Figure:
    """The share of each cohort (rows: month or quarter of first purchase) buying in each
    month since the first (columns), written in the cells; no colour bar (the cells say
    it), cohort labels upright."""
    fig, ax = axes_for(ax, (max(4.8, 0.9 * retention.shape[1] + 1.6),
                         max(2.4, 0.42 * retention.shape[0] + 1.4)))
    if retention.shape[1] == 0 or retention.isna().all().all():  # nothing after month 0
        ax.text(0.5, 0.5, "no month after the first purchase in the window yet",
                ha="center", va="center", transform=ax.transAxes)
        ax.set(title="Share of each cohort buying, by month since the first purchase",
               xlabel="months since the first purchase", ylabel="cohort (first purchase)",
               xticks=[], yticks=[])
        return fig
    sns.heatmap(retention * 100, annot=True, fmt=".0f", cmap="Blues", cbar=False, ax=ax,
                vmin=0, annot_kws={"fontsize": 10})
    for text in ax.texts:
        text.set_text(text.get_text() + "%")
    ax.tick_params(axis="y", rotation=0)
    ax.set(title="Share of each cohort buying, by month since the first purchase",
           xlabel="months since the first purchase", ylabel="cohort (first purchase)")
    fig.tight_layout()
    return fig


@styled
def cohort_value_curves(value: pd.DataFrame, currency: str,
                        ax: plt.Axes | None = None) -> plt.Figure:
    """Each cohort's cumulative net revenue per customer by month since the first purchase
    (``cohorts.cohort_tables``' value table), one line per cohort, the latest the darkest."""
    fig, ax = axes_for(ax, (7.5, 4.2))
    colours = sns.color_palette("crest", len(value))
    for (label, row), colour in zip(value.iterrows(), colours):
        ax.plot(row.index, row.to_numpy(dtype="float64"), marker="o", ms=3, color=colour,
                label=str(label))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax.set_ylim(bottom=0)
    ax.set(title="What a cohort's customers brought, month by month since the first",
           xlabel="months since the first purchase",
           ylabel=f"cumulative revenue per customer ({currency})")
    if len(value) <= 12:
        legend_below(fig, ax)
    else:
        fig.tight_layout()
    return fig


@styled
def lorenz(curve: pd.DataFrame, pareto: Mapping[str, Any], lang: str = "en",
           title: str | None = None, ax: plt.Axes | None = None) -> plt.Figure:
    """Lorenz curve with the line of equality and the 80 %-of-revenue point marked (notebook
    02 and the report draw the same figure)."""
    fig, ax = axes_for(ax, (6.2, 5.6))
    x, y = curve["customer_share"] * 100, curve["revenue_share"] * 100
    ax.fill_between(x, y, x, color="#a8dadc", alpha=0.5)
    ax.plot(x, y, color="#1d3557", lw=2.2,
            label=labels.s("lorenz_label", lang, gini=pareto["gini"]))
    ax.plot([0, 100], [0, 100], ls="--", color="grey", label=labels.s("equality_label", lang))
    # customers run from the lowest revenue up, so what the top of the base brings is the
    # gap between the curve and 100 %: drawn as a bar from the curve to the top
    share80 = pareto.get("customer_share_for_80pct_revenue")
    if share80 is not None:
        at = 100 - share80 * 100  # the top share80 of customers = from (1 - share80) upwards
        ax.vlines(at, 20, 100, color="#e76f51", lw=3)
        ax.annotate(labels.s("top80_note", lang, share80=share80), (at, 60), xytext=(8, 45),
                    textcoords="data", color="#e76f51",
                    arrowprops={"arrowstyle": "->", "color": "#e76f51"})
    top20 = pareto["top_20pct_revenue_share"]
    ax.vlines(80, 100 - top20 * 100, 100, color="#2a9d8f", lw=3,
              label=labels.s("top20_label", lang, top20=top20))
    ax.set(title=title or labels.s("lorenz_title", lang), xlabel=labels.t("cum_customers", lang),
           ylabel=labels.t("cum_revenue", lang), xlim=(0, 100), ylim=(0, 100))
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    return fig


@styled
def tier_shares(table: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Figure:
    """Customer share vs revenue share for each tier, side by side."""
    long = pd.DataFrame({
        "tier": list(table.index) * 2,
        "share": list(table["customer_share"] * 100) + list(table["revenue_share"] * 100),
        "measure": ["share of customers"] * len(table) + ["share of revenue"] * len(table),
    })
    fig, ax = axes_for(ax, (7, 4.2))
    sns.barplot(data=long, x="tier", y="share", hue="measure", ax=ax,
                palette=["#a8dadc", "#1d3557"])
    for cont in ax.containers:
        ax.bar_label(cont, fmt="%.1f%%", fontsize=9)
    ax.set(title="Few customers, most of the revenue: ABC tiers", xlabel="ABC tier",
           ylabel="share (%)")
    legend_below(fig, ax)
    return fig


@styled
def rfm_distributions(customers: pd.DataFrame, days_since_last: np.ndarray,
                      currency: str = "USD") -> plt.Figure:
    """Histograms of days since last purchase, orders and revenue (log axes where skewed)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    sns.histplot(x=days_since_last, bins=40, ax=axes[0], color="#457b9d")
    axes[0].set(title="Recency", xlabel="days since last purchase", ylabel="customers")
    orders = customers["n_orders"].clip(lower=1)
    sns.histplot(x=orders, bins=40, log_scale=True, ax=axes[1], color="#2a9d8f")
    axes[1].set(title="Frequency", xlabel="orders per customer (log scale)", ylabel="customers")
    rev = customers["revenue"][customers["revenue"] > 0]
    sns.histplot(x=rev, bins=40, log_scale=True, ax=axes[2], color="#e76f51")
    axes[2].set(title="Monetary", xlabel=f"revenue per customer ({currency}, log scale)",
                ylabel="customers")
    fig.suptitle("R, F and M before scoring")
    fig.tight_layout()
    return fig


@styled
def segment_bars(summary: pd.DataFrame, names: list[str] | None = None, lang: str = "en",
                 title: str | None = None, ax: plt.Axes | None = None) -> plt.Figure:
    """Share of customers and share of revenue per named segment (``names``: the segments'
    labels in ``lang``; notebook 03 and the report draw the same figure)."""
    names = names or list(summary.index)
    long = pd.DataFrame({
        "segment": names * 2,
        "share": list(summary["customer_share"] * 100) + list(summary["revenue_share"] * 100),
        "measure": [labels.t("share_customers", lang)] * len(summary)
        + [labels.t("share_revenue", lang)] * len(summary)})
    fig, ax = axes_for(ax, (9, 0.45 * len(summary) + 1.8))
    sns.barplot(data=long, y="segment", x="share", hue="measure", ax=ax,
                palette=["#a8dadc", "#1d3557"])
    ax.set(title=title or labels.s("segments_title", lang), xlabel=labels.t("share_pct", lang),
           ylabel=labels.t("segment", lang))
    legend_below(fig, ax)
    return fig


@styled
def silhouette_by_k(scores: dict, chosen: int, ax: plt.Axes | None = None) -> plt.Figure:
    """Mean silhouette for each k tried, the chosen k marked."""
    fig, ax = axes_for(ax, (6.5, 3.6))
    ks = sorted(scores)
    ax.plot(ks, [scores[k] for k in ks], marker="o", color="#1d3557")
    ax.axvline(chosen, ls="--", color="#e76f51", label=f"chosen k = {chosen}")
    ax.set(title="Choosing k: silhouette on a seeded sample", xlabel="number of clusters k",
           ylabel="mean silhouette (−1 to 1)")
    ax.legend()
    fig.tight_layout()
    return fig


@styled
def bar_counts(counts: pd.Series, title: str, xlabel: str, ylabel: str = "customers",
               ax: plt.Axes | None = None) -> plt.Figure:
    """One bar per group, labelled with its value; a long group name wraps onto a second
    line (three tiers' names side by side overlap on a phone-sized figure), the value axis
    with thousands separators."""
    fig, ax = axes_for(ax, (7, 3.6))
    names = ["\n".join(textwrap.wrap(str(i), 14, break_long_words=False)) or str(i)
             for i in counts.index]
    sns.barplot(x=names, y=counts.to_numpy(), ax=ax, color="#457b9d")
    for cont in ax.containers:
        ax.bar_label(cont, fmt="{:,.0f}", fontsize=9)
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.tight_layout()
    return fig


@styled
def group_means(frame: pd.DataFrame, group: str, value: str, title: str, xlabel: str,
                ax: plt.Axes | None = None) -> plt.Figure:
    """Mean (and total) of ``value`` per group, as horizontal bars."""
    g = frame.groupby(group, observed=True)[value].agg(["mean", "sum"]).sort_values("mean")
    fig, ax = axes_for(ax, (8, 0.42 * len(g) + 1.8))
    ax.barh([str(i) for i in g.index], g["mean"], color="#457b9d")
    for i, (m, s) in enumerate(zip(g["mean"], g["sum"])):
        ax.text(m, i, f"  {m:,.0f} (total {s:,.0f})", va="center", fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=group.replace("_", " "))
    fig.tight_layout()
    return fig
