"""Report pieces that need no run: the XLSX writer, the dictionary, the label tables."""
import warnings

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis import report


def test_xlsx_round_trip_with_openpyxl_and_calamine(tmp_path):
    df = pd.DataFrame({
        "customer_id": ["007", "A&B <c>", None],
        "day": pd.to_datetime(["1997-01-01", "2020-02-29", None]),
        "n": [1, 2, 3],
        "x": [0.1, np.nan, -1e-7],
        "label": ["汉字", "ctrl\x01char", "plain"],
    })
    path = tmp_path / "t.xlsx"
    report.write_xlsx(path, {"data": df, "empty": df.iloc[:0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # openpyxl must not complain about the file
        wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["data", "empty"]
    rows = list(wb["data"].values)
    assert rows[0] == tuple(df.columns)
    assert rows[1][0] == "007" and rows[2][0] == "A&B <c>" and rows[3][0] is None
    assert rows[1][1].date().isoformat() == "1997-01-01" and rows[3][1] is None
    assert rows[2][2] == 2 and rows[2][3] is None and rows[3][3] == pytest.approx(-1e-7)
    assert rows[1][4] == "汉字" and rows[2][4] == "ctrlchar"
    back = pd.read_excel(path, sheet_name="data", engine="calamine", dtype={"customer_id": str})
    assert back["n"].tolist() == [1, 2, 3]
    assert back["day"].iloc[1] == pd.Timestamp("2020-02-29")


def test_dictionary_units_follow_the_run():
    d = report.dictionary(["customer_id", "revenue", "T", "Country"], "en", "GBP", "week")
    assert d.set_index("column").loc["revenue", "unit"] == "GBP"
    assert d.set_index("column").loc["T", "unit"] == "weeks"
    assert "most frequent" in d.set_index("column").loc["Country", "description"]
    zh = report.dictionary(["T"], "zh", "GBP", "day")
    assert zh["unit"].iloc[0] == "天"


def test_every_label_and_sentence_exists_in_both_languages():
    for table in (report.LABELS, report.SENTENCES, report.NOTEBOOK_TITLES):
        for key, entry in table.items():
            assert set(entry) == {"en", "zh"}, key
            assert entry["zh"] != entry["en"] or key in ("clv_ci",), key
    for key, entry in report.SENTENCES.items():
        fields = lambda text: sorted(__import__("re").findall(r"\{(\w+)", text))
        assert fields(entry["en"]) == fields(entry["zh"]), key
