"""Execute the notebooks in order into a run folder, safely. ``run()``: (1) resolves and
validates the parameters and checks the data (load + clean) before anything is written, so
bad input fails fast with exit code 2; (2) executes ``notebooks/NN_*.ipynb`` with papermill
into ``outputs/.<name>.partial``; (3) renders ``report/`` (nbconvert, no code cells) and
``report/index.html``, and writes the customer table back to PostgreSQL when asked; (4)
writes ``manifest.json``, renames the folder to its final name and moves ``outputs/latest``
(only when every notebook succeeded). A failed run keeps its folder, with ``manifest.json``
status "failed", the notebook that failed and the error; the raw data is only read, and
earlier runs and ``outputs/latest`` are not touched.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import yaml

from .background import Background
from .changes import check_against, check_previous
from .config import SALT_ENV, Params, public, resolve, typed
from .errors import (EXIT_FAILED, EXIT_OK, SIGNAL_EXIT, InputError, catch_stop_signals,
                     error_line, fail_line, restore_signals)
from .folders import (PublishError, RunLock, boot_identity, final_of, point_latest, publish,
                      reserve, reserve_out, slug, sweep_stale, sweep_temporaries,
                      writable_dir)
from .stage1_cache import stage1
from .report import write_index
from .narrative.labels import NOTEBOOK_TITLES
from .narrative.stages import stage_status
from .narrative.translate import translate_notebook
from .report.html import clean_page
from .release import hand_back
from .runfolder import CUSTOMERS, read_metrics, replacing, write_json
from .report.to_database import export, preflight
from .stage1.engine import check_source, dataset_of
from .stage1.load import sha256, source_info

__all__ = ["PROJECT_ROOT", "NOTEBOOK_DIR", "RunResult", "package_versions", "notebook_paths",
           "render_report", "run", "main_run"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: the project's notebooks (here, not in ``lab``: that loads nbformat, a second, in a kernel)
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"

#: with the pandas engine, an input of this size or more starts the notebooks' kernel while
#: its transaction stage runs; a smaller one is through the stage before a kernel would be
#: up, and should it be refused, it would wait for a kernel it never uses. (With DuckDB or
#: Spark the stage is the run's memory peak, the engine's limit plus the frames: a kernel
#: started then would add to it.)
EARLY_KERNEL_BYTES = 32 << 20

PACKAGES = ["pandas", "numpy", "scipy", "scikit-learn", "lifetimes", "seaborn", "matplotlib",
            "papermill", "nbconvert", "pyarrow", "pandera", "python-calamine", "openpyxl",
            "pyyaml", "jupyterlab", "ipykernel", "ibis-framework", "duckdb", "pyspark", "sqlglot"]


@dataclass
class RunResult:
    status: str
    run_dir: Path
    exit_code: int
    error: str | None = None
    notebooks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    marked: bool = True  # whether the folder's manifest records the status


def _try_write(path: Path, manifest: dict) -> bool:
    try:
        write_json(path, manifest)
    except OSError:
        return False
    return True


def input_changed(data: str, recorded: dict[str, Any]) -> str | None:
    """Why the input is no longer what the run read (its size or modification time differ
    from what the manifest recorded before the transaction stage), or None: one ``stat``."""
    try:
        now = source_info(data)
    except OSError as exc:
        return f"the data file changed during the run: it can no longer be read ({exc})"
    if recorded.get("bytes") is not None and (now["bytes"] != recorded.get("bytes") or
                                              now["mtime_ns"] != recorded.get("mtime_ns")):
        return ("the data file changed during the run (its size or modification time is not "
                "what the transaction stage read); the run's results are not of one file")
    return None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def notebook_paths(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    paths = sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks found in {directory}")
    return paths


def render_report(run_dir: Path, params: Params, data: str | None = None) -> None:
    """report/NN_*.html for each executed notebook (no code cells), then report/index.html.
    ``data``: the data file's path, shown on the pages by its name only."""
    # nbformat and nbconvert take a second to import; only a finished run renders
    import nbformat
    from nbconvert import HTMLExporter  # (the same reason)
    report_dir = run_dir / "report"
    report_dir.mkdir(exist_ok=True)
    lang = params.report.language
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, language_code=lang)
    # no machine paths on a page meant to be forwarded: the data file by its name, the
    # run's work folder by the name it will have
    final = final_of(run_dir).name
    paths = {str(run_dir): final, str(run_dir.resolve()): final}
    if data:
        paths.update({data: Path(data).name, str(Path(data).resolve()): Path(data).name})
    pages = []
    for nb in sorted(p for p in (run_dir / "notebooks").glob("*.ipynb")
                     if not p.name.startswith(".")):
        notebook = translate_notebook(nbformat.read(str(nb), as_version=4), lang)
        if nb.stem in NOTEBOOK_TITLES:  # the page's title, as the report's links name it
            notebook.metadata["title"] = NOTEBOOK_TITLES[nb.stem][lang]
        body, _ = exporter.from_notebook_node(notebook)
        out = report_dir / (nb.stem + ".html")
        with replacing(out) as tmp:
            tmp.write_text(clean_page(body, paths), encoding="utf-8")
        pages.append(out.name)
    if not (report_dir / "index.html").exists():  # notebook 05 writes it; fallback otherwise
        write_index(run_dir, params.report, pages)


def run(data_path: str | Path, params_path: str | Path | None = None,
        overrides: dict[str, Any] | None = None, out: str | Path | None = None,
        outputs_root: str | Path | None = None, notebooks: list[Path] | None = None,
        echo: Callable[[str], None] = print) -> RunResult:
    """Run every notebook on ``data_path``. Raises InputError for bad parameters or data,
    before anything is written (bad data found by the transaction stage removes the folder).

    Once the run folder exists, every failure — a notebook, a full disk, SIGTERM or SIGINT
    at any point — ends in a folder marked "failed" with the reason in one line, and a
    RunResult with exit code 1 (143 for SIGTERM, 130 for SIGINT); ``latest`` moves only
    after a run whose status is "ok"."""
    t_start = time.perf_counter()
    started = _dt.datetime.now().astimezone()
    cfg = resolve(params_path, overrides or {})
    params = typed(cfg, str(params_path or "parameters"))
    data = check_source(data_path, params)
    dataset = slug(params.report.dataset or dataset_of(data, params.read))
    check_previous(params.report.previous_run, dataset)  # before anything is written
    preflight(params, data)  # the database to write back to answers, its tables are ours
    if out is not None:
        final = Path(out).resolve()
        outputs = final.parent
        writable_dir(outputs)
        sweep_stale(outputs)
        work = reserve_out(final)
    else:
        outputs = Path(outputs_root).resolve() if outputs_root else PROJECT_ROOT / "outputs"
        writable_dir(outputs)
        sweep_stale(outputs)
        final, work = reserve(outputs, dataset, started.strftime("%Y%m%d-%H%M%S"))
    lock = RunLock(work)  # held until the run ends: no sweep takes a live run

    manifest: dict[str, Any] = {
        "status": "running",
        "dataset": dataset,
        "pid": os.getpid(),
        **boot_identity(),
        "started": started.isoformat(timespec="seconds"),
        "parameters": public(cfg),
        "overrides": public(overrides or {}),
        "params_file": str(Path(params_path).resolve()) if params_path else None,
        "input": {"path": str(data), "sha256": None, "bytes": None, "rows": None,
                  "engine": params.engine.engine},
        "packages": package_versions(),
        "platform": {"system": platform.platform(), "cpus": os.cpu_count()},
        "notebooks": [],
        "timings": {},
        "warnings": [],
        "error": None,
    }
    in_main = threading.current_thread() is threading.main_thread()
    previous = catch_stop_signals() if in_main else None
    status, error, failed_nb, code = "failed", None, None, EXIT_FAILED
    try:
        try:
            status, error, failed_nb, code = _execute(data, params, work, manifest,
                                                      notebooks, echo)
        except InputError:
            lock.release()
            shutil.rmtree(work, ignore_errors=True)  # bad data: nothing is kept
            raise
        except BaseException as exc:  # signals, a full disk, the unexpected: one line
            error, code = fail_line(exc)
            status = "failed"
            failed_nb = next((n["name"] for n in manifest["notebooks"]
                              if n["status"] == "running"), None)
            for n in manifest["notebooks"]:
                if n["status"] == "running":
                    n["status"] = "failed"
            echo(f"  {error}")
        if in_main:  # the last few milliseconds: record and rename, whatever arrives now
            catch_stop_signals(signal.SIG_IGN)
        manifest.update(status=status, error=error, failed_notebook=failed_nb,
                        finished=_dt.datetime.now().astimezone().isoformat(timespec="seconds"))
        manifest["timings"]["total_seconds"] = round(time.perf_counter() - t_start, 2)
        warnings = list(manifest["warnings"])
        if status != "ok":
            sweep_temporaries(work)
        if status == "ok":
            changed = input_changed(data, manifest["input"])
            if changed:
                status, code, error = "failed", EXIT_FAILED, changed
                manifest.update(status=status, error=error)
                echo(f"  {error}")
        try:
            write_json(work / "manifest.json", manifest)
        except OSError as exc:  # a full disk, a read-only or vanished folder
            status, code = "failed", code if code != EXIT_OK else EXIT_FAILED
            why = fail_line(exc)[0]
            error = f"{error}; {why}" if error else why
            lock.release()
            return RunResult(status=status, run_dir=work, error=error, exit_code=code,
                             notebooks=manifest["notebooks"], warnings=warnings, marked=False)
        try:
            final = publish(work, final)
        except OSError as exc:  # the results stay in the work folder, marked failed there
            status, code = "failed", EXIT_FAILED
            error = str(exc) if isinstance(exc, PublishError) else fail_line(exc)[0]
            manifest.update(status=status, error=error)
            marked = _try_write(work / "manifest.json", manifest)
            lock.release()
            return RunResult(status=status, run_dir=work, error=error, exit_code=code,
                             notebooks=manifest["notebooks"], warnings=warnings,
                             marked=marked)
        lock.release(final)
        if status == "ok":
            note = point_latest(outputs, final)
            if note:
                warnings.append(note)
        return RunResult(status=status, run_dir=final, error=error, exit_code=code,
                         notebooks=manifest["notebooks"], warnings=warnings)
    finally:
        restore_signals(previous)


def _execute(data: str, params: Params, work: Path, manifest: dict,
             notebooks: list[Path] | None, echo) -> tuple[str, str | None, str | None, int]:
    """The run's phases inside its reserved work folder: (status, error, failed notebook,
    exit code). Raises InputError for bad data (the caller removes the folder)."""
    (work / "notebooks").mkdir()
    params_file = work / "params.yaml"
    with replacing(params_file) as tmp:
        tmp.write_text(yaml.safe_dump(public(params.values), sort_keys=True,
                                      allow_unicode=True), encoding="utf-8")
    pinned = source_info(data)  # what the transaction stage reads; checked when the run ends
    manifest["input"].update(bytes=pinned["bytes"], mtime_ns=pinned["mtime_ns"])
    write_json(work / "manifest.json", manifest)
    paths = notebooks or notebook_paths()
    # the salt reaches the kernel through its environment, never through a file
    privacy = params.read.privacy
    salt = {SALT_ENV: privacy.anonymize_salt} if privacy.anonymize else {}

    # Check the data before anything is kept: the transaction stage raises InputError, and
    # then the folder goes. Its result stays in the folder for notebook 01 (stage1.json).
    # Meanwhile, on threads: the input's digest and, for a large input, the kernel.
    t0 = time.perf_counter()
    digest = Background("sha256", sha256, data)
    early = Background("kernel", _warm_kernel, paths[0].parent, {**os.environ, **salt}) \
        if params.engine.engine == "pandas" and \
        (manifest["input"]["bytes"] or 0) >= EARLY_KERNEL_BYTES else None
    try:  # until the notebooks' batch holds it, a failure shuts the early kernel down
        rows, warnings, seconds, read = _stage1(data, params, work)
        manifest["input"].update(rows=rows, sha256=digest.result() or read)
        changed = input_changed(data, manifest["input"])
        if changed:  # replaced while it was read: the digest may be of another file
            raise InputError(changed, file=str(data))
        manifest["warnings"] = warnings
        manifest["timings"]["transaction_stage_seconds"] = round(seconds, 2)
        manifest["timings"]["input_check_seconds"] = round(time.perf_counter() - t0, 2)
        if params.report.previous_run:  # ended earlier, with customers in common
            period = read_metrics(work)["period"]
            check_against(Path(params.report.previous_run), pd.Timestamp(period["end"]),
                          pd.read_parquet(work / CUSTOMERS, columns=["customer_id"])
                          ["customer_id"])
        echo(f"  {'load, clean, summarise':<22} {'ok':<6} {seconds:6.1f} s")
        write_json(work / "manifest.json", manifest)
        # papermill and the Jupyter client take seconds to import: only a run whose data
        # passed the check above needs them
        from .kernel import NotebookBatch
        batch = NotebookBatch(paths, work, manifest, echo,
                              {"data_path": str(data), "params_path": str(params_file),
                               "overrides": {}, "run_dir": str(work)}, kernel=_taken(early))
    except BaseException:
        _discard(early)
        raise

    saved_salt = os.environ.get(SALT_ENV)
    os.environ.update(salt)  # for a kernel the first notebook starts
    try:
        status, error, failed_nb = batch.run()
    finally:
        if saved_salt is None:
            os.environ.pop(SALT_ENV, None)
        else:
            os.environ[SALT_ENV] = saved_salt
    if error in SIGNAL_EXIT:
        return status, error, failed_nb, SIGNAL_EXIT[error]
    # what the models found about the data (sufficiency, weak fits) joins stage 1's warnings
    clv = read_metrics(work).get("clv") or {}
    manifest["warnings"] += [f"CLV: {w}" for w in clv.get("warnings", [])]
    if stage_status(clv).kind == "unreliable":
        manifest["warnings"].append(f"CLV: {clv['status']}")
    if status == "ok":
        t0 = time.perf_counter()
        try:
            render_report(work, params, data)
        except Exception as exc:
            status, error = "failed", "rendering the report failed: " + error_line(exc)
        manifest["timings"]["render_seconds"] = round(time.perf_counter() - t0, 2)
        echo(f"  {'report (HTML)':<22} {status:<6} {manifest['timings']['render_seconds']:6.1f} s")
    if status == "ok" and params.report.export_postgres:  # the CRM's copy, last
        try:
            manifest["export_postgres"] = export(work, params, data)
        except InputError as exc:
            status, error = "failed", exc.message
    return status, error, failed_nb, EXIT_OK if status == "ok" else EXIT_FAILED


def _warm_kernel(cwd: Path, env: dict[str, str]):
    # papermill and the Jupyter client take seconds to import: here, on the kernel's thread
    from .kernel import warm_kernel
    return warm_kernel(cwd, env)


def _taken(early: Background | None):
    """The kernel started during the transaction stage; None (the first notebook starts
    one, as for a small input) when none was started or it failed to start."""
    try:
        return early.result() if early is not None else None
    except Exception:
        return None


def _discard(early: Background | None) -> None:
    """Shut down a kernel started for a run that ended in its transaction stage."""
    kernel = _taken(early)
    if kernel is not None:
        kernel.shutdown()


def _stage1(data: str, params: Params, work: Path) -> tuple[int, list[str], float, str | None]:
    """Load, clean and summarise into ``work`` (``stage1_cache.stage1``, which closes the engine
    afterwards: the notebooks only read the run folder); returns (input rows, warnings,
    seconds, the digest of the rows read from a database). The frames are dropped afterwards
    and the memory handed back (``release``): the runner waits beside the kernel."""
    stage = stage1(work, data, params)
    rows = int(stage.ledger.set_index("step").at["input", "rows"])
    result = (rows, stage.warnings, stage.seconds, stage.aggregates.read_digest)
    del stage
    hand_back()
    return result


def main_run(args, overrides: dict[str, Any]) -> int:
    """``python -m analysis run``: every notebook into a run folder; prints where it is."""
    print(f"analysis run: {args.data}" + (f" with {args.params}" if args.params else ""))
    result = run(args.data, args.params, overrides, out=args.out,
                 outputs_root=getattr(args, "outputs", None))
    for w in result.warnings:
        print(f"warning: {w}")
    if result.status == "ok":
        print(f"done: {result.run_dir}")
        print(f"report: {result.run_dir / 'report' / 'index.html'}")
        return EXIT_OK
    kept = "marked failed" if result.marked else \
        "but its manifest could not be updated (it may still say 'running')"
    print(f"error: run failed: {result.error}; the partial run is kept, {kept}: "
          f"{result.run_dir}", file=sys.stderr)
    return result.exit_code
