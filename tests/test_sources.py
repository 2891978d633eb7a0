"""Data where it lives (issue 35): several files on every engine, lookups joined on a key,
row filters as a rule of the ledger, amounts checked against quantity × unit price, and the
query engines' reading errors as one line."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis import config
from analysis.errors import InputError
from analysis.stage1.engine import check_source
from analysis.stage1_cache import transaction_stage
from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import make_erp_files  # noqa: E402  (the fixture's builder)

ENGINES = ["pandas", "duckdb"]


@pytest.fixture(scope="module")
def erp(tmp_path_factory):
    """(folder of three yearly sales files, the products table, the hand-joined file)."""
    base = tmp_path_factory.mktemp("erp")
    files, products = make_erp_files.write(base / "sales")
    hand = base / "hand_joined.csv"
    make_erp_files.hand_joined(files, products).to_csv(hand, index=False)
    return base / "sales", products, hand


def params(products: Path | None = None, **more):
    values = dict(make_erp_files.PARAMS)
    if products is None:
        values = {k: v for k, v in values.items() if k not in ("lookups", "exclude_rows")}
    else:
        values["lookups"] = [{"file": str(products), "key": "ProductKey"}]
    return config.typed({**values, **more})


@pytest.mark.parametrize("engine", ENGINES)
def test_three_files_and_a_products_table_give_the_hand_joined_ledger(erp, engine):
    folder, products, hand = erp
    ledger, customers, agg = transaction_stage(folder, params(products, engine=engine))
    ref_ledger, ref_customers, _ = transaction_stage(hand, params(engine=engine))
    steps, ref = ledger.set_index("step"), ref_ledger.set_index("step")
    assert steps.at["excluded_rows", "rows"] == make_erp_files.CANCELLED
    assert steps.at["excluded_rows", "cents"] > 0  # quantity × the lookup's price
    assert steps.at["unmatched_lookup", "rows"] == make_erp_files.RETIRED
    left_out = steps.loc[["excluded_rows", "unmatched_lookup"]].sum()
    assert steps.at["input", "rows"] - left_out["rows"] == ref.at["input", "rows"]
    assert steps.at["input", "cents"] - left_out["cents"] == ref.at["input", "cents"]
    rest = [s for s in ref.index if s not in ("input", "excluded_rows", "unmatched_lookup")]
    pd.testing.assert_frame_equal(steps.loc[rest], ref.loc[rest])
    pd.testing.assert_frame_equal(customers, ref_customers)
    files = agg.sources
    assert files["file"].tolist() == ["sales_2021.csv", "sales_2022.csv", "sales_2023.csv"]
    assert files["rows"].sum() == steps.at["input", "rows"]
    assert files["cents"].sum() == steps.at["input", "cents"] - steps.at["rounding", "cents"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_glob_reads_the_same_rows_as_the_folder(erp, engine):
    folder, products, _ = erp
    a = transaction_stage(folder, params(products, engine=engine))[0]
    b = transaction_stage(str(folder / "sales_*.csv"), params(products, engine=engine))[0]
    pd.testing.assert_frame_equal(a, b)


def test_a_file_with_other_columns_is_refused_by_name(erp, tmp_path):
    folder, products, _ = erp
    copy = tmp_path / "sales"
    shutil.copytree(folder, copy)
    odd = pd.read_csv(copy / "sales_2022.csv", dtype=str).rename(columns={"STATUS": "Status"})
    odd.to_csv(copy / "sales_2022.csv", index=False)
    with pytest.raises(InputError, match="other columns") as err:
        check_source(copy, params(products))
    assert err.value.file.endswith("sales_2022.csv") and "STATUS" in err.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lookup_key_that_is_not_unique_is_refused(erp, tmp_path, engine):
    folder, products, _ = erp
    table = pd.read_csv(products, dtype=str)
    twice = tmp_path / "products.csv"
    pd.concat([table, table.iloc[:1]]).to_csv(twice, index=False)
    with pytest.raises(InputError, match="not unique") as err:
        transaction_stage(folder, params(twice, engine=engine))
    assert err.value.file == str(twice) and err.value.column == "ProductKey"


def test_a_pattern_filter_and_a_column_nowhere(erp):
    folder, products, _ = erp
    by_pattern = params(products, exclude_rows={"STATUS": {"pattern": "^cancel|^Cancel"}})
    steps = transaction_stage(folder, by_pattern)[0].set_index("step")
    assert steps.at["excluded_rows", "rows"] == make_erp_files.CANCELLED
    with pytest.raises(InputError, match="'Colour' is not in the file or its lookups"):
        transaction_stage(folder, params(products, dimensions=["Colour"]))


@pytest.mark.parametrize("engine", ENGINES)
def test_amounts_that_are_not_quantity_times_price_are_warned(tmp_path, engine):
    rows = pd.DataFrame({"c": ["1", "2", "3", "4"], "d": ["2023-01-02"] * 4,
                         "q": ["2", "1", "3", "1"], "p": ["100.00", "100.00", "5.00", "7.50"],
                         "a": ["250.00", "180.00", "15.00", "7.50"]})  # price capped at 100
    data = tmp_path / "b2b.csv"
    rows.to_csv(data, index=False)
    cfg = config.typed({"columns": {"customer_id": "c", "date": "d", "quantity": "q",
                                    "unit_price": "p", "amount": "a"}, "engine": engine})
    warnings: list = []
    transaction_stage(data, cfg, warnings)
    said = [str(w) for w in warnings if str(w).startswith("AMOUNTS DISAGREE")]
    assert len(said) == 1
    assert "on 2 of 4 rows (50.0%)" in said[0] and "452.50 against 322.50" in said[0]
    assert "customer_id=2" in said[0]  # the earliest, then the smallest amount


def test_duckdb_names_the_file_that_is_not_utf8_and_takes_amount_as_quantity(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "a.csv").write_text("cid,day,amt\n1,2020-01-01,10.5\n2,2020-01-03,5\n")
    (folder / "b.csv").write_bytes(b"cid,day,amt\n3,2020-01-01,4\xe9\n")
    cfg = config.typed({"columns": {"customer_id": "cid", "date": "day", "amount": "amt"},
                        "engine": "duckdb"})
    with pytest.raises(InputError, match="not UTF-8") as err:
        transaction_stage(folder, cfg)
    assert err.value.file.endswith("b.csv")
    (folder / "b.csv").unlink()
    same = cfg.replace(columns={"customer_id": "cid", "date": "day", "amount": "amt",
                                "quantity": "amt", "unit_price": "amt"})
    ledger = {e: transaction_stage(folder, same.replace(engine=e))[0] for e in ENGINES}
    pd.testing.assert_frame_equal(ledger["pandas"], ledger["duckdb"])


@pytest.mark.slow
def test_the_cli_runs_the_erp_folder_with_one_parameter_file(erp, tmp_path):
    folder, products, _ = erp
    values = dict(make_erp_files.PARAMS, lookups=[{"file": str(products), "key": "ProductKey"}])
    p = tmp_path / "erp.yaml"
    p.write_text(yaml.safe_dump(values))
    proc = run_cli("run", str(folder), "--params", str(p), "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    ledger = pd.read_csv(tmp_path / "run" / "cleaning_ledger.csv").set_index("step")
    assert ledger.at["excluded_rows", "rows"] == make_erp_files.CANCELLED
    metrics = pd.read_json(tmp_path / "run" / "metrics.json", typ="series")
    assert [f["file"] for f in metrics["cleaning"]["files"]] == \
        ["sales_2021.csv", "sales_2022.csv", "sales_2023.csv"]
