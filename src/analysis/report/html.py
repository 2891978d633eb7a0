"""The report as one self-contained HTML page (``report/index.html``)."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import pandas as pd

from ..config import ReportParams
from ..narrative.labels import NOTEBOOK_TITLES, t
from ..runfolder import CUSTOMERS, read_metrics, read_tables, replacing
from ..units import money
from .sections import Section, build

__all__ = ["CSS", "figure_png", "index_html", "write_index"]

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
    """A figure as base64 PNG (then closed, so memory stays flat)."""
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
                     ("revenue", money(metrics.get("revenue"), cur)),
                     ("period", f"{period.get('start', '?')} – {period.get('end', '?')}")))
    parts = [f"<h1>{_e(t('title', lang))}</h1>",
             f"<p class='note'>{_e(params.dataset or '')}</p>",
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
    note = t("generated", lang) + (" " + t("anonymized", lang) if params.anonymize else "")
    parts.append(f"<p class='note'>{_e(note)}</p>")
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(t('title', lang))}</title><style>{CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


def write_index(run_dir: str | Path, params: ReportParams, pages: list[str]) -> Path:
    """Build ``report/index.html`` from the run folder's customers table, metrics and the
    stages' tables."""
    run = Path(run_dir)
    metrics = read_metrics(run)
    customers = pd.read_parquet(run / CUSTOMERS)
    html_text = index_html(build(customers, metrics, read_tables(run), params), metrics,
                           pages, params)
    out = run / "report" / "index.html"
    out.parent.mkdir(exist_ok=True)
    with replacing(out) as tmp:
        tmp.write_text(html_text, encoding="utf-8")
    return out
