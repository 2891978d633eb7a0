"""The stakeholder entry page ``report/index.html``, built from ``metrics.json``.

Self-contained (inline CSS, no scripts, no external files), readable on a phone;
every figure and sentence comes from the metrics of the run, in English or Chinese.
"""
from __future__ import annotations

import html
from typing import Any, Mapping

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "Customer analytics report", "zh": "客户分析报告"},
    "headline": {"en": "Headline figures", "zh": "核心指标"},
    "customers": {"en": "Customers", "zh": "客户数"},
    "transactions": {"en": "Transactions (after cleaning)", "zh": "交易数（清洗后）"},
    "revenue": {"en": "Revenue", "zh": "收入"},
    "period": {"en": "Period", "zh": "时间范围"},
    "dropped": {"en": "Rows removed by cleaning", "zh": "清洗剔除的行数"},
    "gini": {"en": "Gini coefficient of revenue", "zh": "收入基尼系数"},
    "top20": {"en": "Revenue share of the top 20 % of customers",
              "zh": "前 20% 客户的收入占比"},
    "pct80": {"en": "Share of customers bringing 80 % of revenue",
              "zh": "贡献 80% 收入的客户占比"},
    "tiers": {"en": "Value tiers (ABC)", "zh": "价值分层（ABC）"},
    "tier": {"en": "Tier", "zh": "层级"},
    "revenue_share": {"en": "Revenue share", "zh": "收入占比"},
    "segments": {"en": "RFM segments", "zh": "RFM 分群"},
    "segment": {"en": "Segment", "zh": "分群"},
    "lifecycle": {"en": "Lifecycle stages", "zh": "生命周期阶段"},
    "stage": {"en": "Stage", "zh": "阶段"},
    "clv": {"en": "Customer lifetime value", "zh": "客户终身价值"},
    "clv_status": {"en": "Model status", "zh": "模型状态"},
    "notebooks": {"en": "Detailed notebooks", "zh": "详细分析笔记本"},
    "generated": {"en": "Generated from the run's metrics.json; all figures refer to the data "
                        "of this run.",
                  "zh": "由本次运行的 metrics.json 生成；所有数字均来自本次数据。"},
}

NOTEBOOK_TITLES = {
    "01_data_cleaning": {"en": "1. Data cleaning and the ledger", "zh": "1. 数据清洗与台账"},
    "02_value_tiers": {"en": "2. Value tiers (Pareto / ABC)", "zh": "2. 价值分层（帕累托 / ABC）"},
    "03_segments": {"en": "3. Behaviour segments and lifecycle", "zh": "3. 行为分群与生命周期"},
    "04_clv": {"en": "4. Customer lifetime value", "zh": "4. 客户终身价值"},
    "05_report": {"en": "5. Summary report", "zh": "5. 总结报告"},
}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans CJK SC',sans-serif;
margin:0 auto;max-width:920px;padding:1rem;color:#1d3557;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:2px solid #a8dadc;padding-bottom:.2rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:.6rem}
.card{background:#f1faee;border-radius:8px;padding:.6rem .8rem}
.card .v{font-size:1.35rem;font-weight:700}.card .k{font-size:.85rem;color:#457b9d}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.4rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#6c757d;font-size:.85rem}
"""


def t(key: str, language: str) -> str:
    entry = LABELS[key]
    return entry.get(language, entry["en"])


def _e(x: Any) -> str:
    return html.escape(str(x))


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="v">{_e(value)}</div><div class="k">{_e(label)}</div></div>'


def _money(x: float, currency: str) -> str:
    return f"{x:,.0f} {currency}"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{_e(c)}</td>' if isinstance(c, (int, float)) or
        (isinstance(c, str) and c[:1].isdigit()) else f"<td>{_e(c)}</td>" for c in r) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def index_html(metrics: Mapping[str, Any], pages: list[str], language: str = "en") -> str:
    """The entry page: headline cards, the sections the run produced, links to notebooks."""
    lang = language
    cur = metrics.get("currency", "")
    period = metrics.get("period", {})
    cards = [
        _card(t("customers", lang), f"{metrics.get('customers', 0):,}"),
        _card(t("transactions", lang), f"{metrics.get('transactions', 0):,}"),
        _card(t("revenue", lang), _money(metrics.get("revenue", 0.0), cur)),
        _card(t("period", lang), f"{period.get('start', '?')} – {period.get('end', '?')}"),
    ]
    cleaning = metrics.get("cleaning")
    if cleaning:
        dropped = sum(v["rows"] for v in cleaning["dropped"].values())
        cards.append(_card(t("dropped", lang), f"{dropped:,} / {cleaning['input_rows']:,}"))
    sections = [f"<h2>{_e(t('headline', lang))}</h2><div class='cards'>{''.join(cards)}</div>"]

    pareto = metrics.get("pareto")
    if pareto:
        sections.append("<div class='cards'>" + "".join([
            _card(t("gini", lang), f"{pareto['gini']:.3f}"),
            _card(t("top20", lang), f"{pareto['top_20pct_revenue_share']:.1%}"),
            _card(t("pct80", lang), f"{pareto['customer_share_for_80pct_revenue']:.1%}"),
        ]) + "</div>")
    abc = metrics.get("abc")
    if abc:
        rows = [[k, f"{v['customers']:,}", _money(v["revenue"], cur), f"{v['revenue_share']:.1%}"]
                for k, v in abc["tiers"].items()]
        sections.append(f"<h2>{_e(t('tiers', lang))}</h2>" + _table(
            [t("tier", lang), t("customers", lang), t("revenue", lang), t("revenue_share", lang)],
            rows))
    rfm = metrics.get("rfm")
    if rfm:
        rows = [[k, f"{v:,}"] for k, v in sorted(rfm["segments"].items(), key=lambda kv: -kv[1])]
        sections.append(f"<h2>{_e(t('segments', lang))}</h2>" +
                        _table([t("segment", lang), t("customers", lang)], rows))
    life = metrics.get("lifecycle")
    if life:
        rows = [[k, f"{v:,}"] for k, v in life.items() if isinstance(v, int)]
        sections.append(f"<h2>{_e(t('lifecycle', lang))}</h2>" +
                        _table([t("stage", lang), t("customers", lang)], rows))
    clv = metrics.get("clv")
    if clv:
        sections.append(f"<h2>{_e(t('clv', lang))}</h2><p>{_e(t('clv_status', lang))}: "
                        f"{_e(clv.get('status'))}</p>")

    links = "".join(
        f'<li><a href="{_e(p)}">{_e(NOTEBOOK_TITLES.get(p[:-5], {}).get(lang, p))}</a></li>'
        for p in pages)
    sections.append(f"<h2>{_e(t('notebooks', lang))}</h2><ul>{links}</ul>")
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(t('title', lang))}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(t('title', lang))}</h1>" + "".join(sections) +
            f"<p class='note'>{_e(t('generated', lang))}</p></body></html>\n")
