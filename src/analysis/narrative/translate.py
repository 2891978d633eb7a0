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
           "translate_notebook"]


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


def translate_notebook(nb: Any, lang: str) -> Any:
    """The notebook (an nbformat node) with its Markdown cells in ``lang``, where known."""
    if lang == "en":
        return nb
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.get("id") in NOTEBOOK_TEXT:
            cell.source = NOTEBOOK_TEXT[cell["id"]].rstrip("\n")
    return nb
