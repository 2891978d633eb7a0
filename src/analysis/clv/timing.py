"""What a marketer reads on a customer's profile besides the value: the chance of a purchase
in the next 30 and 90 days, a churn-risk band, the expected date of the next order, the
customer's own average days between purchases and expected spend per order; and the checks
of the timing on the backtests.

* **P(purchase in the next t days)** = 1 − the model's P(no purchase in (T, T + t])
  (``PurchaseModel.p_no_purchase``: drop-out included).
* **Churn risk** = 1 − P(alive), in bands: ``low`` below :data:`CHURN_BANDS`\\[0] (0.3),
  ``high`` from its second cut (0.7), ``medium`` between. Under BG/NBD a one-time buyer has
  P(alive) = 1 (the model lets nobody leave before a repeat purchase), so their band is
  low; under NBD everyone's is (nobody leaves).
* **Next order**: alive at T, each of these models' purchase rate has the posterior
  Gamma(r + x, α + T), so the waiting time to the next purchase has the median
  (α + T)(2^(1/(r + x)) − 1): the date is the observation end plus that, in days. It is
  the date *if the customer is still active*: P(alive) stands beside it.
* **Average days between purchases**: the days from the first to the last purchase day
  over the repeat purchase days (NaN for a one-time buyer).

Checked on each backtest (``timing_scores``): the predicted P(purchase in 90 days) against
the share who did buy within 90 days, by decile of the prediction; and, for those who
bought in the holdout, the error of the median waiting time against the actual days to
their first purchase.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..units import day_number, day_numbers, to_dates

__all__ = ["PURCHASE_DAYS", "CHURN_BANDS", "CHURN_LABELS", "purchase_probability",
           "median_wait", "churn_band", "timing_columns", "timing_scores", "story_customer",
           "alive_history", "period_counts"]

#: the horizons of the purchase probabilities, in days
PURCHASE_DAYS = (30, 90)
#: churn risk (1 − P(alive)) cut-offs: low below the first, high from the second
CHURN_BANDS = (0.3, 0.7)
CHURN_LABELS = ("low", "medium", "high")
DECILES = 10


def purchase_probability(fitter, days: float, unit_days: int, x, tx, T) -> np.ndarray:
    """P(at least one purchase in the next ``days``) of each customer (x, tₓ, T in the
    model's time unit of ``unit_days`` days)."""
    with np.errstate(all="ignore"):
        return 1 - np.asarray(fitter.p_no_purchase(days / unit_days, x, tx, T),
                              dtype="float64")


def median_wait(fitter, unit_days: int, x, T) -> np.ndarray:
    """The median days to the next purchase of a customer still alive at T (module
    docstring): (α + T)(2^(1/(r + x)) − 1), in days."""
    r, alpha = float(fitter.params_["r"]), float(fitter.params_["alpha"])
    x, T = np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64")
    return (alpha + T) * (2 ** (1 / (r + x)) - 1) * unit_days


def churn_band(p_alive) -> pd.Series:
    """low / medium / high from 1 − P(alive) (:data:`CHURN_BANDS`); "not estimated" where
    P(alive) is unknown."""
    risk = 1 - np.asarray(p_alive, dtype="float64")
    band = np.where(risk < CHURN_BANDS[0], CHURN_LABELS[0],
                    np.where(risk < CHURN_BANDS[1], CHURN_LABELS[1], CHURN_LABELS[2]))
    return pd.Series(np.where(np.isnan(risk), "not estimated", band))


def timing_columns(fitter, spend, customers: pd.DataFrame, unit_days: int,
                   end: pd.Timestamp, p_alive: np.ndarray) -> pd.DataFrame:
    """The customers table's timing columns (module docstring), in its row order."""
    x = customers["frequency"].to_numpy(dtype="float64")
    tx = customers["recency"].to_numpy(dtype="float64")
    T = customers["T"].to_numpy(dtype="float64")
    out = pd.DataFrame(index=customers.index)
    for days in PURCHASE_DAYS:
        out[f"p_purchase_{days}d"] = purchase_probability(fitter, days, unit_days, x, tx, T)
    out["churn_risk"] = churn_band(p_alive).to_numpy()
    wait = median_wait(fitter, unit_days, x, T)
    out["next_order_date"] = (end + pd.to_timedelta(np.round(wait), unit="D")).normalize()
    out["avg_days_between_purchases"] = np.where(x > 0, tx * unit_days / np.where(x > 0, x, 1),
                                                 np.nan)
    out["expected_spend"] = spend.expected_spend(
        x, customers["monetary_value"].to_numpy(dtype="float64")) if spend is not None \
        else np.nan
    return out


def timing_scores(fitter, frame: pd.DataFrame, unit_days: int,
                  triples: tuple[pd.DataFrame, np.ndarray] | None = None) -> dict[str, Any]:
    """A calibrated model's timing on its holdout (``frame``: a calibration frame with
    ``first_holdout_days``): the 90-day purchase probability by decile against the share
    who bought within 90 days (when the holdout is that long), its largest gap, and the
    median error (and bias) in days of the median waiting time for those who bought.
    ``triples``: the frame's distinct (x, tₓ, T) and each row's place among them, to
    compute each once (``fitting.unique_triples``); default: each row's own."""
    if "first_holdout_days" not in frame:
        return {}
    if triples is None:
        x, tx, T = (frame[c].to_numpy(dtype="float64") for c in
                    ("frequency_cal", "recency_cal", "T_cal"))
        where = np.arange(len(frame))
    else:
        x, tx, T = (triples[0][c].to_numpy(dtype="float64") for c in ("frequency", "recency", "T"))
        where = triples[1]
    first = frame["first_holdout_days"].to_numpy(dtype="float64")
    out: dict[str, Any] = {"p90_deciles": None, "p90_largest_gap": None,
                           "next_order_error_days": None, "next_order_bias_days": None}
    days = PURCHASE_DAYS[-1]
    if frame["duration_holdout"].iloc[0] * unit_days >= days:
        pred = purchase_probability(fitter, days, unit_days, x, tx, T)[where]
        seen = (first <= days).astype("float64")
        order = np.argsort(pred, kind="stable")
        deciles = [[float(pred[p].mean()), float(seen[p].mean())]
                   for p in np.array_split(order, DECILES) if len(p)]
        out["p90_deciles"] = deciles
        out["p90_largest_gap"] = float(max(abs(a - b) for a, b in deciles))
    bought = ~np.isnan(first)
    if bought.any():
        err = median_wait(fitter, unit_days, x, T)[where][bought] - first[bought]
        out["next_order_error_days"] = float(np.median(np.abs(err)))
        out["next_order_bias_days"] = float(np.median(err))
    return out


def story_customer(customers: pd.DataFrame, columns: pd.DataFrame) -> str | None:
    """The customer notebook 04 tells the story of: the repeat buyer of highest revenue
    whom the model thinks more likely gone than not (P(alive) below 0.5; ties by id);
    None without one."""
    frame = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(),
                          "revenue": customers["revenue"].to_numpy(),
                          "repeat": customers["frequency"].to_numpy() > 0,
                          "p_alive": columns["p_alive"].to_numpy()})
    fading = frame[frame["repeat"] & (frame["p_alive"] < 0.5)]
    if not len(fading):
        return None
    return str(fading.sort_values(["revenue", "customer_id"], ascending=[False, True])
               .iloc[0]["customer_id"])


def alive_history(fitter, rows: pd.DataFrame, end: pd.Timestamp, unit_days: int,
                  points: int = 300) -> pd.DataFrame:
    """One customer's P(alive) from their first purchase day to ``end``, as the model sees
    it on each day from the purchase days before it (``rows``: their clean rows, date and
    is_return): x the repeat purchase days so far, tₓ the last, T the time since the
    first; the purchase days are on the grid, so each jump shows."""
    buy = rows[~rows["is_return"].astype(bool)] if "is_return" in rows else rows
    days = np.unique(day_numbers(buy["date"]))
    grid = np.union1d(np.linspace(days[0], day_number(end), points).round().astype("int64"),
                      days)
    seen = np.searchsorted(days, grid, side="right")  # purchase days on or before each day
    x = (seen - 1).astype("float64")
    tx = (days[seen - 1] - days[0]) / unit_days
    T = (grid - days[0]) / unit_days
    with np.errstate(all="ignore"):
        alive = np.asarray(fitter.p_alive(x, tx, T), dtype="float64")
    return pd.DataFrame({"date": to_dates(grid), "p_alive": alive,
                         "purchase": np.isin(grid, days)})


def period_counts(customers: pd.DataFrame, fitter, seed: int, cap: int = 7) -> pd.DataFrame:
    """Customers by repeat purchase days (0 … ``cap``+): actual, and as the fitted model
    draws them for customers observed as long (lifetimes' ``plot_period_transactions``)."""
    T = customers["T"].to_numpy(dtype="float64")
    drawn = type(fitter).simulate(fitter.theta(), T, seed)["frequency"].to_numpy()
    bucket = lambda f: np.minimum(np.asarray(f, dtype="int64"), cap)
    labels = [str(k) for k in range(cap)] + [f"{cap}+"]
    actual = np.bincount(bucket(customers["frequency"]), minlength=cap + 1)
    model = np.bincount(bucket(drawn), minlength=cap + 1)
    return pd.DataFrame({"actual": actual, "model": model},
                        index=pd.Index(labels, name="repeat purchase days"))
