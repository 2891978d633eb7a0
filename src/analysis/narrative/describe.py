"""Each stage's result in words, in a run's language: the paragraphs the notebooks show
(``stages``' templates) and the tables of words beside them. The stages hand over numbers,
statuses and messages; this is where they are put in words, so that no stage imports the
narrative."""
from __future__ import annotations

from functools import singledispatch
from typing import Any, Mapping

import pandas as pd

from ..clv.stage import CORR_WARNING, ClvResult
from ..config import CleanParams
from ..playbook import segment_label
from ..segments import SegmentResult
from ..tiers import TierResult
from .labels import TEXT, s
from .stages import (cluster_words, clv_paragraph, fit_check_sentence, ledger_paragraph,
                     segments_paragraph,
                     sufficiency_sentence, thresholds_sentence, tiers_paragraph)
from .translate import translate_text

__all__ = ["cluster_display", "describe", "describe_thresholds", "cluster_table", "clv_findings", "describe_ledger",
           "parameter_table", "spend_independence", "one_time_spike", "silhouette_meaning"]


@singledispatch
def describe(result: Any, lang: str = "en", currency: str | None = None) -> str:
    """What a stage's result says, in words."""
    raise TypeError(f"no words for a {type(result).__name__}")


@describe.register
def _(result: TierResult, lang: str = "en", currency: str | None = None) -> str:
    return tiers_paragraph(result.pareto, result.table, result.moves,
                           currency or result.params.currency, lang, result.ties)


@describe.register
def _(result: SegmentResult, lang: str = "en", currency: str | None = None) -> str:
    names = {s: segment_label(s, lang) for s in result.summary.index}
    return segments_paragraph(result.summary, result.stages, result.clusters,
                              result.thresholds, currency or result.params.currency, names,
                              lang, result.metrics()["rfm"]["scores_given"])


@describe.register
def _(result: ClvResult, lang: str = "en", currency: str | None = None) -> str:
    return clv_paragraph(result.stats, currency or "", lang)


def describe_thresholds(result: SegmentResult, lang: str = "en") -> str:
    """The lifecycle thresholds a segmentation used, in words."""
    return thresholds_sentence(result.thresholds, lang)


def cluster_table(clusters: Mapping[str, Any], lang: str = "en", currency: str = ""
                  ) -> pd.DataFrame:
    """The clusters' profile (``clusters.cluster_profile``) with each cluster in words."""
    prof = clusters["profile"]
    words = [cluster_words(row, lang, currency) for _, row in prof.iterrows()]
    return prof.drop(columns=["main_stage", "main_stage_share"], errors="ignore") \
        .assign(profile=words)


#: the cluster profile's headers in English words (a zh table translates the codes)
_CLUSTER_HEADERS = {"customers": "customers", "customer_share": "share of customers",
                    "mean_days_since_last": "mean days since last purchase",
                    "mean_orders": "mean orders", "mean_revenue": "mean revenue ({cur})",
                    "revenue": "revenue ({cur})", "revenue_share": "share of revenue"}
_CLUSTER_FORMATS = {"customer_share": "{:.1%}", "revenue_share": "{:.1%}",
                    "mean_days_since_last": "{:,.0f}", "mean_orders": "{:.1f}",
                    "mean_revenue": "{:,.2f}", "revenue": "{:,.0f}"}


def cluster_display(profile: pd.DataFrame, lang: str = "en", currency: str = ""):
    """The cluster profile as notebook 03 shows it: its words first and wide enough to
    read (not one word a line), the numbers formatted, in English the headers in words with
    the currency (in Chinese the codes, which the notebook's tables translate)."""
    table = profile[["profile", *[c for c in profile if c in _CLUSTER_HEADERS]]]
    styled = table.style.format({k: v for k, v in _CLUSTER_FORMATS.items() if k in table}) \
        .set_properties(subset=["profile"], **{"min-width": "26em", "text-align": "left"}) \
        .set_table_styles([{"selector": "th", "props": [("white-space", "nowrap")]}])
    if lang == "en":
        styled = styled.relabel_index(
            [_CLUSTER_HEADERS.get(c, c).format(cur=currency) for c in table], axis=1)
    return styled


def clv_findings(result: ClvResult, lang: str = "en") -> pd.DataFrame:
    """The data-sufficiency checks and the fit checks that failed, in words."""
    rows = [("data", sufficiency_sentence(c, lang))
            for c in result.stats.get("sufficiency") or []]
    rows += [("fit", fit_check_sentence(c, lang))
             for c in result.stats.get("fit_checks") or []]
    return pd.DataFrame(rows, columns=["check", "finding"])


def describe_ledger(ledger: pd.DataFrame, params: CleanParams, lang: str = "en") -> str:
    """One paragraph, generated from the ledger, on what cleaning removed and why."""
    off = [rule for rule, on in (("missing_customer_id", params.drop_missing_customer),
                                 ("non_product_codes", params.drop_non_product),
                                 ("non_positive_price", params.drop_non_positive_price),
                                 ("duplicates", params.drop_duplicates)) if not on]
    return ledger_paragraph(ledger, params.currency, off, params.returns == "net", lang)


def parameter_table(stats: Mapping[str, Any], time_unit: str = "day", currency: str = "",
                    lang: str = "en") -> pd.DataFrame:
    """Estimates of the purchase and spend models with their 90 % bootstrap intervals and
    what each means, with its unit (``parameter_meaning`` in ``text.<language>.yaml``)."""
    ci = (stats.get("intervals") or {}).get("params") or {}
    spend = {k: v for k, v in (stats.get("gamma_gamma") or {}).items() if k != "customers"}
    unit = translate_text(time_unit, lang)
    rows = []
    for name, value in {**(stats.get("params") or {}), **spend}.items():
        lo, hi = ci.get(name) or [None, None]
        meaning = TEXT["parameter_meaning"][name][lang].format(unit=unit, cur=currency)
        rows.append({"parameter": name, "estimate": value, "90% low": lo, "90% high": hi,
                     "meaning": meaning})
    return pd.DataFrame(rows, columns=["parameter", "estimate", "90% low", "90% high",
                                       "meaning"]).set_index("parameter").astype(
        {"estimate": float, "90% low": float, "90% high": float})  # None -> NaN, shown "–"


def spend_independence(corr: float | None, lang: str = "en") -> str:
    """What the frequency-spend correlation of the repeat buyers means for Gamma-Gamma,
    which assumes they are independent ("" when there are too few repeat buyers)."""
    if corr is None:
        return ""
    key = "nb_spend_dependent" if abs(corr) > CORR_WARNING else "nb_spend_independent"
    return s(key, lang, corr=corr, limit=CORR_WARNING)


def one_time_spike(spike: Mapping[str, float] | None, currency: str, lang: str = "en") -> str:
    """Why the one-time buyers make a spike in the predicted CLV histogram, with their
    numbers (``clv.one_time_buyers``; "" when there are none)."""
    if not spike:
        return ""
    def amount(v):
        return f"{v:,.2f} {currency}"
    return s("nb_one_time_spike", lang, n=spike["customers"], share=spike["share"],
             median=amount(spike["median"]), p10=amount(spike["p10"]), p90=amount(spike["p90"]))


def silhouette_meaning(score: float | None, lang: str = "en") -> str:
    """What a mean silhouette says of the clusters: above 0.5 well apart, 0.25 to 0.5
    overlapping, below 0.25 no clear grouping (the usual reading, Kaufman & Rousseeuw)."""
    if score is None:
        return ""
    key = "strong" if score > 0.5 else "fair" if score >= 0.25 else "weak"
    return s(f"nb_silhouette_{key}", lang, score=score)
