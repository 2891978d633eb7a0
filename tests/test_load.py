import pandas as pd
import pytest

from analysis import config
from analysis.stage1 import load
from analysis.errors import InputError
from conftest import CDNOW, RETAIL

PARAMS = config.typed({"columns": {"customer_id": "cid", "date": "day", "amount": "amt"}})
CFG = PARAMS.read


def write(tmp_path, text, name="t.csv", **kw):
    p = tmp_path / name
    p.write_text(text, **kw)
    return p


def test_cdnow_loads_with_ids_as_text(cdnow_params):
    tx = load.load_transactions(CDNOW, cdnow_params.read)
    assert len(tx) == 69659 and tx["customer_id"].nunique() == 23570
    assert tx["customer_id"].iloc[0] == "00001"  # leading zeros kept
    assert tx["date"].min() == pd.Timestamp("1997-01-01")
    assert tx["date"].max() == pd.Timestamp("1998-06-30")
    assert round(tx["amount"].sum(), 2) == 2500315.63


def test_retail_amount_is_quantity_times_price_to_the_cent(retail_params):
    tx = load.load_transactions(RETAIL, retail_params.read)
    assert {"order_id", "product_code", "quantity", "unit_price", "Country"} <= set(tx)
    expected = (tx["quantity"] * tx["unit_price"]).round(2)
    assert (tx["amount"] == expected).all()
    assert tx["date"].dt.hour.max() > 0  # times kept
    assert tx["customer_id"].isna().sum() > 0  # missing ids reach the cleaning rule


def test_bom_and_semicolon_are_detected(tmp_path):
    p = write(tmp_path, "\ufeffcid;day;amt\n007;2020-01-02;3.5\n", encoding="utf-8")
    tx = load.load_transactions(p, CFG)
    assert tx["customer_id"].tolist() == ["007"] and tx["amount"].tolist() == [3.5]


@pytest.mark.parametrize("text,column,match", [
    ("cid,day,amt\n1,2020-01-02,3\n2,not a date,4\n", "day", "could not be read as a date"),
    ("cid,day,amt\n1,2020-01-02,3\n2,2020-01-03,lots\n", "amt", "not a finite number"),
    ("cid,day,amt\n1,2020-01-02,3\n2,2020-01-03,inf\n", "amt", "not a finite number"),
    ("cid,day,amount\n1,2020-01-02,3\n", "amt", "not in the file"),
])
def test_bad_values_name_file_column_and_row(tmp_path, text, column, match):
    p = write(tmp_path, text)
    with pytest.raises(InputError, match=match) as err:
        load.load_transactions(p, CFG)
    assert err.value.column == column and err.value.file == str(p)
    if "row" in match or "date" in match or "number" in match:
        assert err.value.row and err.value.line == 3


def test_wrong_separator_hint(tmp_path):
    p = write(tmp_path, "cid|day|amt\n1|2020-01-02|3\n")
    with pytest.raises(InputError, match="separator ',' is probably wrong"):
        load.load_transactions(p, PARAMS.replace(sep=",").read)


def test_empty_header_only_directory_missing(tmp_path):
    with pytest.raises(InputError, match="empty"):
        load.load_transactions(write(tmp_path, ""), CFG)
    with pytest.raises(InputError, match="no data rows"):
        load.load_transactions(write(tmp_path, "cid,day,amt\n", "h.csv"), CFG)
    with pytest.raises(InputError, match="empty"):  # a folder is read file by file
        load.load_transactions(tmp_path, CFG)
    with pytest.raises(InputError, match="not found"):
        load.load_transactions(tmp_path / "nope.csv", CFG)


def test_parquet_and_xlsx(tmp_path):
    df = pd.DataFrame({"cid": ["01", "02"], "day": pd.to_datetime(["2020-01-01", "2020-02-01"]),
                       "amt": [1.5, 2.25]})
    df.to_parquet(tmp_path / "t.parquet")
    tx = load.load_transactions(tmp_path / "t.parquet", CFG)
    assert tx["customer_id"].tolist() == ["01", "02"] and tx["amount"].sum() == 3.75
    df.to_excel(tmp_path / "t.xlsx", index=False)
    tx = load.load_transactions(tmp_path / "t.xlsx", CFG)
    assert tx["amount"].sum() == 3.75 and tx["date"].iloc[1] == pd.Timestamp("2020-02-01")


def test_raw_file_is_not_modified(tmp_path, cdnow_params):
    before = load.sha256(CDNOW)
    load.load_transactions(CDNOW, cdnow_params.read)
    assert load.sha256(CDNOW) == before


def test_a_repeated_header_is_found_in_the_arrow_read_columns(tmp_path):
    """The repeated-header check first searches the date column's bytes for the header's
    text; where it occurs, each cell is compared: the header again is refused, a cell that
    merely contains the text is data."""
    params = config.typed({"columns": {"customer_id": "cid", "date": "day", "amount": "amt"}})
    again = tmp_path / "again.csv"
    again.write_text("cid,day,amt\n1,2020-01-02,3\n cid , day ,amt\n2,2020-01-03,4\n")
    with pytest.raises(InputError, match="header line appears again"):
        load.read_raw(again, params.read)
    inside = tmp_path / "inside.csv"
    inside.write_text("cid,day,amt\n1,2020-01-02,3\n2,day one,4\n")
    raw = load.read_raw(inside, params.read)
    assert getattr(raw["day"].dtype, "storage", None) == "pyarrow" and len(raw) == 2
