"""csv_text.csv_bytes writes what pandas' to_csv writes, byte for byte, for any table of the
kinds the customers table holds, and hands the others to pandas."""
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import csv_text
from analysis.csv_text import csv_bytes

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(-1e6, 1e6).map(lambda v: round(v, 2)),
                   st.integers(-10**16, 10**16).map(float),  # whole numbers, both notations
                   st.floats(1e-5, 1e-3), st.floats(1e14, 1e16),  # where repr's notation turns
                   st.sampled_from([0.0, -0.0, 2.0, 1e16, 1e-5, 123456789012345.6]))
texts = st.one_of(st.none(), st.text(max_size=8),
                  st.sampled_from(["", "a,b", 'say "hi"', "two\nlines", "cr\r", " lead",
                                   "Korea, Republic of", "=1+1", "日本"]))
days = st.one_of(st.none(), st.datetimes(min_value=pd.Timestamp("1900-01-01").to_pydatetime(),
                                         max_value=pd.Timestamp("2200-01-01").to_pydatetime()))


def pandas_bytes(frame: pd.DataFrame, header: bool = True) -> bytes:
    return frame.to_csv(index=False, header=header, date_format="%Y-%m-%d").encode("utf-8")


@SETTINGS
@given(st.lists(st.tuples(floats, texts, days, st.integers(-2**62, 2**62), st.booleans()),
                max_size=40),
       st.booleans(), st.booleans())
def test_the_bytes_are_pandas_bytes(rows, header, arrow_text):
    frame = pd.DataFrame(rows, columns=["value", "name, quoted", "day", "count", "flag"])
    frame["value"] = frame["value"].astype("float64")
    frame["day"] = pd.to_datetime(frame["day"])
    frame["count"] = frame["count"].astype("int64")
    frame["flag"] = frame["flag"].astype(bool)
    frame["name, quoted"] = frame["name, quoted"].astype("str" if arrow_text else object)
    frame["nullable"] = pd.array([i if i % 3 else None for i in range(len(frame))],
                                 dtype="Int64")
    assert csv_bytes(frame, header) == pandas_bytes(frame, header)


def test_a_real_customers_table_slice_is_the_same_bytes(tmp_path):
    """The columns a run writes: ids, days (with a missing one), scores, segment names."""
    rng = np.random.default_rng(4)
    n = 500
    frame = pd.DataFrame({
        "customer_id": pd.Series([f"C{i:05d}" for i in range(n)], dtype="str"),
        "first_purchase": pd.Timestamp("2023-01-01")
        + pd.to_timedelta(rng.integers(0, 600, n), "D") + pd.Timedelta(hours=13),
        "revenue": rng.lognormal(3, 2, n),
        "p_alive": rng.uniform(0, 1, n),
        "r_score": rng.integers(1, 6, n),
        "rfm_segment": rng.choice(["Champions", "At risk", "Can't lose them"], n)})
    frame.loc[3, "first_purchase"] = pd.NaT
    assert csv_bytes(frame) == pandas_bytes(frame)


def test_kinds_it_does_not_format_are_left_to_pandas(monkeypatch):
    """Categories, time zones, mixed objects, float32 and one-column tables (where the csv
    module quotes an empty cell) go to pandas whole; csv_text's own formatter is not used."""
    frames = [
        pd.DataFrame({"a": pd.Categorical(["x", "y"]), "b": [1, 2]}),
        pd.DataFrame({"a": pd.to_datetime(["2020-01-01", None]).tz_localize("UTC"),
                      "b": [1, 2]}),
        pd.DataFrame({"a": ["x", 1.5], "b": [1, 2]}),
        pd.DataFrame({"a": np.array([0.1, 2], dtype="float32"), "b": [1, 2]}),
        pd.DataFrame({"a": ["", None]}),
        pd.DataFrame({0: [1.0], "b": [2]}),
    ]
    expected = [pandas_bytes(f) for f in frames]

    def fail(*_):
        raise AssertionError("the arrow path ran")
    monkeypatch.setattr(csv_text.pc, "binary_join_element_wise", fail)
    assert [csv_bytes(f) for f in frames] == expected
