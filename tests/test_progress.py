"""The transaction stage's progress lines (``analysis.progress``): said on the command line
once a stage runs longer than a few seconds, silent otherwise and outside the CLI."""
import io
import time

from analysis import config, progress
from analysis.stage1_cache import transaction_stage
from conftest import ROOT


def test_steps_are_said_after_the_quiet_seconds(monkeypatch):
    monkeypatch.setattr(progress, "QUIET_FOR", 0.0)
    monkeypatch.setattr(progress, "LOG_EVERY", 0.05)
    out = io.StringIO()
    with progress.reporting(out):
        progress.step("reading")
        progress.step("cleaning", rows=10_000_000)
        time.sleep(0.2)  # a step that runs on is said again, with its time
        progress.done()
        said = out.getvalue()
        time.sleep(0.2)
        assert out.getvalue() == said  # after the stage, nothing more
    lines = said.splitlines()
    assert lines[0].startswith("  stage 1: reading (")
    assert "cleaning (10,000,000 rows)" in lines[1]
    assert sum("cleaning" in line for line in lines) >= 2


def test_a_short_stage_and_a_notebook_say_nothing(capsys):
    cfg = config.typed({"columns": {"customer_id": "cid", "date": "day", "amount": "amt"}})
    data = ROOT / "tests" / "bad_inputs" / "files" / "good.csv"
    out = io.StringIO()
    with progress.reporting(out):  # the CLI's: a stage of a second says nothing
        transaction_stage(data, cfg, [])
    transaction_stage(data, cfg, [])  # no reporting (a notebook): nothing either
    assert out.getvalue() == "" and capsys.readouterr().err == ""


def test_recording_gives_each_steps_seconds():
    cfg = config.typed({"columns": {"customer_id": "cid", "date": "day", "amount": "amt"}})
    with progress.recording() as steps:
        transaction_stage(ROOT / "tests" / "bad_inputs" / "files" / "good.csv", cfg, [])
    names = [name for name, _ in steps]
    assert names[:2] == ["reading and typing", "cleaning"]
    assert "aggregates for the notebooks" in names
    assert all(seconds >= 0 for _, seconds in steps)
