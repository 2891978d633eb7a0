"""The stakeholder page's story: the findings that open it, the decisions (one action group
per customer, adding up to everyone), the valuable customers at risk, how tiers moved,
the dimensions, data quality and a short glossary.

Every number comes from the run's customer-state table (``analysis.state``: each finding
and the at-risk section is one of its named filters, with the actions of the rows it
selects), metrics and the stages' tables; nothing here reads transactions. Findings are
ranked by the money at stake: the revenue the customers concerned brought, or their
predicted value for the CLV finding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..potential import is_potential
from ..narrative.labels import s, stage_label, t
from ..clv.validation import holdout_error
from .. import state
from ..messages import CATALOG, join, render
from ..narrative.stages import MIGRATION_MIN, RULE_TEXT, entry_warnings
from ..playbook import playbook_table, segment_description, segment_label, segment_names
from ..units import money

__all__ = ["MAX_FINDINGS", "AT_RISK_SHOWN", "Finding", "findings", "large_drops",
           "large_drop_text", "action_groups", "action_text", "decisions_text", "at_risk_text",
           "at_risk_table", "lifecycle_text", "migration_text",
           "dimension_table", "quality_text", "glossary_text"]

MAX_FINDINGS = 5
AT_RISK_SHOWN = 10
#: distinct values of a dimension shown before the rest become "other"
DIMENSION_ROWS = 8


@dataclass
class Finding:
    key: str
    money: float
    customers: int
    text: str


def action_text(actions: Mapping[str, int], lang: str) -> str:
    """The action of a group of customers as the table gives it: the one action they all
    have, or each action with its customers (``actions``: label -> customers, most
    first), so the sentence is true of every row it names."""
    if len(actions) == 1:
        return next(iter(actions))
    ranked = sorted(actions.items(), key=lambda kv: (-kv[1], kv[0]))
    return s("actions_split", lang, items=CATALOG[lang]["list_separator"].join(
        s("actions_split_item", lang, action=a, n=n) for a, n in ranked))


def findings(customers: pd.DataFrame, metrics: Mapping[str, Any], lang: str, cur: str
             ) -> list[Finding]:
    """Up to :data:`MAX_FINDINGS` findings, the most money at stake first (a data-quality
    warning, when cleaning removed a large share, comes before all of them). Each is a
    named filter of the customer-state table (``state.FILTERS``): its count and money are
    the rows the filter selects, its action theirs."""
    c = customers
    total = float(c["revenue"].sum()) or 1.0
    out: list[Finding] = []
    for key in ("key_lapsing", "key_active", "slipping", "churned"):
        if state.applies(c, key):
            g = state.group(c, key)
            if g["customers"]:
                out.append(Finding(key, g["revenue"], g["customers"], s(
                    f"finding_{key}", lang, n=g["customers"], value=money(g["revenue"], cur, lang),
                    share=g["revenue"] / total, action=action_text(g["actions"], lang))))
    clv = metrics.get("clv") or {}
    if clv.get("predicted_clv_total") and state.applies(c, "future"):
        g = state.group(c, "future")
        bias = ((clv.get("backtests") or {}).get("error") or {}).get("bias")
        err = bias if bias is not None else holdout_error(clv.get("holdout"))
        key = "future" if err is not None else "future_untested"
        out.append(Finding("future", g["predicted_clv"], g["customers"], s(
            f"finding_{key}", lang, n=g["customers"], value=money(g["predicted_clv"], cur, lang),
            months=clv["horizon_months"], share=g["predicted_clv"] / clv["predicted_clv_total"],
            err=err or 0.0, action=action_text(g["actions"], lang))))
    out.sort(key=lambda f: -f.money)
    out = out[:MAX_FINDINGS]
    large = large_drops(metrics)
    if large:
        out.insert(0, Finding("data", float("inf"), 0, s("finding_data", lang, n=len(large))))
    return out


def large_drops(metrics: Mapping[str, Any]) -> list[Any]:
    """Stage 1's LARGE DROP warnings (cleaning removed a large share of the file), as
    messages."""
    return [w for w in entry_warnings(metrics.get("cleaning") or {})
            if getattr(w, "key", None) == "warning.large_drop"]


def action_groups(customers: pd.DataFrame, playbook: pd.DataFrame | None, lang: str = "en"
                  ) -> pd.DataFrame:
    """One row per recommended action (index: the action as the table writes it):
    customers, past revenue, predicted CLV when estimated, the value at stake that orders
    them, and the playbook rules inside with their customers. The rows add up to every
    customer of the table."""
    c = customers
    has_clv = "predicted_clv" in c and bool(c["predicted_clv"].notna().any())
    g = c.groupby("recommended_action", sort=False)
    out = pd.DataFrame({"customers": g.size(), "revenue": g["revenue"].sum()})
    out["predicted_clv"] = g["predicted_clv"].sum(min_count=1) if has_clv else np.nan
    out["at_stake"] = out["predicted_clv"].fillna(0) if has_clv else out["revenue"]
    out["who"] = ""
    if playbook is not None and len(playbook):
        # a segment's rule holds the segment less those an earlier rule took (new
        # customers, lapsing tier A): "Champions (4,071 of 4,777)", never two counts for one
        # name on one page
        segment_of = playbook_table().set_index("priority")["rfm_segment"]
        sizes = c["rfm_segment"].value_counts() if "rfm_segment" in c else pd.Series()
        for action, rules in playbook.groupby("action", sort=False):
            if action in out.index:
                out.at[action, "who"] = " · ".join(
                    s("in_parens", lang, text=w,
                      detail=_of(n, int(sizes.get(segment_of.get(r), n)), lang))
                    for w, n, r in zip(rules["who"], rules["customers"], rules["rule"]))
    pot = is_potential(c)  # the customer master's people who have not bought (``state``)
    if pot.any():
        action = c.loc[pot, "recommended_action"].iloc[0]
        if action in out.index and not out.at[action, "who"]:
            out.at[action, "who"] = s("in_parens", lang, text=stage_label("potential", lang),
                                      detail=f"{int(pot.sum()):,}")
    return out.sort_values(["at_stake", "customers"], ascending=False)


def _of(n: int, total: int, lang: str) -> str:
    return f"{n:,}" if n == total else s("who_of", lang, n=n, total=total)


def decisions_text(groups: pd.DataFrame, metrics: Mapping[str, Any], lang: str, cur: str
                   ) -> str:
    """The sentence above the action groups; its totals are the groups' totals."""
    has_clv = groups["predicted_clv"].notna().any()
    months = (metrics.get("clv") or {}).get("horizon_months", 12)
    clv = s("decisions_clv", lang, clv=money(float(groups["predicted_clv"].sum()), cur, lang),
            months=months) if has_clv else ""
    return s("decisions", lang, k=len(groups), n=int(groups["customers"].sum()),
             revenue=money(float(groups["revenue"].sum()), cur, lang), clv=clv,
             basis=s("basis_clv" if has_clv else "basis_revenue", lang))


def at_risk_text(customers: pd.DataFrame, risk: pd.DataFrame, metrics: Mapping[str, Any],
                 lang: str, cur: str) -> str:
    """The at-risk section's sentence: the whole group (the ``at_risk`` filter of the
    customer-state table), what it brought, its value at risk, and its actions."""
    if not state.applies(customers, "at_risk"):
        return ""
    g = state.group(customers, "at_risk")
    if not g["customers"]:
        return s("at_risk_none", lang)
    var = ""
    if g["value_at_risk"] is not None and g["predicted_clv"] is not None:
        if_alive = g["predicted_clv"] + g["value_at_risk"]
        var = s("at_risk_var", lang, if_alive=money(if_alive, cur, lang),
                var=money(g["value_at_risk"], cur, lang),
                months=(metrics.get("clv") or {}).get("horizon_months", 12))
    basis = "at_risk_basis_var" if risk["value_at_risk"].notna().any() \
        else "at_risk_basis_revenue"
    return s("at_risk", lang, n=g["customers"], value=money(g["revenue"], cur, lang), var=var,
             shown=min(len(risk), AT_RISK_SHOWN), basis=s(basis, lang),
             action=action_text(g["actions"], lang))


def at_risk_table(risk: pd.DataFrame, lang: str, cur: str) -> pd.DataFrame:
    """The first :data:`AT_RISK_SHOWN` rows of the at-risk list, formatted for the page,
    each with its value at risk (where predicted) and its own action."""
    top = risk.head(AT_RISK_SHOWN)
    gap = top["usual_gap_days"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}")
    out = pd.DataFrame({t("customer_id", lang): top["customer_id"].astype(str)})
    if "value_at_risk" in top and top["value_at_risk"].notna().any():
        out[t("value_at_risk", lang)] = top["value_at_risk"].map(lambda v: money(v, cur, lang))
    out[t("revenue", lang)] = top["revenue"].map(lambda v: money(v, cur, lang))
    out[t("last_purchase", lang)] = pd.to_datetime(top["last_purchase"]).dt.strftime("%Y-%m-%d")
    out[t("days_since", lang)] = [s("in_parens", lang, text=f"{d:,}", detail=g)
                                  for d, g in zip(top["days_since_last"], gap)]
    if "p_alive" in top and top["p_alive"].notna().any():
        out[t("p_alive", lang)] = top["p_alive"].map(lambda v: "–" if pd.isna(v) else f"{v:.0%}")
    if "recommended_action" in top:
        out[t("action", lang)] = top["recommended_action"].astype(str)
    return out


def lifecycle_text(customers: pd.DataFrame, life: Mapping[str, Any],
                   period: Mapping[str, Any], lang: str) -> str:
    """What the lifecycle section adds to its counts: a churn threshold longer than the
    window, and the customers for whom the lifecycle and the model's P(alive) disagree
    (the ``churned_but_alive`` and ``active_but_fading`` filters)."""
    text = ""
    churn, days = life["thresholds_days"]["churn_days"], (period or {}).get("days")
    if days is not None and churn > days:
        text += s("lifecycle_window", lang, churn_days=churn, days=days)
    parts, n = [], 0
    for key, words in (("churned_but_alive", "lifecycle_disagree_churned"),
                       ("active_but_fading", "lifecycle_disagree_active")):
        if state.applies(customers, key):
            k = int(state.select(customers, key).sum())
            if k:
                parts.append(s(words, lang, n=k))
                n += k
    if parts:
        text += s("lifecycle_disagree", lang, n=n,
                  items=CATALOG[lang]["list_separator"].join(parts))
    return text


def migration_text(migration: Mapping[str, Any], lang: str) -> str | None:
    """Where the first half's tier-A customers went in the second half, and what to do."""
    row = (migration.get("counts") or {}).get("A") or {}
    n_a = sum(row.values())
    if not n_a:
        return None
    kept, lapsed = row.get("A", 0) / n_a, row.get("lapsed", 0) / n_a
    action = s("migration_action_few" if n_a < MIGRATION_MIN else "migration_action_high"
               if kept >= 0.5 else "migration_action_low", lang)
    return s("migration", lang, n_a=n_a, split=migration.get("split", "?"), kept=kept,
             down=1 - kept - lapsed, lapsed=lapsed, action=action)


def dimension_table(customers: pd.DataFrame, dim: str, lang: str, cur: str
                    ) -> tuple[str, pd.DataFrame]:
    """Customers, revenue, share and churned share by the values of ``dim`` (the largest
    :data:`DIMENSION_ROWS`, the rest as "other"), and the sentence that ends in an
    action."""
    c = customers
    key = c[dim].astype("string").fillna("—")
    order = c["revenue"].groupby(key).sum().sort_values(ascending=False)
    keep = set(order.index[:DIMENSION_ROWS])
    key = key.where(key.isin(keep), t("other", lang))
    churned = c["lifecycle_stage"].eq("churned") if "lifecycle_stage" in c \
        else pd.Series(False, index=c.index)
    g = pd.DataFrame({"customers": c.groupby(key).size(),
                      "revenue": c["revenue"].groupby(key).sum(),
                      "churned": churned.groupby(key).mean()}
                     ).sort_values("revenue", ascending=False)
    total = float(g["revenue"].sum()) or 1.0
    named = g.drop(index=t("other", lang), errors="ignore")
    if len(named) and named["churned"].max() > 0:
        worst = named["churned"].idxmax()
        text = s("dimension", lang, top=g.index[0], share=g["revenue"].iloc[0] / total,
                 worst=worst, churn=named.at[worst, "churned"])
    else:  # no "highest share of churned (0 %)"
        text = s("dimension_no_churn", lang, top=g.index[0], share=g["revenue"].iloc[0] / total)
    table = pd.DataFrame({
        dim: g.index.astype(str),
        t("customers", lang): g["customers"].map(lambda v: f"{v:,}").to_numpy(),
        t("revenue", lang): g["revenue"].map(lambda v: money(v, cur, lang)).to_numpy(),
        t("share_revenue", lang): (g["revenue"] / total).map(lambda v: f"{v:.1%}").to_numpy(),
        t("churned_share", lang): g["churned"].map(lambda v: f"{v:.0%}").to_numpy()})
    return text, table


def quality_text(customers: pd.DataFrame, metrics: Mapping[str, Any], lang: str, cur: str
                 ) -> str:
    """What cleaning kept, zero-amount rows, customers without revenue, why nobody is new;
    ending in what to do."""
    cleaning = metrics.get("cleaning") or {}
    rows, kept = cleaning.get("input_rows"), metrics.get("transactions")
    text = ""
    if rows and kept == rows and metrics.get("revenue") == cleaning.get("input_revenue"):
        text += s("quality_rows_all", lang, rows=int(rows),
                  rev=money(metrics.get("revenue"), cur, lang))
    elif rows and kept is not None:
        text += s("quality_rows", lang, kept=int(kept), rows=int(rows), kept_share=kept / rows,
                  kept_rev=money(metrics.get("revenue"), cur, lang),
                  rev=money(cleaning.get("input_revenue"), cur, lang))
    zero_rows = cleaning.get("zero_amount_rows")
    if zero_rows:
        text += s("quality_zero_rows", lang, n=int(zero_rows))
    zero = int(((customers["revenue"] == 0) & ~is_potential(customers)).sum())
    if zero:
        text += s("quality_zero_customers", lang, n=zero)
    life = metrics.get("lifecycle") or {}
    if life and life.get("new") == 0:
        text += s("quality_no_new", lang, days=life["thresholds_days"]["new_days"])
    return text + s("quality_action", lang)


def glossary_text(lang: str, present: Any = None) -> str:
    """The glossary, with the segments ``present`` in the customers table (all when None)."""
    items = [s("glossary_segment", lang, name=segment_label(n, lang),
               description=segment_description(n, lang)) for n in segment_names()
             if present is None or n in set(present)]
    return s("glossary", lang, segments=join(items, lang))


def large_drop_text(warning: Any, metrics: Mapping[str, Any], lang: str, cur: str) -> str:
    """A LARGE DROP warning of stage 1 (a message) in ``lang``: the rule's name, both shares
    and the example row, from metrics.json's ledger figures."""
    cleaning = metrics.get("cleaning") or {}
    rule, example = warning.params["rule"], warning.params["example"]
    if lang == "en" or rule not in (cleaning.get("dropped") or {}):
        return render(warning, lang)
    d = cleaning["dropped"][rule]
    n, total = cleaning["input_rows"], cleaning["input_revenue"]
    return s("large_drop", lang, rule=RULE_TEXT[rule][lang], rows=d["rows"], n=n,
             row_share=d["rows"] / n if n else 0.0, revenue=money(d["revenue"], cur, lang),
             total=money(total, cur, lang),
             revenue_share=abs(d["revenue"] / total) if total else 0.0, example=example)
