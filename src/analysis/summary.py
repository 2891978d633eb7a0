"""Stage 1c: one row per customer.

Columns: ``customer_id, first_purchase, last_purchase, n_orders, frequency, recency, T,
monetary_value, revenue`` plus any ``dimensions`` (a customer's most frequent value in
its transactions; ties go to the value seen latest).

The BTYD columns follow lifetimes' ``summary_data_from_transaction_data`` exactly:
purchases on the same calendar day are merged into one purchase day;
``frequency`` = purchase days − 1; ``recency`` = last − first purchase day and
``T`` = observation end − first purchase day, both in the run's time unit (day, or
week = 7 days, fractional); ``monetary_value`` = mean value of the repeat purchase
days (0 when there is none). ``n_orders`` counts distinct (order id, day) pairs (rows
when no order id is mapped) and ``revenue`` is the customer's net revenue (returns
subtracted when ``returns: net``).

lifetimes' helpers group timestamps row by row in Python objects and its
calibration/holdout helper breaks on some pandas 3 inputs, so both are written
here on integer day numbers (one vectorised group-by) and tested against lifetimes.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from .clean import cents
from .config import time_unit_days

SUMMARY_COLUMNS = ["customer_id", "first_purchase", "last_purchase", "n_orders", "frequency",
                   "recency", "T", "monetary_value", "revenue"]


def day_numbers(dates: pd.Series) -> np.ndarray:
    """Calendar day of each timestamp as an integer (days since 1970-01-01)."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype("int64")


def _to_dates(days: np.ndarray) -> pd.Series:
    return pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))


def observation_end(clean: pd.DataFrame, params: Mapping[str, Any]) -> pd.Timestamp:
    """The day T is measured to: the ``observation_end`` parameter, else the last date."""
    if params.get("observation_end"):
        return pd.Timestamp(params["observation_end"])
    return pd.Timestamp(clean["date"].max()).normalize()


def _daily(clean: pd.DataFrame) -> pd.DataFrame:
    """Purchase days: one row per (customer, calendar day) with the day's value in cents."""
    purchases = clean.loc[~clean["is_return"]] if "is_return" in clean else clean
    frame = pd.DataFrame({"customer_id": purchases["customer_id"].to_numpy(),
                          "day": day_numbers(purchases["date"]),
                          "cents": cents(purchases["amount"])})
    return frame.groupby(["customer_id", "day"], sort=True, observed=True)["cents"].sum() \
        .reset_index()


def _btyd(daily: pd.DataFrame, end_day: int, unit: int) -> pd.DataFrame:
    """frequency / recency / T / monetary_value per customer from purchase days."""
    g = daily.groupby("customer_id", sort=True, observed=True)
    first = g["day"].min()
    last = g["day"].max()
    n_days = g["day"].size()
    first_cents = daily.drop_duplicates("customer_id", keep="first").set_index("customer_id")["cents"]
    total = g["cents"].sum()
    frequency = n_days - 1
    repeat_cents = (total - first_cents.reindex(total.index)).astype("float64")
    monetary = np.where(frequency > 0, repeat_cents / 100 / frequency.where(frequency > 0, 1), 0.0)
    return pd.DataFrame({
        "first_day": first, "last_day": last,
        "frequency": frequency.astype("float64"),
        "recency": (last - first) / unit,
        "T": (end_day - first) / unit,
        "monetary_value": monetary,
    })


def customer_summary(clean: pd.DataFrame, params: Mapping[str, Any],
                     end: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per customer with a purchase, sorted by customer id."""
    unit = time_unit_days(params)
    end = observation_end(clean, params) if end is None else pd.Timestamp(end)
    end_day = int(np.datetime64(end.normalize(), "D").astype("int64"))
    daily = _daily(clean)
    btyd = _btyd(daily, end_day, unit)

    purchases = clean.loc[~clean["is_return"]] if "is_return" in clean else clean
    if "order_id" in clean:
        # an order is an order id on one calendar day (a reused id on another day is another
        # order), so purchase days never exceed orders: frequency <= n_orders - 1
        keys = pd.DataFrame({"customer_id": purchases["customer_id"].to_numpy(),
                             "order_id": purchases["order_id"].to_numpy(),
                             "day": day_numbers(purchases["date"])}).drop_duplicates()
        n_orders = keys.groupby("customer_id", observed=True).size()
    else:
        n_orders = purchases.groupby("customer_id", observed=True).size()
    rev_cents = pd.Series(cents(clean["amount"]), index=clean.index) \
        .groupby(clean["customer_id"].to_numpy()).sum()

    out = pd.DataFrame({"customer_id": btyd.index.astype("str")})
    out["first_purchase"] = _to_dates(btyd["first_day"].to_numpy())
    out["last_purchase"] = _to_dates(btyd["last_day"].to_numpy())
    out["n_orders"] = n_orders.reindex(btyd.index).to_numpy().astype("int64")
    for col in ("frequency", "recency", "T", "monetary_value"):
        out[col] = btyd[col].to_numpy(dtype="float64")
    out["revenue"] = rev_cents.reindex(btyd.index).to_numpy() / 100
    dims = [d for d in params.get("dimensions", []) if d in clean]
    if dims:
        attrs = customer_attributes(clean, dims)
        out = out.merge(attrs, how="left", left_on="customer_id", right_index=True)
    return out.reset_index(drop=True)


def customer_attributes(clean: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """Each customer's most frequent value of each dimension; ties go to the latest seen."""
    out = {}
    for dim in dims:
        frame = clean[["customer_id", dim, "date"]].dropna(subset=[dim])
        counts = frame.groupby(["customer_id", dim], observed=True) \
            .agg(n=("date", "size"), latest=("date", "max")).reset_index()
        counts = counts.sort_values(["customer_id", "n", "latest"],
                                    ascending=[True, False, False], kind="stable")
        out[dim] = counts.drop_duplicates("customer_id").set_index("customer_id")[dim]
    return pd.DataFrame(out)


def calibration_holdout(clean: pd.DataFrame, calibration_end: pd.Timestamp,
                        observation_end: pd.Timestamp, params: Mapping[str, Any]
                        ) -> pd.DataFrame:
    """Calibration / holdout split, as lifetimes' ``calibration_and_holdout_data``.

    Customers whose first purchase is on or before ``calibration_end``; the
    calibration columns are the BTYD summary of purchase days up to and including
    ``calibration_end``; ``frequency_holdout`` counts purchase days after it up to and
    including ``observation_end`` and ``monetary_value_holdout`` is their mean value;
    ``duration_holdout`` is the holdout length in the time unit. Indexed by customer id.
    """
    unit = time_unit_days(params)
    cal_day = int(np.datetime64(pd.Timestamp(calibration_end).normalize(), "D").astype("int64"))
    end_day = int(np.datetime64(pd.Timestamp(observation_end).normalize(), "D").astype("int64"))
    if cal_day >= end_day:
        raise ValueError("calibration_end must be before observation_end")
    daily = _daily(clean)
    daily = daily[daily["day"] <= end_day]
    cal = daily[daily["day"] <= cal_day]
    btyd = _btyd(cal, cal_day, unit)
    out = btyd[["frequency", "recency", "T", "monetary_value"]].add_suffix("_cal")
    hold = daily[(daily["day"] > cal_day) & daily["customer_id"].isin(btyd.index)]
    g = hold.groupby("customer_id", observed=True)["cents"]
    out["frequency_holdout"] = g.size().reindex(out.index, fill_value=0).astype("float64")
    out["monetary_value_holdout"] = (g.mean() / 100).reindex(out.index, fill_value=0.0)
    out["duration_holdout"] = (end_day - cal_day) / unit
    out.index = out.index.astype("str")
    out.index.name = "customer_id"
    return out


def describe_coverage(clean: pd.DataFrame, customers: pd.DataFrame,
                      params: Mapping[str, Any]) -> str:
    """A paragraph, from the data, on the period covered and the shape of the customer base."""
    start = pd.Timestamp(clean["date"].min()).normalize()
    end = observation_end(clean, params)
    months = clean["date"].dt.to_period("M")
    per_month = clean.groupby(months)["amount"].agg(["size", "sum"])
    busiest = per_month["size"].idxmax()
    quietest = per_month["size"].idxmin()
    n = len(customers)
    one_timers = int((customers["frequency"] == 0).sum())
    cur = params["currency"]
    gaps = pd.period_range(per_month.index.min(), per_month.index.max(), freq="M") \
        .difference(per_month.index)
    text = (f"The clean data runs from {start:%Y-%m-%d} to {clean['date'].max():%Y-%m-%d}; "
            f"T is measured to {end:%Y-%m-%d} ({(end - start).days + 1:,} days). "
            f"It holds {len(clean):,} transactions by {n:,} customers. "
            f"The busiest month was {busiest} ({per_month.at[busiest, 'size']:,} transactions, "
            f"{per_month.at[busiest, 'sum']:,.0f} {cur}) and the quietest {quietest} "
            f"({per_month.at[quietest, 'size']:,}). "
            f"{one_timers:,} customers ({one_timers / n:.1%}) bought on one day only; "
            f"the median customer made {customers['n_orders'].median():.0f} order(s) worth "
            f"{customers['revenue'].median():,.2f} {cur} in total.")
    if len(gaps):
        text += f" Months with no transactions at all: {', '.join(str(g) for g in gaps)}."
    return text
