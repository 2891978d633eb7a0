"""The notebooks' facade: one setup call, stage 1 once per run (``stage1_cache``), and each
stage's result saved into the run folder. Only notebooks (and tests) import it: it
displays Markdown through IPython and sets pandas' display options.

A notebook starts with :func:`setup`, which resolves the parameters (typed,
:class:`~analysis.config.Params`), creates the run folder, sets the figure style and gives
a :class:`Notebook`: the customers table so far, the transaction stage's aggregates (the
notebooks never read the clean transactions), the observation window, and
:meth:`Notebook.save` for a stage's result (its customer columns, its entry of
``metrics.json`` and the tables the report reads). When the run folder lacks an
earlier stage's artifacts (an analyst opened notebook 03 on its own), stage 1 is computed
from the data file with the same package functions, so every notebook runs on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Protocol

import pandas as pd
from IPython.display import Markdown, display

from . import plots
from .config import Params, resolve, typed
from .handoff import Aggregates
from .narrative.labels import markdown_text, s as sentence
from .messages import Message, Status, render
from .narrative.describe import describe
from .narrative.translate import show_tables_in
from .runfolder import (CUSTOMERS, METRICS, STAGE1, add_columns, read_frame, read_metrics,
                        update_metrics, write_tables)
from .stage1_cache import (Stage1, clean_path, input_key, read_aggregates, recorded,
                           shown_name, stage1, stage1_metrics, transaction_stage,
                           write_stage1)
from .tiers import tiers_from_params
from .units import Window

#: the stage-1 names the notebooks and tests reach through this facade are
#: ``stage1_cache``'s (listed here because this module offers them)
__all__ = ["transaction_stage", "stage1_metrics", "input_key", "clean_path", "write_stage1",
           "Stage1", "stage1", "StageResult", "Notebook", "readable_number", "say", "setup"]


class StageResult(Protocol):
    """What a stage hands back (``tiers.TierResult``, ``segments.SegmentResult``,
    ``clv.ClvResult``): its customer columns, its entry of metrics.json and the tables the
    report shows."""

    def columns(self) -> pd.DataFrame: ...

    def metrics(self) -> dict[str, Any]: ...

    def tables(self) -> dict[str, pd.DataFrame]: ...


@dataclass
class Notebook:
    """A notebook's view of its run: parameters, data so far, window, and where to save."""
    params: Params
    run_dir: Path
    data_path: str

    def stage1(self) -> Stage1:
        """Stage 1 of this run (read back from the run folder when the runner did it)."""
        result = stage1(self.run_dir, self.data_path, self.params)
        self.__dict__.setdefault("aggregates", result.aggregates)  # the cached_property below
        return result

    @cached_property
    def aggregates(self) -> Aggregates:
        """What the notebooks need from transaction level (``stage1.aggregates``), read from
        the run folder when it holds this data's stage 1 with these parameters; else
        computed (and, in an empty folder, written with the rest of stage 1). The clean
        transactions themselves are never read."""
        if recorded(self.run_dir, self.data_path, self.params) is not None:
            return read_aggregates(self.run_dir)
        if (self.run_dir / STAGE1).exists():
            # stage 1 of other parameters (an analyst changed calibration_end here, say):
            # computed again for this notebook, the folder's artifacts left as they are
            return transaction_stage(self.data_path, self.params)[2]
        return self.stage1().aggregates

    @cached_property
    def customers(self) -> pd.DataFrame:
        """The customers table so far (with an ``abc_tier`` column computed here when
        notebook 02 did not run in this folder, since the later stages use it)."""
        path = self.run_dir / CUSTOMERS
        table = read_frame(path) if path.exists() else self.stage1().customers
        if "abc_tier" not in table:
            table = table.assign(abc_tier=tiers_from_params(table, self.params.tiers)
                                 .astype(str))
        return table

    @property
    def lang(self) -> str:
        """The run's language (``language``)."""
        return self.params.report.language

    @property
    def currency(self) -> str:
        return self.params.report.currency

    def say(self, key: str, **values: Any) -> None:
        """Show the sentence ``key`` of ``text.<language>.yaml`` (a notebook's line between its
        paragraphs) in the run's language, filled with ``values``."""
        say(sentence(key, self.lang, **values))

    def warn(self, warning: Message) -> None:
        """Show a stage's warning (a message by key) in the run's language."""
        self.say("nb_warning", text=self.words(warning))

    def words(self, message: Message) -> str:
        """A stage's sentence (a message by key) in the run's language."""
        return render(message, self.lang)

    def status(self, status: Status) -> str:
        """A stage's status in the run's language."""
        return status.render(self.lang)

    def describe(self, result: Any) -> str:
        """A stage's result in words, in the run's language (``narrative.describe``)."""
        return describe(result, self.lang, self.currency)

    def name(self, path: str | Path) -> str:
        """A file or folder as a page shows it: by its name, never its machine path."""
        return shown_name(path)

    @cached_property
    def window(self) -> Window:
        """The observation window: from stage 1's record of it (``period`` in metrics.json)
        when the folder holds stage 1, so that a notebook that needs only the customers
        table (03, 05) reads no more; else from the aggregates."""
        summary = self.params.summary
        period = read_metrics(self.run_dir).get("period") \
            if (self.run_dir / METRICS).exists() and (self.run_dir / STAGE1).exists() \
            else None
        if period and period.get("time_unit") == summary.time_unit.name and (
                summary.observation_end is None
                or pd.Timestamp(summary.observation_end) == pd.Timestamp(period["end"])):
            return Window.from_period(period)
        return self.aggregates.window

    def save(self, result: StageResult) -> pd.DataFrame:
        """Add a stage's columns to the customers table, merge its metrics and write the
        tables it leaves for the report; returns the customers table as now written."""
        self.customers = add_columns(self.run_dir, self.customers, result.columns())
        update_metrics(self.run_dir, result.metrics())
        write_tables(self.run_dir, result.tables())
        return self.customers


def readable_number(v: float) -> str:
    """A float as a table shows it: thousands separated above 1,000, two decimals above 1,
    three significant digits below."""
    if v != v:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.2f}" if abs(v) >= 1 else f"{v:.3g}"


def say(text: str) -> None:
    """Show a paragraph in the notebook as Markdown, its words escaped (an example row's
    id with * or _, or a value with $, stays text)."""
    display(Markdown(markdown_text(text)))


def setup(params_path: str | None, overrides: Mapping[str, Any] | None, run_dir: str | Path,
          data_path: str | Path) -> Notebook:
    """The first call of every notebook: parameters resolved and typed, the run folder
    created, the figure style set for the run's language."""
    params = typed(resolve(params_path, overrides or {}), str(params_path or "parameters"))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    plots.set_style(params.report.language)
    # tables as a reader wants them: 16,874 not 16873.733740, 0.000123 not 0.00, whole texts
    pd.set_option("display.float_format", readable_number)
    pd.set_option("display.max_colwidth", None)
    show_tables_in(params.report.language)  # table headers in the run's language
    return Notebook(params, Path(run_dir), str(data_path))
