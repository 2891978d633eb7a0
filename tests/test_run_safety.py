"""Issue 17: runs that never corrupt each other — concurrency, full disks, signals, odd paths.

The phases of a run are hit in process (the runner's own functions replaced by ones that
send the signal or fill the disk at that moment), and through the real CLI where the
whole process matters (two runs at once, a real full tmpfs)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbclient import NotebookClient

from analysis import config, errors, folders, kernel, runner
from analysis.errors import InputError, ParamError
from conftest import RETAIL, RETAIL_PARAMS, ROOT, run_cli

TINY = "cid,day,amt\n1,2020-01-02,10.50\n2,2020-01-03,4.00\n1,2020-02-10,7.25\n"


def _tiny(tmp_path) -> tuple[Path, Path]:
    data, params = tmp_path / "tiny.csv", tmp_path / "tiny.yaml"
    data.write_text(TINY)
    params.write_text("columns: {customer_id: cid, date: day, amount: amt}\nclv_bootstrap: 0\n")
    return data, params


def _earlier(outputs: Path) -> Path:
    old = outputs / "earlier"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text('{"status": "ok"}')
    (outputs / "latest").symlink_to("earlier")
    return old


def _no_temporaries(folder: Path) -> None:
    left = [p for p in folder.rglob("*") if p.name.endswith(".tmp")]
    assert not left, left


# -- odd paths and parameters: refused before anything is written --------------------------

def test_params_that_are_not_regular_files_are_refused_at_once(tmp_path):
    fifo = tmp_path / "params.fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        t0 = time.perf_counter()
        with pytest.raises(ParamError, match="not a regular file"):
            config.read_yaml(path)
        assert time.perf_counter() - t0 < 5
    big = tmp_path / "big.yaml"
    big.write_text("dataset: x\n" + "#" * (2 << 20))
    with pytest.raises(ParamError, match="larger than 1024 KiB"):
        config.read_yaml(big)
    data, params = _tiny(tmp_path)
    proc = run_cli("run", "/dev/zero", "--params", str(params), "--outputs", str(tmp_path / "o"))
    assert proc.returncode == 2 and "not a regular file" in proc.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_segment_map_the_playbook_cannot_cover_is_a_parameter_error(tmp_path):
    """A segment_map that renames Champions to Whales partitions the grid (so the old check
    passed) but leaves Whales without a playbook action: now exit 2 before anything runs."""
    cols = {"customer_id": "c", "date": "d", "amount": "a"}
    whales = {"Champions": [[9, 9], [9, 9]], "Whales": [[[5, 5], [4, 5]], [[4, 4], [5, 5]]]}
    with pytest.raises(ParamError, match="playbook has no action") as err:
        config.resolve(None, {"columns": cols, "segment_map": whales})
    assert "'Whales'" in str(err.value)
    data, params = _tiny(tmp_path)
    params.write_text(params.read_text() + "segment_map: {Champions: [[9, 9], [9, 9]], "
                      "Whales: [[[5, 5], [4, 5]], [[4, 4], [5, 5]]]}\n")
    proc = run_cli("run", str(data), "--params", str(params), "--outputs", str(tmp_path / "o"))
    assert proc.returncode == 2 and "playbook has no action" in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# -- run folders: unique names, latest only where it belongs ------------------------------

def test_reserved_names_never_collide(tmp_path):
    names = set()
    for _ in range(5):
        final, work = folders.reserve(tmp_path, "ds", "20260101-000000")
        assert work.is_dir() and not final.exists()
        names.add(final.name)
    assert names == {"ds-20260101-000000", *(f"ds-20260101-000000-{i}" for i in range(2, 6))}
    with pytest.raises(InputError, match="another run is writing"):
        folders.reserve_out(tmp_path / "ds-20260101-000000")


def test_latest_replaces_only_a_link_this_project_made(tmp_path):
    (tmp_path / "run-a").mkdir()
    (tmp_path / "run-b").mkdir()
    assert folders.point_latest(tmp_path, tmp_path / "run-a") is None
    assert os.readlink(tmp_path / "latest") == "run-a"
    assert folders.point_latest(tmp_path, tmp_path / "run-b") is None
    assert os.readlink(tmp_path / "latest") == "run-b"
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").write_text("a user's notes")
    assert "is a file" in folders.point_latest(tmp_path, tmp_path / "run-a")
    assert (tmp_path / "latest").read_text() == "a user's notes"
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "keep.txt").write_text("x")
    assert "is a folder" in folders.point_latest(tmp_path, tmp_path / "run-a")
    assert (tmp_path / "latest" / "keep.txt").exists()
    (tmp_path / "latest" / "keep.txt").unlink()
    (tmp_path / "latest").rmdir()
    (tmp_path / "latest").symlink_to("/etc")
    assert "did not make" in folders.point_latest(tmp_path, tmp_path / "run-a")
    assert os.readlink(tmp_path / "latest") == "/etc"
    assert not list(tmp_path.glob(".latest-*"))


# -- a signal or a full disk at each phase: failed, one line, nothing half-written --------

def _sigterm(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises before this ends
    raise AssertionError("SIGTERM did not arrive")


def _sigint(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    raise AssertionError("SIGINT did not arrive")


def _enospc(*_args, **_kwargs):
    raise OSError(28, "No space left on device", "/x/customers.csv")


def _ok_batch(self):
    return "ok", None, None


@pytest.mark.parametrize("phase, fault, code, words", [
    ("stage1", _sigterm, 143, "terminated by SIGTERM"),
    ("stage1", _sigint, 130, "interrupted (SIGINT)"),
    ("stage1", _enospc, 1, "could not write the run folder: No space left on device"),
    ("render", _sigterm, 143, "terminated by SIGTERM"),
    ("render", _enospc, 1, "No space left on device"),
])
def test_a_fault_at_each_phase_marks_the_run_failed(tmp_path, monkeypatch, phase, fault, code,
                                                    words):
    data, params = _tiny(tmp_path)
    outputs = tmp_path / "outputs"
    earlier = _earlier(outputs)
    if phase == "stage1":
        monkeypatch.setattr(runner, "_stage1", fault)
    else:
        monkeypatch.setattr(kernel.NotebookBatch, "run", _ok_batch)
        monkeypatch.setattr(runner, "render_report", fault)
    lines: list[str] = []
    result = runner.run(data, params, outputs_root=outputs, echo=lines.append)
    assert result.status == "failed" and result.exit_code == code
    assert words in result.error and "\n" not in result.error
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and words in manifest["error"]
    assert not result.run_dir.name.endswith(".partial")
    assert os.readlink(outputs / "latest") == "earlier" and earlier.exists()
    _no_temporaries(outputs)
    assert signal.getsignal(signal.SIGTERM) is not errors.on_sigterm  # handler restored


def test_bad_data_still_leaves_no_folder(tmp_path):
    data, params = _tiny(tmp_path)
    data.write_text("cid,day,amt\n1,2020-01-02,ten\n")
    with pytest.raises(InputError):
        runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert not any((tmp_path / "o").iterdir())


@pytest.mark.slow
def test_sigterm_during_the_transaction_stage_of_a_real_run(tmp_path):
    """The CLI in its own process, SIGTERM while it reads a file large enough to take a few
    seconds: exit 143, one line, the folder marked failed."""
    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("cid,day,amt\n")
        for i in range(1_500_000):
            fh.write(f"{i % 50000},2020-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 97}.5\n")
    _, params = _tiny(tmp_path)
    outputs = tmp_path / "o"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "run", str(big), "--params",
                             str(params), "--outputs", str(outputs)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(outputs.glob(".*.partial/manifest.json")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr
    errors = [x for x in stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "terminated by SIGTERM" in errors[0]
    (folder,) = [p for p in outputs.iterdir() if not p.name.startswith(".")]
    assert json.loads((folder / "manifest.json").read_text())["status"] == "failed"
    _no_temporaries(outputs)


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_a_full_disk_ends_in_one_line_and_a_failed_folder(tmp_path):
    disk = tmp_path / "disk"
    if not _tmpfs(disk, "600k"):
        pytest.skip("needs root and tmpfs to make a small disk (mount -t tmpfs)")
    try:
        earlier = _earlier(disk)
        proc = run_cli("run", str(RETAIL), "--params", str(RETAIL_PARAMS), "--outputs",
                       str(disk))
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0], proc.stderr
        folders = [p for p in disk.iterdir() if p.name not in ("earlier", "latest")]
        assert len(folders) == 1
        manifest = json.loads((folders[0] / "manifest.json").read_text())
        assert manifest["status"] == "failed" and "No space left" in manifest["error"]
        _no_temporaries(disk)
        assert os.readlink(disk / "latest") == "earlier" and earlier.exists()
        # every file under its final name is whole: the tables read back
        for csv in folders[0].glob("*.csv"):
            import pandas as pd
            pd.read_csv(csv)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


@pytest.mark.slow
def test_two_runs_started_together_get_two_consistent_folders(tmp_path):
    outputs = tmp_path / "outputs"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    runs = [("en", "42"), ("zh", "7")]
    procs = [subprocess.Popen([sys.executable, "-m", "analysis", "run", str(RETAIL), "--params",
                               str(RETAIL_PARAMS), "--outputs", str(outputs), "-p",
                               f"language={lang}", "-p", f"seed={seed}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for lang, seed in runs]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
        assert "Address already in use" not in err and "without encryption" not in err
    folders = sorted(p for p in outputs.iterdir() if not p.name.startswith(".") and
                     p.name != "latest")
    assert len(folders) == 2
    seen = set()
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        params = config.read_yaml(folder / "params.yaml")
        assert manifest["status"] == "ok"
        lang, seed = manifest["parameters"]["language"], manifest["parameters"]["seed"]
        assert (params["language"], params["seed"]) == (lang, seed)
        dictionary = (folder / "data_dictionary.md").read_text()
        assert ("数据字典" in dictionary) == (lang == "zh")
        seen.add((lang, str(seed)))
    assert seen == set(runs)
    assert (outputs / "latest").resolve() in [f.resolve() for f in folders]
    assert not list(outputs.glob(".*"))


# -- the kernel started during the transaction stage ---------------------------------------

def _kernels() -> list[int]:
    """Kernel processes that are children of this process."""
    me, out = str(os.getpid()), []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as fh:
                parent = fh.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if parent == me and b"ipykernel" in cmd:
            out.append(int(d))
    return out


def test_a_large_input_gets_its_kernel_started_and_warmed_during_the_stage(tmp_path,
                                                                          monkeypatch):
    """From ``EARLY_KERNEL_BYTES`` on (here: any size), the notebooks run in a kernel that
    was started while the transaction stage ran: it has the notebooks' modules loaded but
    none of their names, and the anonymisation salt in its environment."""
    data, params = _tiny(tmp_path)
    params.write_text(params.read_text() + "anonymize: true\nanonymize_salt: pepper\n")
    monkeypatch.setattr(runner, "EARLY_KERNEL_BYTES", 0)
    seen: dict = {}

    def check(self):
        seen["started"] = self.kernel.km.has_kernel  # before any notebook ran
        probe = "\n".join([
            "import os, sys",
            "assert 'analysis.clv' in sys.modules and 'seaborn' in sys.modules",
            "assert 'pipeline' not in dir() and 'clv' not in dir()",
            f"assert os.environ[{config.SALT_ENV!r}] == 'pepper'"])
        NotebookClient(kernel._one_cell(probe), km=self.kernel.km, timeout=60).execute()
        self.kernel.shutdown()
        return "ok", None, None

    monkeypatch.setattr(kernel.NotebookBatch, "run", check)
    monkeypatch.setattr(runner, "render_report", lambda *a, **k: None)
    result = runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert result.status == "ok" and seen == {"started": True}
    assert not _kernels()


def test_refused_data_shuts_the_early_kernel_down(tmp_path, monkeypatch):
    data, params = _tiny(tmp_path)
    data.write_text("cid,day,amt\n1,2020-01-02,ten\n")
    monkeypatch.setattr(runner, "EARLY_KERNEL_BYTES", 0)
    with pytest.raises(InputError):
        runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert not any((tmp_path / "o").iterdir())
    assert not _kernels()


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_no_kernel_is_started_during_a_small_or_query_engine_stage(tmp_path, monkeypatch,
                                                                    engine):
    """A small input's stage ends before a kernel would be up; with DuckDB (or Spark) the
    stage is the run's memory peak, so whatever the size no kernel is started then."""
    data, params = _tiny(tmp_path)
    params.write_text(params.read_text() + f"engine: {engine}\n")
    if engine != "pandas":
        monkeypatch.setattr(runner, "EARLY_KERNEL_BYTES", 0)
    monkeypatch.setattr(kernel.NotebookBatch, "run",
                        lambda self: ("ok", None, None) if not self.kernel.km.has_kernel
                        else ("failed", "a kernel was started early", None))
    monkeypatch.setattr(runner, "render_report", lambda *a, **k: None)
    result = runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert result.status == "ok", result.error


def test_the_shared_kernel_forgets_a_notebook_and_hands_its_memory_back():
    """Between notebooks the kernel forgets every name (the memory hand-back that follows
    ``%reset`` leaves none, nor an output to remember) and its resident memory falls back
    once a notebook's large frame is gone (glibc's heap trimmed, pyarrow's pool emptied)."""
    k = kernel.SharedKernel()
    rss = "int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')"
    try:
        before = kernel._one_cell(f"import os\nprint({rss})")
        NotebookClient(before, km=k.km, timeout=60).execute()
        # a frame of many mid-sized blocks, on the C heap rather than in mapped pages
        NotebookClient(kernel._one_cell(
            "import numpy as np, pandas as pd\n"
            "frames = [pd.DataFrame({'x': np.arange(4000.0)}) for _ in range(40_000)]"),
            km=k.km, timeout=120).execute()
        k.reset()
        probe = kernel._one_cell(
            "import os\n"
            "left = [n for n in globals() if not n.startswith('_') and n not in "
            "('In', 'Out', 'get_ipython', 'exit', 'quit', 'open', 'os')]\n"
            f"print(left, len(Out), {rss})")
        NotebookClient(probe, km=k.km, timeout=60).execute()
    finally:
        k.shutdown()
    base = int(before.cells[0].outputs[0]["text"])
    left, outs, after = probe.cells[0].outputs[0]["text"].rsplit(" ", 2)
    assert left == "[]" and outs.strip(",") == "0", probe.cells[0].outputs[0]["text"]
    assert int(after) < base + (300 << 20), (base >> 20, int(after) >> 20)
