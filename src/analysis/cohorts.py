"""Cohorts: customers grouped by when they first bought, how many came back and what they
brought, month by month since; and the model's holdout forecast per cohort.

From the transaction stage's ``cohort_months`` (per first-purchase month and calendar
month: the cohort's buying customers and net revenue). Cohorts are months, or quarters
when there are more than :data:`MAX_MONTH_COHORTS` of them (a quarter's cohorts are
disjoint sets of customers, so its buyers are the months' sum). For a cohort and the
``k``-th month since its first (0: the first purchase month, or quarter's first month):

* **retention** = the cohort's customers buying in that month / the cohort's size (its
  customers, all of whom bought in their first month);
* **value per customer** = the cohort's cumulative net revenue to that month / its size.

The holdout view per cohort (:func:`holdout_by_cohort`) groups the calibration customers
by the month of their first purchase (the calibration end minus their T) and sets their
actual holdout repeat purchases against the model's.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MAX_MONTH_COHORTS", "MAX_MONTHS_SHOWN", "cohort_metrics", "cohort_tables",
           "holdout_by_cohort"]

#: above this many monthly cohorts, quarters
MAX_MONTH_COHORTS = 24
#: months since the first purchase shown (metrics, figures)
MAX_MONTHS_SHOWN = 24


def _months(stamp: pd.Series) -> np.ndarray:
    return stamp.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype("int64")


def cohort_tables(cohort_months: pd.DataFrame) -> tuple[str, pd.DataFrame, pd.DataFrame,
                                                          pd.Series]:
    """(granularity, retention, value per customer, cohort sizes): the two tables with a
    row per cohort (its label: 1997-01, or 1997Q1) and a column per month since the first
    (0, 1, …, at most :data:`MAX_MONTHS_SHOWN`)."""
    frame = cohort_months.copy()
    cohort, month = _months(frame["cohort"]), _months(frame["month"])
    quarters = len(np.unique(cohort)) > MAX_MONTH_COHORTS
    start = cohort - cohort % 3 if quarters else cohort
    frame["since"] = month - start
    frame["label"] = [f"{1970 + c // 12}Q{c % 12 // 3 + 1}" if quarters else
                      f"{1970 + c // 12}-{c % 12 + 1:02d}" for c in start]
    size = frame[_months(frame["month"]) == cohort].groupby("label")["customers"].sum()
    per = frame.groupby(["label", "since"])[["customers", "revenue"]].sum()
    buyers = per["customers"].unstack(fill_value=0)
    revenue = per["revenue"].unstack(fill_value=0.0)
    shown = [k for k in buyers.columns if k <= MAX_MONTHS_SHOWN]
    retention = buyers[shown].div(size, axis=0)
    value = revenue.cumsum(axis=1)[shown].div(size, axis=0)
    # a month the window has not reached yet is unknown, not 0
    last = month.max()
    starts = pd.Series(start, index=frame.index).groupby(frame["label"]).min()
    for label in retention.index:
        gone = [k for k in shown if k > last - starts[label]]
        retention.loc[label, gone] = np.nan
        value.loc[label, gone] = np.nan
    for t in (retention, value):
        t.index.name, t.columns.name = "cohort", "months since first purchase"
    return ("quarter" if quarters else "month"), retention, value, size.rename("customers")


def cohort_metrics(cohort_months: pd.DataFrame | None) -> dict[str, Any] | None:
    """``cohorts`` of metrics.json: the granularity, each cohort's size, retention and
    value per customer by month since the first purchase (None for a month not reached)."""
    if cohort_months is None or not len(cohort_months):
        return None
    kind, retention, value, size = cohort_tables(cohort_months)
    clean = lambda t: [[None if pd.isna(v) else float(v) for v in row] for row in t.to_numpy()]
    return {"granularity": kind, "cohorts": list(retention.index),
            "customers": [int(size[c]) for c in retention.index],
            "months_since": [int(k) for k in retention.columns],
            "retention": clean(retention), "value_per_customer": clean(value)}


def holdout_by_cohort(frame: pd.DataFrame, calibration_end: pd.Timestamp, unit_days: int
                      ) -> pd.DataFrame:
    """The holdout check per cohort (``frame``: the holdout's calibration frame with the
    model's ``predicted_holdout``): customers, actual and predicted repeat purchases in the
    holdout, in total and per customer, by month of first purchase."""
    first = pd.Timestamp(calibration_end) - pd.to_timedelta(
        np.round(frame["T_cal"].to_numpy(dtype="float64") * unit_days), unit="D")
    label = first.strftime("%Y-%m")
    g = pd.DataFrame({"cohort": label, "actual": frame["frequency_holdout"].to_numpy(),
                      "predicted": frame["predicted_holdout"].to_numpy()}).groupby("cohort")
    out = g.agg(customers=("actual", "size"), actual=("actual", "sum"),
                predicted=("predicted", "sum"))
    out["actual per customer"] = out["actual"] / out["customers"]
    out["predicted per customer"] = out["predicted"] / out["customers"]
    out["error"] = out["predicted"] / out["actual"].where(out["actual"] > 0) - 1
    return out
