"""The report as one self-contained HTML page (``report/index.html``)."""
from __future__ import annotations

import base64
import html
import io
import re
import textwrap
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.text import Text

from ..config import ReportParams
from ..figstyle import plain_log_ticks, style
from ..narrative.labels import NOTEBOOK_TITLES, s, t
from ..metrics_schema import checked
from ..runfolder import CUSTOMERS, read_frame, read_metrics, read_tables, replacing
from ..units import money
from .exports import at_risk_list
from .sections import Section, build

__all__ = ["CSS", "DPI", "FIGURE_WIDTH", "figure_png", "clean_page", "index_html",
           "write_index"]

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC','Hiragino Sans GB',
'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif;
margin:0 auto;max-width:900px;padding:1rem;color:#1d3557;line-height:1.5;overflow-wrap:break-word}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:2px solid #a8dadc;
padding-bottom:.2rem;margin-top:1.6rem}
img{max-width:100%;height:auto;display:block;margin:.6rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:.6rem;margin:1rem 0}
.card{background:#f1faee;border-radius:8px;padding:.6rem .8rem}
.card .v{font-size:1.2rem;font-weight:700}.card .k{font-size:.85rem;color:#457b9d}
.findings li{margin:.5rem 0}
.tw{overflow-x:auto;margin:.4rem 0}
table{border-collapse:collapse;width:100%;font-size:.85rem;table-layout:auto}
th,td{text-align:left;padding:.25rem .35rem;border-bottom:1px solid #ddd;vertical-align:top}
.note{color:#6c757d;font-size:.85rem}.actions li{margin:.55rem 0}
@media (max-width:480px){body{padding:.6rem}table{font-size:.75rem}th,td{padding:.2rem .25rem}}
"""
#: the smallest text in a figure, in CSS pixels at its natural size, is recorded on the
#: image (data-min-font-px) so that a browser test can check it stays readable
DPI = 110
#: the widest figure on the page, in inches (at DPI, ~530 px: a phone shrinks it by 0.7)
FIGURE_WIDTH = 4.8


def figure_png(fig, dpi: int = DPI) -> tuple[str, float]:
    """A figure as base64 PNG (then closed, so memory stays flat), and the size of its
    smallest text in pixels of the image."""
    width, height = fig.get_size_inches()
    if width > FIGURE_WIDTH:  # narrower, same text: readable when a phone shrinks it
        fig.set_size_inches(FIGURE_WIDTH, height * max(FIGURE_WIDTH / width, 0.8))
    for ax in fig.axes:  # a long title would widen the saved image again: wrap it
        title = ax.get_title()
        chars = 24 if any(ord(ch) > 0x2E80 for ch in title) else 44
        if len(title) > chars:
            ax.set_title(textwrap.fill(title, chars))
    plain_log_ticks(fig)
    buf = io.BytesIO()
    with style():  # laid out and saved inside the figures' own style, as drawn
        fig.tight_layout()
        fig.canvas.draw()
        sizes = [x.get_fontsize() for x in fig.findobj(Text)
                 if x.get_visible() and x.get_text()]
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii"), min(sizes or [10]) * dpi / 72


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    # in a box of its own that scrolls sideways when a phone is too narrow for it, so that
    # no word or number is broken mid-way and the page itself never scrolls sideways
    return (f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>")


def _actions_html(groups: pd.DataFrame, lang: str, cur: str) -> str:
    """The action groups as a list (a five-column table does not fit a phone): each with
    its customers, past revenue and predicted value, and the playbook rules inside."""
    items = []
    for action, g in groups.iterrows():
        line = s("decision_item", lang, n=int(g["customers"]),
                 revenue=money(g["revenue"], cur, lang))
        if pd.notna(g["predicted_clv"]):
            line += s("decision_item_clv", lang, clv=money(g["predicted_clv"], cur, lang))
        items.append(f"<li><b>{_e(action)}</b> · {_e(line)}"
                     f"<br><span class='note'>{_e(g['who'])}</span></li>")
    return "<ul class='actions'>" + "".join(items) + "</ul>"


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
_EXTERNAL = re.compile(r"<link\b[^>]*href=['\"]?(?:https?:)?//[^>]*>", re.I)


def clean_page(page: str, paths: Mapping[str, str]) -> str:
    """A notebook page as the report links it: no scripts (nbconvert's template loads
    require.js and MathJax from a CDN; the pages need neither), no external links, each
    machine path (``paths``: path -> what to show instead) replaced by its name, and
    figures kept at full size on a phone (their boxes scroll sideways, the page does not)."""
    page = _EXTERNAL.sub("", _SCRIPT.sub("", page))
    # on a phone a notebook figure (8-13 inches at 90 dpi) would shrink its text to ~5 px:
    # keep it at full size inside its output box, which scrolls on its own (the page does not)
    page = page.replace("</head>", "<style>@media (max-width: 700px) {.jp-RenderedImage img "
                        "{max-width: none}}</style></head>", 1)
    for path, name in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        page = page.replace(path, name).replace(html.escape(path), html.escape(name))
    return page


def index_html(sections: list[Section], metrics: Mapping[str, Any], pages: list[str],
               params: ReportParams) -> str:
    """The report as one self-contained page (inline CSS, figures as embedded PNG, no
    scripts, no external files) whose size does not grow with the number of customers."""
    lang = params.language
    cur = metrics.get("currency", params.currency)
    period = metrics.get("period", {})
    cards = "".join(
        f"<div class='card'><div class='v'>{_e(v)}</div><div class='k'>{_e(t(k, lang))}</div></div>"
        for k, v in (("customers", f"{metrics.get('customers', 0):,}"),
                     ("transactions", f"{metrics.get('transactions', 0):,}"),
                     ("revenue", money(metrics.get("revenue"), cur, lang)),
                     ("period", f"{period.get('start', '?')} – {period.get('end', '?')}")))
    parts = [f"<h1>{_e(t('title', lang))}</h1>",
             f"<p class='note'>{_e(params.dataset or '')}</p>"]
    at = 1 if sections and sections[0].key == "summary" else 0  # the KPIs after the findings
    for i, sec in enumerate(sections):
        if i == at:
            parts.append(f"<div class='cards'>{cards}</div>")
        parts.append(f"<h2>{_e(sec.heading)}</h2>")
        if sec.text:
            parts.append(f"<p>{_e(sec.text)}</p>")
        if sec.items:
            parts.append("<ol class='findings'>" + "".join(f"<li>{_e(x)}</li>"
                                                            for x in sec.items) + "</ol>")
        if sec.figure is not None:
            png, font_px = figure_png(sec.figure)
            parts.append(f"<img alt='{_e(sec.heading)}' data-min-font-px='{font_px:.1f}' "
                         f"src='data:image/png;base64,{png}'>")
        if sec.table is not None:
            parts.append(_actions_html(sec.table, lang, cur) if sec.key == "actions"
                         else _table_html(sec.table))
    links = "".join(f"<li><a href='{_e(p)}'>{_e(NOTEBOOK_TITLES.get(Path(p).stem, {}).get(lang, p))}"
                    f"</a></li>" for p in pages)
    parts.append(f"<h2>{_e(t('notebooks', lang))}</h2><ul>{links}</ul>")
    note = t("generated", lang) + (" " + t("anonymized", lang) if params.anonymize else "")
    parts.append(f"<p class='note'>{_e(note)}</p>")
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(t('title', lang))}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


def write_index(run_dir: str | Path, params: ReportParams, pages: list[str],
                customers: pd.DataFrame | None = None, risk: pd.DataFrame | None = None
                ) -> Path:
    """Build ``report/index.html`` from the run folder's customers table (``customers``
    when the caller holds it already), metrics, the stages' tables and the at-risk list
    (``risk``: :func:`at_risk_list` of these customers, when the caller made it)."""
    run = Path(run_dir)
    metrics = checked(read_metrics(run))  # read through its schema: no key read is unknown
    customers = read_frame(run / CUSTOMERS) if customers is None else customers
    risk = at_risk_list(customers, metrics) if risk is None else risk
    html_text = index_html(build(customers, metrics, read_tables(run), params, risk), metrics,
                           pages, params)
    out = run / "report" / "index.html"
    out.parent.mkdir(exist_ok=True)
    with replacing(out) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return out
