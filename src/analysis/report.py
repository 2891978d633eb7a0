"""Stage 5: the stakeholder report and the customer table.

Everything a stakeholder reads is generated from the run's ``metrics.json`` and the
customers table: facts are computed once (:func:`facts`), sentences are templates
filled with them in English or Chinese (:data:`SENTENCES`), figure titles state the
finding, and :func:`index_html` assembles one self-contained page (inline CSS,
figures as embedded PNG, no scripts, no external files) whose size does not grow
with the number of customers. :func:`write_tables` writes the CRM tables
(CSV, Parquet, XLSX with summary sheets and a ``dictionary`` sheet) and
``data_dictionary.md``.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "Customer analytics report", "zh": "客户分析报告"},
    "headline": {"en": "At a glance", "zh": "概览"},
    "customers": {"en": "Customers", "zh": "客户数"},
    "transactions": {"en": "Transactions", "zh": "交易数"},
    "revenue": {"en": "Revenue", "zh": "收入"},
    "period": {"en": "Period", "zh": "时间范围"},
    "concentration": {"en": "Who brings the revenue", "zh": "收入来自哪些客户"},
    "behaviour": {"en": "How customers behave", "zh": "客户行为分群"},
    "lifecycle": {"en": "Where customers are in their lifecycle", "zh": "客户生命周期"},
    "clv": {"en": "What customers will be worth", "zh": "客户未来价值"},
    "actions": {"en": "What to do", "zh": "行动建议"},
    "data_quality": {"en": "Data quality: check before acting", "zh": "数据质量：行动前请核查"},
    "notebooks": {"en": "Detailed analysis", "zh": "详细分析"},
    "tier": {"en": "Tier", "zh": "层级"},
    "segment": {"en": "Segment", "zh": "分群"},
    "stage": {"en": "Stage", "zh": "阶段"},
    "action": {"en": "Action", "zh": "行动"},
    "who": {"en": "Who", "zh": "对象"},
    "why": {"en": "Why", "zh": "原因"},
    "share_customers": {"en": "Share of customers", "zh": "客户占比"},
    "share_revenue": {"en": "Share of revenue", "zh": "收入占比"},
    "cum_customers": {"en": "customers, from lowest to highest revenue (cumulative %)",
                      "zh": "客户（按收入由低到高累计，%）"},
    "cum_revenue": {"en": "revenue (cumulative %)", "zh": "收入（累计，%）"},
    "equality": {"en": "if every customer spent the same", "zh": "若每位客户消费相同"},
    "share_pct": {"en": "share (%)", "zh": "占比（%）"},
    "n_customers": {"en": "customers", "zh": "客户数"},
    "mean_clv": {"en": "mean predicted CLV per customer", "zh": "每位客户的平均预测价值"},
    "generated": {"en": "Every figure and sentence on this page is computed from this run's "
                        "data.", "zh": "本页所有数字与文字均由本次运行的数据计算生成。"},
    "anonymized": {"en": "Customer ids are anonymised (salted hashes).",
                   "zh": "客户编号已匿名化（加盐哈希）。"},
    "A": {"en": "A: key customers", "zh": "A：关键客户"},
    "B": {"en": "B: major customers", "zh": "B：主要客户"},
    "C": {"en": "C: ordinary customers", "zh": "C：普通客户"},
}

NOTEBOOK_TITLES = {
    "01_data_cleaning": {"en": "1. Data cleaning and the ledger", "zh": "1. 数据清洗与台账"},
    "02_value_tiers": {"en": "2. Value tiers (Pareto / ABC)", "zh": "2. 价值分层（帕累托 / ABC）"},
    "03_segments": {"en": "3. Behaviour segments and lifecycle", "zh": "3. 行为分群与生命周期"},
    "04_clv": {"en": "4. Customer lifetime value", "zh": "4. 客户终身价值"},
    "05_report": {"en": "5. Report and customer table", "zh": "5. 报告与客户表"},
}

SENTENCES: dict[str, dict[str, str]] = {
    "data_quality": {
        "en": "{n} cleaning rule(s) removed more than a tenth of the file's rows or revenue, so "
              "every figure below describes what remained. Check that this is intended before "
              "acting on it:",
        "zh": "有 {n} 条清洗规则删除了文件中超过一成的行或收入，以下所有数字只描述剩余的数据。"
              "请先核实这是否符合预期："},
    "headline": {
        "en": "{customers:,} customers bought {transactions:,} times between {start} and {end}, "
              "for {revenue} in total.",
        "zh": "{start} 至 {end} 期间，{customers:,} 位客户共交易 {transactions:,} 次，"
              "总收入 {revenue}。"},
    "concentration": {
        "en": "The top 20 % of customers bring {top20:.0%} of revenue, and {share80:.0%} of "
              "customers bring 80 % of it (Gini coefficient {gini:.2f}). Tier A, the top "
              "{a_share:.0%} of customers, brings {a_rev:.0%} of revenue.",
        "zh": "前 20% 的客户贡献了 {top20:.0%} 的收入，{share80:.0%} 的客户贡献了 80% 的收入"
              "（基尼系数 {gini:.2f}）。A 层级即前 {a_share:.0%} 的客户，贡献了 {a_rev:.0%} 的收入。"},
    "concentration_title": {"en": "The top 20 % of customers bring {top20:.0%} of revenue",
                            "zh": "前 20% 的客户贡献了 {top20:.0%} 的收入"},
    "behaviour": {
        "en": "{seg1} ({n1:,} customers) bring {r1:.0%} of revenue and {seg2} another {r2:.0%}. "
              "{n_slip:,} customers who used to buy ({slip_names}) are slipping away; they "
              "brought {slip_rev} ({slip_share:.0%} of revenue).",
        "zh": "{seg1}（{n1:,} 位客户）贡献了 {r1:.0%} 的收入，{seg2}贡献了 {r2:.0%}。"
              "{n_slip:,} 位曾经购买的客户（{slip_names}）正在流失，他们曾贡献 {slip_rev}"
              "（占收入的 {slip_share:.0%}）。"},
    "behaviour_title": {"en": "{seg1}: {c1:.0%} of customers, {r1:.0%} of revenue",
                        "zh": "{seg1}：{c1:.0%} 的客户，{r1:.0%} 的收入"},
    "lifecycle": {
        "en": "{active:,} customers ({active_share:.0%}) are active (bought in the last "
              "{active_days} days), {dormant:,} are dormant, {churned:,} have churned (nothing "
              "for over {churn_days} days) and {new:,} are new.",
        "zh": "{active:,} 位客户（{active_share:.0%}）处于活跃状态（最近 {active_days} 天内有购买），"
              "{dormant:,} 位处于沉睡状态，{churned:,} 位已流失（超过 {churn_days} 天未购买），"
              "{new:,} 位为新客户。"},
    "lifecycle_title": {"en": "{churned_share:.0%} of customers have churned",
                        "zh": "{churned_share:.0%} 的客户已流失"},
    "clv": {
        "en": "Over the next {months} months today's customers are expected to bring {clv}{ci}.",
        "zh": "未来 {months} 个月内，现有客户预计将带来 {clv}{ci}。"},
    "clv_ci": {"en": " (90 % interval {lo} to {hi})", "zh": "（90% 区间 {lo} 至 {hi}）"},
    "clv_def_profit": {
        "en": " CLV here is profit: revenue minus each row's cost, discounted; loss-making "
              "purchases count against the customer.",
        "zh": " 此处的客户价值为利润：收入减去每笔交易的成本并折现；亏损的交易计为负值。"},
    "clv_def_margin": {
        "en": " CLV here is {margin:.0%} of revenue (a constant margin), discounted.",
        "zh": " 此处的客户价值为收入的 {margin:.0%}（固定利润率）并折现。"},
    "clv_def_revenue": {
        "en": " CLV here is revenue, discounted: the data has no cost, so it is not profit.",
        "zh": " 此处的客户价值为折现后的收入：数据中没有成本，因此并非利润。"},
    "clv_holdout": {
        "en": " Tested on a period it had not seen, the model predicted {pred:,.0f} repeat "
              "purchases against {act:,.0f} that happened ({err:+.0%}) and was {verdict} than "
              "assuming every customer keeps their past pace.",
        "zh": " 在未参与建模的验证期内，模型预测复购 {pred:,.0f} 次，实际为 {act:,.0f} 次"
              "（{err:+.0%}），{verdict}“客户保持以往购买节奏”的简单预测。"},
    "clv_better": {"en": "more accurate", "zh": "优于"},
    "clv_worse": {"en": "less accurate", "zh": "不如"},
    "clv_missing": {"en": "Future value could not be estimated on this data (see notebook 4); "
                          "past value, discounted, totals {hist}.",
                    "zh": "本数据无法估计客户未来价值（见第 4 个笔记本）；折现后的历史价值合计 {hist}。"},
    "clv_title": {"en": "A tier-A customer is worth {a_clv} over the next {months} months",
                  "zh": "每位 A 层级客户未来 {months} 个月的价值约为 {a_clv}"},
    "actions": {
        "en": "The biggest actions: {items}.",
        "zh": "最重要的行动：{items}。"},
    "action_item": {"en": "{action} for {n:,} customers ({share:.0%} of revenue)",
                    "zh": "对 {n:,} 位客户{action}（占收入 {share:.0%}）"},
}

COLUMN_DOCS: dict[str, dict[str, tuple[str, str]]] = {
    "customer_id": {"en": ("Customer identifier as in the source (a salted hash when "
                           "anonymised)", "text"), "zh": ("客户编号（匿名化时为加盐哈希）", "文本")},
    "first_purchase": {"en": ("Day of the first purchase", "date"), "zh": ("首次购买日期", "日期")},
    "last_purchase": {"en": ("Day of the last purchase", "date"), "zh": ("最近一次购买日期", "日期")},
    "n_orders": {"en": ("Number of orders (distinct order id and day; lines without order ids)",
                        "count"), "zh": ("订单数", "次")},
    "frequency": {"en": ("Repeat purchase days: days with a purchase after the first",
                         "count"), "zh": ("复购天数（首购之后有购买的天数）", "次")},
    "recency": {"en": ("Time from the first to the last purchase day (BTYD recency)",
                       "time unit of the run"), "zh": ("首购到末次购买的时长（BTYD 口径）", "本次运行的时间单位")},
    "T": {"en": ("Time from the first purchase to the end of observation",
                 "time unit of the run"), "zh": ("首购到观察期末的时长", "本次运行的时间单位")},
    "monetary_value": {"en": ("Mean value of the repeat purchase days (0 when none)",
                              "currency"), "zh": ("复购日的平均金额（无复购为 0）", "货币")},
    "revenue": {"en": ("Net revenue of the customer over the window", "currency"),
                "zh": ("观察期内净收入", "货币")},
    "abc_tier": {"en": ("Value tier: A key, B major, C ordinary customers", "A/B/C"),
                 "zh": ("价值层级：A 关键、B 主要、C 普通客户", "A/B/C")},
    "r_score": {"en": ("Recency score, 5 = bought most recently", "1-5"),
                "zh": ("最近购买得分，5 为最近", "1-5")},
    "f_score": {"en": ("Frequency score, 5 = most orders", "1-5"), "zh": ("购买频次得分，5 为最多", "1-5")},
    "m_score": {"en": ("Monetary score, 5 = highest spend", "1-5"), "zh": ("消费金额得分，5 为最高", "1-5")},
    "rfm_segment": {"en": ("Named RFM segment (Champions ... Lost)", "label"),
                    "zh": ("RFM 命名分群（冠军客户……已流失）", "标签")},
    "cluster": {"en": ("k-means cluster, 1 = highest mean revenue", "number"),
                "zh": ("k-means 聚类编号，1 为平均收入最高", "编号")},
    "lifecycle_stage": {"en": ("Lifecycle stage: new, active, dormant or churned", "label"),
                        "zh": ("生命周期阶段：新客户、活跃、沉睡或流失", "标签")},
    "historical_clv": {"en": ("Past margin, discounted monthly to the first purchase",
                              "currency"), "zh": ("历史利润，按月折现至首购", "货币")},
    "p_alive": {"en": ("Probability the customer is still active", "0-1"),
                "zh": ("客户仍然活跃的概率", "0-1")},
    "expected_purchases": {"en": ("Expected repeat purchases over the CLV horizon", "count"),
                           "zh": ("预测期内预计复购次数", "次")},
    "profit": {"en": ("Net revenue minus cost (from the mapped cost or profit column)",
                      "currency"), "zh": ("净收入减去成本（来自成本或利润列）", "货币")},
    "predicted_clv": {"en": ("Predicted margin over the CLV horizon, discounted", "currency"),
                      "zh": ("预测期内的预测利润（折现）", "货币")},
    "clv_tier": {"en": ("Predicted CLV tier: top 20 %, middle 60 %, bottom 20 %", "label"),
                 "zh": ("预测价值层级：前 20%、中间 60%、后 20%", "标签")},
    "recommended_action": {"en": ("Playbook action for the customer", "label"),
                           "zh": ("建议采取的行动", "标签")},
}
DIMENSION_DOC = {"en": ("Customer attribute from the data: its most frequent value", "text"),
                 "zh": ("数据中的客户属性：出现最多的取值", "文本")}


def t(key: str, lang: str) -> str:
    entry = LABELS[key]
    return entry.get(lang, entry["en"])


def s(key: str, lang: str, **values: Any) -> str:
    return SENTENCES[key][lang].format(**values)


def money(x: float | None, currency: str) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    return f"{x:,.0f} {currency}"


# -- the content ----------------------------------------------------------------------

@dataclass
class Section:
    key: str
    heading: str
    text: str
    figure: Any = None          # matplotlib Figure
    table: pd.DataFrame | None = None


def _segment_name(name: str, lang: str) -> str:
    from .segments import segment_label
    return segment_label(name, lang)


def build(customers: pd.DataFrame, metrics: Mapping[str, Any], cfg: Mapping[str, Any]
          ) -> list[Section]:
    """The report's sections, in order, for the data of this run."""
    from . import plots, segments
    lang, cur = cfg["language"], metrics.get("currency", cfg["currency"])
    plots.set_style(lang)
    out: list[Section] = []
    period = metrics["period"]
    out.append(Section("headline", t("headline", lang), s(
        "headline", lang, customers=metrics["customers"], transactions=metrics["transactions"],
        start=period["start"], end=period["end"], revenue=money(metrics["revenue"], cur))))

    large = [w for w in (metrics.get("cleaning") or {}).get("warnings", [])
             if w.startswith("LARGE DROP")]
    if large:
        out.append(Section("data_quality", t("data_quality", lang),
                           s("data_quality", lang, n=len(large)) + " " + " ".join(large)))

    pareto, abc = metrics.get("pareto"), metrics.get("abc")
    if pareto and abc and pareto.get("customer_share_for_80pct_revenue") is not None:
        a = abc["tiers"]["A"]
        n = max(metrics["customers"], 1)
        text = s("concentration", lang, top20=pareto["top_20pct_revenue_share"],
                 share80=pareto["customer_share_for_80pct_revenue"], gini=pareto["gini"],
                 a_share=a["customers"] / n, a_rev=a["revenue_share"] or 0)
        from .tiers import lorenz_curve
        fig = _lorenz(lorenz_curve(customers["revenue"]), pareto, lang)
        table = pd.DataFrame([{t("tier", lang): t(k, lang), t("customers", lang): f"{v['customers']:,}",
                               t("share_customers", lang): f"{v['customers'] / n:.1%}",
                               t("revenue", lang): money(v["revenue"], cur),
                               t("share_revenue", lang): f"{(v['revenue_share'] or 0):.1%}"}
                              for k, v in abc["tiers"].items()])
        out.append(Section("concentration", t("concentration", lang), text, fig, table))

    if "rfm_segment" in customers:
        summ = segments.segment_table_summary(customers, customers["rfm_segment"])
        slip = summ.loc[[x for x in segments.SLIPPING if x in summ.index]]
        top = summ.head(2)
        names = [_segment_name(x, lang) for x in top.index]
        sep = "、" if lang == "zh" else ", "
        text = s("behaviour", lang, seg1=names[0], n1=int(top["customers"].iloc[0]),
                 r1=top["revenue_share"].iloc[0], seg2=names[-1],
                 r2=top["revenue_share"].iloc[-1], n_slip=int(slip["customers"].sum()),
                 slip_names=sep.join(_segment_name(x, lang) for x in slip.index) or "—",
                 slip_rev=money(float(slip["revenue"].sum()), cur),
                 slip_share=float(slip["revenue_share"].sum()))
        title = s("behaviour_title", lang, seg1=names[0], c1=top["customer_share"].iloc[0],
                  r1=top["revenue_share"].iloc[0])
        fig = _segment_bars(summ, lang, title)
        out.append(Section("behaviour", t("behaviour", lang), text, fig))

    life = metrics.get("lifecycle")
    if life:
        n = max(sum(life[k] for k in segments.STAGES), 1)
        th = life["thresholds_days"]
        text = s("lifecycle", lang, active=life["active"], active_share=life["active"] / n,
                 dormant=life["dormant"], churned=life["churned"], new=life["new"],
                 active_days=th["active_days"], churn_days=th["churn_days"])
        counts = pd.Series({segments.STAGE_LABELS[k][lang]: life[k] for k in segments.STAGES})
        fig = plots.bar_counts(counts, s("lifecycle_title", lang, churned_share=life["churned"] / n),
                               t("stage", lang), t("n_customers", lang))
        out.append(Section("lifecycle", t("lifecycle", lang), text, fig))

    clv = metrics.get("clv")
    if clv:
        out.append(_clv_section(customers, clv, lang, cur))

    if "recommended_action" in customers and "abc_tier" in customers:
        out.append(_actions_section(customers, cfg, lang))
    return out


def _clv_section(customers, clv, lang, cur) -> Section:
    from . import plots
    months = clv["horizon_months"]
    kind = (clv.get("definition") or "revenue").split(":")[0]
    meaning = s(f"clv_def_{kind}", lang, margin=clv.get("margin") or 0)
    if clv.get("predicted_clv_total") is None:
        return Section("clv", t("clv", lang), s("clv_missing", lang,
                                                 hist=money(clv["historical_clv_total"], cur))
                       + meaning)
    ci = (clv.get("intervals") or {}).get("total_predicted_clv")
    text = s("clv", lang, months=months, clv=money(clv["predicted_clv_total"], cur),
             ci=s("clv_ci", lang, lo=money(ci[0], cur), hi=money(ci[1], cur)) if ci else "")
    h = clv.get("holdout") or {}
    if h.get("status") == "ok" and h.get("actual"):
        text += s("clv_holdout", lang, pred=h["predicted"], act=h["actual"],
                  err=(h["predicted"] - h["actual"]) / h["actual"],
                  verdict=SENTENCES["clv_better" if h["mae"] < h["naive_mae"]
                                    else "clv_worse"][lang])
    text += meaning
    fig = None
    if "abc_tier" in customers:
        means = customers.groupby("abc_tier")["predicted_clv"].mean().reindex(["A", "B", "C"])
        title = s("clv_title", lang, a_clv=money(float(means.get("A", np.nan)), cur),
                  months=months)
        fig = plots.bar_counts(means.rename(index=lambda k: t(k, lang)), title, t("tier", lang),
                               f"{t('mean_clv', lang)} ({cur})")
    return Section("clv", t("clv", lang), text, fig)


def _actions_section(customers, cfg, lang) -> Section:
    from . import segments
    labels = customers[["abc_tier", "lifecycle_stage", "rfm_segment"]]
    rec = segments.recommend(labels, lang)
    summ = segments.playbook_summary(customers, rec, lang)
    by_action = summ.groupby("action").agg(customers=("customers", "sum"),
                                          revenue_share=("revenue_share", "sum")) \
        .sort_values("revenue_share", ascending=False)
    sep = "；" if lang == "zh" else "; "
    items = sep.join(s("action_item", lang, action=a, n=int(r.customers), share=r.revenue_share)
                     for a, r in by_action.head(3).iterrows())
    table = summ.head(8)[["action", "who", "customers", "revenue_share", "why"]].rename(columns={
        "action": t("action", lang), "who": t("who", lang), "customers": t("customers", lang),
        "revenue_share": t("share_revenue", lang), "why": t("why", lang)})
    table[t("share_revenue", lang)] = table[t("share_revenue", lang)].map(lambda v: f"{v:.1%}")
    return Section("actions", t("actions", lang), s("actions", lang, items=items), table=table)


def _lorenz(curve: pd.DataFrame, pareto: Mapping[str, Any], lang: str):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.6))
    ax.fill_between(curve["customer_share"] * 100, curve["revenue_share"] * 100,
                    curve["customer_share"] * 100, color="#a8dadc", alpha=0.5)
    ax.plot(curve["customer_share"] * 100, curve["revenue_share"] * 100, color="#1d3557", lw=2)
    ax.plot([0, 100], [0, 100], ls="--", color="grey", label=t("equality", lang))
    top20 = pareto["top_20pct_revenue_share"]
    ax.plot([80], [100 - top20 * 100], "o", color="#e76f51")
    ax.set(title=s("concentration_title", lang, top20=top20), xlabel=t("cum_customers", lang),
           ylabel=t("cum_revenue", lang), xlim=(0, 100), ylim=(0, 100))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def _segment_bars(summ: pd.DataFrame, lang: str, title: str):
    import matplotlib.pyplot as plt
    import seaborn as sns
    names = [_segment_name(x, lang) for x in summ.index]
    long = pd.DataFrame({"segment": names * 2,
                         "share": list(summ["customer_share"] * 100) + list(summ["revenue_share"] * 100),
                         "measure": [t("share_customers", lang)] * len(summ)
                         + [t("share_revenue", lang)] * len(summ)})
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(summ) + 1.6))
    sns.barplot(data=long, y="segment", x="share", hue="measure", ax=ax,
                palette=["#a8dadc", "#1d3557"])
    ax.set(title=title, xlabel=t("share_pct", lang), ylabel=t("segment", lang))
    ax.legend(title="")
    fig.tight_layout()
    return fig


# -- HTML -------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;
margin:0 auto;max-width:900px;padding:1rem;color:#1d3557;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:2px solid #a8dadc;
padding-bottom:.2rem;margin-top:1.6rem}
img{max-width:100%;height:auto;display:block;margin:.6rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:.6rem}
.card{background:#f1faee;border-radius:8px;padding:.6rem .8rem}
.card .v{font-size:1.3rem;font-weight:700}.card .k{font-size:.85rem;color:#457b9d}
.tbl{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
.note{color:#6c757d;font-size:.85rem}.actions li{margin:.45rem 0}
"""


def figure_png(fig, dpi: int = 80) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<div class='tbl'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _actions_html(table: pd.DataFrame) -> str:
    """The playbook as a list (a five-column table does not fit a phone)."""
    items = []
    for row in table.itertuples(index=False):
        action, who, n, share, why = row
        items.append(f"<li><b>{_e(action)}</b> · {_e(who)} · {int(n):,} · {_e(share)}"
                     f"<br><span class='note'>{_e(why)}</span></li>")
    return "<ul class='actions'>" + "".join(items) + "</ul>"


def index_html(sections: list[Section], metrics: Mapping[str, Any], pages: list[str],
               cfg: Mapping[str, Any]) -> str:
    lang = cfg["language"]
    cur = metrics.get("currency", cfg["currency"])
    period = metrics.get("period", {})
    cards = "".join(
        f"<div class='card'><div class='v'>{_e(v)}</div><div class='k'>{_e(t(k, lang))}</div></div>"
        for k, v in (("customers", f"{metrics.get('customers', 0):,}"),
                     ("transactions", f"{metrics.get('transactions', 0):,}"),
                     ("revenue", money(metrics.get("revenue"), cur)),
                     ("period", f"{period.get('start', '?')} – {period.get('end', '?')}")))
    parts = [f"<h1>{_e(t('title', lang))}</h1>",
             f"<p class='note'>{_e(cfg.get('dataset') or '')}</p>",
             f"<div class='cards'>{cards}</div>"]
    for sec in sections:
        parts.append(f"<h2>{_e(sec.heading)}</h2><p>{_e(sec.text)}</p>")
        if sec.figure is not None:
            parts.append(f"<img alt='{_e(sec.heading)}' src='data:image/png;base64,"
                         f"{figure_png(sec.figure)}'>")
        if sec.table is not None:
            parts.append(_actions_html(sec.table) if sec.key == "actions"
                         else _table_html(sec.table))
    links = "".join(f"<li><a href='{_e(p)}'>{_e(NOTEBOOK_TITLES.get(Path(p).stem, {}).get(lang, p))}"
                    f"</a></li>" for p in pages)
    parts.append(f"<h2>{_e(t('notebooks', lang))}</h2><ul>{links}</ul>")
    note = t("generated", lang) + (" " + t("anonymized", lang) if cfg.get("anonymize") else "")
    parts.append(f"<p class='note'>{_e(note)}</p>")
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(t('title', lang))}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


def write_index(run_dir: str | Path, cfg: Mapping[str, Any], pages: list[str]) -> Path:
    """Build ``report/index.html`` from the run folder's customers table and metrics."""
    import json
    run = Path(run_dir)
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    customers = pd.read_parquet(run / "customers.parquet")
    html_text = index_html(build(customers, metrics, cfg), metrics, pages, cfg)
    out = run / "report" / "index.html"
    out.parent.mkdir(exist_ok=True)
    from .pipeline import replacing
    with replacing(out) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return out


# -- XLSX -------------------------------------------------------------------------------

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_STYLES = (f'<styleSheet xmlns="{_NS}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
           '</font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
           '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/>'
           '<right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf '
           'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2">'
           '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" '
           'fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
           '</cellStyles></styleSheet>')
_BAD_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _xml_text(col: pd.Series) -> pd.Series:
    from .pipeline import spreadsheet_safe
    text = spreadsheet_safe(col.astype("str")).str.replace(_BAD_XML, "", regex=True).str.replace("&", "&amp;") \
        .str.replace("<", "&lt;").str.replace(">", "&gt;")
    cells = '<c t="inlineStr"><is><t xml:space="preserve">' + text + "</t></is></c>"
    return cells.where(col.notna(), "<c/>").astype(object)


def _xml_cells(col: pd.Series) -> pd.Series:
    """One column as SpreadsheetML cells: numbers, dates (serial + date style) or text."""
    if pd.api.types.is_bool_dtype(col):
        return ('<c t="b"><v>' + col.astype(int).astype(str) + "</v></c>").astype(object)
    if pd.api.types.is_datetime64_any_dtype(col):
        serial = (col - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
        cells = '<c s="1"><v>' + serial.astype(str) + "</v></c>"
        return cells.where(col.notna(), "<c/>").astype(object)
    if pd.api.types.is_numeric_dtype(col):
        finite = col.notna() & np.isfinite(col.astype("float64"))
        cells = "<c><v>" + col.astype(str) + "</v></c>"
        return cells.where(finite, "<c/>").astype(object)
    return _xml_text(col)


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """Write DataFrames as sheets of an .xlsx file.

    Written by hand because openpyxl builds a Python object per cell: ~16 s for the
    23,570 x 23 CDNOW customer table and minutes at a million customers, while the
    format is a zip of a few XML parts that vectorised string operations produce in
    about a second. Numbers stay numbers, datetimes become Excel dates, everything
    else inline text; tests read the file back with openpyxl and calamine."""
    import zipfile
    names = list(sheets)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   'package.relationships+xml"/><Default Extension="xml" ContentType='
                   '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
                   f'"{_CT}.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType='
                   f'"{_CT}.styles+xml"/>'
                   + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType='
                             f'"{_CT}.worksheet+xml"/>' for i in range(1, len(names) + 1))
                   + "</Types>")
        z.writestr("_rels/.rels", f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
                   f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>'
                   + "".join(f'<sheet name="{html.escape(n[:31])}" sheetId="{i}" r:id="rId{i}"/>'
                             for i, n in enumerate(names, start=1)) + "</sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{_PKG}">'
                   + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                             f'Target="worksheets/sheet{i}.xml"/>'
                             for i in range(1, len(names) + 1))
                   + f'<Relationship Id="rIdS" Type="{_REL}/styles" Target="styles.xml"/>'
                   "</Relationships>")
        z.writestr("xl/styles.xml", _STYLES)
        for i, name in enumerate(names, start=1):
            df = sheets[name].reset_index(drop=True)
            header = "<row>" + "".join(_xml_text(pd.Series([str(c) for c in df.columns], dtype=object)).tolist()) + "</row>"
            rows = pd.Series([""] * len(df), dtype=object)
            for col in df.columns:
                rows = rows + _xml_cells(df[col])
            body = ("<row>" + rows + "</row>").str.cat() if len(df) else ""
            z.writestr(f"xl/worksheets/sheet{i}.xml",
                       f'<worksheet xmlns="{_NS}"><sheetData>{header}{body}</sheetData>'
                       "</worksheet>")


# -- tables for CRMs --------------------------------------------------------------------

def dictionary(columns: list[str], lang: str, currency: str, time_unit: str) -> pd.DataFrame:
    rows = []
    for col in columns:
        desc, unit = COLUMN_DOCS.get(col, DIMENSION_DOC)[lang]
        unit = {"currency": currency, "货币": currency, "time unit of the run": time_unit + "s",
                "本次运行的时间单位": {"day": "天", "week": "周"}[time_unit]}.get(unit, unit)
        rows.append({"column": col, "description": desc, "unit": unit})
    return pd.DataFrame(rows)


def dictionary_markdown(table: pd.DataFrame, lang: str) -> str:
    head = "# Data dictionary\n\n" if lang == "en" else "# 数据字典\n\n"
    lines = ["| column | description | unit |", "|---|---|---|"]
    lines += [f"| `{r.column}` | {r.description} | {r.unit} |" for r in table.itertuples()]
    return head + "\n".join(lines) + "\n"


def summary_sheets(customers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Customers and revenue (with its share) per tier, segment, stage, action, CLV tier."""
    sheets: dict[str, pd.DataFrame] = {}
    def share(g):
        g["revenue_share"] = g["revenue"] / customers["revenue"].sum()
        return g.reset_index()
    for col, name in (("abc_tier", "abc_tiers"), ("rfm_segment", "rfm_segments"),
                      ("lifecycle_stage", "lifecycle"), ("recommended_action", "actions"),
                      ("clv_tier", "clv_tiers")):
        if col in customers:
            g = customers.groupby(col).agg(customers=("customer_id", "size"),
                                           revenue=("revenue", "sum"))
            sheets[name] = share(g)
    return sheets


def write_tables(run_dir: str | Path, customers: pd.DataFrame, cfg: Mapping[str, Any],
                 metrics: Mapping[str, Any]) -> dict[str, Path]:
    """customers.csv / .parquet / .xlsx (with summary and dictionary sheets) and
    data_dictionary.md."""
    from .pipeline import export_customers, replacing
    run = Path(run_dir)
    lang = cfg["language"]
    table = export_customers(run, customers)
    dic = dictionary(list(table.columns), lang, metrics.get("currency", cfg["currency"]),
                     cfg["time_unit"])
    with replacing(run / "data_dictionary.md") as tmp:
        tmp.write_text(dictionary_markdown(dic, lang), encoding="utf-8")
    ledger = run / "cleaning_ledger.csv"
    sheets: dict[str, pd.DataFrame] = {}
    if len(table) <= cfg["xlsx_max_customers"]:
        sheets["customers"] = table
    sheets.update(summary_sheets(table))
    if ledger.exists():
        sheets["cleaning_ledger"] = pd.read_csv(ledger)
    sheets["dictionary"] = dic
    with replacing(run / "customers.xlsx") as tmp:
        write_xlsx(tmp, sheets)
    return {"csv": run / "customers.csv", "parquet": run / "customers.parquet",
            "xlsx": run / "customers.xlsx", "dictionary": run / "data_dictionary.md"}
