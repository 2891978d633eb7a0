"""The stakeholder page's story: the findings that open it, the decisions (one action group
per customer, adding up to everyone), the valuable customers at risk, how tiers moved,
the dimensions, data quality and a short glossary.

Every number comes from the run's customers table, metrics and the stages' tables;
nothing here reads transactions. Findings are ranked by the money at stake: the revenue
the customers concerned brought, or their predicted value for the CLV finding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..narrative.labels import action_label, s, t
from ..clv.validation import holdout_error
from ..messages import join, render
from ..narrative.stages import RULE_TEXT, entry_warnings
from ..playbook import segment_description, segment_label, segment_names
from ..units import money

__all__ = ["MAX_FINDINGS", "AT_RISK_SHOWN", "Finding", "findings", "large_drops",
           "large_drop_text", "action_groups", "decisions_text", "at_risk_table", "migration_text",
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


def findings(customers: pd.DataFrame, metrics: Mapping[str, Any], lang: str, cur: str
             ) -> list[Finding]:
    """Up to :data:`MAX_FINDINGS` findings, the most money at stake first (a data-quality
    warning, when cleaning removed a large share, comes before all of them)."""
    c = customers
    rev = c["revenue"].to_numpy(dtype="float64")
    total = float(rev.sum()) or 1.0
    out: list[Finding] = []

    def add(key, mask, action):
        n = int(mask.sum())
        if n:
            value = float(rev[mask].sum())
            out.append(Finding(key, value, n, s(f"finding_{key}", lang, n=n,
                                                value=money(value, cur), share=value / total,
                                                action=action_label(action, lang))))
    if "abc_tier" in c and "lifecycle_stage" in c:
        a = c["abc_tier"].astype(str).to_numpy() == "A"
        stage = c["lifecycle_stage"].to_numpy()
        add("key_lapsing", a & np.isin(stage, ["dormant", "churned"]), "win_back")
        add("key_active", a & np.isin(stage, ["new", "active"]), "retain_reward")
        add("slipping", ~a & (stage == "dormant"), "win_back")
        add("churned", ~a & (stage == "churned"), "low_cost")
    clv = metrics.get("clv") or {}
    if clv.get("predicted_clv_total") and "clv_tier" in c:
        top = (c["clv_tier"] == "top").to_numpy()
        value = float(np.nansum(c.loc[top, "predicted_clv"]))
        err = holdout_error(clv.get("holdout"))
        key = "future" if err is not None else "future_untested"
        out.append(Finding(key, value, int(top.sum()), s(
            f"finding_{key}", lang, n=int(top.sum()), value=money(value, cur),
            months=clv["horizon_months"], share=value / clv["predicted_clv_total"],
            err=err or 0.0)))
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


def action_groups(customers: pd.DataFrame, playbook: pd.DataFrame | None) -> pd.DataFrame:
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
        for action, rules in playbook.groupby("action", sort=False):
            if action in out.index:
                out.at[action, "who"] = " · ".join(
                    f"{w} ({n:,})" for w, n in zip(rules["who"], rules["customers"]))
    return out.sort_values(["at_stake", "customers"], ascending=False)


def decisions_text(groups: pd.DataFrame, metrics: Mapping[str, Any], lang: str, cur: str
                   ) -> str:
    """The sentence above the action groups; its totals are the groups' totals."""
    has_clv = groups["predicted_clv"].notna().any()
    months = (metrics.get("clv") or {}).get("horizon_months", 12)
    clv = s("decisions_clv", lang, clv=money(float(groups["predicted_clv"].sum()), cur),
            months=months) if has_clv else ""
    return s("decisions", lang, k=len(groups), n=int(groups["customers"].sum()),
             revenue=money(float(groups["revenue"].sum()), cur), clv=clv,
             basis=s("basis_clv" if has_clv else "basis_revenue", lang))


def at_risk_table(risk: pd.DataFrame, lang: str, cur: str) -> pd.DataFrame:
    """The first :data:`AT_RISK_SHOWN` rows of the at-risk list, formatted for the page."""
    top = risk.head(AT_RISK_SHOWN)
    gap = top["usual_gap_days"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}")
    out = pd.DataFrame({
        t("customer_id", lang): top["customer_id"].astype(str),
        t("revenue", lang): top["revenue"].map(lambda v: money(v, cur)),
        t("last_purchase", lang): pd.to_datetime(top["last_purchase"]).dt.strftime("%Y-%m-%d"),
        t("days_since", lang): [f"{d:,} ({g})" for d, g in zip(top["days_since_last"], gap)]})
    if top["p_alive"].notna().any():
        out[t("p_alive", lang)] = top["p_alive"].map(lambda v: "–" if pd.isna(v) else f"{v:.0%}")
    return out


def migration_text(migration: Mapping[str, Any], lang: str) -> str | None:
    """Where the first half's tier-A customers went in the second half, and what to do."""
    row = (migration.get("counts") or {}).get("A") or {}
    n_a = sum(row.values())
    if not n_a:
        return None
    kept, lapsed = row.get("A", 0) / n_a, row.get("lapsed", 0) / n_a
    action = s("migration_action_high" if kept >= 0.5 else "migration_action_low", lang)
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
    worst = named["churned"].idxmax()
    text = s("dimension", lang, top=g.index[0], share=g["revenue"].iloc[0] / total,
             worst=worst, churn=named.at[worst, "churned"])
    table = pd.DataFrame({
        dim: g.index.astype(str),
        t("customers", lang): g["customers"].map(lambda v: f"{v:,}").to_numpy(),
        t("revenue", lang): g["revenue"].map(lambda v: money(v, cur)).to_numpy(),
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
    if rows and kept is not None:
        text += s("quality_rows", lang, kept=int(kept), rows=int(rows), kept_share=kept / rows,
                  kept_rev=money(metrics.get("revenue"), cur),
                  rev=money(cleaning.get("input_revenue"), cur))
    zero_rows = cleaning.get("zero_amount_rows")
    if zero_rows:
        text += s("quality_zero_rows", lang, n=int(zero_rows))
    zero = int((customers["revenue"] == 0).sum())
    if zero:
        text += s("quality_zero_customers", lang, n=zero)
    life = metrics.get("lifecycle") or {}
    if life and life.get("new") == 0:
        text += s("quality_no_new", lang, days=life["thresholds_days"]["new_days"])
    return text + s("quality_action", lang)


def glossary_text(lang: str) -> str:
    items = [s("glossary_segment", lang, name=segment_label(n, lang),
               description=segment_description(n, lang)) for n in segment_names()]
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
             row_share=d["rows"] / n if n else 0.0, revenue=money(d["revenue"], cur),
             total=money(total, cur),
             revenue_share=abs(d["revenue"] / total) if total else 0.0, example=example)
