"""The style of the project's figures, kept to themselves: each figure is drawn, shown and
saved inside :func:`style` (a matplotlib ``rc_context``), so nothing of matplotlib's or
seaborn's global settings changes and an analyst's own plots in the same notebook keep
their defaults. :func:`show` displays a figure in a notebook in the run's language.
"""
from __future__ import annotations

import functools
import logging
from importlib import resources
from typing import Any, Callable

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib import font_manager
from matplotlib import ticker as mticker

from .narrative.translate import translate_figure

__all__ = ["axes_for", "legend_below", "CJK_FONT", "set_style", "style", "styled", "show",
           "plain_log_ticks"]

CJK_FONT = "Noto Sans CJK SC"


def _register_cjk_font() -> bool:
    """Register the Noto Sans CJK SC font shipped by the mplfonts wheel (for zh figures)."""
    if any(f.name == CJK_FONT for f in font_manager.fontManager.ttflist):
        return True
    try:
        path = resources.files("mplfonts").joinpath("fonts/NotoSansCJKsc-Regular.otf")
        font_manager.fontManager.addfont(str(path))
        return True
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return False


#: the language set_style was last called with (show() translates figures into it)
_STYLE = {"language": "en"}


def _rc(language: str) -> dict[str, Any]:
    """The project's figure style: seaborn's whitegrid at notebook scale, bold titles, no
    TeX in labels (a data label such as "$0_$50" is text: it crashed), and the CJK font in
    Chinese."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook"),
          "figure.dpi": 90, "savefig.dpi": 90, "figure.figsize": (8, 4.2),
          "axes.titleweight": "bold", "text.parse_math": False}
    if language == "zh" and _register_cjk_font():
        logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # no bold face
        rc.update({"font.sans-serif": [CJK_FONT, "DejaVu Sans"], "font.family": "sans-serif",
                   "axes.unicode_minus": False})
    return rc


def style() -> Any:
    """The project's figure style as a context (``with plots.style(): ...``): figures are
    drawn and saved inside it, and nothing of matplotlib's or seaborn's global settings
    changes, so an analyst's own plots in the same notebook keep their defaults."""
    return plt.rc_context(_rc(_STYLE["language"]))


def styled(draw: Callable[..., plt.Figure]) -> Callable[..., plt.Figure]:
    """A figure function drawn inside :func:`style`."""
    @functools.wraps(draw)
    def inside(*args: Any, **kwargs: Any) -> plt.Figure:
        with style():
            return draw(*args, **kwargs)
    return inside


def set_style(language: str = "en") -> None:
    """The language the project's figures are drawn and shown in. No global matplotlib
    setting changes (:func:`style`)."""
    _STYLE["language"] = language


def show(fig: plt.Figure) -> None:
    """Display a figure in the notebook (its texts in the run's language) and free it
    (keeps memory flat in long runs)."""
    from IPython.display import display  # only a notebook shows figures; the CLI never loads it
    with style():  # rendered here, inside the project's style (tick labels are made now)
        display(translate_figure(plain_log_ticks(fig), _STYLE["language"]))
    plt.close(fig)


def _plain_number(v: float, _pos: Any = None) -> str:
    if v == 0:
        return "0"
    return f"{v:,.0f}" if abs(v) >= 1 else f"{v:.3g}"


def plain_log_ticks(fig: plt.Figure) -> plt.Figure:
    """Log and symlog axes labelled 10, 100, 1,000 rather than by matplotlib's TeX powers
    (with text.parse_math off, set in :func:`style`, those would show as raw TeX)."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() in ("log", "symlog"):
                axis.set_major_formatter(mticker.FuncFormatter(_plain_number))
                axis.set_minor_formatter(mticker.NullFormatter())
    return fig


def axes_for(ax: plt.Axes | None, size: tuple[float, float]) -> tuple[plt.Figure, plt.Axes]:
    """The figure and axes to draw on: the caller's ``ax``, or a new figure of ``size``."""
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=size)


def legend_below(fig: plt.Figure, ax: plt.Axes) -> None:
    """The legend under the axes and their x label, in one row: inside the axes it covered
    the rows of the smallest segments (their bars too short to see, their names not)."""
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    bottom = ax.xaxis.label.get_window_extent(renderer).y0
    y = ax.transAxes.inverted().transform((0, bottom))[1]
    ax.legend(title="", loc="upper center", bbox_to_anchor=(0.5, y - 0.02), ncol=2,
              frameon=False)
    fig.tight_layout()
