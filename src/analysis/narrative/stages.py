"""The paragraphs each notebook writes from its numbers, in English and Chinese.

Every function takes a stage's numbers (not its parameters mapping) and ``lang``, picks
that language's templates from ``text.<language>.yaml`` (``paragraphs``) and fills them by
one code path, so the languages say the same things. ``describe`` calls them with a stage's
result, so notebooks and tests read the same words. What a stage says inside (a model's
status, a warning, the CLV definition) is a message by key (``analysis.messages``),
rendered here in ``lang``.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ..clv.validation import holdout_error
from ..messages import Status, check_message, from_record, join, render
from ..playbook import SLIPPING
from ..units import Window
from .labels import BY_LANGUAGE, TEXT, stage_label

__all__ = ["stage_status", "entry_message", "entry_warnings", "ledger_paragraph",
           "coverage_paragraph", "tiers_paragraph", "cluster_words", "thresholds_sentence",
           "segments_paragraph", "sufficiency_sentence",
           "fit_check_sentence", "model_choice_text", "join_sentences",
           "sorted_horizons", "clv_paragraph", "MIGRATION_MIN"]

RULE_TEXT: dict[str, dict[str, str]] = TEXT["rule_text"]
SWITCHED_OFF: dict[str, dict[str, str]] = TEXT["switched_off"]
#: fewer first-half tier-A customers than this: no verdict on the tier's stability
MIGRATION_MIN = 30
#: above this adjusted Rand index with the one-time / repeat split, the clusters add nothing
REPEAT_SPLIT_ARI = 0.8


def _templates(paragraph: str, lang: str) -> dict[str, Any]:
    return BY_LANGUAGE[lang]["paragraphs"][paragraph]


def ledger_paragraph(ledger: pd.DataFrame, currency: str, switched_off: list[str],
                     returns_netted: bool, lang: str = "en") -> str:
    """What cleaning removed and why (``switched_off``: the rules turned off, by key:
    missing_customer_id, non_product_codes, non_positive_price, duplicates)."""
    w = _templates("ledger", lang)
    steps = ledger.set_index("step")
    n_in, n_kept = int(steps.at["input", "rows"]), int(steps.at["kept", "rows"])
    text = w["head"].format(n_in=n_in, rev_in=float(steps.at["input", "revenue"]),
                            n_kept=n_kept, kept_share=n_kept / n_in,
                            rev_kept=float(steps.at["kept", "revenue"]), cur=currency)
    dropped = sorted([(s, int(r["rows"]), float(r["revenue"])) for s, r in steps.iterrows()
                      if s not in ("input", "kept") and r["rows"] > 0], key=lambda x: -x[1])
    if dropped:
        text += w["removed"].format(items=w["item_sep"].join(
            w["item"].format(rows=rows, rule=RULE_TEXT[s][lang], rev=rev, cur=currency)
            for s, rows, rev in dropped))
    else:
        text += w["nothing"]
    if switched_off:
        text += w["rules_off"].format(names=w["name_sep"].join(SWITCHED_OFF[k][lang]
                                                         for k in switched_off))
    return text + (w["netted"] if returns_netted else "")


def coverage_paragraph(monthly: pd.DataFrame, last: pd.Timestamp, customers: pd.DataFrame,
                       window: Window, currency: str, lang: str = "en") -> str:
    """The period covered and the shape of the customer base, from the transaction stage's
    ``monthly`` series (month, transactions, revenue) and ``last`` transaction date."""
    w = _templates("coverage", lang)
    per_month = pd.DataFrame({"size": monthly["transactions"].to_numpy(),
                              "sum": monthly["revenue"].to_numpy()},
                             index=pd.PeriodIndex(monthly["month"], freq="M"))
    busiest, quietest = per_month["size"].idxmax(), per_month["size"].idxmin()
    n = len(customers)
    one_timers = int((customers["frequency"] == 0).sum())
    gaps = pd.period_range(per_month.index.min(), per_month.index.max(), freq="M") \
        .difference(per_month.index)
    text = w["text"].format(
        start=f"{window.start:%Y-%m-%d}", last=f"{last:%Y-%m-%d}",
        end=f"{window.end:%Y-%m-%d}", days=window.days,
        transactions=int(per_month["size"].sum()),
        customers=n, busiest=busiest, busiest_n=per_month.at[busiest, "size"],
        busiest_sum=per_month.at[busiest, "sum"], quietest=quietest,
        quietest_n=per_month.at[quietest, "size"], one_timers=one_timers,
        one_share=one_timers / n, orders=customers["n_orders"].median(),
        revenue=customers["revenue"].median(), cur=currency)
    if len(gaps):
        text += w["gaps"].format(months=w["sep"].join(str(g) for g in gaps))
    return text


def tiers_paragraph(pareto: Mapping[str, Any], table: pd.DataFrame, moves: Mapping[str, Any],
                    currency: str, lang: str = "en", ties: list[Mapping[str, Any]] = ()
                    ) -> str:
    """Concentration, ties at a tier's cut (``ranking.tier_ties``) and the stability of the
    top tier."""
    w = _templates("tiers", lang)
    g = pareto["gini"]
    level = w["levels"][0 if g >= 0.8 else 1 if g >= 0.6 else 2 if g >= 0.4 else 3]
    text = w["head"].format(level=level, gini=g, top20=pareto["top_20pct_revenue_share"],
                            top1=pareto["top_1pct_revenue_share"])
    share80 = pareto.get("customer_share_for_80pct_revenue")
    if share80 is not None:
        verdict = w["sharper"] if share80 < 0.2 else w["flatter"] if share80 > 0.2 \
            else w["exact"]
        text += w["share80"].format(share80=share80, verdict=verdict)
    a = table.loc["A"]
    text += w["tier_a"].format(a_n=int(a["customers"]), a_share=a["customer_share"],
                               a_rev=a["revenue"], cur=currency, a_rev_share=a["revenue_share"],
                               a_orders=a["mean_orders"], c_orders=table.at["C", "mean_orders"])
    if pareto.get("negative_revenue_customers"):
        text += w["negative"].format(neg=pareto["negative_revenue_customers"])
    for tie in ties:
        text += w["tie"].format(cur=currency, **tie)
    retained = moves["a_retention"]
    if retained is not None:
        text += w["migration"].format(split=moves["split"], retained=retained,
                                      lapsed=moves["a_lapsed"])
        if sum(moves["counts"].loc["A"]) >= MIGRATION_MIN:  # no verdict on a handful
            text += w["stable"] if retained >= 0.5 else w["volatile"]
    return text


def cluster_words(row, lang: str = "en", currency: str = "") -> str:
    """A cluster in words from its means (days since the last purchase, orders, revenue per
    customer) and, when known (``main_stage``), its main lifecycle stage with its share."""
    w = _templates("cluster", lang)
    stage = "" if "main_stage" not in row else w["stage"].format(
        share=row["main_stage_share"], stage=stage_label(row["main_stage"], lang))
    return w["text"].format(days=row["mean_days_since_last"], stage=stage,
                            orders=row["mean_orders"], revenue=row["mean_revenue"],
                            cur=currency)


def thresholds_sentence(thresholds: Mapping[str, Any], lang: str = "en") -> str:
    """The lifecycle thresholds used and where they came from (Markdown)."""
    w = _templates("thresholds", lang)
    gap = thresholds["median_interpurchase_days"]
    return w["text"].format(gap=w["gap"].format(gap=gap) if gap else w["no_gap"],
                            new=thresholds["new_days"], active=thresholds["active_days"],
                            churn=thresholds["churn_days"],
                            source=w[thresholds["source"]["active_days"]])


def segments_paragraph(seg_summary: pd.DataFrame, stages: pd.Series,
                       clusters: Mapping[str, Any], thresholds: Mapping[str, Any],
                       currency: str, names: Mapping[str, str], lang: str = "en",
                       scores_given: Mapping[str, list[int]] | None = None) -> str:
    """Where revenue sits by segment, who is slipping, the lifecycle, the scores that ties
    left empty (``scores_given``: each score's values given) and the clusters (``names``:
    each segment's label in ``lang``)."""
    w = _templates("segments", lang)
    text = w["top"].format(items=w["top_sep"].join(
        w["top_item"].format(name=names.get(s, s), n=int(r.customers), share=r.revenue_share)
        for s, r in seg_summary.head(2).iterrows()))
    slip = seg_summary.loc[[s for s in SLIPPING if s in seg_summary.index]]
    if len(slip):
        text += w["slipping"].format(n=int(slip["customers"].sum()),
                                     names=w["names_sep"].join(names.get(s, s)
                                                               for s in slip.index),
                                     revenue=slip["revenue"].sum(), cur=currency,
                                     share=slip["revenue_share"].sum())
    counts = stages.value_counts()
    text += w["lifecycle"].format(active=counts.get("active", 0),
                                  active_share=counts.get("active", 0) / len(stages),
                                  active_days=thresholds["active_days"],
                                  dormant=counts.get("dormant", 0),
                                  churned=counts.get("churned", 0),
                                  churn_days=thresholds["churn_days"], new=counts.get("new", 0))
    short = {k: v for k, v in (scores_given or {}).items() if len(v) < 5}
    if short:
        text += w["scores"].format(items=w["names_sep"].join(
            w["scores_item"].format(score=k[0].upper(), given=", ".join(map(str, v)))
            for k, v in short.items()))
    if clusters.get("status") == "ok":
        first = clusters["profile"].iloc[0]
        ari = clusters["ari"]["mean"]
        text += w["clusters"].format(k=clusters["k"], silhouette=clusters["best_silhouette"],
                                     share=first["customer_share"],
                                     profile=cluster_words(first, lang, currency),
                                     revenue_share=first["revenue_share"])
        text += (w["stable"] if ari >= 0.8 else w["unstable"]).format(ari=ari)
        split = clusters.get("repeat_split_ari")
        if split is not None and split >= REPEAT_SPLIT_ARI:
            text += w["repeat_split"].format(ari=split)
    return text


def sorted_horizons(totals: Mapping[str, float] | None) -> list[tuple[int, float]]:
    """``horizon_totals`` of metrics.json as (months, total), shortest horizon first."""
    return sorted((int(k), v) for k, v in (totals or {}).items())


def sufficiency_sentence(check: Mapping[str, Any], lang: str = "en") -> str:
    """A failed data-sufficiency check (``clv.sufficiency.checks``) in words."""
    return render(check_message("sufficiency", check), lang)


def fit_check_sentence(check: Mapping[str, Any], lang: str = "en") -> str:
    """A failed fit check (``clv.diagnostics``) in words."""
    return render(check_message("fit_check", check), lang)


def model_choice_text(key: str, lang: str = "en") -> str:
    """Why the model was used (``clv.compare.choose``'s key) in words."""
    base, _, unsound = key.partition(" ")
    words = TEXT["model_choice"]
    return words[base][lang] + (words["unsound"][lang] if unsound else "")


def join_sentences(items: list[str], lang: str) -> str:
    return join(items, lang)


def stage_status(entry: Mapping[str, Any]) -> Status:
    """The status of a stage's entry: the :class:`Status` itself (a stage's result) or its
    record (``status_record`` in metrics.json)."""
    status = entry.get("status")
    if isinstance(status, Status):
        return status
    data = entry.get("status_record")
    return Status.from_record(data) if data else Status(status or "not run")


def entry_message(entry: Mapping[str, Any], key: str) -> Any:
    """A sentence of a stage's entry by key: the message itself, or its ``<key>_record``."""
    data = entry.get(key + "_record")
    return from_record(data) if data is not None else entry.get(key)


def entry_warnings(entry: Mapping[str, Any]) -> list[Any]:
    """A stage's warnings as messages: themselves, or ``warning_records`` in metrics.json."""
    data = entry.get("warning_records")
    return [from_record(w) for w in data] if data is not None else list(entry.get("warnings")
                                                                         or [])


def clv_paragraph(stats: Mapping[str, Any], currency: str, lang: str = "en") -> str:
    """What the CLV models say and how far to trust them (``ClvResult.stats``)."""
    w = _templates("clv", lang)
    m, cur = stats, currency
    checks = [sufficiency_sentence(c, lang) for c in m.get("sufficiency") or []]
    tail = w["sufficiency"].format(items=join_sentences(checks, lang)) if checks else ""
    status = stage_status(m)
    definition = render(entry_message(m, "definition"), lang)
    if status.kind == "not estimated":
        return w["not_estimated"].format(reason=render(status.reason, lang),
                                         hist=m["historical_clv_total"], cur=cur,
                                         definition=definition) + tail
    estimates = ", ".join(f"{k} = {v:.3g}" for k, v in m["params"].items())
    text = w["choice"].format(model=m["model"], why=model_choice_text(m["model_choice"], lang)) \
        if m.get("model_choice") else ""
    if status.kind == "unreliable":
        reasons = join_sentences([fit_check_sentence(c, lang)
                                  for c in m.get("fit_checks") or []], lang)
        return text + w["unreliable"].format(model=m["model"], estimates=estimates,
                                             reason=reasons, hist=m["historical_clv_total"],
                                             cur=cur) + tail
    text += w["model"].format(model=m["model"], estimates=estimates)
    if m.get("expected_purchases_total") is not None:
        text += w["expects"].format(purchases=m["expected_purchases_total"],
                                    months=m["horizon_months"])
    if m.get("predicted_clv_total") is not None:
        text += w["worth"].format(clv=m["predicted_clv_total"], cur=cur,
                                  rate=m["discount_rate"])
        intervals = m.get("intervals") or {}
        ci = intervals.get("total_predicted_clv")
        if ci:
            how = TEXT["interval_method"][intervals.get("method", "bootstrap")][lang]
            text += w["interval"].format(lo=ci[0], hi=ci[1], cur=cur,
                                         how=how.format(n=intervals["iterations"]))
        if intervals.get("failed"):
            text += w["failed"].format(failed=intervals["failed"],
                                       iterations=intervals["iterations"])
    text += w["stop"]
    sample = m.get("fit_sample")
    if sample:
        scaled = (m.get("intervals") or {}).get("scaled_from_sample")
        text += w["sample"].format(n=sample["customers"], of=sample["of"], seed=sample["seed"],
                                   scaled=w["sample_scaled"] if scaled else "")
    totals = sorted_horizons(m.get("horizon_totals"))
    if len(totals) > 1:
        items = [w["horizon_item"].format(months=h, value=v, cur=cur) for h, v in totals]
        text += w["horizons"].format(items=join_sentences(items, lang))
    h = m.get("holdout", {})
    if h.get("status") == "ok":
        err = holdout_error(h)
        err = float("nan") if err is None else err
        better = h["mae"] < h["naive_mae"]
        text += w["holdout"].format(cal_end=h["calibration_end"], pred=h["predicted"],
                                    act=h["actual"], err=err, mae=h["mae"],
                                    naive=h["naive_mae"],
                                    verdict=w["better" if better else "not_better"])
        text += w["trust"] if better else w["caution"]
    else:
        text += w["no_holdout"].format(status=stage_status(h).render(lang))
    if m.get("p_alive_note"):
        text += w["p_alive"]
    text += w["definition"].format(definition=definition)
    said = {"sufficiency." + c["check"] for c in m.get("sufficiency") or []}
    text += "".join(w["warning"].format(warning=render(x, lang))
                    for x in entry_warnings(m) if getattr(x, "key", None) not in said)
    if status.kind == "partial":
        text += w["partial"].format(reason=status.reason.capitalised(lang))
    return text + tail
