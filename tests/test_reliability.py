"""Faults: SIGTERM and SIGKILL in the middle of a run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from analysis import folders
from analysis.stage1 import load
from conftest import RETAIL, RETAIL_PARAMS, ROOT

pytestmark = pytest.mark.slow


def _start_and_wait_for(out, notebook: str):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "run", str(RETAIL), "--params",
                             str(RETAIL_PARAMS), "--out", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = out.parent / f".{out.name}.partial" / "manifest.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if manifest.exists() and f'"name": "{notebook}"' in manifest.read_text():
            time.sleep(1.0)
            return proc
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {notebook}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"{notebook} never started")


@pytest.fixture
def earlier(tmp_path):
    """An earlier good run and outputs/latest pointing to it."""
    old = tmp_path / "earlier"
    old.mkdir()
    (old / "customers.csv").write_text("precious\n")
    (tmp_path / "latest").symlink_to("earlier")
    return old


def _kernels_of(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=,args=", "-e"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "ipykernel" in line and f" {pid} " in line]


def test_sigterm_during_notebook_03(tmp_path, earlier):
    before = load.sha256(RETAIL)
    out = tmp_path / "new"
    proc = _start_and_wait_for(out, "03_segments.ipynb")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "terminated by SIGTERM" in errors[0]
    assert "Traceback" not in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_notebook"] == "03_segments.ipynb"
    assert (tmp_path / "latest").resolve() == earlier.resolve()
    assert (earlier / "customers.csv").read_text() == "precious\n"
    assert load.sha256(RETAIL) == before
    time.sleep(2)
    assert not _kernels_of(proc.pid)


def test_sigkill_during_notebook_03_is_swept_as_failed(tmp_path, earlier):
    before = load.sha256(RETAIL)
    out = tmp_path / "new"
    proc = _start_and_wait_for(out, "03_segments.ipynb")
    proc.kill()
    proc.wait(timeout=30)
    partial = tmp_path / ".new.partial"
    assert partial.exists() and not out.exists()  # never passes for a finished run
    assert json.loads((partial / "manifest.json").read_text())["status"] == "running"
    assert (tmp_path / "latest").resolve() == earlier.resolve()
    assert load.sha256(RETAIL) == before
    # the next run (or this call, which every run makes first) marks it failed
    swept = folders.sweep_stale(tmp_path)
    assert swept == [out]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "interrupted" in manifest["error"]
    assert (tmp_path / "latest").resolve() == earlier.resolve()
