"""Bad input through the real CLI: exit 2, one readable paragraph, nothing written."""
import pytest

from conftest import RETAIL_PARAMS, run_cli

PARAMS = "columns: {customer_id: cid, date: day, amount: amt}\nsep: ','\n"


def case(tmp_path, data: str | bytes | None, params: str = PARAMS, name="data.csv"):
    p = tmp_path / "p.yaml"
    p.write_text(params)
    d = tmp_path / name
    if isinstance(data, bytes):
        d.write_bytes(data)
    elif data is not None:
        d.write_text(data)
    return d, p


CASES = {
    "empty file": (b"", PARAMS, ["empty"]),
    "header only": ("cid,day,amt\n", PARAMS, ["no data rows"]),
    "missing mapped column": ("cid,day,total\n1,2020-01-01,3\n", PARAMS,
                              ["'amt'", "not in the file", "columns are"]),
    "unparseable dates": ("cid,day,amt\n1,2020-01-01,3\n2,31/31/2020,4\n", PARAMS,
                          ["'day'", "could not be read as a date", "line 3", "31/31/2020"]),
    "text in amount": ("cid,day,amt\n1,2020-01-01,3\n2,2020-01-02,ten\n", PARAMS,
                       ["'amt'", "not a finite number", "ten"]),
    "wrong separator": ("cid;day;amt\n1;2020-01-01;3\n", PARAMS,
                        ["separator ',' is probably wrong"]),
    "unknown parameter": ("cid,day,amt\n1,2020-01-01,3\n", PARAMS + "colour: blue\n",
                          ["unknown parameter 'colour'", "p.yaml"]),
    "bad parameter value": ("cid,day,amt\n1,2020-01-01,3\n", PARAMS + "time_unit: fortnight\n",
                            ["'time_unit'", "one of"]),
    "yaml python tag": ("cid,day,amt\n1,2020-01-01,3\n",
                        PARAMS + "dataset: !!python/object/apply:os.getcwd []\n",
                        ["not valid safe YAML"]),
    "all rows cleaned away": ("cid,day,amt\n,2020-01-01,3\n,2020-01-02,4\n", PARAMS,
                              ["cleaning removed every row", "missing_customer_id 2"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_a_message(tmp_path, name):
    data, params, expected = CASES[name]
    d, p = case(tmp_path, data, params)
    out = tmp_path / "run"
    proc = run_cli("run", str(d), "--params", str(p), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    msg = proc.stderr.strip()
    assert msg.startswith("error: ") and msg.count("\n") == 0, msg
    for part in expected:
        assert part in msg, (part, msg)
    assert not out.exists()


def test_missing_file_and_directory(tmp_path):
    _, p = case(tmp_path, None)
    for target, text in ((tmp_path / "nope.csv", "not found"), (tmp_path, "directory")):
        proc = run_cli("run", str(target), "--params", str(p))
        assert proc.returncode == 2 and text in proc.stderr and "Traceback" not in proc.stderr


def test_bad_override(tmp_path):
    d, p = case(tmp_path, "cid,day,amt\n1,2020-01-01,3\n")
    proc = run_cli("run", str(d), "--params", str(p), "-p", "seed=minus one")
    assert proc.returncode == 2 and "'seed'" in proc.stderr and "whole number" in proc.stderr
    proc = run_cli("run", str(d), "--params", str(p), "-p", "sede=1")
    assert proc.returncode == 2 and "Did you mean 'seed'" in proc.stderr


def test_existing_output_folder_is_never_overwritten(tmp_path):
    out = tmp_path / "old-run"
    out.mkdir()
    (out / "customers.csv").write_text("precious")
    from conftest import RETAIL
    proc = run_cli("run", str(RETAIL), "--params", str(RETAIL_PARAMS), "--out", str(out))
    assert proc.returncode == 2 and "already exists" in proc.stderr
    assert (out / "customers.csv").read_text() == "precious"
