"""How the notebooks run the stages: one setup call, stage 1 once per run, and each stage's
result saved into the run folder.

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

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Protocol

import pandas as pd
from IPython.display import Markdown, display

from . import plots
from .config import Params, public, resolve, typed
from .errors import InputError
from .folders import check_export_target, final_of, mark_export
from .narrative.labels import markdown_text, s as sentence
from .narrative.translate import show_tables_in, status_text, translate_note
from .runfolder import (CUSTOMERS, LEDGER, METRICS, STAGE1, TRANSACTIONS, add_columns,
                        read_frame, read_ledger, read_metrics, replacing, update_metrics,
                        write_customers, write_json, write_tables)
from .stage1 import aggregates
from .stage1.aggregates import Aggregates
from .stage1.engine import open_engine
from .stage1.load import is_uri, source_info
from .stage1.privacy import identifying_warnings
from .stage1.rules import ledger_table
from .tiers import tiers_from_params
from .units import Window

__all__ = ["transaction_stage", "stage1_metrics", "input_key", "clean_path", "write_stage1",
           "Stage1", "stage1", "StageResult", "Notebook", "setup"]


def transaction_stage(data_path: str | Path, params: Params,
                      warnings: list[str] | None = None, clean_path: str | Path | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, Aggregates]:
    """Load, clean and summarise on the engine the parameters name: (ledger, one row per
    customer, the aggregates the notebooks need); the engine writes the clean transactions
    to ``clean_path`` when given. Warnings about usable-but-odd data are appended to
    ``warnings``."""
    if warnings is not None:
        warnings.extend(identifying_warnings(params.read.dimensions, params.read.privacy))
    with open_engine(params) as engine:
        return engine.transaction_stage(data_path, warnings,
                                        clean_path=None if clean_path is None
                                        else str(clean_path))


def stage1_metrics(ledger: pd.DataFrame, customers: pd.DataFrame, agg: Aggregates,
                   params: Params, warnings: list[str] | None = None) -> dict[str, Any]:
    steps = ledger.set_index("step")
    window = agg.window
    return {
        "customers": int(len(customers)),
        "transactions": int(steps.at["kept", "rows"]),
        "revenue": float(steps.at["kept", "revenue"]),
        "currency": params.report.currency,
        "period": {"start": window.start.date().isoformat(),
                   "end": window.end.date().isoformat(),
                   "days": window.days, "time_unit": window.unit.name},
        "cleaning": {"input_rows": int(steps.at["input", "rows"]),
                     "input_revenue": float(steps.at["input", "revenue"]),
                     "dropped": {s: {"rows": int(r.rows), "revenue": float(r.revenue)}
                                 for s, r in steps.drop(index=["input", "kept"]).iterrows()},
                     "warnings": list(warnings or []),
                     # kept rows whose amount is exactly 0 (free or promotional purchases)
                     "zero_amount_rows": agg.zero_amount_rows},
    }


def input_key(data_path: str | Path, params: Params) -> dict[str, Any]:
    """What stage 1 was computed from: the file (path, size, modification time) and a digest
    of every parameter but the anonymisation salt (a digest that included it would let
    anyone holding the run folder confirm a guessed salt offline)."""
    def canon(v: Any) -> Any:  # 2 and 2.0 are the same parameter value
        if isinstance(v, dict):
            return {str(k): canon(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [canon(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    digest = hashlib.sha256(json.dumps(canon(public(params.values)), sort_keys=True,
                                       default=str).encode("utf-8")).hexdigest()
    return {**source_info(data_path), "params_sha256": digest}


def clean_path(run_dir: str | Path, params: Params,
               data_path: str | Path | None = None) -> Path | str | None:
    """Where the clean transactions go (``clean_transactions``): the run folder's
    ``transactions_clean.parquet``, a path or URI of the user's (``s3a://…`` with engine
    spark), or nowhere. A local path of the user's is checked
    (:func:`~analysis.folders.check_export_target`: never the input, another run's folder
    or a file no run wrote) when ``data_path`` is given."""
    where = params.engine.clean_transactions
    if where == "off":
        return None
    if where == "run":
        return Path(run_dir) / TRANSACTIONS
    if is_uri(where):
        return where
    if data_path is None or is_uri(data_path):
        return Path(where)
    return check_export_target(Path(where), data_path, Path(run_dir))


def write_stage1(run_dir: str | Path, ledger: pd.DataFrame, customers: pd.DataFrame,
                 agg: Aggregates, params: Params, data_path: str | Path | None = None,
                 warnings: list[str] | None = None, seconds: float | None = None) -> None:
    """Write stage 1's artifacts (the engine wrote the clean transactions itself); with
    ``data_path``, also ``stage1.json`` (written last), which lets notebook 01 reuse them
    instead of loading the file again."""
    run = Path(run_dir)
    with replacing(run / LEDGER) as tmp:
        ledger_table(ledger).to_csv(tmp, index=False)
    write_customers(run_dir, customers)
    aggregates.write(run_dir, agg)
    update_metrics(run_dir, stage1_metrics(ledger, customers, agg, params, warnings))
    if data_path is not None:
        info = {**input_key(data_path, params), "warnings": list(warnings or []),
                "seconds": None if seconds is None else round(seconds, 2)}
        write_json(run / STAGE1, info)


@dataclass
class Stage1:
    """Stage 1's result for a notebook: the frames, the warnings, and where they came from."""
    ledger: pd.DataFrame
    customers: pd.DataFrame
    aggregates: Aggregates
    warnings: list[str] = field(default_factory=list)
    origin: str = ""  # where it came from, a sentence in the run's language
    seconds: float | None = None  # load + clean + summarise, when computed here


def _recorded(run: Path, data_path: str | Path, params: Params) -> dict[str, Any] | None:
    """``stage1.json`` when it records this data file and these parameters."""
    record = run / STAGE1
    if not record.exists():
        return None
    info = json.loads(record.read_text(encoding="utf-8"))
    key = input_key(data_path, params)
    if all(info.get(k) == v for k, v in key.items()):
        return info
    if info.get("params_sha256") == key["params_sha256"] and (run / "manifest.json").exists():
        # a run folder of the runner's, pinned to the file its transaction stage read: the
        # same parameters on a file that changed since would mix two inputs in one run
        raise InputError(f"the data file {_name(data_path)} changed after this run's "
                         f"transaction stage read it (size or modification time differ); "
                         f"the run's results would not be of one file", file=_name(data_path),
                         hint="Run again on the file as it is now")
    return None


def stage1(run_dir: str | Path, data_path: str | Path, params: Params) -> Stage1:
    """Load, clean and summarise, once per run.

    The runner computes stage 1 before the notebooks (to check the data before anything
    is written) and leaves it in the run folder with ``stage1.json``; when that record
    matches this data file and these parameters, the artifacts are read back instead of
    loading the file a second time (on 10 million rows that halves the stage's cost).
    Otherwise (a notebook opened on its own) the stage is computed and written."""
    run = Path(run_dir)
    engine, lang = params.engine.engine, params.report.language
    info = _recorded(run, data_path, params)
    if info is not None:
        return Stage1(read_ledger(run), read_frame(run / CUSTOMERS), aggregates.read(run),
                      list(info.get("warnings", [])),
                      sentence("nb_stage1_read", lang, name=_name(data_path),
                               seconds=info.get("seconds"), engine=engine))
    t0 = time.perf_counter()
    warnings: list[str] = []
    target = clean_path(run, params, data_path)
    if isinstance(target, Path):  # renamed into place when complete
        with replacing(target) as tmp:
            ledger, customers, agg = transaction_stage(data_path, params, warnings, tmp)
        if target.parent != run:  # an export of the user's: marked as the run's own
            mark_export(target, final_of(run).name)
    else:
        ledger, customers, agg = transaction_stage(data_path, params, warnings, target)
    seconds = time.perf_counter() - t0
    write_stage1(run_dir, ledger, customers, agg, params, data_path, warnings, seconds)
    return Stage1(ledger, customers, agg, warnings,
                  sentence("nb_stage1_computed", lang, name=_name(data_path), engine=engine,
                           seconds=f"{seconds:.1f}"), seconds)


def _name(data_path: str | Path) -> str:
    """A data location as shown in text: a file's or directory's name, or a URI."""
    return str(data_path) if is_uri(data_path) else Path(data_path).name


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
        if _recorded(self.run_dir, self.data_path, self.params) is not None:
            return aggregates.read(self.run_dir)
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
        """Show the sentence ``key`` of ``text.yaml`` (a notebook's line between its
        paragraphs) in the run's language, filled with ``values``."""
        say(sentence(key, self.lang, **values))

    def warn(self, warning: str) -> None:
        """Show a stage's warning (written in English for the logs) in the run's language."""
        self.say("nb_warning", text=translate_note(warning, self.lang))

    def status(self, status: str) -> str:
        """A stage's status with its leading word in the run's language."""
        return status_text(status, self.lang)

    def name(self, path: str | Path) -> str:
        """A file or folder as a page shows it: by its name, never its machine path."""
        return _name(path)

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
