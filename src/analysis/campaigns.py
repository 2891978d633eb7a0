"""Campaign lists: one per recommended action, each with a control group held out and a
break-even cost per customer (``campaigns/<action>.csv``, and the page's campaign section).

* **Control group**: within each stratum of a list (ABC tier × lifecycle stage), the
  ``control_share`` of its customers (rounded to whole customers) whose seeded hash of the
  id is smallest are held out (``control`` True): not contacted, so that what the campaign
  changes can be measured against them. The hash of the id with the seed, not the place of
  a row, decides: the same customers are held out however the rows are ordered, and a
  rerun holds out the same ones.
* **Break-even cost** (``break_even_cost``): the value one contact can win back or protect,
  which is the most it may cost if it always works (if it turns one customer in ten, a
  tenth of it). For a win-back list it is the customer's value at risk (what they would
  bring over the horizon had they stayed, times the chance they have left); for the other
  lists their predicted value over the horizon. Both are margin (or profit) values, as the
  CLV is. Empty where the run has no predicted value.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .messages import CATALOG
from .runfolder import CAMPAIGNS, replacing, write_csv

__all__ = ["WIN_BACK", "CAMPAIGN_COLUMNS", "action_codes", "campaign_columns", "campaign_metrics",
           "write_campaigns"]

#: the actions whose value at stake is the value at risk (the customers thought gone)
WIN_BACK = ("win_back",)
#: the columns of a campaign list, in order (those the table has)
CAMPAIGN_COLUMNS = ["customer_id", "control", "break_even_cost", "predicted_clv",
                    "value_at_risk", "p_alive", "p_purchase_90d", "churn_risk", "revenue",
                    "abc_tier", "lifecycle_stage", "rfm_segment", "recommended_action"]


def action_codes(table: pd.DataFrame) -> pd.Series:
    """Each customer's recommended action as its playbook key (``win_back``; the table
    holds the names in the run's language), the key of a list, its file and its contact
    cost."""
    if "recommended_action" not in table:
        return pd.Series("", index=table.index)
    codes = {v: k.removeprefix("action.") for words in CATALOG.values()
             for k, v in words.items() if k.startswith("action.")}
    names = table["recommended_action"].astype(str)
    # a handful of names for a million rows: each distinct name is looked up once
    return names.map({n: codes.get(n, n.lower().replace(" ", "_")) for n in names.unique()})


def _draw(ids: pd.Series, seed: int) -> np.ndarray:
    """A number in [0, 1) per id from a seeded hash (pandas' SipHash of the id text, keyed
    by the seed): the order of the control draw."""
    key = hashlib.sha256(str(seed).encode()).hexdigest()[:16]
    hashed = pd.util.hash_pandas_object(ids.astype(str).reset_index(drop=True), index=False,
                                        hash_key=key)
    return hashed.to_numpy(dtype="uint64") / 2.0 ** 64


def campaign_columns(customers: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """``control`` and ``break_even_cost`` for every customer (module docstring)."""
    c = customers
    out = pd.DataFrame(index=c.index)
    action = action_codes(c)
    # a potential customer has no tier: its stratum is "" (a missing key would drop the row)
    strata = [action] + [c[k].astype(str).fillna("") for k in ("abc_tier", "lifecycle_stage")
                         if k in c]
    draw = pd.Series(_draw(c["customer_id"], seed), index=c.index)
    rank = draw.groupby(strata).rank(method="first")
    size = draw.groupby(strata).transform("size")
    out["control"] = (rank <= np.round(size * share)).to_numpy()
    value = c["predicted_clv"] if "predicted_clv" in c else pd.Series(np.nan, index=c.index)
    at_risk = c["value_at_risk"] if "value_at_risk" in c else pd.Series(np.nan, index=c.index)
    out["break_even_cost"] = np.where(action.isin(WIN_BACK), at_risk, value).astype("float64")
    return out


def campaign_metrics(table: pd.DataFrame, costs: Mapping[str, Any] | None = None
                     ) -> dict[str, Any] | None:
    """``campaigns`` of metrics.json: per action, its customers, the control group, the
    value at stake (the break-even costs' sum), the mean break-even cost, and with a
    contact cost, how many customers a contact costs more than it can return."""
    if "control" not in table or "recommended_action" not in table:
        return None
    out = {}
    for action, g in table.groupby(action_codes(table), sort=True):
        known = g["break_even_cost"].notna()
        cost = (costs or {}).get(action)
        out[action] = {
            "customers": int(len(g)), "control": int(g["control"].sum()),
            "value_at_stake": float(g["break_even_cost"].sum()) if known.any() else None,
            "break_even_mean": float(g["break_even_cost"].mean()) if known.any() else None,
            "contact_cost": None if cost is None else float(cost),
            "losing": None if cost is None or not known.any()
            else int((g["break_even_cost"] < float(cost)).sum())}
    return out


def write_campaigns(run_dir: str | Path, table: pd.DataFrame) -> list[Path]:
    """``campaigns/<action>.csv``: each action's customers (ids as the customers table has
    them: hashed when anonymising), control first within a list, most value at stake
    first; a list from an earlier run in the folder that this one has not is removed."""
    folder = Path(run_dir) / CAMPAIGNS
    folder.mkdir(exist_ok=True)
    if "recommended_action" not in table:
        return []
    cols = [c for c in CAMPAIGN_COLUMNS if c in table]
    written = []
    for action, g in table.groupby(action_codes(table), sort=True):
        g = g.sort_values(["control", "break_even_cost", "customer_id"],
                          ascending=[False, False, True], na_position="last")
        path = folder / f"{action}.csv"
        with replacing(path) as tmp:  # pandas' bytes, formatted by Arrow (runfolder)
            write_csv(g[cols], tmp, safe=True)
        written.append(path)
    for old in folder.glob("*.csv"):
        if old not in written:
            old.unlink()
    return written
