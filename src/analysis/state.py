"""The one customer-state table, and the named filters that every count on the page is.

After the stages (tiers, segments, CLV) have written their columns, :func:`run` adds the
state they imply together — days since the last purchase, the usual gap, whether the
customer is at risk and the value at risk (``analysis.risk``) — once, to the customers
table that every output is written from. A finding, the at-risk section or a
disagreement between the lifecycle and the model is a *named filter* of that table
(:data:`FILTERS`, a pandas expression over its columns): its customers are exactly the
rows the filter selects, and its action is theirs (:func:`group` lists the actions of
the rows, so a sentence can say the split instead of one action that is not true of all).
``metrics.json`` keeps, under ``state.filters``, each filter with its expression and
its counts, so anyone can check a sentence against ``customers.csv``::

    pd.read_csv("customers.csv").query(metrics["state"]["filters"]["key_lapsing"]["filter"])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from .campaigns import campaign_columns, campaign_metrics
from .changes import changes
from .potential import (POTENTIAL, conversion, is_potential, nature_metrics, nature_table,
                        potential_rows)
from .risk import P_ALIVE_LIMIT, risk_columns
from .units import Window

__all__ = ["FILTERS", "applies", "select", "group", "state_metrics", "StateResult", "run"]

#: name -> the filter, a pandas expression over the customers table
FILTERS: dict[str, str] = {
    "key_lapsing": "abc_tier == 'A' and lifecycle_stage in ['dormant', 'churned']",
    "key_active": "abc_tier == 'A' and lifecycle_stage in ['new', 'active']",
    "slipping": "abc_tier != 'A' and lifecycle_stage == 'dormant'",
    "churned": "abc_tier != 'A' and lifecycle_stage == 'churned'",
    "future": "clv_tier == 'top'",
    "at_risk": "at_risk == True",
    # where the lifecycle (days since the last purchase) and the model (P(alive)) disagree
    "churned_but_alive": f"lifecycle_stage == 'churned' and p_alive > {P_ALIVE_LIMIT}",
    "active_but_fading": f"lifecycle_stage in ['new', 'active'] and p_alive < {P_ALIVE_LIMIT}",
    # the customer master's people who have not bought (``potential``)
    "potential": f"lifecycle_stage == '{POTENTIAL}'",
}
#: the columns each filter reads (a filter applies only where the table has them all)
_NEEDS: dict[str, tuple[str, ...]] = {
    "key_lapsing": ("abc_tier", "lifecycle_stage"), "key_active": ("abc_tier", "lifecycle_stage"),
    "slipping": ("abc_tier", "lifecycle_stage"), "churned": ("abc_tier", "lifecycle_stage"),
    "future": ("clv_tier",), "at_risk": ("at_risk",),
    "churned_but_alive": ("lifecycle_stage", "p_alive"),
    "active_but_fading": ("lifecycle_stage", "p_alive"),
    "potential": ("lifecycle_stage",),
}


def applies(customers: pd.DataFrame, name: str) -> bool:
    """Whether the table has every column the filter ``name`` reads (with a value); the
    potential customers' filter only where the table holds some."""
    if name == "potential":
        return bool(is_potential(customers).any())
    return all(col in customers and customers[col].notna().any() for col in _NEEDS[name])


def select(customers: pd.DataFrame, name: str) -> np.ndarray:
    """The rows the filter ``name`` selects, as a boolean array."""
    return np.asarray(customers.eval(FILTERS[name]), dtype=bool)


def _sum(customers: pd.DataFrame, mask: np.ndarray, col: str) -> float | None:
    if col not in customers or not customers[col].notna().any():
        return None
    return round(float(np.nansum(customers[col].to_numpy(dtype="float64")[mask])), 2)


def group(customers: pd.DataFrame, name: str) -> dict[str, Any]:
    """The filter ``name`` with what it selects: customers, past revenue, predicted CLV and
    value at risk (where the table has them), and the customers of each action among
    them, most first."""
    mask = select(customers, name)
    actions = customers.loc[mask, "recommended_action"].value_counts() \
        if "recommended_action" in customers else pd.Series(dtype="int64")
    return {"filter": FILTERS[name], "customers": int(mask.sum()),
            "revenue": _sum(customers, mask, "revenue"),
            "predicted_clv": _sum(customers, mask, "predicted_clv"),
            "value_at_risk": _sum(customers, mask, "value_at_risk"),
            "actions": {str(k): int(v) for k, v in actions.items()}}


def state_metrics(customers: pd.DataFrame) -> dict[str, Any]:
    """The ``state`` entry of metrics.json: every filter that applies to this table."""
    return {"state": {"filters": {name: group(customers, name) for name in FILTERS
                                  if applies(customers, name)}}}


@dataclass
class StateResult:
    """The customer-state table's own columns (``risk.risk_columns``, the campaign columns)
    and its filters."""
    columns_: pd.DataFrame
    table: pd.DataFrame
    contact_costs: dict[str, Any] = field(default_factory=dict)
    since: dict[str, Any] | None = None  # what changed since the previous run
    end: pd.Timestamp | None = None  # the window's end (the conversion's)
    stage: ClassVar[str] = "state"

    def columns(self) -> pd.DataFrame:
        return self.columns_

    def rows(self) -> pd.DataFrame:
        """The rows the state adds to the customers table: the potential customers."""
        return self.table[is_potential(self.table)]

    def metrics(self) -> dict[str, Any]:
        more = {"conversion": conversion(self.table, self.end) if self.end is not None
                else None, "nature": nature_metrics(self.table)}
        return {**state_metrics(self.table),
                "campaigns": campaign_metrics(self.table, self.contact_costs),
                "changes": self.since, **{k: v for k, v in more.items() if v is not None}}

    def tables(self) -> dict[str, pd.DataFrame]:
        nature = nature_table(self.table)
        return {} if nature is None else {"nature": nature}


def run(customers: pd.DataFrame, window: Window, control_share: float = 0.10,
        seed: int = 42, contact_costs: Mapping[str, Any] | None = None,
        previous_run: str | None = None, potential: pd.DataFrame | None = None,
        language: str = "en") -> StateResult:
    """The customer state of every customer, from the stages' columns: the risk columns;
    the customer master's potential customers as rows of their own (``potential``); then
    each campaign list's control flag and break-even cost (``campaigns``); with
    ``previous_run``, what changed since (``changes``)."""
    customers = customers[~is_potential(customers)]  # an earlier run of 05 in this folder
    cols = risk_columns(customers, window)
    table = customers.drop(columns=[c for c in cols if c in customers]).join(cols)
    if potential is not None and len(potential):
        extra = potential_rows(potential, table, language)
        table = pd.concat([table, extra.set_axis(pd.RangeIndex(len(table), len(table) +
                                                               len(extra)))])
        table["days_since_last"] = table["days_since_last"].astype("Int64")
    more = campaign_columns(table, control_share, seed)
    cols = cols.join(more)
    table = table.drop(columns=[c for c in more if c in table]).join(more)
    since = changes(Path(previous_run), table, window.end) if previous_run else None
    return StateResult(cols, table, dict(contact_costs or {}), since, window.end)
