"""Properties that hold for any transaction frame (hypothesis)."""
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import config, playbook, segments, tiers
from analysis.stage1 import clean, parse, summary
from analysis.units import TimeUnit, Window

PARAMS = config.typed({"columns": {"customer_id": "c", "date": "d", "quantity": "q",
                                   "unit_price": "p", "order_id": "o"},
                       "drop_non_product": False})
END = pd.Timestamp("2021-12-31")

row = st.tuples(
    st.one_of(st.none(), st.sampled_from([f"c{i}" for i in range(12)])),  # customer
    st.integers(0, 700),                                                    # day offset
    st.integers(-3, 12),                                                    # quantity
    st.integers(-200, 5000),                                                # price, cents
    st.sampled_from(["100", "101", "102", "C103", "104", "105"]),           # order id
)


def frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "day", "quantity", "cents", "order_id"])
    out = pd.DataFrame({
        "customer_id": df["customer_id"].astype("str"),
        "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(df["day"], unit="D"),
        "quantity": df["quantity"].astype(float),
        "unit_price": df["cents"] / 100,
        "order_id": df["order_id"].astype("str"),
    })
    out["amount"] = (out["quantity"] * out["unit_price"]).round(2)
    return out


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(row, min_size=1, max_size=60), st.sampled_from(["drop", "net"]),
       st.booleans())
def test_ledger_conserves_rows_and_cents(rows, returns, dedupe):
    df = frame(rows)
    cfg = PARAMS.replace(returns=returns, drop_duplicates=dedupe)
    kept, ledger = clean.clean_transactions(df, cfg.clean, today=END)
    steps = ledger.set_index("step")
    dropped = steps.drop(index=["input", "kept"])
    assert steps.at["input", "rows"] == len(df) == steps.at["kept", "rows"] + dropped["rows"].sum()
    assert steps.at["input", "cents"] == int(np.rint(df["amount"] * 100).sum())
    assert steps.at["input", "cents"] == steps.at["kept", "cents"] + dropped["cents"].sum()
    assert steps.at["kept", "cents"] == int(np.rint(kept["amount"] * 100).sum())


@SETTINGS
@given(st.lists(row, min_size=1, max_size=60), st.sampled_from(["drop", "net"]))
def test_summary_and_labels_partition_the_customers(rows, returns):
    df = frame(rows)
    cfg = PARAMS.replace(returns=returns)
    kept, _ = clean.clean_transactions(df, cfg.clean, today=END)
    if (~kept["is_return"]).sum() == 0:
        return
    s = summary.customer_summary(kept, cfg.summary, end=END)
    buyers = set(kept.loc[~kept["is_return"], "customer_id"])
    assert s["customer_id"].is_unique and set(s["customer_id"]) == buyers
    assert set(kept["customer_id"]) == buyers  # no kept row without a summarised customer
    assert (s["frequency"] <= s["n_orders"] - 1).all()
    assert ((0 <= s["recency"]) & (s["recency"] <= s["T"])).all()
    assert np.isclose(s["revenue"].sum(), kept["amount"].sum())

    for method in ("rank_share", "revenue_share"):
        t = tiers.abc_tiers(s, method)
        assert t.notna().all() and set(t.astype(str)) <= {"A", "B", "C"} and len(t) == len(s)
    window = Window(END - pd.Timedelta(days=729), END, TimeUnit("day"))
    th = segments.lifecycle_thresholds(s, cfg.segments, window)
    stage = segments.lifecycle(s, END, th)
    assert stage.notna().all() and set(stage.astype(str)) <= set(playbook.STAGES)
    scores = segments.rfm_scores(s, END, th)
    seg = segments.assign_segments(scores)
    assert seg.notna().all() and len(seg) == len(s)
    # the names never contradict the stage: Lost is exactly the churned customers
    assert ((seg == "Lost") == (stage == "churned")).all()


@SETTINGS
@given(st.lists(row, min_size=1, max_size=60), st.booleans())
def test_duplicated_rows_is_pandas_duplicated(rows, collide):
    """The fast duplicate search marks exactly what ``DataFrame.duplicated`` marks, also
    when different (date, amount) pairs fold to the same integer (``collide``: each row
    gets a twin one nanosecond later whose amount is 1,000,003 cents less, the fold's
    multiplier, so every folded key is shared without the rows being equal)."""
    df = frame(rows)
    if collide:
        twin = df.assign(date=df["date"] + pd.Timedelta(1, "ns"),
                         amount=df["amount"] - 10_000.03)
        df = pd.concat([df, twin], ignore_index=True)
    c = np.rint(df["amount"].to_numpy() * 100).astype("int64")
    got = clean.duplicated_rows(df, c)
    assert (got == df.duplicated(keep="first").to_numpy()).all()


TOKENS = ["", "na", "n/a", "#n/a", "nan", "null", "none", "(blank)", "ß", "ǅx"]


@SETTINGS
@given(st.lists(st.one_of(
    st.none(), st.sampled_from(TOKENS),
    st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1f\xa0\u2003aNnUuLlA/#-()7"
                                          "éß\u01c4ǅ")), max_size=8)), min_size=1, max_size=40))
def test_as_text_trims_and_blanks_as_python_would(values):
    """The Arrow path of ``as_text`` (ASCII kernels where every byte allows, UTF-8 ones
    elsewhere) gives what Python's ``str.strip`` and ``str.lower`` would."""
    s = pd.Series(values, dtype="str")
    got = parse.as_text(s, TOKENS).tolist()
    want = [None if v is None or v.strip().lower() in TOKENS else v.strip() for v in values]
    assert [None if g is None or g != g else g for g in got] == want


@SETTINGS
@given(st.lists(st.tuples(st.integers(-2**40, 2**40), st.integers(-10**9, 10**9)),
                max_size=80))
def test_grouped_sum_is_pandas_groupby_sum(pairs):
    key = np.array([k for k, _ in pairs], dtype="int64")
    values = np.array([v for _, v in pairs], dtype="int64")
    got_key, got = summary.grouped_sum(key, values)
    want = pd.Series(values, dtype="int64").groupby(key, sort=True).sum()
    assert got_key.tolist() == want.index.tolist() and got.tolist() == want.tolist()


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(18_000, 18_400), st.integers(-1, 9)),
                max_size=60), st.booleans())
def test_orders_per_customer_is_drop_duplicates(rows, overflow):
    """Distinct (order, day) per customer, folded into one integer or (where the fold could
    overflow) by ``drop_duplicates``, counts what ``drop_duplicates`` counts."""
    codes = np.array([r[0] for r in rows], dtype="int64")
    days = np.array([r[1] for r in rows], dtype="int64")
    orders = np.array([r[2] for r in rows], dtype="int64")
    if overflow:  # an order code so large that the fold would overflow
        orders[orders == 9] = 2 ** 60
    frame = pd.DataFrame({"code": codes, "day": days, "order": orders}).drop_duplicates()
    want = np.bincount(frame["code"].to_numpy(), minlength=8)
    assert summary._orders(codes, days, orders, 8).tolist() == want.tolist()


def _labels(kept: pd.DataFrame, cfg) -> pd.DataFrame:
    """Every label of stages 2 and 3 but the clusters, by customer id."""
    s = summary.customer_summary(kept, cfg.summary, end=END)
    s["abc_tier"] = tiers.abc_tiers(s, cfg.tiers.abc_method, cfg.tiers.abc_rank_cuts,
                                    cfg.tiers.abc_revenue_cuts).astype(str)
    window = Window(END - pd.Timedelta(days=729), END, TimeUnit("day"))
    th = segments.lifecycle_thresholds(s, cfg.segments, window)
    s["lifecycle_stage"] = segments.lifecycle(s, END, th).astype(str)
    s = s.join(segments.rfm_scores(s, END, th, cfg.segments.rfm_monetary))
    s["rfm_segment"] = segments.assign_segments(s)
    s["action"] = segments.recommend(s)["action"]
    return s.set_index("customer_id")[["abc_tier", "lifecycle_stage", "r_score", "f_score",
                                       "m_score", "rfm_segment", "action"]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=60), st.data(), st.sampled_from(["revenue",
                                                                          "mean_order_value"]))
def test_equal_histories_get_equal_labels(rows, data, monetary):
    """A customer's history copied under another id, its rows put anywhere in the file, gets
    exactly the original's labels; shuffling the file changes no label."""
    df = frame(rows)
    ids = sorted(df["customer_id"].dropna().unique())
    if not ids:
        return
    who = data.draw(st.sampled_from(ids))
    new_id = data.draw(st.sampled_from(["000", "zzz", " c0.0", "C-копия"]))
    copy = df[df["customer_id"] == who].assign(customer_id=new_id)
    both = pd.concat([df, copy], ignore_index=True)
    both = both.sample(frac=1, random_state=data.draw(st.integers(0, 2**16))) \
        .reset_index(drop=True)
    cfg = PARAMS.replace(rfm_monetary=monetary)
    kept, _ = clean.clean_transactions(both, cfg.clean, today=END)
    if who not in set(kept.loc[~kept["is_return"], "customer_id"]):
        return
    labels = _labels(kept, cfg)
    assert labels.loc[who].tolist() == labels.loc[new_id].tolist()
    kept2, _ = clean.clean_transactions(both.iloc[::-1].reset_index(drop=True), cfg.clean,
                                        today=END)
    again = _labels(kept2, cfg).loc[labels.index]
    pd.testing.assert_frame_equal(again, labels)
