"""Execute the notebooks in order into a run folder, safely.

``run()``:

1. resolves and validates the parameters and checks the data (load + clean) before
   anything is written, so bad input fails fast with exit code 2;
2. executes ``notebooks/NN_*.ipynb`` with papermill into ``outputs/.<name>.partial``;
3. renders ``report/`` (nbconvert, no code cells) and ``report/index.html``;
4. writes ``manifest.json`` and renames the folder to its final name, then moves
   ``outputs/latest`` (only when every notebook succeeded).

A failed run keeps its folder, with ``manifest.json`` status "failed", the notebook
that failed and the error; the raw data is only read, and earlier runs and
``outputs/latest`` are not touched.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import yaml

from . import config, load
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, InputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
PACKAGES = ["pandas", "numpy", "scipy", "scikit-learn", "lifetimes", "seaborn", "matplotlib",
            "papermill", "nbconvert", "pyarrow", "pandera", "python-calamine", "openpyxl",
            "pyyaml", "jupyterlab", "ipykernel", "ibis-framework", "duckdb", "pyspark", "sqlglot"]


class Terminated(BaseException):
    """SIGTERM arrived: stop, mark the run failed, keep earlier runs as they are."""


#: the reasons a stopped run gives, and its exit code
TERMINATED, INTERRUPTED = "terminated by SIGTERM", "interrupted (SIGINT)"
SIGNAL_EXIT = {TERMINATED: EXIT_TERMINATED, INTERRUPTED: EXIT_INTERRUPTED}


def _on_sigterm(signum, frame):
    raise Terminated()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(outputs: Path) -> list[Path]:
    """Mark failed the ``.partial`` folders of runs whose process is gone (killed, power cut).

    Their manifest says "running" with the pid of a process that no longer exists; they
    become ``<name>`` with status "failed", so nothing half-written passes for a result."""
    swept = []
    for work in sorted(outputs.glob(".*.partial")):
        manifest_path = work / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = manifest.get("pid")
        if manifest.get("status") != "running" or (pid and _pid_alive(int(pid))):
            continue
        manifest["status"] = "failed"
        manifest["error"] = "interrupted: the run's process ended before it finished"
        _write_json(manifest_path, manifest)
        final = outputs / work.name[1:-len(".partial")]
        if not final.exists():
            os.replace(work, final)
            swept.append(final)
    return swept


@dataclass
class RunResult:
    status: str
    run_dir: Path
    exit_code: int
    error: str | None = None
    notebooks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "dataset"


def _writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"the output directory cannot be written: {exc.strerror or exc}",
                         file=str(path), hint="Choose another --out or fix its permissions"
                         ) from None


def _error_line(exc: BaseException) -> str:
    """One line for a failed notebook: the exception name and message from the kernel."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    text = f"{ename}: {evalue}".strip()
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(text.split())[:2000]


def _write_json(path: Path, data: dict) -> None:
    from .pipeline import replacing
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")


LATEST = "latest"


def _point_latest(outputs: Path, target: Path) -> str | None:
    """Point ``outputs/latest`` at ``target`` (a sibling folder), atomically: a new link under
    a unique name, renamed over the old one. Only a link this project made is replaced — a
    relative link to a sibling folder; a file, a folder or any other link named ``latest``
    is left alone, and the returned warning says so (None when the link moved)."""
    link = outputs / LATEST
    if link.is_symlink():
        if "/" in os.readlink(link):
            return (f"{link} was not moved: it is a link this project did not make "
                    f"(to {os.readlink(link)})")
    elif link.exists():
        return f"{link} was not moved: it is a {'folder' if link.is_dir() else 'file'}, " \
               f"not a link this project made"
    tmp = outputs / f".{LATEST}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.symlink_to(target.name, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return None


class SharedKernel:
    """One kernel for all notebooks of a run, its namespace wiped between notebooks.

    Starting a kernel and importing pandas, seaborn and scikit-learn costs ~3 s per
    notebook; sharing the process keeps the modules imported while ``%reset -f`` makes
    sure no notebook can use another's variables (each also runs on its own)."""

    def __init__(self) -> None:
        import tempfile

        from jupyter_client.manager import AsyncKernelManager
        # IPC (Unix sockets in a private folder) instead of TCP: no port can be taken by
        # another run starting at the same moment, and nothing listens on the network
        self.socket_dir = tempfile.mkdtemp(prefix="analysis-kernel-")
        self.km = AsyncKernelManager(kernel_name="python3", transport="ipc",
                                     ip=os.path.join(self.socket_dir, "k"))

    def reset(self) -> None:
        from nbclient import NotebookClient
        from nbformat.v4 import new_code_cell, new_notebook
        nb = new_notebook(cells=[new_code_cell("%reset -f")])
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                     "display_name": "Python 3"}
        NotebookClient(nb, km=self.km, timeout=60).execute()

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync
        if self.km.has_kernel:
            run_sync(self.km.shutdown_kernel)(now=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def kill(self) -> None:
        """Stop the kernel process at once (from another thread than the one using it)."""
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class NotebookBatch:
    """Execute notebooks in order in one shared kernel, on a worker thread.

    nbclient installs (and afterwards resets to the default) its own SIGTERM handler when
    it runs in the main thread, which would let a SIGTERM kill the runner without a word;
    on a worker thread it does not, so the main thread keeps the signal: it stops the
    kernel and records the run as failed, under a lock shared with the worker."""

    def __init__(self, notebooks: list[Path], work: Path, manifest: dict, echo,
                 parameters: dict[str, Any]):
        self.notebooks, self.work, self.manifest = notebooks, work, manifest
        self.echo, self.parameters = echo, parameters
        self.lock = threading.Lock()
        self.cancelled = False
        self.result: tuple[str, str | None, str | None] = ("ok", None, None)
        self.kernel = SharedKernel()

    def _worker(self) -> None:
        """The notebooks, and any failure of the thread itself (a manifest write on a full
        disk) as the batch's result: one line, never a thread traceback."""
        try:
            self._notebooks()
        except BaseException as exc:
            running = [n["name"] for n in self.manifest["notebooks"] if n["status"] == "running"]
            for n in self.manifest["notebooks"]:
                if n["status"] == "running":
                    n["status"] = "failed"
            self.result = ("failed", _fail_line(exc)[0], running[0] if running else None)

    def _notebooks(self) -> None:
        import papermill as pm
        status, error, failed_nb = "ok", None, None
        for nb in self.notebooks:
            t0 = time.perf_counter()
            entry = {"name": nb.name, "status": "running", "seconds": None}
            with self.lock:
                if self.cancelled:
                    return
                self.manifest["notebooks"].append(entry)
                _write_json(self.work / "manifest.json", self.manifest)
            out = self.work / "notebooks" / nb.name
            tmp = out.with_name(f".{nb.stem}.{os.getpid()}.tmp.ipynb")
            try:
                pm.execute_notebook(str(nb), str(tmp), parameters=self.parameters,
                                    kernel_name="python3", cwd=str(nb.parent),
                                    progress_bar=False, log_output=False, report_mode=False,
                                    km=self.kernel.km)
                entry["status"] = "ok"
                self.kernel.reset()
            except Exception as exc:  # papermill wraps the kernel's exception
                entry["status"] = "failed"
                status, error, failed_nb = "failed", _error_line(exc), nb.name
            finally:
                _settle_notebook(tmp, out)
            with self.lock:
                if self.cancelled:
                    return
                entry["seconds"] = round(time.perf_counter() - t0, 2)
                self.echo(f"  {nb.stem:<22} {entry['status']:<6} {entry['seconds']:6.1f} s")
                _write_json(self.work / "manifest.json", self.manifest)
                self.result = (status, error, failed_nb)
            if status != "ok":
                return

    def run(self) -> tuple[str, str | None, str | None]:
        thread = threading.Thread(target=self._worker, name="notebooks", daemon=True)
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.2)
            return self.result
        except (Terminated, KeyboardInterrupt) as exc:
            why = TERMINATED if isinstance(exc, Terminated) else INTERRUPTED
            with self.lock:
                self.cancelled = True
                running = [n for n in self.manifest["notebooks"] if n["status"] == "running"]
                for n in running:
                    n["status"] = "failed"
                self.echo(f"  {why}")
            self.kernel.kill()
            return "failed", why, running[0]["name"] if running else None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            if not self.cancelled:
                self.kernel.shutdown()


def render_report(run_dir: Path, cfg: dict[str, Any]) -> None:
    """report/NN_*.html for each executed notebook (no code cells), then report/index.html."""
    from nbconvert import HTMLExporter

    from . import report
    from .pipeline import replacing
    report_dir = run_dir / "report"
    report_dir.mkdir(exist_ok=True)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    pages = []
    for nb in sorted(p for p in (run_dir / "notebooks").glob("*.ipynb")
                     if not p.name.startswith(".")):
        body, _ = exporter.from_filename(str(nb))
        out = report_dir / (nb.stem + ".html")
        with replacing(out) as tmp:
            tmp.write_text(body, encoding="utf-8")
        pages.append(out.name)
    if not (report_dir / "index.html").exists():  # notebook 05 writes it; fallback otherwise
        report.write_index(run_dir, cfg, pages)


def _reserve(outputs: Path, dataset: str, stamp: str) -> tuple[Path, Path]:
    """(final folder, work folder) under a name no other run holds.

    The name is reserved by creating its ``.partial`` work folder, which is atomic: two runs
    started in the same second cannot both create it, so the second takes the next suffix
    (``-2``, ``-3`` …). A finished run's folder is never reused either."""
    for i in range(1, 10_000):
        name = f"{dataset}-{stamp}" + (f"-{i}" if i > 1 else "")
        final, work = outputs / name, outputs / f".{name}.partial"
        if final.exists() or final.is_symlink():
            continue
        try:
            work.mkdir()
        except FileExistsError:
            continue
        if final.exists():  # that run finished between the check and the mkdir
            work.rmdir()
            continue
        return final, work
    raise InputError("no free run-folder name", file=str(outputs))  # pragma: no cover


def _reserve_out(final: Path) -> Path:
    """The work folder for ``--out DIR``, reserved atomically (another run may want DIR)."""
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise InputError("the output directory already exists and is not empty; a run "
                         "never overwrites another", file=str(final),
                         hint="Choose a new --out, or remove the old folder yourself")
    work = final.parent / f".{final.name}.partial"
    try:
        work.mkdir()
    except FileExistsError:
        raise InputError("another run is writing this output directory now (its .partial "
                         "folder exists)", file=str(final),
                         hint="Choose another --out, or wait for that run to end") from None
    return work


def _fail_line(exc: BaseException) -> tuple[str, int]:
    """(one line for the manifest and the console, exit code) for a failure of the runner
    itself (not of a notebook): signals, a full disk, anything unexpected."""
    if isinstance(exc, Terminated):
        return TERMINATED, EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, EXIT_INTERRUPTED
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return (f"could not write the run folder: {exc.strerror or exc}{where}",
                EXIT_FAILED)
    return f"the run failed: {_error_line(exc)}", EXIT_FAILED


def _settle_notebook(tmp: Path, out: Path) -> None:
    """papermill writes the executed notebook while it runs: under a temporary name, which
    becomes the final one only when the file is whole (a notebook that failed in a cell is
    kept, to show the error; one cut short by a full disk is removed)."""
    if not tmp.exists():
        return
    try:
        json.loads(tmp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tmp.unlink(missing_ok=True)
        return
    os.replace(tmp, out)


def _sweep_temporaries(work: Path) -> None:
    """Remove the temporary files of writes that did not finish (they hold nothing final,
    and on a full disk removing them frees the room the manifest needs)."""
    for tmp in [*work.rglob(".*.tmp"), *work.rglob(".*.tmp.ipynb")]:
        try:
            tmp.unlink()
        except OSError:
            pass


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
    cfg = config.resolve(params_path, overrides or {})
    from .engines import check_source
    data = check_source(data_path, cfg)
    dataset = _slug(cfg["dataset"] or Path(data.rstrip("/")).stem)
    if out is not None:
        final = Path(out).resolve()
        outputs = final.parent
        _writable_dir(outputs)
        sweep_stale(outputs)
        work = _reserve_out(final)
    else:
        outputs = Path(outputs_root).resolve() if outputs_root else PROJECT_ROOT / "outputs"
        _writable_dir(outputs)
        sweep_stale(outputs)
        final, work = _reserve(outputs, dataset, started.strftime("%Y%m%d-%H%M%S"))

    manifest: dict[str, Any] = {
        "status": "running",
        "dataset": dataset,
        "pid": os.getpid(),
        "started": started.isoformat(timespec="seconds"),
        "parameters": config.public(cfg),
        "overrides": config.public(overrides or {}),
        "params_file": str(Path(params_path).resolve()) if params_path else None,
        "input": {"path": str(data), "sha256": None, "bytes": None, "rows": None,
                  "engine": cfg["engine"]},
        "packages": package_versions(),
        "platform": {"system": platform.platform(), "cpus": os.cpu_count()},
        "notebooks": [],
        "timings": {},
        "warnings": [],
        "error": None,
    }
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    status, error, failed_nb, code = "failed", None, None, EXIT_FAILED
    try:
        try:
            status, error, failed_nb, code = _execute(data, cfg, work, manifest, notebooks,
                                                      echo)
        except InputError:
            shutil.rmtree(work, ignore_errors=True)  # bad data: nothing is kept
            raise
        except BaseException as exc:  # signals, a full disk, the unexpected: one line
            error, code = _fail_line(exc)
            status = "failed"
            failed_nb = next((n["name"] for n in manifest["notebooks"]
                              if n["status"] == "running"), None)
            for n in manifest["notebooks"]:
                if n["status"] == "running":
                    n["status"] = "failed"
            echo(f"  {error}")
        if in_main:  # the last few milliseconds: record and rename, whatever arrives now
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        manifest.update(status=status, error=error, failed_notebook=failed_nb,
                        finished=_dt.datetime.now().astimezone().isoformat(timespec="seconds"))
        manifest["timings"]["total_seconds"] = round(time.perf_counter() - t_start, 2)
        warnings = list(manifest["warnings"])
        if status != "ok":
            _sweep_temporaries(work)
        try:
            _write_json(work / "manifest.json", manifest)
        except OSError as exc:  # still a full disk: the folder's name says it did not finish
            status, code = "failed", code if code != EXIT_OK else EXIT_FAILED
            error = error or _fail_line(exc)[0]
            return RunResult(status=status, run_dir=work, error=error, exit_code=code,
                             notebooks=manifest["notebooks"], warnings=warnings)
        os.replace(work, final)
        if status == "ok":
            note = _point_latest(outputs, final)
            if note:
                warnings.append(note)
        return RunResult(status=status, run_dir=final, error=error, exit_code=code,
                         notebooks=manifest["notebooks"], warnings=warnings)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _execute(data: str, cfg: dict[str, Any], work: Path, manifest: dict,
             notebooks: list[Path] | None, echo) -> tuple[str, str | None, str | None, int]:
    """The run's phases inside its reserved work folder: (status, error, failed notebook,
    exit code). Raises InputError for bad data (the caller removes the folder)."""
    (work / "notebooks").mkdir()
    params_file = work / "params.yaml"
    from .pipeline import replacing
    with replacing(params_file) as tmp:
        tmp.write_text(yaml.safe_dump(config.public(cfg), sort_keys=True, allow_unicode=True),
                       encoding="utf-8")
    manifest["input"]["bytes"] = load.source_info(data)["bytes"]
    _write_json(work / "manifest.json", manifest)

    # Check the data before anything is kept: the transaction stage raises InputError, and
    # then the folder goes. Its result stays in the folder for notebook 01 (stage1.json).
    t0 = time.perf_counter()
    rows, warnings, seconds = _stage1(data, cfg, work)
    manifest["input"].update(rows=rows, sha256=load.sha256(data))
    manifest["warnings"] = warnings
    manifest["timings"]["transaction_stage_seconds"] = round(seconds, 2)
    manifest["timings"]["input_check_seconds"] = round(time.perf_counter() - t0, 2)
    echo(f"  {'load, clean, summarise':<22} {'ok':<6} {seconds:6.1f} s")
    _write_json(work / "manifest.json", manifest)

    # the salt reaches the kernel through its environment, never through a file
    saved_salt = os.environ.get(config.SALT_ENV)
    if cfg["anonymize"]:
        os.environ[config.SALT_ENV] = cfg["anonymize_salt"]
    batch = NotebookBatch(notebooks or notebook_paths(), work, manifest, echo,
                          {"data_path": str(data), "params_path": str(params_file),
                           "overrides": {}, "run_dir": str(work)})
    try:
        status, error, failed_nb = batch.run()
    finally:
        if saved_salt is None:
            os.environ.pop(config.SALT_ENV, None)
        else:
            os.environ[config.SALT_ENV] = saved_salt
    if error in SIGNAL_EXIT:
        return status, error, failed_nb, SIGNAL_EXIT[error]
    if status == "ok":
        t0 = time.perf_counter()
        try:
            render_report(work, cfg)
        except Exception as exc:
            status, error = "failed", "rendering the report failed: " + _error_line(exc)
        manifest["timings"]["render_seconds"] = round(time.perf_counter() - t0, 2)
        echo(f"  {'report (HTML)':<22} {status:<6} {manifest['timings']['render_seconds']:6.1f} s")
    return status, error, failed_nb, EXIT_OK if status == "ok" else EXIT_FAILED


def _stage1(data: str, cfg: dict[str, Any], work: Path) -> tuple[int, list[str], float]:
    """Load, clean and summarise into ``work`` (``pipeline.stage1``); returns (input rows,
    warnings, seconds). The frames are dropped afterwards and pyarrow's pool is asked to
    give memory back, since the runner waits next to the kernel for the rest of the run."""
    import gc

    import pyarrow as pa

    from .pipeline import stage1
    stage = stage1(work, data, cfg)
    rows = int(stage.ledger.set_index("step").at["input", "rows"])
    result = (rows, stage.warnings, stage.seconds)
    del stage
    if cfg["engine"] == "spark":  # the notebooks only read the run folder: free the cluster
        from pyspark.sql import SparkSession
        session = SparkSession.getActiveSession()
        if session is not None:
            session.stop()
    gc.collect()
    pa.default_memory_pool().release_unused()
    return result


def main_check(args) -> int:
    """``python -m analysis check``: load, clean and summarise only; print ledger and warnings."""
    overrides = dict(config.parse_override(p) for p in (args.param or []))
    cfg = config.resolve(args.params, overrides)
    from .engines import check_source
    data = check_source(args.data, cfg)
    from .pipeline import transaction_stage
    warnings: list[str] = []
    _clean, ledger, customers = transaction_stage(data, cfg, warnings)
    print(f"{args.data}: {len(customers):,} customers, "
          f"{int(ledger.set_index('step').at['kept', 'rows']):,} transactions kept")
    print(ledger[["step", "rows", "revenue"]].to_string(index=False))
    for w in warnings:
        print(f"warning: {w}")
    return EXIT_OK


def main_run(args) -> int:
    overrides = dict(config.parse_override(p) for p in (args.param or []))
    print(f"analysis run: {args.data}" + (f" with {args.params}" if args.params else ""))
    result = run(args.data, args.params, overrides, out=args.out,
                 outputs_root=getattr(args, "outputs", None))
    for w in result.warnings:
        print(f"warning: {w}")
    if result.status == "ok":
        print(f"done: {result.run_dir}")
        print(f"report: {result.run_dir / 'report' / 'index.html'}")
        return EXIT_OK
    print(f"error: run failed: {result.error}; the partial run is kept, marked failed: "
          f"{result.run_dir}", file=sys.stderr)
    return result.exit_code
