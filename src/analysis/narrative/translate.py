"""What a run in another language than English shows a person from the notebooks: the
Markdown cells of the rendered pages (``notebooks.<language>.yaml``, by cell id) and the
texts of the notebooks' figures and tables (``figure_text``, ``column_labels`` and
``value_labels`` in ``text.<language>.yaml``: exact texts, or templates whose fields are
filled from the English text). Segment and lifecycle names become their labels. The
notebooks' source stays English for the analysts who edit it."""
from __future__ import annotations

import re
from typing import Any

from ..messages import CATALOG, Status
from ..playbook import segment_label, segment_names
from ..runfolder import horizon_months
from .labels import COLUMN_LABELS, STAGE_LABELS, TEXT, VALUE_LABELS, language_files

__all__ = ["NOTEBOOK_TEXT", "FIGURE_TEXT", "translate_text", "translate_figure",
           "translate_header", "translate_value", "translate_table", "show_tables_in",
           "translate_notebook"]


#: language -> cell id -> the notebook's Markdown cell in it (``notebooks.<language>.yaml``)
NOTEBOOK_TEXT: dict[str, dict[str, str]] = language_files("notebooks")
#: language -> English figure text -> the text in that language
FIGURE_TEXT: dict[str, dict[str, str]] = TEXT["figure_text"]
_PATTERNS = {lang: [(re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(en))
                                + "$"), words) for en, words in table.items() if "{" in en]
             for lang, table in FIGURE_TEXT.items()}


def translate_text(text: str, lang: str) -> str:
    """A figure text in ``lang`` (unchanged when no translation is known)."""
    if lang == "en" or not text:
        return text
    if text in FIGURE_TEXT[lang]:
        return FIGURE_TEXT[lang][text]
    if text in STAGE_LABELS:
        return STAGE_LABELS[text][lang]
    if text in segment_names():
        return segment_label(text, lang)
    for pattern, words in _PATTERNS[lang]:
        hit = pattern.match(text)
        if hit:
            return words.format(**{k: translate_text(v, lang) for k, v in hit.groupdict().items()})
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


def translate_header(name: Any, lang: str) -> Any:
    """A table's column or index label in ``lang``: a column code's short header, or a
    figure text."""
    if lang == "en" or not isinstance(name, str):
        return name
    months = horizon_months(name)
    if months is not None:
        return COLUMN_LABELS[lang]["predicted_clv_horizon"].format(months=months)
    return COLUMN_LABELS[lang].get(name) or translate_text(name, lang)


#: columns whose values are codes a table in another language shows as labels
_SEGMENT_COLUMNS = {"rfm_segment", "segment"}
_STAGE_COLUMNS = {"lifecycle_stage", "stage"}


def translate_value(column: Any, value: Any, lang: str) -> Any:
    """A cell of a code column (segment, stage, ledger step, CLV tier, a yes/no flag) or a
    status as ``lang`` shows it; other cells unchanged."""
    if lang == "en":
        return value
    if isinstance(value, bool):
        return CATALOG[lang]["yes" if value else "no"]
    if isinstance(value, Status):
        return value.render(lang)
    if not isinstance(value, str):
        return value
    if column in VALUE_LABELS[lang]:
        return VALUE_LABELS[lang][column].get(value, value)
    if column in _SEGMENT_COLUMNS and value in segment_names():
        return segment_label(value, lang)
    if column in _STAGE_COLUMNS and value in STAGE_LABELS:
        return STAGE_LABELS[value][lang]
    return value


def _code_columns(frame: Any, lang: str) -> list[Any]:
    return [c for c in frame.columns
            if c in VALUE_LABELS[lang] or c in _SEGMENT_COLUMNS or c in _STAGE_COLUMNS
            or str(frame[c].dtype) == "bool"]


def translate_table(frame: Any, lang: str) -> Any:
    """A DataFrame (or a pandas Styler) as a ``lang`` reader sees it: column and index
    labels and their names in ``lang``, and the cells of code columns as labels. Numbers
    are left as they are (a Styler keeps its formats)."""
    if lang == "en":
        return frame
    head = lambda v: translate_header(v, lang)
    names = lambda idx: [head(n) for n in idx.names]
    if hasattr(frame, "format_index"):  # a Styler: relabel what it shows, keep the formats
        data = frame.data
        for col in _code_columns(data, lang):
            frame = frame.format(lambda v, c=col: translate_value(c, v, lang), subset=[col])
        frame = frame.format_index(head, axis=0).format_index(head, axis=1)
        # the index and column names are read from the data it renders
        frame.data = data.rename_axis(index=names(data.index), columns=names(data.columns))
        frame.index, frame.columns = frame.data.index, frame.data.columns
        return frame
    out = frame.copy()
    for col in _code_columns(out, lang):
        out[col] = out[col].map(lambda v, c=col: translate_value(c, v, lang))
    out = out.rename(columns=head, index=head)
    out.columns.names = names(out.columns)
    out.index.names = names(out.index)
    return out


def show_tables_in(lang: str) -> None:
    """In a notebook kernel, show every DataFrame and Styler with headers in ``lang``, and
    a missing number as "–" rather than NaN."""
    try:
        from IPython import get_ipython  # only inside a kernel is there anything to set
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    import pandas as pd  # (loaded already by every notebook)
    from pandas.io.formats.style import Styler  # (the same)
    html = shell.display_formatter.formatters["text/html"]
    html.for_type(pd.DataFrame, lambda df: translate_table(df, lang).to_html(
        max_rows=pd.get_option("display.max_rows"), na_rep="–", notebook=True))
    html.for_type(Styler, lambda st: translate_table(st, lang).to_html())


def translate_notebook(nb: Any, lang: str) -> Any:
    """The notebook (an nbformat node) with its Markdown cells in ``lang``, where known."""
    if lang == "en":
        return nb
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.get("id") in NOTEBOOK_TEXT.get(lang, {}):
            cell.source = NOTEBOOK_TEXT[lang][cell["id"]].rstrip("\n")
    return nb
