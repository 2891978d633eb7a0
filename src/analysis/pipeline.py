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
import pyarrow.parquet as pq
from IPython.display import Markdown, display

from . import plots
from .config import Params, resolve, typed
from .errors import InputError, ParamError
from .handoff import Aggregates
from .messages import Message, Status, render
from .narrative.describe import describe
from .narrative.labels import NOTEBOOK_TITLES, markdown_text, s as sentence
from .narrative.translate import show_tables_in
from .potential import is_potential
from .runfolder import (CUSTOMERS, METRICS, STAGE1, add_columns, read_frame, read_metrics,
                        read_provenance, record_stage, replacing, update_metrics,
                        write_tables)
from .stage1_cache import (Stage1, clean_path, input_key, read_aggregates, recorded,
                           run_key, shown_name, stage1, stage1_metrics, transaction_stage,
                           write_stage1)
from .tiers import tiers_from_params
from .units import Window

#: the stage-1 names the notebooks and tests reach through this facade are
#: ``stage1_cache``'s (listed here because this module offers them)
__all__ = ["transaction_stage", "stage1_metrics", "input_key", "clean_path", "write_stage1",
           "Stage1", "stage1", "StageResult", "Notebook", "readable_number", "say", "setup"]


#: each later stage, and the notebook that makes it
STAGE_NOTEBOOKS = {"tiers": "02_value_tiers", "segments": "03_segments", "needs": "03_segments",
                   "clv": "04_clv",
                   "state": "05_report"}


class StageResult(Protocol):
    """What a stage hands back (``tiers.TierResult``, ``segments.SegmentResult``,
    ``clv.ClvResult``, ``state.StateResult``): its name (``stage``), its customer columns,
    its entry of metrics.json and the tables the report shows."""
    stage: str

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
    def key(self) -> str:
        """The digest of this notebook's data and parameters (``stage1_cache.run_key``)."""
        return run_key(self.data_path, self.params)

    @cached_property
    def aggregates(self) -> Aggregates:
        """What the notebooks need from transaction level (``stage1.aggregates``), read from
        the run folder when it holds this data's stage 1 with these parameters; else
        computed and written with the rest of stage 1 (setting aside what the folder held
        of other data or parameters). The clean transactions themselves are never read."""
        if recorded(self.run_dir, self.data_path, self.params) is not None:
            return read_aggregates(self.run_dir)
        return self._computed().aggregates

    def _computed(self) -> Stage1:
        """Stage 1 computed for a notebook after 01 (the folder held none of this data and
        these parameters), saying so where the notebook shows it."""
        result = self.stage1()
        say(result.origin)
        return result

    def done(self, stage: str) -> bool:
        """Whether the folder holds ``stage``'s results for this data and these parameters."""
        info = read_provenance(self.run_dir).get(stage) or {}
        return info.get("key") == self.key and \
            recorded(self.run_dir, self.data_path, self.params) is not None

    def require(self, *stages: str) -> None:
        """Stop with one line naming the notebooks to run first when the folder lacks the
        results of ``stages`` for this data and these parameters (or holds them for other
        ones): a page is never made of results of two inputs."""
        self.customers  # stage 1 first: computed here (and the folder set aside) if need be
        missing = [s for s in stages if not self.done(s)]
        if missing:
            names = [NOTEBOOK_TITLES[STAGE_NOTEBOOKS[s]][self.lang] for s in missing]
            raise InputError(sentence("nb_missing_stages", self.lang,
                                      notebooks="; ".join(names)), file=self.name(self.run_dir))

    @cached_property
    def customers(self) -> pd.DataFrame:
        """The customers table so far: the folder's, when it holds stage 1 of this data and
        these parameters, without the columns of any stage saved from others; else stage 1
        computed here. An ``abc_tier`` column is computed here when notebook 02 has not run
        with these parameters, since the later stages use it."""
        path = self.run_dir / CUSTOMERS
        if recorded(self.run_dir, self.data_path, self.params) is not None and path.exists():
            table = read_frame(path)
            other = [c for st, info in read_provenance(self.run_dir).items()
                     if st != "stage1" and info.get("key") != self.key
                     for c in info.get("columns", [])]
            table = table.drop(columns=[c for c in other if c in table])
            # the state's rows (potential customers) are added again by each run of 05
            table = table[~is_potential(table)]
        else:
            table = self._computed().customers
        if "abc_tier" not in table or not self.done("tiers"):
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

    def customer_rows(self, customer_id: str) -> pd.DataFrame | None:
        """One customer's clean rows (date, amount, is_return), read from the clean
        transactions this run wrote in its folder (None when it wrote them elsewhere or
        not at all): notebook 04's one-customer story, the only use of them here."""
        path = clean_path(self.run_dir, self.params)
        if path is None or isinstance(path, str) or not Path(path).exists():
            return None
        table = pq.read_table(path, columns=["customer_id", "date", "amount", "is_return"],
                              filters=[("customer_id", "==", customer_id)])
        return table.to_pandas()

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
        columns = result.columns()
        rows = getattr(result, "rows", lambda: None)()  # the state's potential customers
        self.customers = add_columns(self.run_dir, self.customers, columns, rows)
        update_metrics(self.run_dir, result.metrics())
        write_tables(self.run_dir, result.tables())
        for name, frame in getattr(result, "outputs", dict)().items():  # the run's own files
            path = Path(self.run_dir) / f"{name}.parquet"
            if frame is None:  # none this time: an earlier run's in the folder must go
                path.unlink(missing_ok=True)
                continue
            with replacing(path) as tmp:
                frame.to_parquet(tmp, index=False)
        record_stage(self.run_dir, result.stage, self.key, list(columns.columns))
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
    try:
        params = typed(resolve(params_path, overrides or {}), str(params_path or "parameters"))
    except ParamError as exc:  # said of the notebook's overrides when the key is one of them
        key = (exc.column or "").split(".")[0]
        if key and key in (overrides or {}):
            raise ParamError(exc.problem, file="overrides (this notebook's parameters cell)",
                             column=exc.column, row=exc.row, hint=exc.hint) from None
        raise
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    plots.set_style(params.report.language)
    # tables as a reader wants them: 16,874 not 16873.733740, 0.000123 not 0.00, whole texts
    pd.set_option("display.float_format", readable_number)
    pd.set_option("display.max_colwidth", None)
    show_tables_in(params.report.language)  # table headers in the run's language
    return Notebook(params, Path(run_dir), str(data_path))
