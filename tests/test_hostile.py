"""Issue 28: hostile parameter files and inputs, and runs that outlive containers.

Parameters are data (engine settings on an allow-list, every number finite, dates within
what the engines hold, encodings that are text encodings, YAML with bounded expansion);
exports never replace the input, another run or a file no run wrote; a run's folder is
owned through a lock that every PID namespace sees; the input is pinned; readers refuse
what would exhaust memory; out-of-range dates go to their rule; anonymising is complete;
the ledger's input line is the file's own total on every engine."""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import config, folders, kernel, pipeline, runner
from analysis.__main__ import main
from analysis.errors import InputError, ParamError
from analysis.stage1 import bounds, load
from conftest import ROOT

TINY = "cid,day,amt\n1,2020-01-02,10.50\n2,2020-01-03,4.00\n1,2020-02-10,7.25\n"
BASE = "columns: {customer_id: cid, date: day, amount: amt}\nclv_bootstrap: 0\n"


def _tiny(tmp_path: Path, text: str = TINY, name: str = "tiny.csv") -> tuple[Path, Path]:
    data, params = tmp_path / name, tmp_path / "tiny.yaml"
    data.write_text(text)
    params.write_text(BASE)
    return data, params


def _check(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m analysis check`` through the CLI's own main, in this process."""
    capsys.readouterr()
    code = main(["check", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_error_line(code: int, err: str, *words: str) -> str:
    assert code == 2, err
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in line, err
    for w in words:
        assert w in line, (w, line)
    return line


# -- 1. parameters are data -------------------------------------------------------------

def test_a_spark_setting_that_reaches_the_jvm_is_refused_before_any_engine(tmp_path, capsys,
                                                                         monkeypatch):
    data, params = _tiny(tmp_path)
    monkeypatch.chdir(tmp_path)
    params.write_text(BASE + "engine: spark\nspark_config:\n  spark.driver.extraJavaOptions: "
                      "\"-XX:MaxMetaspaceSize=12m -XX:OnOutOfMemoryError='touch marker'\"\n")
    code, _, err = _check(capsys, str(data), "--params", str(params))
    _one_error_line(code, err, "'spark_config' may not set 'spark.driver.extraJavaOptions'")
    assert not (tmp_path / "marker").exists()
    assert "touch" not in err  # the value is never echoed


@pytest.mark.parametrize("override, words", [
    ("spark_config={spark.driver.extraClassPath: /tmp/x.jar}", "may not set"),
    ("spark_config={spark.executor.memory: '8g; touch x'}", "amount of memory"),
    ("spark_config={spark.local.dir: '/tmp/$(touch x)'}", "no spaces, quotes or shell"),
    ("spark_master=local[2] --conf x", "Spark master URL"),
    ("duckdb_config={bogus_setting: 1}", "'duckdb_config' may not set 'bogus_setting'"),
    ("duckdb_config={threads: -1}", "sets threads, which must be between 1 and 1024"),
    ("duckdb_config={memory_limit: lots}", "amount of memory"),
    ("seed=.inf", "whole number"),
    ("seed=4294967296", "at most 4294967295"),
    ("xlsx_max_customers=.nan", "whole number"),
    ("new_days=.inf", "whole number"),
    ("clv_horizons_months=[.inf]", "finite numbers"),
    ("discount_rate=.nan", "finite number"),
    ("observation_end=9999-12-31", "a date from 1900-01-01 to 2261-12-31"),
    ("calibration_end=0001-01-01", "a date from 1900-01-01"),
    ("encoding=klingon-8", "not a text encoding Python knows"),
    ("encoding=rot13", "not a text encoding"),
    ("dimensions=[cid]", "dimensions lists the customer id column 'cid'"),
])
def test_parameters_that_crashed_are_one_line(tmp_path, capsys, override, words):
    data, params = _tiny(tmp_path)
    code, _, err = _check(capsys, str(data), "--params", str(params), "-p", override)
    _one_error_line(code, err, words)


def test_allowed_engine_settings_still_pass():
    cfg = config.resolve(None, {"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                                "duckdb_config": {"threads": 1, "memory_limit": "1GB",
                                                  "temp_directory": "/tmp/spill"},
                                "spark_config": {"spark.driver.memory": "2g",
                                                 "spark.sql.shuffle.partitions": 8,
                                                 "spark.sql.adaptive.enabled": True},
                                "spark_master": "local[2]"})
    assert cfg["duckdb_config"]["threads"] == 1


def test_a_numeric_column_name_is_a_column_name(tmp_path, capsys):
    data, params = _tiny(tmp_path)
    code, _, err = _check(capsys, str(data), "--params", str(params), "-p",
                          "columns.customer_id=0")
    _one_error_line(code, err, "mapped column '0' is not in the file")


def test_utf32_is_a_text_encoding_and_a_wrong_one_is_one_line(tmp_path, capsys):
    data, params = _tiny(tmp_path)
    code, _, err = _check(capsys, str(data), "--params", str(params), "-p", "encoding=utf-32")
    _one_error_line(code, err, "not valid utf-32 text")
    wide = tmp_path / "wide.csv"
    wide.write_bytes(TINY.encode("utf-32"))
    code, out, err = _check(capsys, str(wide), "--params", str(params), "-p",
                            "encoding=utf-32")
    assert code == 0, err
    assert "3 transactions kept" in out
    code, _, err = _check(capsys, str(wide), "--params", str(params))
    _one_error_line(code, err, "UTF-32 encoded")


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys):
    data, params = _tiny(tmp_path)
    lines = [BASE, 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    lines.append("non_product_codes: [" + ",".join(["*i"] * 9) + "]")
    params.write_text("\n".join(lines) + "\n")
    assert params.stat().st_size < 1000
    t0 = time.perf_counter()
    code, _, err = _check(capsys, str(data), "--params", str(params))
    _one_error_line(code, err, "expands to more than 100,000 values")
    assert time.perf_counter() - t0 < 10
    deep = tmp_path / "deep.yaml"
    deep.write_text(BASE + "segment_map: " + "[" * 60 + "]" * 60 + "\n")
    with pytest.raises(ParamError, match="nested more than"):
        config.read_yaml(deep)


def test_the_salt_is_text_as_written_and_never_echoed(tmp_path, capsys):
    data, params = _tiny(tmp_path)
    params.write_text(BASE + "anonymize: true\nanonymize_salt: 0123\n")
    code, _, err = _check(capsys, str(data), "--params", str(params))
    line = _one_error_line(code, err, "anonymize_salt", "quote it")
    line = line.replace(str(params), "<params>")  # pytest's folder may be pytest-83
    assert "83" not in line and "0123" not in line.split("(")[0].replace("'0123'", "")
    params.write_text(BASE + "anonymize: true\nanonymize_salt: [s3cr3t-in-a-list]\n")
    code, _, err = _check(capsys, str(data), "--params", str(params))
    assert "s3cr3t" not in _one_error_line(code, err, "anonymize_salt")
    # on the command line, the salt is taken as written
    assert config.parse_override("anonymize_salt=0123") == ("anonymize_salt", "0123")
    params.write_text(BASE + "anonymize: true\n")
    cfg = config.resolve(params, dict([config.parse_override("anonymize_salt=0123")]))
    assert cfg["anonymize_salt"] == "0123"


def test_dimensions_that_identify_people_are_warned_about(tmp_path, capsys):
    data, params = _tiny(tmp_path, "cid,day,amt,Email,Country\n"
                         "1,2020-01-02,10.50,a@x.org,DE\n2,2020-01-03,4.00,b@y.org,FR\n")
    params.write_text(BASE + "anonymize: true\nanonymize_salt: pepper\n"
                      "dimensions: [Email, Country]\n")
    code, out, err = _check(capsys, str(data), "--params", str(params))
    assert code == 0, err
    warned = [w for w in out.splitlines() if w.startswith("warning:")]
    assert any("'Email' looks like it identifies a person" in w for w in warned), out
    assert not any("'Country'" in w for w in warned)
    params.write_text(BASE + "anonymize: true\nanonymize_salt: pepper\n"
                      "dimensions: [Email, Country]\nanonymize_columns: [Email]\n")
    code, out, _ = _check(capsys, str(data), "--params", str(params))
    assert code == 0 and "identifies a person" not in out


# -- 2. outputs only inside the run folder, or an export the run made ----------------------

def _stage_params(tmp_path: Path, where: str) -> config.Params:
    return config.typed(config.resolve(tmp_path / "tiny.yaml", {"clean_transactions": where}))


def test_clean_transactions_never_replaces_the_input_or_a_run(tmp_path):
    data, _ = _tiny(tmp_path)
    data.chmod(0o444)
    before = load.sha256(data)
    outputs = tmp_path / "outputs"
    good = outputs / "good-run"
    good.mkdir(parents=True)
    (good / "manifest.json").write_text('{"status": "ok"}')
    (good / "customers.parquet").write_bytes(b"precious")
    (outputs / "latest").symlink_to("good-run")
    mine = tmp_path / "notes.parquet"
    mine.write_bytes(b"mine")
    elsewhere = tmp_path / "elsewhere" / "run"
    elsewhere.mkdir(parents=True)
    (elsewhere / "manifest.json").write_text("{}")
    work = outputs / ".new.partial"
    work.mkdir()
    (outputs / ".other.partial").mkdir()
    for where, words in [(str(data), "points at the input data"),
                         (str(outputs / "latest" / "customers.parquet"), "another run's"),
                         (str(good / "x.parquet"), "another run's folder"),
                         (str(outputs / ".other.partial" / "x.parquet"), "another run's"),
                         (str(outputs), "holds this run's folder"),
                         (str(elsewhere / "clean.parquet"), "another run's folder"),
                         (str(mine), "no run wrote"),
                         (str(tmp_path / "missing" / "x.parquet"), "does not exist")]:
        with pytest.raises(InputError, match=words):
            pipeline.stage1(work, data, _stage_params(tmp_path, where))
    assert load.sha256(data) == before
    assert (good / "customers.parquet").read_bytes() == b"precious"
    assert mine.read_bytes() == b"mine"


def test_an_export_the_run_made_is_replaced_by_the_next(tmp_path):
    data, _ = _tiny(tmp_path)
    target = tmp_path / "exports" / "clean.parquet"
    target.parent.mkdir()
    for i in range(2):
        work = tmp_path / "outputs" / f".run{i}.partial"
        work.mkdir(parents=True)
        pipeline.stage1(work, data, _stage_params(tmp_path, str(target)))
        assert len(pd.read_parquet(target)) == 3
        marker = json.loads((target.parent / f".clean.parquet{folders.EXPORT_MARKER}")
                            .read_text())
        assert marker["run"] == f"run{i}"
    assert sorted(p.name for p in target.parent.iterdir()) == \
        [f".clean.parquet{folders.EXPORT_MARKER}", "clean.parquet"]


def test_a_refused_export_fails_the_run_before_anything_is_kept(tmp_path):
    data, params = _tiny(tmp_path)
    with pytest.raises(InputError, match="input data"):
        runner.run(data, params, {"clean_transactions": str(data)},
                   outputs_root=tmp_path / "o", echo=lambda _: None)
    assert not any((tmp_path / "o").iterdir())
    assert data.read_text() == TINY


# -- 3. run ownership that survives containers ---------------------------------------------

HOLD = ("import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


def _partial(outputs: Path, name: str, manifest: str | None) -> Path:
    work = outputs / f".{name}.partial"
    work.mkdir(parents=True)
    if manifest is not None:
        (work / "manifest.json").write_text(manifest)
    return work


def test_a_live_run_of_another_pid_namespace_is_never_swept(tmp_path):
    """The owner's pid does not exist here (it lives in another container), but it holds the
    folder's lock: the folder stays as it is."""
    outputs = tmp_path / "outputs"
    work = _partial(outputs, "a", json.dumps({"status": "running", "pid": 4_194_000,
                                              "boot_id": "another-boot"}))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(work / folders.LOCK)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert folders.sweep_stale(outputs) == []
        assert work.exists() and not (outputs / "a").exists()
        with pytest.raises(InputError, match="another run is writing"):
            folders.reserve_out(outputs / "a")
    finally:
        holder.kill()
        holder.wait()
    # its process ended (killed): the lock is free, so the next sweep marks it failed
    assert folders.sweep_stale(outputs) == [outputs / "a"]
    manifest = json.loads((outputs / "a" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "interrupted" in manifest["error"]
    assert not (outputs / "a" / folders.LOCK).exists()


def test_a_dead_run_whose_pid_lives_on_is_swept(tmp_path):
    """Killed inside a namespace, its recorded pid is a live process here (this one): the
    free lock, not the pid, decides."""
    outputs = tmp_path / "outputs"
    work = _partial(outputs, "b", json.dumps({"status": "running", "pid": os.getpid(),
                                              **folders.boot_identity()}))
    (work / folders.LOCK).write_text("")
    assert folders.sweep_stale(outputs) == [outputs / "b"]
    assert json.loads((outputs / "b" / "manifest.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", "", None])
def test_a_partial_without_a_readable_manifest_is_handled(tmp_path, manifest):
    outputs = tmp_path / "outputs"
    work = _partial(outputs, "c", manifest)
    (work / folders.LOCK).write_text("")
    assert folders.sweep_stale(outputs) == [outputs / "c"]
    m = json.loads((outputs / "c" / "manifest.json").read_text())
    assert m["status"] == "failed" and "could not be read" in m["error"]


def test_a_partial_without_a_lock_is_judged_by_its_age(tmp_path):
    outputs = tmp_path / "outputs"
    young = _partial(outputs, "young", None)
    old = _partial(outputs, "old", None)
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert folders.sweep_stale(outputs) == [outputs / "old"]
    assert young.exists()


def test_a_dead_partial_under_a_taken_name_is_said_so(tmp_path):
    outputs = tmp_path / "outputs"
    work = _partial(outputs, "d", json.dumps({"status": "running"}))
    (work / folders.LOCK).write_text("")
    (outputs / "d").mkdir()
    (outputs / "d" / "someone.txt").write_text("x")
    assert folders.sweep_stale(outputs) == []
    with pytest.raises(InputError, match="a run that ended left its work folder"):
        folders.reserve_out(outputs / "d")


def test_a_run_holds_its_lock_while_it_runs(tmp_path, monkeypatch):
    data, params = _tiny(tmp_path)
    seen = {}

    def batch(self):
        (work,) = list((tmp_path / "o").glob(".*.partial"))
        fd = os.open(work / folders.LOCK, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        seen["swept"] = folders.sweep_stale(tmp_path / "o")
        return "ok", None, None

    monkeypatch.setattr(kernel.NotebookBatch, "run", batch)
    monkeypatch.setattr(runner, "render_report", lambda *a, **k: None)
    result = runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert result.status == "ok" and seen["swept"] == []
    assert not (result.run_dir / folders.LOCK).exists()
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["boot_id"] == folders.boot_identity()["boot_id"]


def test_sighup_stops_a_run_like_sigterm(tmp_path, monkeypatch):
    data, params = _tiny(tmp_path)

    def hangup(*_a, **_k):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)
        raise AssertionError("SIGHUP did not arrive")

    monkeypatch.setattr(runner, "_stage1", hangup)
    result = runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert result.status == "failed" and result.exit_code == 129
    assert "SIGHUP" in result.error
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "SIGHUP" in manifest["error"]
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL


def _quick_run(monkeypatch, during=None):
    """The runner with its notebooks and report replaced: the transaction stage, the
    manifest and the publishing are real."""
    def batch(self):
        if during:
            during(self.work)
        return "ok", None, None
    monkeypatch.setattr(kernel.NotebookBatch, "run", batch)
    monkeypatch.setattr(runner, "render_report", lambda *a, **k: None)


@contextlib.contextmanager
def _mounted(folder: Path):
    """A tmpfs mounted at ``folder`` (a container's volume, or a disk to make read-only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_out_on_a_mount_point_publishes_inside_it(tmp_path, monkeypatch):
    with _mounted(tmp_path / "volume") as volume:
        data, params = _tiny(tmp_path)
        _quick_run(monkeypatch)
        result = runner.run(data, params, out=volume, echo=lambda _: None)
        assert result.status == "ok", result.error
        assert result.run_dir == volume.resolve()
        assert json.loads((volume / "manifest.json").read_text())["status"] == "ok"
        assert (volume / "customers.parquet").exists()
        assert not list(tmp_path.glob(".*.partial"))


def _gains(folder: Path, name: str, text: str):
    """What someone else does during the run: create ``folder`` with a file in it."""
    def act(_work):
        folder.mkdir()
        (folder / name).write_text(text)
    return act


def test_an_out_folder_that_gains_files_mid_run(tmp_path, monkeypatch):
    data, params = _tiny(tmp_path)
    out = tmp_path / "out"
    _quick_run(monkeypatch, _gains(out, "notes.txt", "someone else's"))
    result = runner.run(data, params, out=out, echo=lambda _: None)
    assert result.status == "ok", result.error  # no clash: the results join it
    assert (out / "notes.txt").read_text() == "someone else's"
    assert json.loads((out / "manifest.json").read_text())["status"] == "ok"

    out2 = tmp_path / "out2"
    _quick_run(monkeypatch, _gains(out2, "manifest.json", "theirs"))
    result = runner.run(data, params, out=out2, echo=lambda _: None)
    assert result.status == "failed" and "gained files during the run" in result.error
    assert (out2 / "manifest.json").read_text() == "theirs"
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "gained files" in manifest["error"]
    assert not (result.run_dir / folders.LOCK).exists() or not folders.run_is_live(
        result.run_dir)
    with pytest.raises(InputError, match="a run that ended left"):
        folders.reserve_out(out2)


def test_a_vanished_folder_is_reported_truthfully(tmp_path, monkeypatch):
    data, params = _tiny(tmp_path)
    _quick_run(monkeypatch, lambda work: __import__("shutil").rmtree(work))
    result = runner.run(data, params, outputs_root=tmp_path / "o", echo=lambda _: None)
    assert result.status == "failed" and not result.marked
    assert "\n" not in result.error


def test_a_file_system_gone_read_only_mid_run_is_reported_truthfully(tmp_path, monkeypatch,
                                                                      capsys):
    """The outputs' file system is remounted read-only while the notebooks run: the run
    cannot record its end, and says so instead of "marked failed"."""
    with _mounted(tmp_path / "disk") as disk:
        data, params = _tiny(tmp_path)

        def read_only(work):
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

        _quick_run(monkeypatch, read_only)
        args = type("Args", (), {"data": str(data), "params": str(params), "out": None,
                                 "outputs": str(disk)})
        code = runner.main_run(args, {})
        err = capsys.readouterr().err
        assert code == 1
        line = [x for x in err.splitlines() if x.startswith("error:")]
        assert len(line) == 1 and "Read-only file system" in line[0], err
        assert "marked failed" not in line[0] and "could not be updated" in line[0]


# -- 4. the input is pinned ------------------------------------------------------------------

def test_a_data_file_replaced_during_the_run_fails_it(tmp_path, monkeypatch):
    data, params = _tiny(tmp_path)

    def replace_it(work):
        other = tmp_path / "other.csv"
        other.write_text(TINY + "3,2020-03-01,99.00\n")
        os.replace(other, data)

    _quick_run(monkeypatch, replace_it)
    outputs = tmp_path / "o"
    result = runner.run(data, params, outputs_root=outputs, echo=lambda _: None)
    assert result.status == "failed" and "data file changed during the run" in result.error
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert not (outputs / "latest").exists()


def test_a_notebook_never_recomputes_stage1_from_a_changed_file(tmp_path):
    data, params = _tiny(tmp_path)
    p = config.typed(config.resolve(params))
    work = tmp_path / "run"
    work.mkdir()
    pipeline.stage1(work, data, p)
    (work / "manifest.json").write_text('{"status": "running"}')  # a runner's folder
    data.write_text(TINY + "3,2020-03-01,99.00\n")
    with pytest.raises(InputError, match="changed after this run's transaction stage"):
        pipeline.stage1(work, data, p)


# -- 5. readers bounded ------------------------------------------------------------------------

def _sheet(path: Path, far: str | None = None) -> None:
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["cid", "day", "amt"])
    ws.append(["1", "2020-01-02", 10.5])
    ws.append(["2", "2020-01-03", 4.0])
    if far:
        ws[far] = "x"
    wb.save(path)


def test_a_stray_cell_at_the_sheet_corner_is_refused_before_reading(tmp_path, capsys):
    data, params = _tiny(tmp_path)
    book = tmp_path / "far.xlsx"
    _sheet(book, "XFD1048576")
    assert book.stat().st_size < 10_000
    code, _, err = _check(capsys, str(book), "--params", str(params))
    _one_error_line(code, err, "spans 17,179,869,184 cells")


def test_a_deflate_bomb_workbook_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    _, params = _tiny(tmp_path)
    small = tmp_path / "small.xlsx"
    _sheet(small)
    bomb = tmp_path / "bomb.xlsx"
    monkeypatch.setattr(bounds, "MAX_WORKBOOK_BYTES", 64 << 20)  # the same check, a smaller file
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, sep, rest = data.partition(b"<sheetData>")
                data = head + sep + b" " * (80 << 20) + rest
            out.writestr(info.filename, data)
    assert bomb.stat().st_size < 1 << 20
    code, _, err = _check(capsys, str(bomb), "--params", str(params))
    _one_error_line(code, err, "inflates to", "Export the sheet as CSV")


def test_nested_parquet_columns_are_refused_by_name(tmp_path, capsys):
    _, params = _tiny(tmp_path)
    path = tmp_path / "list.parquet"
    pq.write_table(pa.table({"cid": pa.array([[1, 2], [3], [1]]),
                             "day": ["2020-01-02", "2020-01-03", "2020-02-10"],
                             "amt": [10.5, 4.0, 7.25]}), path)
    code, _, err = _check(capsys, str(path), "--params", str(params))
    _one_error_line(code, err, "column 'cid' holds nested values")


def test_parquet_pages_larger_than_memory_allows_are_refused(tmp_path, capsys, monkeypatch):
    _, params = _tiny(tmp_path)
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"cid": ["1"] * 100_000, "day": ["2020-01-02"] * 100_000,
                             "amt": [1.0] * 100_000}), path)
    monkeypatch.setattr(bounds, "memory_bytes", lambda: 1 << 16)
    code, _, err = _check(capsys, str(path), "--params", str(params))
    _one_error_line(code, err, "more than half this machine's memory")


def test_a_huge_cell_is_cut_in_the_error_line(tmp_path, capsys):
    _, params = _tiny(tmp_path)
    data = tmp_path / "huge.csv"
    data.write_text("cid,day,amt\n1,2020-01-02,10.50\n2," + "x" * 5_000_000 + ",4.00\n")
    code, _, err = _check(capsys, str(data), "--params", str(params))
    line = _one_error_line(code, err, "(5,000,002 characters)")
    assert len(line) < 3000


# -- 6. dates and zones ------------------------------------------------------------------------

@pytest.mark.parametrize("day", ["3024-01-01", "9999-12-31", "0001-01-01", "1677-01-01"])
@pytest.mark.parametrize("kind", ["csv", "xlsx", "parquet"])
def test_out_of_range_dates_go_to_the_implausible_dates_rule(tmp_path, capsys, day, kind):
    _, params = _tiny(tmp_path)
    when = dt.datetime.fromisoformat(day)
    frame = pd.DataFrame({"cid": ["1", "2", "1", "3"],
                          "day": ["2020-01-02", "2020-01-03", "2020-02-10", day],
                          "amt": [10.5, 4.0, 7.25, 5.0]})
    path = tmp_path / f"dates.{kind}"
    if kind == "csv":
        frame.to_csv(path, index=False)
    else:
        days = [dt.datetime(2020, 1, 2), dt.datetime(2020, 1, 3), dt.datetime(2020, 2, 10), when]
        if kind == "xlsx":
            import openpyxl
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.append(["cid", "day", "amt"])
            for row in zip(frame["cid"], days, frame["amt"]):
                # a workbook holds no date before 1900: an export writes such a date as text
                ws.append([row[0], row[1] if row[1].year >= 1900 else day, row[2]])
            wb.save(path)
        else:
            pq.write_table(pa.table({"cid": frame["cid"],
                                     "day": pa.array(days, pa.timestamp("us")),
                                     "amt": frame["amt"]}), path)
    code, out, err = _check(capsys, str(path), "--params", str(params))
    assert code == 0, err
    assert "Traceback" not in err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if len(line.split()) == 3}
    assert rows["implausible_dates"] == ["1", "5.00"] and rows["kept"] == ["3", "21.75"]


def test_time_zones_become_utc(tmp_path, capsys):
    _, params = _tiny(tmp_path)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("cid,day,amt\n1,2020-01-02T01:00:00+02:00,10.50\n"
                     "2,2020-01-03T23:00:00-05:00,4.00\n1,2020-02-10,7.25\n")
    zoned = tmp_path / "zoned.parquet"
    pq.write_table(pa.table({"cid": ["1", "2", "1"],
                             "day": pa.array([dt.datetime(2020, 1, 1, 23),
                                              dt.datetime(2020, 1, 3, 12),
                                              dt.datetime(2020, 2, 10, 12)],
                                             pa.timestamp("us", tz="UTC")),
                             "amt": [10.5, 4.0, 7.25]}), zoned)
    p = config.typed(config.resolve(params))
    for path, first in [(mixed, "2020-01-01 23:00:00"), (zoned, "2020-01-01 23:00:00")]:
        tx = load.load_transactions(path, p.read)
        assert str(tx["date"].iloc[0]) == first
        assert tx["date"].dt.tz is None
        code, _, err = _check(capsys, str(path), "--params", str(params))
        assert code == 0, err


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_time_of_day_alone_is_no_date(tmp_path, capsys, kind):
    _, params = _tiny(tmp_path)
    path = tmp_path / f"times.{kind}"
    if kind == "csv":
        path.write_text(TINY + "3,10:30,5.00\n")
    else:
        import openpyxl
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["cid", "day", "amt"])
        ws.append(["1", dt.datetime(2020, 1, 2), 10.5])
        ws.append(["3", dt.time(10, 30), 5.0])
        wb.save(path)
    code, _, err = _check(capsys, str(path), "--params", str(params))
    line = _one_error_line(code, err, "could not be read as a date")
    assert "10:30" in line or "time(10, 30)" in line


# -- 8. ledgers: the file's own total, the same on every engine, headers neutralised -------

@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_the_input_line_is_the_files_own_total(tmp_path, capsys, engine):
    data = tmp_path / "prices.csv"
    data.write_text("cid,day,q,p\n" + "".join(f"{i % 50},2020-01-{1 + i % 28:02d},1,0.12345\n"
                                             for i in range(20_000)))
    params = tmp_path / "qp.yaml"
    params.write_text("columns: {customer_id: cid, date: day, quantity: q, unit_price: p}\n"
                      "drop_duplicates: false\n")
    code, out, err = _check(capsys, str(data), "--params", str(params), "-p", f"engine={engine}")
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if len(line.split()) == 3}
    assert rows["input"] == ["20000", "2469.0"] and rows["rounding"] == ["0", "69.0"]
    assert rows["kept"] == ["20000", "2400.0"]


def test_pandas_and_duckdb_ledgers_agree_on_sub_cent_amounts(tmp_path, capsys):
    data = tmp_path / "sub.csv"
    data.write_text("cid,day,amt\n1,2020-01-02,10.50\n2,2020-01-03,-0.004\n1,2020-02-10,7.25\n"
                    "2,2020-02-11,3.00\n3,2020-02-12,0.004\n3,2020-02-13,-0.006\n"
                    "3,2020-02-14,0.005\n4,2020-02-15,-0.005\n")
    _, params = _tiny(tmp_path)
    outs = {}
    for engine in ("pandas", "duckdb"):
        code, out, err = _check(capsys, str(data), "--params", str(params), "-p",
                                f"engine={engine}")
        assert code == 0, err
        outs[engine] = [line for line in out.splitlines() if len(line.split()) == 3]
    assert outs["pandas"] == outs["duckdb"]


def test_header_cells_are_neutralised_like_data_cells(tmp_path):
    from analysis.runfolder import write_csv
    frame = pd.DataFrame({"customer_id": ["=1+1"], '=HYPERLINK("http://x","y")': ["DE"]})
    path = tmp_path / "t.csv"
    write_csv(frame, path, safe=True)
    header, row = path.read_text().splitlines()
    assert header.split(",")[1].startswith("\"'=HYPERLINK") or \
        header.split(",")[1].startswith("'=HYPERLINK"), header
    assert row.startswith("'=1+1")


def test_the_cli_never_shows_a_traceback_for_these(tmp_path):
    """A few of the cases above through the real command, as a user meets them."""
    data, params = _tiny(tmp_path)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for extra in (["-p", "seed=.inf"], ["-p", "observation_end=9999-12-31"],
                  ["-p", "duckdb_config={threads: -1}"]):
        proc = subprocess.run([sys.executable, "-m", "analysis", "run", str(data), "--params",
                               str(params), "--outputs", str(tmp_path / "o"), *extra],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@pytest.mark.parametrize("day", ["2019-06-01", "2020-02-10", "2021-01-01"])
def test_a_calibration_end_outside_the_window_is_one_line(tmp_path, capsys, engine, day):
    data, params = _tiny(tmp_path)
    code, _, err = _check(capsys, str(data), "--params", str(params), "-p",
                          f"calibration_end={day}", "-p", f"engine={engine}")
    _one_error_line(code, err, f"calibration_end {day} is outside the data's window")


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_dates_beyond_the_engines_with_the_rule_off_are_refused(tmp_path, capsys, engine):
    data, params = _tiny(tmp_path, TINY + "3,3024-01-01,5.00\n")
    code, _, err = _check(capsys, str(data), "--params", str(params), "-p",
                          "drop_implausible_dates=false", "-p", f"engine={engine}")
    _one_error_line(code, err, "1 row(s) are dated before 1677-09-22 or after 2262-04-10")
    data.write_text(TINY + "3,1850-01-01,5.00\n")  # before 1900, kept as asked
    code, out, err = _check(capsys, str(data), "--params", str(params), "-p",
                            "drop_implausible_dates=false", "-p", f"engine={engine}")
    assert code == 0, err


def test_zoned_texts_give_the_same_days_on_pandas_and_duckdb(tmp_path):
    data, params = _tiny(tmp_path, "cid,day,amt\n1,2020-01-02T01:00:00+02:00,10.50\n"
                         "2,2020-01-03T23:00:00-05:00,4.00\n1,2020-02-10 12:00:00Z,7.25\n"
                         "3,2020-02-11,1.00\n")
    tables = []
    for engine in ("pandas", "duckdb"):
        p = config.typed(config.resolve(params, {"engine": engine}))
        _, customers, _ = pipeline.transaction_stage(data, p)
        tables.append(customers[["first_purchase", "last_purchase", "revenue"]]
                      .reset_index(drop=True))
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert str(tables[0].loc[1, "first_purchase"].date()) == "2020-01-04"



@pytest.mark.slow
def test_sigterm_to_the_process_group_during_notebook_01_prints_no_traceback(tmp_path):
    """An input of 32 MB or more gets its kernel started during the transaction stage; a
    SIGTERM to the whole process group (a terminal, a container stop) while notebook 01
    runs ends the run in one line, the kernel's ZMQ channels silent."""
    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("cid,day,amt\n")
        for i in range(1_700_000):
            fh.write(f"{i % 50000},2020-{1 + i % 12:02d}-{1 + i % 28:02d},{i % 97}.5\n")
    assert big.stat().st_size >= runner.EARLY_KERNEL_BYTES
    _, params = _tiny(tmp_path)
    outputs = tmp_path / "o"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "run", str(big), "--params",
                             str(params), "--outputs", str(outputs)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        found = list(outputs.glob(".*.partial/manifest.json"))
        try:
            if found and any(n["status"] == "running" for n in
                             json.loads(found[0].read_text())["notebooks"]):
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("notebook 01 never started")
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert [x for x in stderr.splitlines() if x.strip()] == \
        [x for x in stderr.splitlines() if x.startswith("error:")]


def test_a_file_system_without_locks_falls_back_to_pid_and_age(tmp_path, monkeypatch):
    outputs = tmp_path / "outputs"
    work = _partial(outputs, "e", json.dumps({"status": "running", "pid": os.getpid(),
                                              **folders.boot_identity()}))

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(folders.fcntl, "flock", no_locks)
    lock = folders.RunLock(work)
    assert lock.fd is None and not (work / folders.LOCK).exists()
    assert folders.run_is_live(work)  # this process, on this boot: alive
    (work / folders.LOCK).write_text("")  # a lock file nobody can lock here
    assert folders.run_is_live(work)
    assert folders.sweep_stale(outputs) == []
