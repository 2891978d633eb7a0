"""The customer master's and the needs stage's findings in words and tables, in the run's
language: who is in the master and who has bought (:func:`master_text`), sign-up to first
purchase (:func:`conversion_text`, :func:`conversion_display`), the customers by nature
(:func:`nature_text`, :func:`nature_display`), and the needs classes, what each tier and
segment buys and the cross-sell hints (:func:`needs_text`, :func:`mix_display`,
:func:`cross_sell_items`). Notebooks 01, 03 and 05 and the page show the same sentences.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..units import money
from .labels import action_label, s, t

__all__ = ["CONVERSION_MONTHS", "master_text", "conversion_text", "conversion_display",
           "nature_text", "nature_display", "needs_text", "mix_display", "cross_sell_items"]

#: sign-up months shown in the conversion table (the latest)
CONVERSION_MONTHS = 12


def master_text(master: Mapping[str, Any], lang: str) -> str:
    """How the customer master and the transactions meet (``metrics.master``)."""
    return s("master_match", lang, file=master["file"], people=master["master_customers"],
             log=master["log_customers"], known=master["log_in_master"],
             unknown=master["log_not_in_master"], potential=master["potential"],
             later=master["signed_up_after_window"])


def conversion_text(conv: Mapping[str, Any], lang: str) -> str:
    """Sign-up to first purchase, ending in the potential customers' action."""
    text = s("conversion", lang, n=conv["signed_up"], end=conv["window_end"],
             converted=conv["converted"], share=conv["share_converted"] or 0,
             days=conv["median_days"] if conv["median_days"] is not None else float("nan"),
             potential=conv["potential"], action=action_label("first_order", lang))
    if conv.get("bought_before_signup"):
        text += " " + s("conversion_before", lang, n=conv["bought_before_signup"])
    return text + " " + s("conversion_floor", lang)


def conversion_display(conv: Mapping[str, Any], lang: str) -> pd.DataFrame:
    """The latest :data:`CONVERSION_MONTHS` sign-up months: sign-ups, converted, share and
    median days to the first purchase."""
    months = list(conv["by_month"].items())[-CONVERSION_MONTHS:]
    return pd.DataFrame({
        t("signup_month", lang): [m for m, _ in months],
        t("signups", lang): [f"{r['signups']:,}" for _, r in months],
        t("converted", lang): [f"{r['converted']:,}" for _, r in months],
        t("share_converted", lang): [f"{r['share_converted']:.0%}" for _, r in months],
        t("median_days_to_first", lang): ["–" if r["median_days"] is None
                                          else f"{r['median_days']:.0f}" for _, r in months]})


def nature_text(table: pd.DataFrame, lang: str, cur: str) -> str:
    """Which nature brings the most per customer, against the others."""
    g = table[table["customers"] > 0]
    if len(g) < 2:
        name = g.index[0] if len(g) else table.index[0]
        return s("nature_one", lang, nature=name)
    best = g["revenue_per_customer"].idxmax()
    rest = g.drop(index=best)
    other = rest["revenue"].sum() / rest["customers"].sum()
    return s("nature", lang, nature=best, share=g.at[best, "customers"] / g["customers"].sum(),
             revenue_share=g.at[best, "revenue_share"],
             per=money(g.at[best, "revenue_per_customer"], cur, lang),
             other=money(other, cur, lang), action=g.at[best, "top_action"] or "–")


def nature_display(table: pd.DataFrame, lang: str, cur: str) -> pd.DataFrame:
    """The nature table as the page shows it."""
    def pct(v):
        return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.0%}"

    def cash(v):
        return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else money(v, cur, lang)

    return pd.DataFrame({
        t("customer_nature", lang): table.index.astype(str),
        t("customers", lang): table["customers"].map(lambda v: f"{v:,}").to_numpy(),
        t("potential_customers", lang): table["potential"].map(lambda v: f"{v:,}").to_numpy(),
        t("share_revenue", lang): table["revenue_share"].map(pct).to_numpy(),
        t("revenue_per_customer", lang): table["revenue_per_customer"].map(cash).to_numpy(),
        t("predicted_clv", lang): table["predicted_clv"].map(cash).to_numpy(),
        t("share_tier_a", lang): table["share_tier_a"].map(pct).to_numpy(),
        t("top_action", lang): table["top_action"].fillna("–").to_numpy()})


def needs_text(needs: Mapping[str, Any], lang: str) -> str:
    """How the needs classes were made, in numbers (``metrics.needs``)."""
    classes = needs.get("classes") or {}
    mixed = needs.get("mixed_customers") or 0
    text = s("needs", lang, categories=needs["categories"],
             customers=needs["customers_with_class"], dominant=needs["dominant_share"],
             single=needs["customers_with_class"] - mixed, mixed=mixed,
             k=needs.get("k") or 0, classes=len(classes))
    empty = needs.get("no_category_revenue_share")
    if empty:
        text += " " + s("needs_no_category", lang, share=empty)
    return text


def mix_display(mix: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A tier's or segment's spend by category, as shares."""
    out = pd.DataFrame({mix.index.name or "": mix.index.astype(str),
                        t("customers", lang): mix["customers"].map(lambda v: f"{v:,}")})
    for col in mix.columns.drop("customers"):
        name = t("other", lang) if col == "other" else str(col)
        out[name] = mix[col].map(lambda v: "–" if np.isnan(v) else f"{v:.0%}").to_numpy()
    return out.reset_index(drop=True)


def cross_sell_items(classes: pd.DataFrame, min_support: float, lang: str) -> list[str]:
    """One line per needs class with a cross-sell hint: the category to offer, with the
    lift and the support of the pair; one line saying so when no pair qualifies."""
    out = []
    for name, r in classes.iterrows():
        if r.get("cross_sell_category") is None or pd.isna(r["cross_sell_category"]):
            continue
        out.append(s("cross_sell", lang, needs=name, n=int(r["customers"]),
                     offer=r["cross_sell_category"], lift=float(r["cross_sell_lift"]),
                     support=float(r["cross_sell_support"]),
                     both=int(r["cross_sell_customers"])))
    return out or [s("cross_sell_none", lang, support=min_support)]
