"""The CLV figures (notebook 04): tracking, conditional expectations, the backtests'
deciles, the frequency/recency matrices, spend against frequency and value histograms.
``plots`` offers them with the others."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker as mticker

from .figstyle import axes_for, legend_below, styled

__all__ = ["alive_history", "period_transactions", "tracking_plots", "conditional_expectations", "backtest_deciles", "btyd_matrix", "spend_vs_frequency", "value_histogram"]


@styled
def tracking_plots(track: pd.DataFrame, calibration_end: str) -> plt.Figure:
    """Weekly repeat transactions, actual vs model: cumulative and per week."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    x = track["week_start"]
    axes[0].plot(x, track["actual_cumulative"], color="#1d3557", label="actual")
    axes[0].plot(x, track["model_cumulative"], color="#e76f51", ls="--", label="model")
    axes[0].set(title="Cumulative repeat transactions", xlabel="week",
                ylabel="repeat transactions (cumulative count)")
    axes[1].plot(x, track["actual"], color="#1d3557", label="actual")
    axes[1].plot(x, track["model"], color="#e76f51", ls="--", label="model")
    axes[1].set(title="Repeat transactions per week", xlabel="week",
                ylabel="repeat transactions per week (count)")
    for ax in axes:
        ax.axvline(pd.Timestamp(calibration_end), color="grey", ls=":",
                   label="end of calibration")
        ax.legend()
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("Does the model track real purchases? (fitted on the calibration period only)")
    fig.tight_layout()
    return fig


@styled
def conditional_expectations(table: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Figure:
    """Mean holdout purchases by calibration frequency: actual, each model, and naive."""
    fig, ax = axes_for(ax, (7.5, 4.2))
    ax.plot(table.index, table["actual"], marker="o", color="#1d3557", label="actual")
    models = [c for c in table if c not in ("customers", "actual", "naive")]
    for name, colour, marker in zip(models, ("#e76f51", "#2a9d8f", "#e9c46a"), "sDv"):
        ax.plot(table.index, table[name], marker=marker, ls="--", color=colour, label=name)
    ax.plot(table.index, table["naive"], marker="^", ls=":", color="grey",
            label="naive (past rate)")
    ax.set(title="Holdout purchases by calibration frequency",
           xlabel="repeat purchases in the calibration period",
           ylabel="mean repeat purchases in the holdout (per customer)")
    ax.legend()
    fig.tight_layout()
    return fig


@styled
def backtest_deciles(backtests: Mapping[str, Any], model: str, currency: str,
                     ax: plt.Axes | None = None) -> plt.Figure:
    """Each backtest of ``model``: mean predicted and actual revenue per customer in the
    holdout (purchases where no spend model was fitted), by decile of the prediction."""
    fig, ax = axes_for(ax, (7.5, 4.2))
    basis = (backtests.get("error") or {}).get("basis", "revenue")
    colours = ("#1d3557", "#e76f51", "#2a9d8f", "#e9c46a")
    for o, colour in zip(backtests.get("origins") or [], colours):
        sc = o["models"].get(model) or {}
        if sc.get("status") != "ok" or not sc.get("deciles"):
            continue
        pred, actual = np.asarray(sc["deciles"], dtype="float64").T
        x = np.arange(1, len(pred) + 1)
        ax.plot(x, actual, marker="o", color=colour, label=f"{o['calibration_end']} actual")
        ax.plot(x, pred, ls="--", color=colour, label=f"{o['calibration_end']} predicted")
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    unit = f"mean holdout revenue ({currency})" if basis == "revenue" \
        else "mean holdout purchases (count)"
    ax.set(title="Backtests: predicted against actual, by decile of the prediction",
           xlabel="decile of the prediction (1 = lowest)", ylabel=unit)
    legend_below(fig, ax)
    return fig


@styled
def btyd_matrix(fitter, kind: str, time_unit: str, customers: pd.DataFrame,
                ax: plt.Axes | None = None) -> plt.Figure:
    """P(alive) (``kind='alive'``) or the expected purchases in the next unit of time, for a
    customer observed as long as the longest-observed one, by frequency (x axis: repeat
    purchase days, up to the 99th percentile) and recency (y axis: first to last purchase).
    Drawn from the model's own methods on that grid, so its cost does not grow with data;
    cells no customer can be in (no repeat purchase but a recency above 0) are left blank."""
    max_frequency = int(customers["frequency"].quantile(0.99)) + 1
    age = float(customers["T"].max())
    frequency, recency = np.meshgrid(np.arange(max_frequency + 1, dtype="float64"),
                                     np.arange(int(age) + 1, dtype="float64"))
    x, r, t = frequency.ravel(), recency.ravel(), np.full(frequency.size, age)
    with np.errstate(all="ignore"):
        if kind == "alive":
            z = np.asarray(fitter.p_alive(x, r, t), dtype="float64")
            title, label = "Probability that a customer is still active", "P(alive)"
        else:
            z = np.asarray(fitter.expected_repeat(1.0, x, r, t), dtype="float64")
            title = f"Expected purchases in the next {time_unit}"
            label = f"expected purchases in the next {time_unit}"
    z = np.where((x == 0) & (r > 0), np.nan, z).reshape(frequency.shape)
    fig, ax = axes_for(ax, (7, 5.5))
    image = ax.imshow(z, origin="lower", aspect="auto", cmap="crest", interpolation="none")
    fig.colorbar(image, ax=ax, label=label)
    ax.set(title=title, xlabel=f"frequency: repeat purchase days (up to {max_frequency}, the 99th "
           "percentile)\nblank: no repeat purchase yet, so no recency above 0",
           ylabel=f"recency: {time_unit}s between first and last purchase")
    for axis in (ax.xaxis, ax.yaxis):  # whole purchases and whole units: no 2.5 ticks
        axis.set_major_locator(mticker.MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


@styled
def spend_vs_frequency(customers: pd.DataFrame, corr: float | None, currency: str = "USD",
                       seed: int = 0, sample: int = 20_000,
                       ax: plt.Axes | None = None) -> plt.Figure:
    """Gamma-Gamma's assumption in front of the reader: each repeat buyer's repeat purchase
    days against their mean spend per repeat day (log axes, a seeded sample above
    ``sample``), the correlation in the title; the spend model assumes there is none."""
    rep = customers.loc[(customers["frequency"] > 0) & (customers["monetary_value"] > 0),
                        ["frequency", "monetary_value"]]
    if len(rep) > sample:
        rep = rep.sample(sample, random_state=seed)
    fig, ax = axes_for(ax, (6.5, 4.5))
    if len(rep):
        ax.scatter(rep["frequency"], rep["monetary_value"], s=6, alpha=0.3, color="#457b9d")
        ax.set_xscale("log")
        ax.set_yscale("log")
    else:  # nothing to put on a log axis
        ax.text(0.5, 0.5, "no repeat buyers", transform=ax.transAxes, ha="center")
    shown = "–" if corr is None else f"{corr:.2f}"
    ax.set(title=f"Spend per purchase against frequency (correlation {shown})",
           xlabel="frequency: repeat purchase days (log scale)",
           ylabel=f"mean spend per repeat purchase day ({currency}, log scale)")
    fig.tight_layout()
    return fig


@styled
def value_histogram(values: pd.Series, title: str, xlabel: str, seed: int = 0,
                    sample: int = 200_000, ax: plt.Axes | None = None) -> plt.Figure:
    """Histogram on a log axis of the values of at least one cent (sampled above
    ``sample``): a model's predicted value of 2e-13 is zero for a reader, and would
    stretch the axis over fourteen powers of ten."""
    v = values[values >= 0.01]
    if len(v) > sample:
        v = v.sample(sample, random_state=seed)
    fig, ax = axes_for(ax, (7.5, 4))
    sns.histplot(x=v, bins=50, log_scale=True, ax=ax, color="#2a9d8f")
    ax.set(title=title, xlabel=xlabel, ylabel="customers")
    fig.tight_layout()
    return fig


@styled
def alive_history(history: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Figure:
    """One customer's P(alive) over time (``timing.alive_history``), their purchase days
    marked: it jumps at each purchase and fades while they are silent."""
    fig, ax = axes_for(ax, (7.5, 3.6))
    ax.plot(history["date"], history["p_alive"], color="#1d3557", label="P(alive)")
    bought = history[history["purchase"]]
    ax.scatter(bought["date"], bought["p_alive"], color="#e76f51", zorder=3, s=22,
               label="purchase day")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set(title="One customer's story: the chance they are still active, day by day",
           xlabel="date", ylabel="P(alive) (%)")
    legend_below(fig, ax)
    return fig


@styled
def period_transactions(counts: pd.DataFrame, ax: plt.Axes | None = None) -> plt.Figure:
    """Customers by repeat purchase days: actual against the model's draws
    (``timing.period_counts``)."""
    fig, ax = axes_for(ax, (7.5, 4.0))
    x = np.arange(len(counts))
    ax.bar(x - 0.2, counts["actual"], width=0.4, color="#1d3557", label="actual")
    ax.bar(x + 0.2, counts["model"], width=0.4, color="#e76f51", label="model")
    ax.set_xticks(x, counts.index)
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    ax.set(title="Customers by repeat purchase days: actual and as the model draws them",
           xlabel="repeat purchase days", ylabel="customers (count)")
    legend_below(fig, ax)
    return fig
