"""The bad-input corpus (tests/bad_inputs/cases.yaml) through the real CLI.

Every case ends in exit 2 with one line naming the problem, or exit 0 with the expected
warnings and ledger rows; never a traceback. The input file is never modified and
nothing is written beside it."""
import json
import shutil

import pytest
import yaml

from analysis.stage1 import load
from conftest import ROOT, run_cli

CORPUS = ROOT / "tests" / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
BASE = {"columns": {"customer_id": "cid", "date": "day", "amount": "amt"}}


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert sum(c["exit"] == 2 for c in CASES) >= 20 and sum(c["exit"] == 0 for c in CASES) >= 15


def _ledger_from_check(stdout: str) -> dict[str, int]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            rows[parts[0]] = int(parts[1])
    return rows


def cli(args, capsys):
    """``check`` runs in this process through the CLI's own ``main`` (no interpreter start-up
    per case); ``run`` cases start the real command in a subprocess."""
    if args[0] == "check":
        from analysis.__main__ import main
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    proc = run_cli(*args)
    return proc.returncode, proc.stdout, proc.stderr


#: a case that ends in a whole run (every notebook, ~40 s) is an end-to-end run: marked slow
PARAMS = [pytest.param(c, id=c["name"], marks=[pytest.mark.slow] if c["command"] == "run"
                       and c["exit"] == 0 else []) for c in CASES]


@pytest.mark.parametrize("case", PARAMS)
def test_case(case, tmp_path, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if case["file"] and (CORPUS / "files" / case["file"]).exists():
        data = data_dir / case["file"]
        shutil.copy(CORPUS / "files" / case["file"], data)
        data.chmod(0o444)  # raw data is read-only, as in a real checkout
    elif case["file"]:
        data = data_dir / case["file"]  # does not exist
    else:
        data = data_dir  # a directory
    params = tmp_path / "p.yaml"
    if "__raw__" in case["params"]:
        params.write_text(yaml.safe_dump(BASE) + case["params"]["__raw__"])
    else:
        params.write_text(yaml.safe_dump({**BASE, **case["params"]}))
    before = load.sha256(data) if data.is_file() else None
    listing = sorted(p.name for p in data_dir.iterdir())

    out = tmp_path / "run"
    if case["command"] == "check":
        args = ["check", str(data), "--params", str(params)]
    elif case["command"] == "run-unwritable":
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        args = ["run", str(data), "--params", str(params), "--out", str(blocker / "run")]
    else:
        args = ["run", str(data), "--params", str(params), "--out", str(out)]
    code, stdout, stderr = cli(args, capsys)

    assert "Traceback" not in stderr + stdout, stderr[-2000:]
    assert code == case["exit"], stderr[-2000:] + stdout[-1000:]
    if case["exit"] == 2:
        message = stderr.strip()
        assert message.startswith("error: ") and "\n" not in message, message
        for part in case["contains"]:
            assert part in message, (part, message)
        assert not out.exists()
    else:
        if case["command"] == "check":
            ledger = _ledger_from_check(stdout)
            warnings = [line for line in stdout.splitlines() if line.startswith("warning:")]
        else:
            manifest = json.loads((out / "manifest.json").read_text())
            assert manifest["status"] == "ok"
            warnings = manifest["warnings"]
            import pandas as pd
            ledger = pd.read_csv(out / "cleaning_ledger.csv").set_index("step")["rows"].to_dict()
        for step, rows in case["ledger"].items():
            assert ledger[step] == rows, (step, ledger)
        for part in case["warnings"]:
            assert any(part in w for w in warnings), (part, warnings)
        if not case["warnings"]:
            assert not warnings, warnings
    if before:
        assert load.sha256(data) == before
    assert sorted(p.name for p in data_dir.iterdir()) == listing  # nothing written beside it
