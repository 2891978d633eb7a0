"""The report's sections: what each says, computed from the run's metrics, the customers
table and the tables the stages left (``runfolder.read_tables``), never recomputed here.

Facts fill the sentence templates of ``narrative.labels`` in English or Chinese; figure
titles state the finding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import plots
from . import story
from ..config import ReportParams
from ..messages import CATALOG
from ..narrative.labels import SENTENCES, action_label, markdown_text, s, stage_label, t
from ..clv.timing import CHURN_BANDS, CHURN_LABELS
from ..clv.validation import holdout_error
from ..narrative.backtests import backtest_text, independence_text, sensitivity_text
from ..narrative.classes import (conversion_display, conversion_text, cross_sell_items,
                                 master_text, mix_display, nature_display, nature_text,
                                 needs_text)
from ..narrative.stages import (entry_message, fit_check_sentence, join_sentences,
                                model_choice_text, sorted_horizons, stage_status,
                                sufficiency_sentence)
from ..playbook import SLIPPING, STAGES, segment_label
from ..potential import is_potential
from ..runfolder import dimension_columns
from ..units import money

__all__ = ["Section", "build"]


@dataclass
class Section:
    key: str
    heading: str
    text: str
    figure: Any = None          # matplotlib Figure
    table: pd.DataFrame | None = None
    items: list[str] | None = None  # a list to show as such (the findings)

    def markdown(self) -> str:
        """The section as notebook Markdown, its words escaped (data values such as an id
        with * or _ stay text)."""
        lines = [f"### {markdown_text(self.heading)}", ""]
        if self.text:
            lines.append(markdown_text(self.text))
        lines += [f"{i}. {markdown_text(x)}" for i, x in enumerate(self.items or [], 1)]
        return "\n".join(lines)


def build(customers: pd.DataFrame, metrics: Mapping[str, Any],
          tables: Mapping[str, pd.DataFrame], params: ReportParams,
          risk: pd.DataFrame | None = None) -> list[Section]:
    """The report's sections, in order, for the data of this run: the findings first, then
    what to do (every customer in one group) and who is at risk, then the evidence
    (concentration, behaviour, lifecycle, tier movement, CLV, dimensions), data quality
    and a glossary. ``risk``: the at-risk list (``risk.at_risk``), when the run made one."""
    lang, cur = params.language, metrics.get("currency", params.currency)
    plots.set_style(lang)
    out: list[Section] = []
    if metrics.get("changes"):
        out.append(_changes_section(metrics["changes"], lang, cur))
    found = story.findings(customers, metrics, lang, cur)
    if found:
        out.append(Section("summary", t("summary", lang), "", items=[f.text for f in found]))
    trend = metrics.get("trend")
    if trend:
        out.append(_trend_section(trend, lang, cur))
    if "recommended_action" in customers:
        groups = story.action_groups(customers, tables.get("playbook"), lang)
        out.append(Section("actions", t("actions", lang),
                           story.decisions_text(groups, metrics, lang, cur), table=groups))
    if metrics.get("campaigns"):
        out.append(_campaign_section(metrics["campaigns"], params.control_share, lang, cur))
    if risk is not None:
        text = story.at_risk_text(customers, risk, metrics, lang, cur)
        out.append(Section("at_risk", t("at_risk", lang), text,
                           table=story.at_risk_table(risk, lang, cur) if len(risk) else None))
    pareto, abc = metrics.get("pareto"), metrics.get("abc")
    if pareto and abc and pareto.get("customer_share_for_80pct_revenue") is not None:
        out.append(_concentration_section(pareto, abc, tables.get("lorenz"),
                                          max(metrics["customers"], 1), lang, cur))
    if "segments" in tables:
        out.append(_behaviour_section(tables["segments"], lang, cur))
    life = metrics.get("lifecycle")
    if life:
        out.append(_lifecycle_section(life, lang, story.lifecycle_text(
            customers, life, metrics.get("period"), lang)))
    out += _master_sections(metrics, tables, lang, cur)
    moved = story.migration_text(metrics.get("migration") or {}, lang)
    if moved:
        out.append(Section("migration", t("migration", lang), moved))
    clv = metrics.get("clv")
    if clv:
        out.append(_clv_section(customers, clv, lang, cur))
    if metrics.get("cohorts"):
        out.append(_cohort_section(metrics["cohorts"], lang, cur))
    buyers = customers[~is_potential(customers)]  # a dimension's revenue and churn: buyers'
    for dim in dimension_columns(customers):
        text, table = story.dimension_table(buyers, dim, lang, cur)
        out.append(Section(f"dimension:{dim}", t("dimensions", lang).format(dimension=dim),
                           text, table=table))
    large = story.large_drops(metrics)
    quality = story.quality_text(customers, metrics, lang, cur)
    if large:
        quality = s("data_quality", lang, n=len(large)) + " " + " ".join(
            story.large_drop_text(w, metrics, lang, cur) for w in large) + " " + quality
    out.append(Section("data_quality", t("data_quality", lang), quality.strip()))
    out.append(Section("glossary", t("glossary", lang), story.glossary_text(
        lang, customers["rfm_segment"].unique() if "rfm_segment" in customers else None)))
    return out


def _master_sections(metrics, tables, lang, cur) -> list[Section]:
    """Potential customers and their conversion, the customers by nature (with a customer
    master), and the needs classes with what each tier and segment buys (with a category
    column)."""
    out = []
    conv, master = metrics.get("conversion"), metrics.get("master")
    if master:
        text = master_text(master, lang) + (" " + conversion_text(conv, lang) if conv else "")
        out.append(Section("potential", t("potential", lang), text,
                           table=conversion_display(conv, lang) if conv else None))
    if tables.get("nature") is not None:
        nature = tables["nature"]
        out.append(Section("nature", t("nature", lang), nature_text(nature, lang, cur),
                           table=nature_display(nature, lang, cur)))
    needs = metrics.get("needs")
    if needs and needs.get("status") == "ok" and "needs_classes" in tables:
        items = cross_sell_items(tables["needs_classes"], needs["min_support"], lang)
        out.append(Section("needs", t("needs", lang), needs_text(needs, lang), items=items,
                           table=mix_display(tables["needs_by_tier"].rename_axis(
                               t("tier", lang)), lang)
                           if "needs_by_tier" in tables else None))
        if "needs_by_segment" in tables:
            mix = tables["needs_by_segment"]  # the caller's table, named, not changed
            mix = mix.set_axis([segment_label(x, lang) for x in mix.index])
            out.append(Section("needs_by_segment", t("needs_by_segment", lang), "",
                               table=mix_display(mix.rename_axis(t("segment", lang)), lang)))
    return out


def _concentration_section(pareto, abc, curve, n, lang, cur) -> Section:
    a = abc["tiers"]["A"]
    text = s("concentration", lang, top20=pareto["top_20pct_revenue_share"],
             share80=pareto["customer_share_for_80pct_revenue"], gini=pareto["gini"],
             a_share=a["customers"] / n, a_rev=a["revenue_share"] or 0)
    fig = plots.lorenz(curve, pareto, lang, s("concentration_title", lang,
                                              top20=pareto["top_20pct_revenue_share"])) \
        if curve is not None else None
    table = pd.DataFrame([{t("tier", lang): t(k, lang), t("customers", lang): f"{v['customers']:,}",
                           t("share_customers", lang): f"{v['customers'] / n:.1%}",
                           t("revenue", lang): money(v["revenue"], cur, lang),
                           t("share_revenue", lang): f"{(v['revenue_share'] or 0):.1%}"}
                          for k, v in abc["tiers"].items()])
    return Section("concentration", t("concentration", lang), text, fig, table)


def _behaviour_section(summ: pd.DataFrame, lang, cur) -> Section:
    slip = summ.loc[[x for x in SLIPPING if x in summ.index]]
    top = summ.head(2)
    names = [segment_label(x, lang) for x in top.index]
    sep = CATALOG[lang]["list_separator"]
    text = s("behaviour", lang, seg1=names[0], n1=int(top["customers"].iloc[0]),
             r1=top["revenue_share"].iloc[0], seg2=names[-1],
             r2=top["revenue_share"].iloc[-1], n_slip=int(slip["customers"].sum()),
             slip_names=sep.join(segment_label(x, lang) for x in slip.index) or "—",
             slip_rev=money(float(slip["revenue"].sum()), cur, lang),
             slip_share=float(slip["revenue_share"].sum()))
    title = s("behaviour_title", lang, seg1=names[0], c1=top["customer_share"].iloc[0],
              r1=top["revenue_share"].iloc[0])
    fig = plots.segment_bars(summ, [segment_label(x, lang) for x in summ.index], lang, title)
    return Section("behaviour", t("behaviour", lang), text, fig)


def _changes_section(ch, lang, cur) -> Section:
    """What changed since the previous run: who moved, its forecast against what happened,
    each campaign against its control group."""
    text = s("changes", lang, since=ch["since"], new=ch["new"], recovered=ch["recovered"],
             churned=ch["newly_churned"] or 0, at_risk=ch["newly_at_risk"] or 0,
             both=ch["customers_both"])
    tiers = (ch.get("transitions") or {}).get("abc_tier", {}).get("A")
    if tiers:
        text += s("changes_tier_a", lang, n=sum(tiers.values()),
                  kept=tiers.get("A", 0) / sum(tiers.values()))
    f = ch.get("forecast")
    if f and f["actual_purchases"]:
        text += s("changes_forecast", lang, model=f["model"], days=f["days"],
                  pred=f["predicted_purchases"], act=f["actual_purchases"],
                  err=f["predicted_purchases"] / f["actual_purchases"] - 1)
        if f.get("predicted_revenue") is not None and f["actual_revenue"]:
            text += s("changes_forecast_money", lang,
                      pred=money(f["predicted_revenue"], cur, lang),
                      act=money(f["actual_revenue"], cur, lang),
                      err=f["predicted_revenue"] / f["actual_revenue"] - 1)
    items = []
    for action, u in (ch.get("uplift") or {}).items():
        lo, hi = u["interval"]
        items.append(s("changes_uplift", lang, action=action_label(action, lang),
                       p1=u["bought_contacted"], p0=u["bought_control"],
                       diff=100 * u["difference"], lo=100 * lo, hi=100 * hi,
                       n1=u["contacted"], n0=u["control"])
                     + (s("changes_no_effect", lang) if lo <= 0 <= hi else ""))
    return Section("changes", t("changes", lang).format(since=ch["since"]), text,
                   items=items or None)


def _campaign_section(campaigns, share, lang, cur) -> Section:
    """Per action list: customers, control group, value at stake and the break-even cost
    of a contact; with a contact cost, for how many a contact costs more than it returns."""
    items = []
    for action, c in campaigns.items():
        name = action_label(action, lang)
        if c["break_even_mean"] is None:
            items.append(s("campaign_item_no_value", lang, action=name, n=c["customers"],
                           control=c["control"]))
            continue
        text = s("campaign_item", lang, action=name, n=c["customers"], control=c["control"],
                 stake=money(c["value_at_stake"], cur, lang),
                 mean=money(c["break_even_mean"], cur, lang))
        if c.get("losing"):
            text += s("campaign_losing", lang, losing=c["losing"],
                      cost=money(c["contact_cost"], cur, lang))
        items.append(text)
    return Section("campaigns", t("campaigns", lang), s("campaigns", lang, share=share),
                   items=items)


def _trend_section(trend, lang, cur) -> Section:
    """The last months against as many before: revenue, orders, customers per month."""
    a, b = trend["recent"], trend["before"]

    def change(key: str) -> float:
        return a[key] / b[key] - 1 if b.get(key) else float("nan")
    text = s("trend", lang, n=trend["months"], start=a["start"], end=a["end"],
             revenue=money(a["revenue"], cur, lang), before=money(b["revenue"], cur, lang),
             b_start=b["start"], b_end=b["end"], revenue_change=change("revenue"),
             orders_change=change("transactions"),
             customers=a["customers_per_month"] or 0.0,
             customers_change=change("customers_per_month"))
    return Section("trend", t("trend", lang), text, figure=plots.revenue_trend(trend, cur))


def _cohort_section(cohorts, lang, cur) -> Section:
    """The largest cohort's return and value by month since the first purchase, and the
    share of each cohort buying, month by month (a heatmap)."""
    sizes = cohorts["customers"]
    i = int(np.argmax(sizes))
    retention, value = cohorts["retention"][i], cohorts["value_per_customer"][i]
    reached = [k for k, v in enumerate(value) if v is not None]
    k = max(x for x in reached if x <= 12)
    text = s("cohorts", lang, n=len(sizes), largest=cohorts["cohorts"][i], size=sizes[i],
             unit=s(f"cohort_{cohorts['granularity']}", lang),
             again=retention[1] if len(retention) > 1 and retention[1] is not None else 0.0,
             k=k, value=money(value[k], cur, lang), first=money(value[0], cur, lang))
    table = pd.DataFrame(cohorts["retention"], index=cohorts["cohorts"],
                         columns=cohorts["months_since"]).astype("float64")
    # the first month is every cohort's 100 %; a few months after it, readable on a phone
    shown = table[[k for k in (1, 2, 3, 6, 12) if k in table]]
    fig = plots.cohort_heatmap(shown) if shown.notna().any().any() else None
    return Section("cohorts", t("cohorts", lang), text, figure=fig)


def _lifecycle_section(life, lang, more: str = "") -> Section:
    n = max(sum(life[k] for k in STAGES), 1)
    th = life["thresholds_days"]
    text = s("lifecycle", lang, active=life["active"], active_share=life["active"] / n,
             dormant=life["dormant"], churned=life["churned"], new=life["new"],
             active_days=th["active_days"], churn_days=th["churn_days"]) + more
    counts = pd.Series({stage_label(k, lang): life[k] for k in STAGES})
    fig = plots.bar_counts(counts, s("lifecycle_title", lang, churned_share=life["churned"] / n),
                           t("stage", lang), t("n_customers", lang))
    return Section("lifecycle", t("lifecycle", lang), text, fig)


def _clv_section(customers, clv, lang, cur) -> Section:
    months = clv["horizon_months"]
    kind = getattr(entry_message(clv, "definition"), "key", "definition.revenue") \
        .removeprefix("definition.")
    meaning = s(f"clv_def_{kind}", lang, margin=clv.get("margin") or 0)
    found = [sufficiency_sentence(c, lang) for c in clv.get("sufficiency") or []]
    caveat = s("clv_sufficiency", lang, items=join_sentences(found, lang)) if found else ""
    hist = money(clv["historical_clv_total"], cur, lang)
    if stage_status(clv).kind == "unreliable":
        reasons = join_sentences([fit_check_sentence(c, lang)
                                  for c in clv.get("fit_checks") or []], lang)
        return Section("clv", t("clv", lang), s("clv_unreliable", lang, reason=reasons,
                                                 hist=hist) + meaning + caveat)
    if clv.get("predicted_clv_total") is None:
        return Section("clv", t("clv", lang), s("clv_missing", lang, hist=hist) + meaning
                       + caveat)
    intervals = clv.get("intervals") or {}
    ci = intervals.get("total_predicted_clv")
    h = clv.get("holdout") or {}
    err = holdout_error(h)
    tested = err is not None
    ranged = bool((clv.get("backtests") or {}).get("range"))
    if ranged:  # the range with the backtests' error is said after the total
        ci_text = ""
    elif ci and tested:  # the holdout error stands beside the interval, which omits it
        ci_text = s("clv_ci_holdout", lang, lo=money(ci[0], cur, lang), hi=money(ci[1], cur, lang),
                    err=err)
    elif ci:
        ci_text = s("clv_ci", lang, lo=money(ci[0], cur, lang), hi=money(ci[1], cur, lang))
    else:
        ci_text = ""
    text = s("clv", lang, months=months, clv=money(clv["predicted_clv_total"], cur, lang),
             ci=ci_text)
    text += backtest_text(clv, cur, lang) + sensitivity_text(clv, cur, lang)
    totals = sorted_horizons(clv.get("horizon_totals"))
    if len(totals) > 1:
        items = [s("clv_horizon_item", lang, months=k, value=money(v, cur, lang))
                 for k, v in totals]
        text += s("clv_horizons", lang, items=join_sentences(items, lang))
    sched = clv.get("schedule") or {}
    if sched.get("expected_value") and len(sched["expected_value"]) >= months \
            and sched["expected_value"][0] is not None:
        text += s("clv_schedule", lang, first=money(sched["expected_value"][0], cur, lang),
                  last=money(sched["expected_value"][months - 1], cur, lang), months=months,
                  file=s("clv_schedule_file", lang) if sched.get("per_customer") else "")
    if intervals.get("failed"):
        text += s("clv_bootstrap_failed", lang, failed=intervals["failed"],
                  iterations=intervals["iterations"])
    if tested:
        text += s("clv_holdout", lang, pred=h["predicted"], act=h["actual"], err=err,
                  verdict=SENTENCES["clv_better" if h["mae"] < h["naive_mae"]
                                    else "clv_worse"][lang])
        if h.get("revenue_predicted") and h.get("revenue_actual"):
            text += s("clv_holdout_money", lang, pred=money(h["revenue_predicted"], cur, lang),
                      act=money(h["revenue_actual"], cur, lang),
                      err=h["revenue_predicted"] / h["revenue_actual"] - 1)
    if clv.get("model_choice"):
        text += s("clv_model_choice", lang, model=clv["model"],
                  why=model_choice_text(clv["model_choice"], lang))
    if clv.get("fit_sample"):
        text += s("clv_fit_sample", lang, n=clv["fit_sample"]["customers"],
                  of=clv["fit_sample"]["of"])
    if clv.get("p_alive_note"):
        text += s("clv_p_alive_bgnbd", lang)
    if "churn_risk" in customers:  # a count per band: a filter of the customers table
        bands = customers["churn_risk"].value_counts()
        if bands.drop("not estimated", errors="ignore").sum():
            text += s("clv_churn", lang, **{b: int(bands.get(b, 0)) for b in CHURN_LABELS},
                      lo=CHURN_BANDS[0], hi=CHURN_BANDS[1])
    text += independence_text(clv, lang) + meaning + caveat
    fig = None
    if "abc_tier" in customers:
        means = customers.groupby("abc_tier")["predicted_clv"].mean().reindex(["A", "B", "C"])
        title = s("clv_title", lang, a_clv=money(float(means.get("A", np.nan)), cur, lang),
                  months=months)
        fig = plots.bar_counts(means.rename(index=lambda k: t(k, lang)), title, t("tier", lang),
                               f"{t('mean_clv', lang)} ({cur})")
    return Section("clv", t("clv", lang), text, fig)


