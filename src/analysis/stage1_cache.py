"""Stage 1 once per run: load, clean and summarise on the engine the parameters name, and
keep the result in the run folder (the ledger, the customers table, the aggregates and
``stage1.json``, which records the file and parameters it was computed from).

The runner computes it before the notebooks (to check the data before anything is written);
a notebook reads it back when the record matches its data file and parameters, and computes
it itself otherwise (an analyst opened notebook 03 on its own). The command line and the
runner import this module, never the notebooks' facade (``pipeline``, which shows Markdown
and sets pandas' display options for a notebook).
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import progress
from .config import Params, public
from .errors import InputError
from .folders import check_export_target, final_of, mark_export
from .handoff import Aggregates, ClvInputs
from .messages import from_record, record
from .narrative.labels import s as sentence
from .runfolder import (AGGREGATES, CUSTOMERS, LEDGER, METRICS, STAGE1, TABLES, TRANSACTIONS,
                        read_frame, read_ledger, record_stage, replacing, update_metrics,
                        write_customers, write_json)
from .stage1.engine import open_engine
from .stage1.database import is_database
from .stage1.load import is_uri, source_info
from .stage1.master import with_master
from .stage1.privacy import identifying_warnings
from .stage1.rules import category_warning, ledger_table
from .cohorts import cohort_metrics
from .trend import trend_metrics
from .units import Window

__all__ = ["transaction_stage", "stage1_metrics", "input_key", "run_key", "clean_path",
           "write_stage1",
           "Stage1", "recorded", "stage1", "shown_name", "write_aggregates", "read_aggregates"]


def transaction_stage(data_path: str | Path, params: Params,
                      warnings: list[str] | None = None, clean_path: str | Path | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, Aggregates]:
    """Load, clean and summarise on the engine the parameters name: (ledger, one row per
    customer, the aggregates the notebooks need); the engine writes the clean transactions
    to ``clean_path`` when given. Warnings about usable-but-odd data are appended to
    ``warnings``."""
    if warnings is not None:
        warnings.extend(identifying_warnings(params.read.dimensions, params.read.privacy))
    try:
        with open_engine(params) as engine:
            ledger, customers, agg = engine.transaction_stage(
                data_path, warnings, clean_path=None if clean_path is None else str(clean_path))
        said = category_warning(agg.category_spend)
        if said is not None and warnings is not None:
            warnings.append(said)
        if params.customers.customers_file is not None:
            progress.step("joining the customer master", customers=len(customers))
        return (ledger, *with_master(customers, agg, params, warnings))
    finally:
        progress.done()


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
                     # the same sentences by key, which the page renders in its language
                     "warning_records": [record(w) for w in warnings or []],
                     # kept rows whose amount is exactly 0 (free or promotional purchases)
                     "zero_amount_rows": agg.zero_amount_rows,
                     "files": [] if agg.sources is None else
                     [{"file": str(r.file), "rows": int(r.rows), "revenue": int(r.cents) / 100}
                      for r in agg.sources.itertuples()]},
        "trend": trend_metrics(agg.monthly, window),
        "cohorts": cohort_metrics(agg.cohort_months),
        **({"master": agg.master} if agg.master else {}),
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
    master = params.customers.customers_file
    return {**source_info(data_path), "params_sha256": digest,
            **({"customers_file": source_info(master.file)
                if Path(master.file).is_file() else None} if master else {})}


def run_key(data_path: str | Path, params: Params) -> str:
    """One digest of :func:`input_key`: what every stage's saved results are recorded with
    (``runfolder.record_stage``), so that no notebook reads results of other data or
    parameters as its own."""
    return hashlib.sha256(json.dumps(input_key(data_path, params), sort_keys=True,
                                     default=str).encode("utf-8")).hexdigest()


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
    write_aggregates(run_dir, agg)
    update_metrics(run_dir, stage1_metrics(ledger, customers, agg, params, warnings))
    if data_path is not None:
        info = {**input_key(data_path, params), "warnings": list(warnings or []),
                "warning_records": [record(w) for w in warnings or []],
                "seconds": None if seconds is None else round(seconds, 2)}
        write_json(run / STAGE1, info)
        record_stage(run, "stage1", None)  # no later stage's results hold any more
        record_stage(run, "stage1", run_key(data_path, params))


@dataclass
class Stage1:
    """Stage 1's result for a notebook: the frames, the warnings, and where they came from."""
    ledger: pd.DataFrame
    customers: pd.DataFrame
    aggregates: Aggregates
    warnings: list[str] = field(default_factory=list)
    origin: str = ""  # where it came from, a sentence in the run's language
    seconds: float | None = None  # load + clean + summarise, when computed here


def recorded(run: Path, data_path: str | Path, params: Params) -> dict[str, Any] | None:
    """``stage1.json`` when it records this data file and these parameters."""
    record = run / STAGE1
    if not record.exists():
        return None
    info = json.loads(record.read_text(encoding="utf-8"))
    key = input_key(data_path, params)
    if all(info.get(k) == v for k, v in key.items()):
        if is_database(data_path) and not (run / "manifest.json").exists():
            return None  # a table may have changed since: read again (a run is pinned)
        return info
    if info.get("params_sha256") == key["params_sha256"] and (run / "manifest.json").exists():
        # a run folder of the runner's, pinned to the file its transaction stage read: the
        # same parameters on a file that changed since would mix two inputs in one run
        raise InputError(f"the data file {shown_name(data_path)} changed after this run's "
                         f"transaction stage read it (size or modification time differ); "
                         f"the run's results would not be of one file", file=shown_name(data_path),
                         hint="Run again on the file as it is now")
    return None


def stage1(run_dir: str | Path, data_path: str | Path, params: Params) -> Stage1:
    """Load, clean and summarise, once per run.

    The runner computes stage 1 before the notebooks (to check the data before anything
    is written) and leaves it in the run folder with ``stage1.json``; when that record
    matches this data file and these parameters, the artifacts are read back instead of
    loading the file a second time (on 10 million rows that halves the stage's cost).
    Otherwise (a notebook opened on its own, or run with other data or parameters than the
    folder's) the stage is computed and written, and the results of the later stages that
    the folder held (metrics, the stages' tables, their record) are set aside: a notebook
    never shows results of two inputs or two sets of parameters."""
    run = Path(run_dir)
    engine, lang = params.engine.engine, params.report.language
    info = recorded(run, data_path, params)
    if info is not None:
        return Stage1(read_ledger(run), read_frame(run / CUSTOMERS), read_aggregates(run),
                      [from_record(w) for w in info.get("warning_records", info["warnings"])],
                      sentence("nb_stage1_read", lang, name=shown_name(data_path),
                               seconds=info.get("seconds"), engine=engine))
    replaced = (run / STAGE1).exists()
    if replaced and (run / "manifest.json").exists():  # a finished run is never changed
        raise InputError("this folder holds a finished run of other data or parameters, "
                         "which a notebook never changes", file=run.name,
                         hint="Set run_dir to a folder of your own (such as "
                         "../outputs/notebook-scratch) to try other parameters")
    if replaced:  # results of other data or parameters: set aside, never mixed with these
        for name in (METRICS, TABLES):
            path = run / name
            if path.is_dir():
                for part in path.glob("*.parquet"):
                    part.unlink()
            else:
                path.unlink(missing_ok=True)
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
    origin = sentence("nb_stage1_computed", lang, name=shown_name(data_path), engine=engine,
                      seconds=f"{seconds:.1f}")
    if replaced:
        origin += " " + sentence("nb_stage1_replaced", lang)
    return Stage1(ledger, customers, agg, warnings, origin, seconds)


def shown_name(data_path: str | Path) -> str:
    """A data location as shown in text: a file's or directory's name, or a URI."""
    return str(data_path) if is_uri(data_path) else Path(data_path).name


_FRAMES = ("monthly", "halves", "sample")
_CLV_FRAMES = ("repeat_days", "cohorts")


def write_aggregates(run_dir: str | Path, agg: Aggregates) -> None:
    """``aggregates/``: one Parquet file per table and ``aggregates.json`` (written last)."""
    folder = Path(run_dir) / AGGREGATES
    folder.mkdir(exist_ok=True)
    frames = {**{n: getattr(agg, n) for n in _FRAMES},
              **{n: getattr(agg.clv, n) for n in _CLV_FRAMES},
              "historical_clv": agg.clv.historical_clv.to_frame()}
    for name, frame in (("calibration", agg.clv.calibration),
                        ("backtests", agg.clv.backtests), ("cohort_months", agg.cohort_months),
                        ("sources", agg.sources), ("category_spend", agg.category_spend),
                        ("potential", agg.potential)):
        if frame is not None:
            frames[name] = frame
        else:  # an earlier run's in this folder must not be read
            (folder / f"{name}.parquet").unlink(missing_ok=True)
    for name, frame in frames.items():
        with replacing(folder / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp)
    record = {"start": str(agg.window.start.date()), "end": str(agg.window.end.date()),
              "time_unit": agg.window.unit.name, "last_date": agg.last_date.isoformat(),
              "transactions": agg.transactions, "zero_amount_rows": agg.zero_amount_rows,
              "split": agg.split.isoformat(),
              "calibration_end": agg.clv.calibration_end.isoformat(),
              "read_digest": agg.read_digest, "master": agg.master}
    with replacing(folder / "aggregates.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")


def read_aggregates(run_dir: str | Path) -> Aggregates:
    """The aggregates :func:`write_aggregates` left in the run folder."""
    folder = Path(run_dir) / AGGREGATES
    record = json.loads((folder / "aggregates.json").read_text(encoding="utf-8"))
    f = {p.stem: read_frame(p) for p in folder.glob("*.parquet")}
    return Aggregates(
        window=Window.from_period(record), last_date=pd.Timestamp(record["last_date"]),
        transactions=int(record["transactions"]),
        zero_amount_rows=int(record["zero_amount_rows"]), monthly=f["monthly"],
        split=pd.Timestamp(record["split"]), halves=f["halves"],
        clv=ClvInputs(pd.Timestamp(record["calibration_end"]),
                      f["historical_clv"]["historical_clv"], f.get("calibration"),
                      f["repeat_days"], f["cohorts"], f.get("backtests")),
        sample=f["sample"], cohort_months=f.get("cohort_months"), sources=f.get("sources"),
        read_digest=record.get("read_digest"), category_spend=f.get("category_spend"),
        potential=f.get("potential"), master=record.get("master"))
