"""CLI errors beyond the bad-input corpus (tests/bad_inputs): overrides, existing output."""

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
