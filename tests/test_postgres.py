"""PostgreSQL in and out against a real server (``make postgres``, or one the ``postgres``
fixture starts): CDNOW loaded into a table gives the file run's customer table and ledger
byte for byte, the write-back reads back equal to customers.parquet, and a wrong password,
a missing table, a query that is not one SELECT and a foreign target table are one line and
exit 2."""
from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest

from analysis.stage1 import database
from conftest import CDNOW, run_cli

pytestmark = pytest.mark.postgres

PARAMS = """dataset: cdnow
columns: {customer_id: customer_id, date: date, quantity: number_of_cds, amount: dollar_value}
currency: USD
time_unit: week
drop_duplicates: false
drop_non_positive_price: false
calibration_end: "1997-09-30"
"""


@pytest.fixture(scope="module")
def loaded(postgres, tmp_path_factory):
    """CDNOW in a table of real types (text, date, integer, numeric), as a warehouse holds it."""
    url, password = postgres
    os.environ["PGPASSWORD"] = password
    raw = pd.read_csv(CDNOW, sep=r"\s+", dtype=str)
    conn = database.connect(url)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS cdnow")
    cur.execute("CREATE TABLE cdnow (customer_id text, date date, number_of_cds integer, "
                "dollar_value numeric(10,2))")
    cur.execute("CREATE SCHEMA IF NOT EXISTS crm")
    cur.adbc_ingest("cdnow_text", pa.Table.from_pandas(raw, preserve_index=False),
                    mode="create", temporary=True)
    cur.execute("INSERT INTO cdnow SELECT customer_id, to_date(date, 'YYYYMMDD'), "
                "number_of_cds::integer, dollar_value::numeric FROM cdnow_text")
    conn.commit()
    conn.close()
    params = tmp_path_factory.mktemp("pg") / "cdnow_pg.yaml"
    params.write_text(PARAMS + "table: cdnow\n")
    return url, params


def test_a_table_gives_the_file_runs_tables_byte_for_byte_and_the_write_back_equals_them(
        loaded, cdnow_run, tmp_path):
    url, params = loaded
    out = tmp_path / "pg"
    proc = run_cli("run", url, "--params", str(params), "--out", str(out),
                   "-p", "export_postgres={table: crm.customers}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = cdnow_run[0]
    for name in ("customers.csv", "cleaning_ledger.csv"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    manifest = pd.read_json(out / "manifest.json", typ="series")
    assert manifest["input"]["rows"] == 69659 and len(manifest["input"]["sha256"]) == 64
    assert os.environ["PGPASSWORD"] not in (out / "manifest.json").read_text()
    back = database.read_back(url, "crm.customers")
    parquet = pd.read_parquet(out / "customers.parquet")
    for col in parquet.columns:
        if isinstance(parquet[col].dtype, pd.CategoricalDtype):
            parquet[col] = parquet[col].astype("str")
    pd.testing.assert_frame_equal(back, parquet, check_dtype=False)
    lists = database.read_back(url, "crm.customers_campaigns")
    assert len(lists) == parquet["recommended_action"].notna().sum()
    # a second run replaces the table it wrote (in one transaction), never another
    conn = database.connect(url)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS crm.foreign_table")
    cur.execute("CREATE TABLE crm.foreign_table (x integer)")
    conn.commit()
    conn.close()
    proc = run_cli("run", url, "--params", str(params), "--out", str(tmp_path / "again"),
                   "-p", "export_postgres={table: crm.foreign_table}")
    assert proc.returncode == 2 and "no run wrote" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_duckdb_engine_streams_the_same_rows(loaded):
    from analysis import config
    from analysis.stage1_cache import transaction_stage
    url, params = loaded
    got = {e: transaction_stage(url, config.typed({**config.resolve(params), "engine": e}))
           for e in ("pandas", "duckdb")}
    pd.testing.assert_frame_equal(got["pandas"][0], got["duckdb"][0])
    pd.testing.assert_frame_equal(got["pandas"][1], got["duckdb"][1])
    assert got["pandas"][2].read_digest == got["duckdb"][2].read_digest


@pytest.mark.parametrize("args, expected", [
    (["-p", "table=no_such_table"], "no_such_table"),
    (["-p", "query=select * from cdnow; drop table cdnow"], "one SELECT"),
    (["-p", "query=delete from cdnow"], "one SELECT"),
])
def test_a_missing_table_or_a_query_that_writes_is_one_line(loaded, tmp_path, args, expected):
    url, params = loaded
    plain = tmp_path / "plain.yaml"
    plain.write_text(PARAMS)
    proc = run_cli("run", url, "--params", str(plain), "--out", str(tmp_path / "x"), *args)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_wrong_password_is_one_line_and_no_password_is_written(loaded, tmp_path,
                                                                  monkeypatch):
    url, params = loaded
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    proc = run_cli("run", url, "--params", str(params), "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "password authentication failed" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    with_password = url.replace("analysis@", "analysis:secret@")
    proc = run_cli("run", with_password, "--params", str(params), "--out", str(tmp_path / "y"))
    assert proc.returncode == 2 and "holds a password" in proc.stderr
    assert "secret" not in proc.stderr
