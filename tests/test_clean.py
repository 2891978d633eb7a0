import numpy as np
import pandas as pd
import pytest

from analysis import config
from analysis.narrative.describe import describe_ledger
from analysis.stage1 import clean, load, rules
from conftest import RETAIL

PARAMS = config.typed({"columns": {"customer_id": "c", "date": "d", "quantity": "q",
                                   "unit_price": "p", "order_id": "o", "product_code": "s"},
                       "observation_end": "2020-12-31"})
CFG = PARAMS.clean


def frame(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "date", "quantity", "unit_price",
                                     "order_id", "product_code"])
    df["date"] = pd.to_datetime(df["date"])
    df["amount"] = (df["quantity"] * df["unit_price"]).round(2)
    for c in ("customer_id", "order_id", "product_code"):
        df[c] = df[c].astype("str")
    return df


ROWS = [
    ["1", "2020-01-01", 2, 1.25, "100", "A"],     # kept
    [None, "2020-01-02", 1, 3.00, "101", "A"],    # missing customer
    ["1", "2020-01-03", -2, 1.25, "C102", "A"],   # cancellation
    ["2", "2020-01-04", 1, 9.99, "103", "POST"],  # non-product
    ["2", "2020-01-05", 1, 0.00, "104", "A"],     # zero price
    ["2", "2020-01-06", 3, 2.10, "105", "A"],     # kept
    ["2", "2020-01-06", 3, 2.10, "105", "A"],     # duplicate
    ["3", "2021-02-01", 1, 5.00, "106", "A"],     # after the window
    ["4", "2020-03-01", -1, 4.00, "107", "A"],    # return, customer never bought
]


def test_each_rule_counts_its_rows_and_cents():
    df = frame(ROWS)
    kept, ledger = clean.clean_transactions(df, CFG)
    got = ledger.set_index("step")["rows"].to_dict()
    assert got == {"input": 9, "rounding": 0, "excluded_rows": 0, "unmatched_lookup": 0,
                   "missing_customer_id": 1, "implausible_dates": 0, "cancellations": 2,
                   "non_product_codes": 1, "non_positive_price": 1, "duplicates": 1,
                   "out_of_window": 1, "returns_without_purchase": 0, "kept": 2}
    assert ledger.set_index("step").at["cancellations", "revenue"] == -6.50
    assert ledger.set_index("step").at["kept", "revenue"] == 2.50 + 6.30
    assert kept["customer_id"].tolist() == ["1", "2"]


def test_net_mode_keeps_returns_of_buyers_only():
    kept, ledger = clean.clean_transactions(frame(ROWS), PARAMS.replace(returns="net").clean)
    steps = ledger.set_index("step")["rows"]
    assert steps["cancellations"] == 0 and steps["returns_without_purchase"] == 1
    assert kept["is_return"].sum() == 1  # customer 1's cancellation is netted
    rules.check_ledger(ledger)


def test_rules_can_be_switched_off():
    cfg = PARAMS.replace(drop_duplicates=False, drop_non_product=False,
                         drop_non_positive_price=False, drop_missing_customer=False,
                         observation_end=None).clean
    kept, ledger = clean.clean_transactions(frame(ROWS), cfg)
    assert ledger.set_index("step").at["kept", "rows"] == 7  # only the two returns go


def test_ledger_reconciles_on_the_retail_fixture_to_the_cent(retail_params):
    tx = load.load_transactions(RETAIL, retail_params.read)
    for returns in ("drop", "net"):
        kept, ledger = clean.clean_transactions(tx, retail_params.replace(returns=returns).clean)
        steps = ledger.set_index("step")
        dropped = steps.drop(index=["input", "kept"])
        assert steps.at["input", "rows"] == len(tx)
        assert steps.at["input", "rows"] == steps.at["kept", "rows"] + dropped["rows"].sum()
        assert steps.at["input", "cents"] == steps.at["kept", "cents"] + dropped["cents"].sum()
        assert steps.at["input", "cents"] == int(np.rint(tx["amount"] * 100).sum())
        assert steps.at["kept", "rows"] == len(kept)
        assert (dropped["rows"] > 0).sum() >= 4  # the fixture exercises the rules


def test_check_ledger_fails_when_a_cent_is_missing():
    _, ledger = clean.clean_transactions(frame(ROWS), CFG)
    broken = ledger.copy()
    broken.loc[broken["step"] == "kept", "cents"] -= 1
    with pytest.raises(AssertionError, match="does not reconcile"):
        rules.check_ledger(broken)
    broken = ledger.copy()
    broken.loc[broken["step"] == "duplicates", "rows"] += 1
    with pytest.raises(AssertionError):
        rules.check_ledger(broken)


def test_describe_ledger_states_the_numbers():
    _, ledger = clean.clean_transactions(frame(ROWS), CFG)
    text = describe_ledger(ledger, CFG)
    assert "Of 9 input rows" in text and "kept 2" in text
    assert "2 rows of cancellations" in text
    zh = describe_ledger(ledger, CFG, "zh")
    assert "输入 9 行" in zh and "保留 2 行" in zh and "取消和退货" in zh and "2 行" in zh
