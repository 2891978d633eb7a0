"""What a zh run shows a person from the notebooks, in Chinese: the Markdown cells of the
rendered pages (``notebook_text.yaml``, by cell id) and the texts of the notebooks' figures
(``figure_text`` in ``text.yaml``: exact texts, or templates whose fields are filled from
the English text). Segment and lifecycle names in figures become their labels. The
notebooks' source stays English for the analysts who edit it."""
from __future__ import annotations

import re
from importlib import resources
from typing import Any

import yaml

from ..playbook import segment_label, segment_names
from .labels import STAGE_LABELS, TEXT

__all__ = ["NOTEBOOK_TEXT", "FIGURE_TEXT", "translate_text", "translate_figure",
           "translate_table", "show_tables_in", "translate_notebook"]


def _load() -> dict[str, str]:
    with resources.files("analysis.narrative").joinpath("notebook_text.yaml").open(
            "r", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


#: cell id -> the Markdown cell in Chinese
NOTEBOOK_TEXT: dict[str, str] = _load()
FIGURE_TEXT: dict[str, str] = TEXT["figure_text"]
_PATTERNS = [(re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(en)) + "$"),
              zh) for en, zh in FIGURE_TEXT.items() if "{" in en]


def translate_text(text: str, lang: str) -> str:
    """A figure text in ``lang`` (unchanged when no translation is known)."""
    if lang == "en" or not text:
        return text
    if text in FIGURE_TEXT:
        return FIGURE_TEXT[text]
    if text in STAGE_LABELS:
        return STAGE_LABELS[text][lang]
    if text in segment_names():
        return segment_label(text, lang)
    for pattern, zh in _PATTERNS:
        hit = pattern.match(text)
        if hit:
            return zh.format(**{k: translate_text(v, lang) for k, v in hit.groupdict().items()})
    return text


def translate_figure(fig: Any, lang: str) -> Any:
    """Every title, label, legend entry and category tick of ``fig`` in ``lang``."""
    if lang == "en":
        return fig
    from matplotlib.text import Text  # matplotlib is loaded whenever there is a figure
    fig.canvas.draw()  # ticks exist only once drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.get_ticklabels()
            words = [t.get_text() for t in ticks]
            new = [translate_text(w, lang) for w in words]
            if new != words:
                axis.set_ticks(axis.get_ticklocs())
                axis.set_ticklabels(new)
    for text in fig.findobj(Text):
        words = text.get_text()
        new = translate_text(words, lang)
        if new != words:
            text.set_text(new)
    return fig


def translate_table(frame: Any, lang: str) -> Any:
    """A DataFrame (or a pandas Styler) with its column and index labels in ``lang``: the
    headers a notebook page shows. Values are left as they are."""
    if lang == "en":
        return frame
    word = lambda v: translate_text(v, lang) if isinstance(v, str) else v
    if hasattr(frame, "format_index"):  # a Styler keeps its formats; relabel what it shows
        return frame.format_index(word, axis=0).format_index(word, axis=1)
    out = frame.rename(columns=word, index=word)
    out.columns.names = [word(n) for n in out.columns.names]
    out.index.names = [word(n) for n in out.index.names]
    return out


def show_tables_in(lang: str) -> None:
    """In a notebook kernel, show every DataFrame and Styler with headers in ``lang``."""
    try:
        from IPython import get_ipython  # only inside a kernel is there anything to set
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or lang == "en":
        return
    import pandas as pd  # (loaded already by every notebook)
    from pandas.io.formats.style import Styler  # (the same)
    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, lambda df: translate_table(df, lang).to_html(
        max_rows=pd.get_option("display.max_rows")))
    html.for_type(Styler, lambda st: translate_table(st, lang).to_html())


def translate_notebook(nb: Any, lang: str) -> Any:
    """The notebook (an nbformat node) with its Markdown cells in ``lang``, where known."""
    if lang == "en":
        return nb
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.get("id") in NOTEBOOK_TEXT:
            cell.source = NOTEBOOK_TEXT[cell["id"]].rstrip("\n")
    return nb
