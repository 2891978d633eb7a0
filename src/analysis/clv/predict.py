"""Predictions: P(alive), expected purchases, predicted and historical CLV, CLV tiers.

* **Predicted CLV** over ``clv_horizon_months`` follows lifetimes'
  ``customer_lifetime_value`` exactly (months of 30 days / 4.345 weeks, monthly
  discounting) and is multiplied by :func:`margin_ratio` (``margin``, or each customer's
  profit ratio when costs are mapped); it is computed on the unique (frequency, recency,
  T) triples and spread back to the customers, which is what makes the bootstrap
  affordable on large data, and is tested equal to lifetimes' function.
* **Historical CLV** = Σₜ (Rₜ − Cₜ) / (1 + d)ᵗ with a mapped cost (or profit) column, else
  Σₜ margin·Rₜ / (1 + d)ᵗ; t = months since the customer's first purchase month (t = 0
  for that month), Rₜ the customer's net revenue in month t, d the monthly rate
  equivalent to the annual ``discount_rate``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import ClvParams
from ..messages import Message, msg
from ..ranking import abc_tiers
from ..units import horizon_column, monthly_rate
from .models import unique_triples

__all__ = ["MONTH", "monthly_rate", "expected_purchases_fn", "discounted_transactions",
           "discounted_by_horizon", "horizon_column", "horizons_of", "horizon_columns",
           "expected_spend",
           "triples_of", "margin_ratio", "definition", "predict", "clv_tiers", "CLV_TIER_CUTS",
           "one_time_buyers", "SCHEDULE_MAX_CUSTOMERS", "monthly_steps", "value_schedule"]

MONTH = {"D": 30.0, "W": 4.345}  # lifetimes' customer_lifetime_value month lengths
#: above this many customers the value schedule is kept as monthly totals only (per customer
#: it would be customers × months rows)
SCHEDULE_MAX_CUSTOMERS = 2_000_000
#: predicted-CLV tiers: top 20 % / middle 60 % / bottom 20 % of customers
CLV_TIER_CUTS = (0.20, 0.80)


def expected_purchases_fn(fitter, frequency, recency, T, pairs=None):
    """``t -> E[repeat purchases in (T, T + t] | x, tₓ, T]`` of each customer under
    ``fitter`` (its :meth:`~.models.base.PurchaseModel.expected_fn`: BG/NBD's and
    Pareto/NBD's compute what does not depend on t once; tests check both equal
    lifetimes). ``pairs``: the model's ``precompute`` of the data, when computed already."""
    x = np.asarray(frequency, dtype="float64")
    tx = np.asarray(recency, dtype="float64")
    T = np.asarray(T, dtype="float64")
    return fitter.expected_fn(x, tx, T, pairs)


def discounted_transactions(fitter, frequency, recency, T, months: int, rate_month: float,
                            freq: str, pairs=None) -> np.ndarray:
    """Σ over months i of the expected transactions in month i / (1 + d)^i — the factor of
    lifetimes' ``_customer_lifetime_value`` that multiplies the expected spend."""
    return discounted_by_horizon(fitter, frequency, recency, T, (months,), rate_month,
                                 freq, pairs)[months]


def monthly_steps(fitter, frequency, recency, T, months: int, freq: str, pairs=None
                  ) -> np.ndarray:
    """Expected repeat purchases in each month 1..``months`` ahead (rows) of each customer
    (columns): E[X(i·month)] − E[X((i−1)·month)], months as lifetimes counts them."""
    expected = expected_purchases_fn(fitter, frequency, recency, T, pairs)
    out = np.empty((months, len(np.asarray(frequency))))
    prev = np.zeros(out.shape[1])
    for i in range(1, months + 1):
        cur = expected(i * MONTH[freq])
        out[i - 1] = cur - prev
        prev = cur
    return out


def discounted_by_horizon(fitter, frequency, recency, T, horizons, rate_month: float,
                          freq: str, pairs=None, steps: np.ndarray | None = None
                          ) -> dict[int, np.ndarray]:
    """:func:`discounted_transactions` for several horizons (months) in one pass
    (``steps``: :func:`monthly_steps` over at least the longest, when computed already)."""
    if steps is None:
        steps = monthly_steps(fitter, frequency, recency, T, max(horizons), freq, pairs)
    total = np.zeros(steps.shape[1])
    out = {}
    for i in range(1, max(horizons) + 1):
        total += steps[i - 1] / (1 + rate_month) ** i
        if i in horizons:
            out[i] = total.copy()
    return out


def horizons_of(params: ClvParams) -> tuple[int, ...]:
    """Every horizon of the run, the headline one included, in order."""
    return tuple(sorted({*params.clv_horizons_months, params.clv_horizon_months}))


def horizon_columns(params: ClvParams) -> dict[int, str]:
    """Each horizon of the run and its column: ``predicted_clv`` for the headline one,
    :func:`horizon_column` for the others."""
    return {h: "predicted_clv" if h == params.clv_horizon_months else horizon_column(h)
            for h in horizons_of(params)}


def expected_spend(ggf, frequency, monetary) -> np.ndarray:
    """Gamma-Gamma expected mean spend (population mean for customers without repeat)."""
    x = np.asarray(frequency, dtype="float64")
    m = np.asarray(monetary, dtype="float64")
    return ggf.expected_spend(x, m)


def triples_of(customers: pd.DataFrame, triples=None) -> tuple[pd.DataFrame, np.ndarray]:
    if triples is not None:
        return triples
    return unique_triples(customers["frequency"], customers["recency"], customers["T"])


def margin_ratio(customers: pd.DataFrame, params: ClvParams) -> np.ndarray:
    """The share of predicted spend kept as profit, per customer.

    Without a cost column: the ``margin`` parameter for everyone. With one: a repeat buyer
    with positive revenue keeps their own profit / revenue; a one-time buyer (too little
    history to judge) or a customer without positive revenue gets the population's ratio
    (total profit / total revenue of the customers with positive revenue)."""
    n = len(customers)
    if "profit" not in customers:
        return np.full(n, float(params.margin))
    rev = customers["revenue"].to_numpy(dtype="float64")
    prof = customers["profit"].to_numpy(dtype="float64")
    pos = rev > 0
    population = float(prof[pos].sum() / rev[pos].sum()) if pos.any() else 0.0
    own = pos & (customers["frequency"].to_numpy(dtype="float64") > 0)
    return np.where(own, np.divide(prof, rev, out=np.zeros(n), where=pos), population)


def definition(customers: pd.DataFrame, params: ClvParams) -> Message:
    """Which CLV definition the run used, in words (metrics, report and notebook 04)."""
    if "profit" in customers:
        return msg("definition.profit")
    if params.margin == 1.0:
        return msg("definition.revenue")
    return msg("definition.margin", margin=params.margin)


def predict(fitter, ggf, customers: pd.DataFrame, params: ClvParams,
            triples: tuple[pd.DataFrame, np.ndarray] | None = None,
            steps: np.ndarray | None = None) -> pd.DataFrame:
    """p_alive, expected_purchases over the horizon and predicted_clv, per customer, and
    predicted CLV over each further horizon (:func:`horizon_column`).
    ``triples``: the customers' ``unique_triples``, and ``steps`` their
    :func:`monthly_steps` over the longest horizon, when already computed."""
    freq = params.time_unit.freq
    months = params.clv_horizon_months
    u, codes = triples_of(customers, triples)
    f, r, T = u["frequency"].to_numpy(), u["recency"].to_numpy(), u["T"].to_numpy()
    pairs = fitter.precompute(f, r, T)  # once
    with np.errstate(all="ignore"):
        p_alive = fitter.p_alive(f, r, T, pairs)
    p_alive = np.asarray(p_alive, dtype="float64")
    expected = expected_purchases_fn(fitter, f, r, T, pairs)(months * MONTH[freq])
    out = pd.DataFrame({"p_alive": p_alive[codes], "expected_purchases": expected[codes]},
                       index=customers.index)
    if ggf is not None:
        disc = discounted_by_horizon(fitter, f, r, T, horizons_of(params),
                                     monthly_rate(params.discount_rate), freq, pairs, steps)
        value = margin_ratio(customers, params) * expected_spend(
            ggf, customers["frequency"], customers["monetary_value"])
        for h, col in horizon_columns(params).items():
            out[col] = value * disc[h][codes]
    else:
        for col in horizon_columns(params).values():
            out[col] = np.nan
    return out


def clv_tiers(customers: pd.DataFrame, value: pd.Series) -> pd.Series:
    """top (20 %) / middle (60 %) / bottom (20 %) by ``value`` (:data:`CLV_TIER_CUTS`): equal
    values share a tier (``analysis.ranking``); no positive value, bottom."""
    frame = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(),
                          "revenue": value.to_numpy()}, index=customers.index)
    tiers = abc_tiers(frame, "rank_share", CLV_TIER_CUTS).astype(str)
    out = tiers.map({"A": "top", "B": "middle", "C": "bottom"})
    return out.where(value.notna(), "not estimated").rename("clv_tier")


def one_time_buyers(customers: pd.DataFrame, value: pd.Series) -> dict[str, float] | None:
    """What the one-time buyers' predicted values have in common (notebook 04 explains the
    spike they make): how many there are, their share of customers, and the median and
    the spread (10th to 90th percentile) of their predicted value. With no repeat purchase
    they differ only in how long ago they bought (T), and the spend model gives each the
    population's mean spend, so their values are nearly one number. None without any."""
    once = (customers["frequency"] == 0).to_numpy() & value.notna().to_numpy()
    if not once.any():
        return None
    v = value.to_numpy(dtype="float64")[once]
    return {"customers": int(once.sum()), "share": float(once.sum() / len(customers)),
            "median": float(np.median(v)), "p10": float(np.quantile(v, 0.1)),
            "p90": float(np.quantile(v, 0.9))}


def value_schedule(fitter, ggf, customers: pd.DataFrame, params: ClvParams,
                   triples: tuple[pd.DataFrame, np.ndarray] | None = None,
                   steps: np.ndarray | None = None
                   ) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Expected purchases and expected value (discounted, margin included: each month's
    term of :func:`discounted_by_horizon`, so the first h months add up to the horizon-h
    CLV) per customer per month over the longest horizon, as a long table (customer_id,
    month 1..H, expected_purchases, expected_value), and its totals per month. The long
    table is None above :data:`SCHEDULE_MAX_CUSTOMERS` customers; expected_value is NaN
    without a spend model. ``steps``: as :func:`predict` takes them."""
    u, codes = triples_of(customers, triples)
    months = max(horizons_of(params))
    if steps is None:
        f, r, T = u["frequency"].to_numpy(), u["recency"].to_numpy(), u["T"].to_numpy()
        steps = monthly_steps(fitter, f, r, T, months, params.time_unit.freq)
    value = margin_ratio(customers, params) * expected_spend(
        ggf, customers["frequency"], customers["monetary_value"]) if ggf is not None \
        else np.full(len(customers), np.nan)
    rate = monthly_rate(params.discount_rate)
    keep = len(customers) <= SCHEDULE_MAX_CUSTOMERS  # else the totals only, month by month:
    purchases, values, sums = [], [], []              # 24 months of 10M customers are 3.8 GB
    for i in range(1, months + 1):
        step = steps[i - 1][codes]
        worth = value * step / (1 + rate) ** i
        sums.append((float(step.sum()), float(np.nansum(worth)) if ggf is not None else np.nan))
        if keep:
            purchases.append(step)
            values.append(worth)
    totals = pd.DataFrame({"month": np.arange(1, months + 1),
                           "expected_purchases": [p for p, _ in sums],
                           "expected_value": [v for _, v in sums]})
    if not keep:
        return None, totals
    n = len(customers)
    long = pd.DataFrame({
        # the ids taken in Arrow, not tiled as Python strings (2.2 s at a million)
        "customer_id": customers["customer_id"].array.take(np.tile(np.arange(n), months)),
        "month": np.repeat(np.arange(1, months + 1, dtype="int16"), n),
        "expected_purchases": np.concatenate(purchases),
        "expected_value": np.concatenate(values)})
    return long, totals
