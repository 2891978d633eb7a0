"""Potential customers, their conversion, and the customers by nature: what the customer
master (``customers_file``) adds to the customer-state table.

* **Potential customers** are the master's people with no purchase in the window who
  signed up by its end (``stage1.master``). They become rows of the customer-state table
  (:func:`potential_rows`): lifecycle stage ``potential``, no orders and no revenue, the
  action *first-order offer*, and every model column empty (no tier, segment or CLV is
  made up for someone who has not bought). Their count on the page is the filter
  ``lifecycle_stage == 'potential'``.
* **Conversion** (:func:`conversion`): of the master's people who signed up by the end of
  the window, the share who bought, the median days from sign-up to the first purchase,
  and both by sign-up month. A first purchase before the sign-up date (an account opened
  after a guest order) counts as converted on day 0 and is counted apart. Recent sign-up
  months had less time to convert: their share is a floor, which the page says.
* **Nature** (:func:`nature_table`): per value of ``customer_nature`` (individual,
  organisation, as the master writes it), buyers, potential customers, revenue and its
  share, revenue and historical CLV per buyer, predicted CLV, the share in tier A and the
  most common segment and action.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .messages import action_label

__all__ = ["POTENTIAL", "POTENTIAL_ACTION", "is_potential", "potential_rows", "conversion",
           "nature_table", "nature_metrics"]

#: the lifecycle stage of the master's people who have not bought, and their action
POTENTIAL = "potential"
POTENTIAL_ACTION = "first_order"
#: columns a potential customer holds as 0 (no purchase), not as empty
_ZERO = ("n_orders", "frequency", "revenue", "historical_clv")
#: values of a nature shown by name (the rest as "other")
SHOWN_NATURES = 6


def is_potential(customers: pd.DataFrame) -> np.ndarray:
    """The rows of potential customers (none in a table without a lifecycle stage)."""
    if "lifecycle_stage" not in customers:
        return np.zeros(len(customers), dtype=bool)
    return (customers["lifecycle_stage"] == POTENTIAL).to_numpy(dtype=bool)


def potential_rows(potential: pd.DataFrame, table: pd.DataFrame, language: str
                   ) -> pd.DataFrame:
    """The potential customers as rows with ``table``'s columns (module docstring)."""
    rows = pd.DataFrame(index=pd.RangeIndex(len(potential)))
    for col in table.columns:
        dtype = table[col].dtype
        if col in potential:
            rows[col] = potential[col].to_numpy()
        elif col in _ZERO:
            rows[col] = np.zeros(len(potential), dtype=dtype if dtype.kind in "if" else "float64")
        elif dtype.kind == "b":
            rows[col] = np.zeros(len(potential), dtype=bool)
        elif dtype.kind in "iuf":
            rows[col] = np.nan
        elif dtype.kind == "M":
            rows[col] = pd.Series(pd.NaT, index=rows.index, dtype=dtype)
        else:
            rows[col] = pd.Series(None, index=rows.index, dtype="str")
    rows["lifecycle_stage"] = POTENTIAL
    if "recommended_action" in table:
        rows["recommended_action"] = action_label(POTENTIAL_ACTION, language)
    return rows


def conversion(customers: pd.DataFrame, end: pd.Timestamp) -> dict[str, Any] | None:
    """Sign-up to first purchase (module docstring); None without sign-up dates."""
    if "signup_date" not in customers:
        return None
    c = customers[customers["signup_date"].notna()]
    signup = pd.to_datetime(c["signup_date"])
    first = pd.to_datetime(c["first_purchase"])
    bought = first.notna().to_numpy()
    days = (first - signup).dt.days.to_numpy(dtype="float64")
    before = bought & (days < 0)
    days = np.where(bought, np.maximum(days, 0), np.nan)
    month = signup.dt.to_period("M").astype(str).to_numpy()
    frame = pd.DataFrame({"month": month, "bought": bought, "days": days})
    g = frame.groupby("month", sort=True)
    by_month = pd.DataFrame({"signups": g.size(), "converted": g["bought"].sum(),
                             "median_days": g["days"].median()})
    by_month["share_converted"] = by_month["converted"] / by_month["signups"]
    n = int(len(c))
    return {"signed_up": n, "converted": int(bought.sum()),
            "share_converted": round(float(bought.mean()), 4) if n else None,
            "median_days": None if not bought.any() else float(np.nanmedian(days)),
            "bought_before_signup": int(before.sum()),
            "potential": int(is_potential(c).sum()),
            "window_end": end.date().isoformat(),
            "by_month": {str(m): {"signups": int(r.signups), "converted": int(r.converted),
                                  "share_converted": round(float(r.share_converted), 4),
                                  "median_days": None if np.isnan(r.median_days)
                                  else float(r.median_days)}
                         for m, r in by_month.iterrows()}}


def _top(values: pd.Series) -> str | None:
    counts = values.dropna().astype(str).value_counts()
    if not len(counts):
        return None
    best = counts[counts == counts.iloc[0]].index
    return str(sorted(best)[0])  # a tie goes to the first name, whatever the rows' order


def nature_table(customers: pd.DataFrame) -> pd.DataFrame | None:
    """Per nature (module docstring); None without ``customer_nature``."""
    if "customer_nature" not in customers or not customers["customer_nature"].notna().any():
        return None
    c = customers
    nature = c["customer_nature"].astype(str).where(c["customer_nature"].notna(), "—")
    counts = nature.value_counts()
    shown = sorted(counts.index, key=lambda v: (-counts[v], v))[:SHOWN_NATURES]
    nature = nature.where(nature.isin(shown), "other")
    pot = is_potential(c)
    revenue = c["revenue"].astype("float64")
    total = float(revenue[~pot].sum())
    rows = []
    for name in [*shown, *(["other"] if (nature == "other").any() else [])]:
        mine = (nature == name).to_numpy()
        buyers = mine & ~pot
        b = c[buyers]
        rows.append({
            "customer_nature": name, "customers": int(buyers.sum()),
            "potential": int((mine & pot).sum()),
            "revenue": round(float(revenue[buyers].sum()), 2),
            "revenue_share": float(revenue[buyers].sum()) / total if total else np.nan,
            "revenue_per_customer": float(revenue[buyers].mean()) if buyers.any() else np.nan,
            "historical_clv_per_customer": float(b["historical_clv"].mean())
            if "historical_clv" in b and len(b) else np.nan,
            "predicted_clv": float(b["predicted_clv"].sum())
            if "predicted_clv" in b and b["predicted_clv"].notna().any() else np.nan,
            "share_tier_a": float((b["abc_tier"] == "A").mean())
            if "abc_tier" in b and len(b) else np.nan,
            "top_segment": _top(b["rfm_segment"]) if "rfm_segment" in b else None,
            "top_action": _top(b["recommended_action"]) if "recommended_action" in b
            else None})
    return pd.DataFrame(rows).set_index("customer_nature")


def nature_metrics(customers: pd.DataFrame) -> dict[str, Any] | None:
    """``nature`` of metrics.json: the nature table by value."""
    table = nature_table(customers)
    if table is None:
        return None
    return {str(k): {c: _plain(v) for c, v in r.items()} for k, r in
            table.to_dict("index").items()}


def _plain(v: Any) -> Any:
    """A value as metrics.json holds it: NaN as null, a float to four decimals."""
    if isinstance(v, float):
        return None if np.isnan(v) else round(v, 4)
    return v
