"""Stage 1 on a query engine, part 4: the aggregates of ``aggregates.py`` computed where the
clean rows are, and the clean rows written there (never brought to the driver).

Every figure is the pandas engine's to the row, the cent and the day (historical CLV, a sum
of discounted amounts that the engine adds in its own order, is rounded to the cent on
both sides); ``tests/test_engines.py`` compares them engine by engine.
"""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config import Params, Privacy
from ..units import (CustomerOrder, Window, backtest_origins, day_number, monthly_rate,
                     to_dates)
from .aggregates import (SAMPLE_ROWS, Aggregates, ClvInputs, cohort_frame, spend_frame,
                         split_dates, stack_backtests, to_cent)
from .ibis_io import Connection
from .ibis_rules import purchase_days
from .summary import btyd_columns

__all__ = ["window_facts", "ibis_aggregates", "clean_frame", "write_clean"]


def _ts(when: pd.Timestamp):
    return ibis.literal(pd.Timestamp(when).to_pydatetime())


def window_facts(eng: Connection, kept, params: Params) -> tuple[Window, pd.Timestamp, int, int]:
    """(the window, the last transaction's date and time, clean rows, rows with amount 0)."""
    f = eng.frame(kept.aggregate(lo=kept.day.min(), last=kept.date.max(), n=kept.count(),
                                 zero=(kept.cents == 0).sum())).iloc[0]
    start = to_dates(np.array([int(f["lo"])]))[0]
    last = pd.Timestamp(f["last"])
    if last.tzinfo is not None:  # Spark's session is in UTC (ibis_io.SPARK_REQUIRED)
        last = last.tz_convert(None)
    end = params.summary.observation_end
    end = pd.Timestamp(end) if end is not None else last.normalize()
    return Window(start, end, params.summary.time_unit), last, int(f["n"]), int(f["zero"])


def _monthly(eng: Connection, kept) -> pd.DataFrame:
    key = (kept.date.year() - 1970) * 12 + kept.date.month() - 1
    buyer = kept.customer_id.notnull() & ~kept.ret
    df = eng.frame(kept.group_by(m=key).aggregate(
        transactions=ibis._.count(), cents=ibis._.cents.sum(),
        customers=kept.customer_id.nunique(where=buyer)).order_by("m"))
    return pd.DataFrame({
        "month": df["m"].to_numpy(dtype="int64").astype("datetime64[M]")
        .astype("datetime64[ns]"),
        "transactions": df["transactions"].to_numpy(dtype="int64"),
        "revenue": np.rint(df["cents"].to_numpy(dtype="float64")) / 100,
        "customers": df["customers"].fillna(0).to_numpy(dtype="int64")})


def _category_spend(eng: Connection, kept) -> pd.DataFrame | None:
    """``aggregates.category_spend`` on the engine: one grouped pass."""
    if "category" not in kept.columns:
        return None
    t = kept.filter(kept.customer_id.notnull())
    df = eng.frame(t.group_by("customer_id", "category").aggregate(cents=t.cents.sum()))
    return spend_frame(df["customer_id"].to_numpy(dtype=object),
                       df["category"].to_numpy(dtype=object),
                       np.rint(df["cents"].to_numpy(dtype="float64")))


def _halves(eng: Connection, kept, split: pd.Timestamp, order: CustomerOrder) -> pd.DataFrame:
    # from the clean rows, not the customer days: the split may fall inside a day
    known = kept.filter(kept.customer_id.notnull())
    early = known.date < _ts(split)
    t = eng.arrow(known.group_by("customer_id").aggregate(
        c1=known.cents.sum(where=early), c2=known.cents.sum(where=~early),
        b1=(~known.ret & early).any(), b2=(~known.ret & ~early).any()))
    out = pd.DataFrame({"customer_id": order.index().array})
    for name, c, b in (("first_half", "c1", "b1"), ("second_half", "c2", "b2")):
        rev = np.rint(t[c].fill_null(0).to_numpy().astype("float64")) / 100
        bought = t[b].fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        out[name] = order.place(t["customer_id"], np.where(bought, rev, np.nan))
    return out


def _cohort_months(eng: Connection, days) -> pd.DataFrame:
    """``aggregates.cohort_months`` on the engine, from the customer days."""
    firsts = days.filter(days.buys > 0).group_by("customer_id").aggregate(cohort=ibis._.m.min())
    j = days.join(firsts, "customer_id")
    df = eng.frame(j.group_by("cohort", "m").aggregate(
        customers=j.customer_id.nunique(where=j.buys > 0), cents=j.cents.sum())
        .order_by(["cohort", "m"]))
    return cohort_frame(df["cohort"].to_numpy("int64"), df["m"].to_numpy("int64"),
                        df["customers"].fillna(0).to_numpy("int64"),
                        df["cents"].to_numpy("float64"))


def _historical(days, params: Params):
    """Each customer's historical CLV from the customer days: the value of each month since
    the first purchase's, discounted by the months."""
    cfg = params.clv
    firsts = days.filter(days.buys > 0).group_by("customer_id").aggregate(first=ibis._.m.min())
    cost = "value" in days.columns
    margin = 1.0 if cost else cfg.margin
    j = days.mutate(v=days.value if cost else days.cents).join(firsts, "customer_id")
    per = j.group_by("customer_id", t=ibis.greatest(j.m - j.first, 0)) \
        .aggregate(c=ibis._.v.sum())
    rate = 1 + monthly_rate(cfg.discount_rate)
    return per.group_by("customer_id").aggregate(
        historical_clv=(margin * (per.c.cast("float64") / 100)
                        / ibis.literal(rate).pow(per.t.cast("float64"))).sum())


def _calibration(eng: Connection, daily, cal_day: int, end_day: int, unit: int,
                 order: CustomerOrder) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``summary.calibration_holdout`` from the purchase days (customer, day, cents), as its
    columns, its customers in the order of ``order``'s ids, and their positions there.
    Column by column, from Arrow: no frame of it is held twice (ten million customers'
    frames were the stage's memory peak)."""
    cal = daily.filter(daily.day <= cal_day)
    per = cal.group_by("customer_id").aggregate(
        first_day=cal.day.min(), last_day=cal.day.max(), days=cal.count(),
        total=cal.cents.sum(), first_cents=cal.cents.argmin(cal.day))
    hold = daily.filter((daily.day > cal_day) & (daily.day <= end_day))
    hold = hold.group_by(k=hold.customer_id).aggregate(hn=ibis._.count(),
                                                       hc=ibis._.cents.sum(),
                                                       hf=ibis._.day.min())
    t = eng.arrow(per.left_join(hold, per.customer_id == hold.k).drop("k"))
    at = order.positions(t["customer_id"])
    t = t.drop_columns(["customer_id"])
    if (at < 0).any():  # a buyer of the calibration period is a customer by construction
        raise RuntimeError("the calibration frame holds a customer the summary does not")
    rows = np.argsort(at, kind="stable")

    def col(name: str, dtype: str = "int64", fill=None) -> np.ndarray:
        c = t[name] if fill is None else pc.fill_null(t[name], fill)
        return c.to_numpy().astype(dtype)[rows]  # with nulls: float64, NaN for null
    cols = {f"{k}_cal": v for k, v in btyd_columns(
        col("first_day"), col("last_day"), col("days") - 1,
        col("total") - col("first_cents"), cal_day, unit).items()}
    hn, hc = col("hn", "float64", 0), col("hc", "float64", 0)
    cols.update(frequency_holdout=hn,
                monetary_value_holdout=np.divide(hc, hn, out=np.zeros(len(hn)),
                                                 where=hn > 0) / 100,
                duration_holdout=np.full(len(hn), (end_day - cal_day) / unit),
                first_holdout_days=col("hf", "float64") - cal_day)
    del t
    pa.default_memory_pool().release_unused()
    return cols, at[rows]


def _tracking(eng: Connection, daily, cal_day: int, end_day: int
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = daily.group_by("customer_id").aggregate(first=daily.day.min())
    first = first.filter(first.first <= cal_day)
    j = daily.join(first, "customer_id")
    rep = eng.frame(j.filter((j.day > j.first) & (j.day <= end_day)).group_by("day")
                    .aggregate(purchases=ibis._.count()).order_by("day"))
    coh = eng.frame(first.group_by(first_day=first.first)
                    .aggregate(customers=ibis._.count()).order_by("first_day"))
    return (pd.DataFrame({"day": rep["day"].to_numpy("int64"),
                          "purchases": rep["purchases"].to_numpy("int64")}),
            pd.DataFrame({"first_day": coh["first_day"].to_numpy("int64"),
                          "customers": coh["customers"].to_numpy("int64")}))


def ibis_aggregates(eng: Connection, kept, days, customers: pd.DataFrame, params: Params,
                    facts: tuple[Window, pd.Timestamp, int, int] | None = None) -> Aggregates:
    """``aggregates.compute`` on the engine (``days``: ``ibis_rules.customer_days`` of
    ``kept``; ``customers``: the summary, ids as written; ``facts``: :func:`window_facts`,
    when already computed)."""
    window, last, n, zero = facts if facts is not None else window_facts(eng, kept, params)
    split, cal_end = split_dates(window, params)
    order = CustomerOrder(customers["customer_id"])
    daily = purchase_days(days)
    cal_day, end_day = day_number(cal_end), day_number(window.end)
    hist = eng.arrow(_historical(days, params))
    hist = pd.Series(order.place(hist["customer_id"], to_cent(
        hist["historical_clv"].to_numpy().astype("float64"))), index=order.index())
    unit = params.clv.time_unit.days
    cal = None
    if cal_end < window.end:
        cols, at = _calibration(eng, daily, cal_day, end_day, unit, order)
        cal = pd.DataFrame(cols, index=order.index(at), copy=False)
    repeat, cohorts = _tracking(eng, daily, cal_day, end_day)
    earlier = [(c, _calibration(eng, daily, day_number(c), day_number(e), unit, order)[0])
               for c, e in backtest_origins(window.start, window.end, cal_end)[1:]]
    return Aggregates(window=window, last_date=last, transactions=n, zero_amount_rows=zero,
                      monthly=_monthly(eng, kept), split=split,
                      halves=_halves(eng, kept, split, order),
                      clv=ClvInputs(cal_end, hist.rename("historical_clv"), cal, repeat,
                                    cohorts, stack_backtests(earlier)),
                      sample=clean_frame(eng, kept, SAMPLE_ROWS),
                      cohort_months=_cohort_months(eng, days),
                      category_spend=_category_spend(eng, kept))


def _clean_columns(kept) -> list[str]:
    return [c for c in kept.columns if c not in ("cents", "day", "ret")]  # canonical order


def clean_frame(eng: Connection, kept, limit: int) -> pd.DataFrame:
    """The first ``limit`` clean rows by date, customer and the other columns (a top-N on
    the engine, as ``aggregates.sample_rows``), typed as the pandas engine types them."""
    cols = _clean_columns(kept)
    key = ["date", "customer_id", *[c for c in cols if c not in ("date", "customer_id")]]
    df = eng.frame(kept.select(*cols, "ret").order_by(key).limit(limit))
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for c in cols:
        if c == "date":
            out[c] = df[c].to_numpy(dtype="datetime64[ns]")
        elif c in ("amount", "quantity", "unit_price", "cost"):
            out[c] = df[c].to_numpy(dtype="float64")
        else:
            out[c] = pd.array(df[c], dtype="str")
    out["is_return"] = df["ret"].to_numpy(dtype=bool)
    return out


def write_clean(eng: Connection, kept, path: str, privacy: Privacy) -> None:
    """The clean rows written by the engine as Parquet at ``path`` (DuckDB: one file;
    Spark: a directory of part files), ids hashed there when ``anonymize`` is on, as
    ``privacy.hash_ids`` hashes them (salted SHA-256, first 16 hex digits)."""
    cols = {c: kept[c] for c in _clean_columns(kept)}
    if privacy.anonymize:
        for c in ["customer_id", *privacy.anonymize_columns]:
            if c in cols:
                text = ibis.literal(privacy.anonymize_salt + "\x1f") + cols[c].cast("string")
                cols[c] = text.hexdigest("sha256").substr(0, 16)
    # a rerun replaces what an earlier run wrote there, as the pandas engine's file does
    eng.con.to_parquet(kept.select(**cols, is_return=kept.ret), path,
                       **eng.overwrite)
