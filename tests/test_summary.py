import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

from analysis import config
from analysis.stage1 import clean, load, summary
from analysis.units import TimeUnit
from conftest import CDNOW, RETAIL


def _clean(path, params):
    return clean.clean_transactions(load.load_transactions(path, params.read), params.clean)[0]


@pytest.mark.parametrize("dataset", ["cdnow", "retail"])
@pytest.mark.parametrize("unit", ["day", "week"])
def test_summary_matches_lifetimes(dataset, unit, cdnow_params, retail_params):
    path, cfg = (CDNOW, cdnow_params) if dataset == "cdnow" else (RETAIL, retail_params)
    cfg = cfg.replace(time_unit=unit)
    tx = _clean(path, cfg)
    ours = summary.customer_summary(tx, cfg.summary).set_index("customer_id")
    ref = summary_data_from_transaction_data(
        tx, "customer_id", "date", "amount", freq="D", freq_multiplier=7 if unit == "week" else 1)
    assert len(ours) == len(ref)
    ref = ref.loc[ours.index]
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, atol=1e-9, err_msg=col)


def test_summary_columns_and_revenue(cdnow_params):
    tx = _clean(CDNOW, cdnow_params)
    s = summary.customer_summary(tx, cdnow_params.summary)
    assert list(s.columns) == summary.SUMMARY_COLUMNS
    assert len(s) == 23570 and s["customer_id"].is_unique
    assert round(s["revenue"].sum(), 2) == 2500315.63
    assert (s["n_orders"] >= s["frequency"] + 1).all()
    assert ((0 <= s["recency"]) & (s["recency"] <= s["T"])).all()
    # customer 00002 bought twice on 1997-01-12: one purchase day, two orders
    c2 = s.set_index("customer_id").loc["00002"]
    assert c2["frequency"] == 0 and c2["n_orders"] == 2 and c2["revenue"] == 89.0


def test_hand_made_summary():
    cfg = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                        "observation_end": "2020-01-31"}).summary
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
                       "date": pd.to_datetime(["2020-01-01 09:00", "2020-01-01 17:00",
                                               "2020-01-11 00:00", "2020-01-21 00:00"]),
                       "amount": [10.0, 5.0, 20.0, 7.0]})
    s = summary.customer_summary(tx, cfg).set_index("customer_id")
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "recency"] == 10
    assert s.loc["a", "T"] == 30 and s.loc["a", "monetary_value"] == 20.0
    assert s.loc["a", "n_orders"] == 3 and s.loc["a", "revenue"] == 35.0
    assert s.loc["b", "frequency"] == 0 and s.loc["b", "monetary_value"] == 0
    assert s.loc["b", "T"] == 10


def test_attributes_take_the_most_frequent_value_and_ties_go_latest():
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b"],
                       "date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03",
                                               "2020-01-01", "2020-01-05"]),
                       "Country": ["FR", "DE", "FR", "FR", "DE"]})
    attrs = summary.customer_attributes(tx, ["Country"])
    assert attrs.loc["a", "Country"] == "FR" and attrs.loc["b", "Country"] == "DE"


def test_calibration_holdout_matches_lifetimes(cdnow_params):
    tx = _clean(CDNOW, cdnow_params)
    ours = summary.calibration_holdout(tx, pd.Timestamp("1997-09-30"),
                                       pd.Timestamp("1998-06-30"), TimeUnit("week"))
    ref = calibration_and_holdout_data(tx, "customer_id", "date",
                                       calibration_period_end="1997-09-30",
                                       observation_period_end="1998-06-30",
                                       monetary_value_col="amount", freq="D",
                                       freq_multiplier=7)
    assert len(ours) == len(ref) == 23570
    ref = ref.loc[ours.index]
    for col in ("frequency_cal", "recency_cal", "T_cal", "monetary_value_cal",
                "frequency_holdout", "duration_holdout"):
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, atol=1e-9, err_msg=col)
    assert ours["duration_holdout"].iloc[0] == pytest.approx(273 / 7)


def test_holdout_monetary_value_is_per_purchase_day():
    """lifetimes averages raw holdout lines; we average merged purchase days, as in the
    calibration period, so the two periods use one definition."""
    tx = pd.DataFrame({"customer_id": ["a"] * 4,
                       "date": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-02-01",
                                               "2020-02-10"]),
                       "amount": [1.0, 10.0, 20.0, 6.0]})
    out = summary.calibration_holdout(tx, pd.Timestamp("2020-01-15"),
                                      pd.Timestamp("2020-03-01"), TimeUnit("day"))
    assert out.loc["a", "frequency_holdout"] == 2
    assert out.loc["a", "monetary_value_holdout"] == (30.0 + 6.0) / 2
    assert out.loc["a", "frequency_cal"] == 0 and out.loc["a", "T_cal"] == 14
