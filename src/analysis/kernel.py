"""Executing the notebooks: one shared IPC kernel, on a worker thread, stoppable by
SIGTERM or Ctrl-C at any moment with the run recorded as failed in one line."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import papermill as pm
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from .errors import (INTERRUPTED, Terminated, catch_stop_signals, error_line, fail_line,
                     restore_signals)
from .folders import settle_notebook
from .runfolder import write_json

__all__ = ["SharedKernel", "NotebookBatch", "warm_kernel", "WARM_UP"]

#: what the notebooks import, imported by a kernel started while the transaction stage runs
#: (``warm_kernel``); the names are forgotten afterwards, the modules stay loaded
WARM_UP = """import matplotlib.pyplot, pandas, seaborn, sklearn.cluster
from IPython.display import Markdown, display
from analysis import clv, pipeline, playbook, plots, report, runfolder, runner, segments, tiers
from analysis.narrative import glossary, stages
from analysis.stage1 import clean, rules
%reset -f"""


def _one_cell(source: str):
    nb = new_notebook(cells=[new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    return nb


class SharedKernel:
    """One kernel for all notebooks of a run, its namespace wiped between notebooks.

    Starting a kernel and importing pandas, seaborn and scikit-learn costs ~3 s per
    notebook; sharing the process keeps the modules imported while ``%reset -f`` makes
    sure no notebook can use another's variables (each also runs on its own)."""

    def __init__(self) -> None:
        # IPC (Unix sockets in a private folder) instead of TCP: no port can be taken by
        # another run starting at the same moment, and nothing listens on the network
        self.socket_dir = tempfile.mkdtemp(prefix="analysis-kernel-")
        self.km = AsyncKernelManager(kernel_name="python3", transport="ipc",
                                     ip=os.path.join(self.socket_dir, "k"))

    def reset(self) -> None:
        """Forget the last notebook's names and hand back the memory they held
        (``release``: the allocators keep it otherwise); the trailing semicolon leaves no
        output to remember."""
        NotebookClient(_one_cell("%reset -f\n__import__('analysis.release').release.hand_back();"),
                       km=self.km, timeout=60).execute()

    def shutdown(self) -> None:
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


def warm_kernel(cwd: Path, env: dict[str, str]) -> SharedKernel:
    """A kernel started in ``cwd`` with the environment ``env`` that has imported what the
    notebooks import (:data:`WARM_UP`) and kept no name of it. The runner starts it on a
    thread while the transaction stage runs, so that the kernel's start and imports
    (~5 s) happen on the other core instead of at the start of notebook 01."""
    kernel = SharedKernel()
    try:
        NotebookClient(_one_cell(WARM_UP), km=kernel.km, timeout=600).execute(
            cwd=str(cwd), env=env)
    except BaseException:
        kernel.shutdown()
        raise
    return kernel


class NotebookBatch:
    """Execute notebooks in order in one shared kernel, on a worker thread.

    nbclient installs (and afterwards resets to the default) its own SIGTERM handler when
    it runs in the main thread, which would let a SIGTERM kill the runner without a word;
    on a worker thread it does not, so the main thread keeps the signal: it stops the
    kernel and records the run as failed, under a lock shared with the worker."""

    def __init__(self, notebooks: list[Path], work: Path, manifest: dict, echo,
                 parameters: dict[str, Any], kernel: SharedKernel | None = None):
        self.notebooks, self.work, self.manifest = notebooks, work, manifest
        self.echo, self.parameters = echo, parameters
        self.lock = threading.Lock()
        self.cancelled = False
        self.result: tuple[str, str | None, str | None] = ("ok", None, None)
        # a kernel started already (``warm_kernel``), else the first notebook starts one
        self.kernel = kernel if kernel is not None else SharedKernel()

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
            self.result = ("failed", fail_line(exc)[0], running[0] if running else None)

    def _notebooks(self) -> None:
        status, error, failed_nb = "ok", None, None
        for nb in self.notebooks:
            t0 = time.perf_counter()
            entry = {"name": nb.name, "status": "running", "seconds": None}
            with self.lock:
                if self.cancelled:
                    return
                self.manifest["notebooks"].append(entry)
                write_json(self.work / "manifest.json", self.manifest)
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
                status, error, failed_nb = "failed", error_line(exc), nb.name
            finally:
                settle_notebook(tmp, out)
            with self.lock:
                if self.cancelled:
                    return
                entry["seconds"] = round(time.perf_counter() - t0, 2)
                self.echo(f"  {nb.stem:<22} {entry['status']:<6} {entry['seconds']:6.1f} s")
                write_json(self.work / "manifest.json", self.manifest)
                self.result = (status, error, failed_nb)
            if status != "ok":
                return

    def run(self) -> tuple[str, str | None, str | None]:
        thread = threading.Thread(target=self._worker, name="notebooks", daemon=True)
        in_main = threading.current_thread() is threading.main_thread()
        previous = catch_stop_signals() if in_main else None
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.2)
            return self.result
        except (Terminated, KeyboardInterrupt) as exc:
            why = exc.reason if isinstance(exc, Terminated) else INTERRUPTED
            with self.lock:
                self.cancelled = True
                running = [n for n in self.manifest["notebooks"] if n["status"] == "running"]
                for n in running:
                    n["status"] = "failed"
                self.echo(f"  {why}")
            self.kernel.kill()
            return "failed", why, running[0]["name"] if running else None
        finally:
            restore_signals(previous)
            if not self.cancelled:
                self.kernel.shutdown()
