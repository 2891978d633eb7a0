"""Stage 1d: what the later stages need from transaction level, handed on small.

The transaction stage ends here, on every engine: notebooks 01–05 never read the clean
transactions (but for one customer's rows, notebook 04's story). What they used to compute from them is computed once, next to the rows
(pandas here; DuckDB or Spark in ``ibis_aggregates``, to the cent and the day), and handed
on as :class:`Aggregates`:

* the window, the last transaction's date, the number of clean rows and of rows whose
  amount is 0, a few rows to show (``sample``);
* ``monthly``: transactions, net revenue and buying customers per calendar month
  (notebook 01, the page's trend);
* ``cohort_months``: per first-purchase month and calendar month, the cohort's buyers and
  net revenue (the cohorts of notebook 04 and the page);
* ``halves``: each customer's net revenue before and from the migration split, empty where
  they made no purchase in that half (notebook 02's tier migration);
* ``clv`` (:class:`ClvInputs`): historical CLV per customer, the calibration/holdout frame
  and, for the tracking plot, repeat purchase days per day and the first-purchase cohorts
  of the calibration customers (notebook 04).

Their size grows with customers and days, never with transactions. The split and the
calibration end are fixed here from the parameters, and recorded (the stages use the
recorded dates). ``stage1_cache`` keeps them in the run folder (``aggregates/``).
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..config import ClvParams, Params
from ..errors import InputError
from ..groups import migration_split_date
from ..handoff import Aggregates, ClvInputs
from ..units import (CustomerOrder, Window, backtest_origins, cents, customer_codes,
                     day_number, default_calibration_end, monthly_rate, purchase_rows)
from .summary import calibration_holdout, grouped_sum, purchase_days

__all__ = ["SAMPLE_ROWS", "BITMAP_CELLS", "ClvInputs", "Aggregates", "CustomerOrder", "split_dates",
           "clv_inputs_end", "historical_clv", "to_cent", "half_revenues", "monthly_series",
           "repeat_days_and_cohorts", "sample_rows", "stack_backtests", "clv_inputs",
           "cohort_months", "cohort_frame", "category_spend", "spend_frame", "compute"]

#: clean rows shown in notebook 01
SAMPLE_ROWS = 5
#: the most customers × months :func:`cohort_months` counts buyers in with a bitmap (64 MB)
BITMAP_CELLS = 1 << 26


def split_dates(window: Window, params: Params) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(the migration split, the calibration end) of this window and these parameters."""
    return migration_split_date(window, params.tiers), clv_inputs_end(window, params.clv)


def clv_inputs_end(window: Window, params: ClvParams) -> pd.Timestamp:
    """``calibration_end``, else the day that leaves the last 40 % of the window held out."""
    end = params.calibration_end
    if end is None:
        return default_calibration_end(window.start, window.end)
    if not window.start < pd.Timestamp(end) < window.end:
        # no customer could be in a calibration period before the first purchase, and
        # none could be checked on a holdout after the last
        raise InputError(f"calibration_end {pd.Timestamp(end):%Y-%m-%d} is outside the "
                         f"data's window ({window.start:%Y-%m-%d} to {window.end:%Y-%m-%d}): "
                         f"it must fall strictly inside it, to leave a calibration period "
                         f"and a holdout", column="calibration_end",
                         hint="Choose a day inside the window, or leave it unset (the last "
                         "40 % of the window is held out)")
    return end


def historical_clv(clean: pd.DataFrame, params: ClvParams,
                   codes: tuple[np.ndarray, np.ndarray] | None = None) -> pd.Series:
    """Discounted margin on each customer's monthly net revenue since their first month:
    Σₜ (Rₜ − Cₜ)/(1 + d)ᵗ with the rows' costs when a cost (or profit) column is mapped,
    else Σₜ margin·Rₜ/(1 + d)ᵗ, to the cent. ``codes``: ``units.customer_codes`` of the
    rows, when already computed."""
    d = monthly_rate(params.discount_rate)
    codes, ids = codes if codes is not None else customer_codes(clean["customer_id"])
    known = codes >= 0
    month = clean["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[M]") \
        .astype("int64")  # calendar months since 1970-01
    buy = purchase_rows(clean, codes)
    first = pd.Series(month[buy]).groupby(codes[buy]).min() \
        .reindex(np.arange(len(ids))).to_numpy()
    start = first[codes[known]]
    bought = ~np.isnan(start)  # customers with returns only have no first month
    # net revenue per (customer, month since the first) in integer cents, then discounted:
    # the same sum whatever the order of the rows (the engines do not keep file order)
    value_cents = cents(clean["amount"].to_numpy())
    if "cost" in clean:  # Σ (Rₜ − Cₜ): the rows' own costs, no constant margin
        value_cents = value_cents - cents(clean["cost"].to_numpy())
    t = np.clip(month[known][bought] - start[bought], 0, None).astype("int64")
    span = int(t.max()) + 1 if len(t) else 1
    key, per = grouped_sum(codes[known][bought] * span + t, value_cents[known][bought])
    code, t = np.divmod(key, span)
    margin = 1.0 if "cost" in clean else params.margin
    value = margin * (per / 100) / (1 + d) ** t
    total = np.bincount(code, weights=value, minlength=len(ids))
    return pd.Series(to_cent(total), index=pd.Index(ids, dtype="str"), name="historical_clv")


def to_cent(value: np.ndarray) -> np.ndarray:
    """Historical CLV rounded to the cent: a sum of discounted amounts is added in another
    order on another engine (last digits differ); to the cent every engine agrees."""
    return np.rint(np.asarray(value, dtype="float64") * 100) / 100


def half_revenues(clean: pd.DataFrame, split: pd.Timestamp, order: pd.Series,
                  codes: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Net revenue of each customer of ``order`` (the customers table's ids, in its order)
    before ``split`` and from it; NaN in a half with no purchase."""
    codes, ids = codes if codes is not None else customer_codes(clean["customer_id"])
    amount_cents = cents(clean["amount"])
    buy = purchase_rows(clean, codes)
    early = (clean["date"] < split).to_numpy()
    place = CustomerOrder(order)
    out = pd.DataFrame({"customer_id": place.index().array})
    for name, part in (("first_half", early), ("second_half", ~early)):
        sel = part & (codes >= 0)
        rev = np.bincount(codes[sel], weights=amount_cents[sel], minlength=len(ids))
        buyers = np.bincount(codes[sel & buy], minlength=len(ids)) > 0
        out[name] = place.place(ids, np.where(buyers, np.rint(rev) / 100, np.nan))
    return out


def monthly_series(month_start: np.ndarray, amount_cents: np.ndarray,
                   buyer: np.ndarray | None = None) -> pd.DataFrame:
    """Transactions, net revenue and buying customers per calendar month (``month_start``:
    each row's month as ``datetime64`` of its first day; ``buyer``: each row's customer
    code where it is a purchase of a known customer, else -1)."""
    frame = pd.DataFrame({"month": month_start, "cents": amount_cents})
    per = frame.groupby("month").agg(transactions=("cents", "size"), cents=("cents", "sum"))
    out = pd.DataFrame({"month": per.index.to_numpy(dtype="datetime64[ns]"),
                        "transactions": per["transactions"].to_numpy(dtype="int64"),
                        "revenue": np.rint(per["cents"].to_numpy(dtype="float64")) / 100})
    if buyer is not None:
        bought = frame.assign(code=buyer)[buyer >= 0].groupby("month")["code"].nunique()
        out["customers"] = bought.reindex(per.index, fill_value=0).to_numpy(dtype="int64")
    return out


def repeat_days_and_cohorts(daily: pd.DataFrame, cal_end: pd.Timestamp,
                            obs_end: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For the tracking plot, from the purchase days (``summary.purchase_days``: sorted
    (code, day) pairs): repeat purchase days per day up to ``obs_end`` and the
    first-purchase cohorts, both of the customers whose first purchase is on or before
    ``cal_end``."""
    code, day = daily["code"].to_numpy(), daily["day"].to_numpy()
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]]) if len(code) else \
        np.zeros(0, dtype="int64")
    first = np.repeat(day[starts], np.diff(np.r_[starts, len(code)]))
    cal = first <= day_number(cal_end)
    repeat = cal & (day > first) & (day <= day_number(obs_end))
    per_day = pd.Series(day[repeat]).value_counts().sort_index()
    cohorts = pd.Series(day[starts][cal[starts]]).value_counts().sort_index()
    return (pd.DataFrame({"day": per_day.index.to_numpy(dtype="int64"),
                          "purchases": per_day.to_numpy(dtype="int64")}),
            pd.DataFrame({"first_day": cohorts.index.to_numpy(dtype="int64"),
                          "customers": cohorts.to_numpy(dtype="int64")}))


def cohort_months(clean: pd.DataFrame, codes: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """Per cohort (the calendar month of the customers' first purchase) and calendar
    month: how many of its customers bought (purchase rows) and its net revenue (returns
    included), to the cent; customers who never bought (returns only) are in no cohort.

    On integer keys (months since 1970, customer codes): a customer's first month by
    ``np.minimum.at``, the revenue by ``np.bincount``, the buyers from a bitmap of
    customers × months (up to :data:`BITMAP_CELLS` cells; else the distinct pairs by
    hash); pandas' grouped ``nunique`` took 2.4 s of the stage's 18 s on 10 million rows."""
    code = codes[0]
    month = clean["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[M]") \
        .astype("int64")
    buy = purchase_rows(clean, code)
    if not buy.any():
        return cohort_frame([], [], [], [])
    lo = int(month.min())
    span = int(month.max()) - lo + 1
    first = np.full(len(codes[1]), span, dtype="int64")  # span: never bought
    np.minimum.at(first, code[buy], month[buy] - lo)
    known = code >= 0
    cohort = np.full(len(code), span, dtype="int64")
    cohort[known] = first[code[known]]
    rows = cohort < span
    key = cohort[rows] * span + (month[rows] - lo)
    cents_sum = np.bincount(key, weights=cents(clean["amount"].to_numpy())[rows],
                            minlength=span * span)
    present = np.bincount(key, minlength=span * span) > 0
    n = len(codes[1])
    if n * span <= BITMAP_CELLS:  # who bought in which month, one bit a cell
        bought = np.zeros((n, span), dtype=bool)
        bought[code[buy], month[buy] - lo] = True
        buyers = np.zeros((span, span), dtype="int64")
        for c in np.unique(first[first < span]):
            buyers[c] = bought[first == c].sum(axis=0)
        buyers = buyers.ravel()
    else:  # the distinct (customer, cohort month) pairs, by hash
        pairs = pd.unique(code[buy].astype("int64") * (span * span) +
                          (cohort[buy] * span + month[buy] - lo)) % (span * span)
        buyers = np.bincount(pairs, minlength=span * span)
    at = np.flatnonzero(present)
    return cohort_frame(at // span + lo, at % span + lo, buyers[at], cents_sum[at])


def cohort_frame(cohort, month, customers, cents_sum) -> pd.DataFrame:
    """:func:`cohort_months`' table from its columns (months as months since 1970-01),
    as every engine writes it."""
    return pd.DataFrame({
        "cohort": np.asarray(cohort, dtype="int64").astype("datetime64[M]")
        .astype("datetime64[ns]"),
        "month": np.asarray(month, dtype="int64").astype("datetime64[M]")
        .astype("datetime64[ns]"),
        "customers": np.asarray(customers, dtype="int64"),
        "revenue": np.rint(np.asarray(cents_sum, dtype="float64")) / 100})


def sample_rows(clean: pd.DataFrame, n: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first ``n`` clean rows by date, customer id and the other columns (the order the
    engines use), found among the earliest dates without sorting every row."""
    if len(clean) == 0:
        return clean.head(0)
    cutoff = clean["date"].nsmallest(n).max()
    early = clean[clean["date"] <= cutoff]
    key = ["date", "customer_id", *[c for c in clean if c not in ("date", "customer_id")]]
    return early.sort_values(key, kind="stable", na_position="first").head(n) \
        .reset_index(drop=True)


def clv_inputs(clean: pd.DataFrame, params: ClvParams, window: Window, order: pd.Series,
               cal_end: pd.Timestamp | None = None,
               codes: tuple[np.ndarray, np.ndarray] | None = None,
               daily: pd.DataFrame | None = None) -> ClvInputs:
    """Notebook 04's inputs from the clean rows (``order``: the customers table's ids;
    ``cal_end``: default ``calibration_end``, else the last 40 % of the window held out;
    ``codes``, ``daily``: the rows' customer codes and ``summary.purchase_days``, when
    already computed)."""
    cal_end = clv_inputs_end(window, params) if cal_end is None else cal_end
    codes = codes if codes is not None else customer_codes(clean["customer_id"])
    place = CustomerOrder(order)
    hist = pd.Series(place.place(codes[1], historical_clv(clean, params, codes).to_numpy()),
                     index=place.index(), name="historical_clv")
    daily = purchase_days(clean, codes[0]) if daily is None else daily
    cal = calibration_holdout(clean, cal_end, window.end, params.time_unit, codes, daily) \
        if cal_end < window.end else None
    repeat, cohorts = repeat_days_and_cohorts(daily, cal_end, window.end)
    earlier = [(c, {k: v.to_numpy() for k, v in calibration_holdout(
        clean, c, e, params.time_unit, codes, daily).items()})
        for c, e in backtest_origins(window.start, window.end, cal_end)[1:]]
    return ClvInputs(cal_end, hist, cal, repeat, cohorts, stack_backtests(earlier))


def stack_backtests(parts: list[tuple[pd.Timestamp, dict[str, np.ndarray]]]
                    ) -> pd.DataFrame | None:
    """The earlier backtests' calibration frames (each origin's columns) as one table, each
    row's ``origin`` (its calibration end) first, without customer ids (the backtests need
    none; nothing to hash); None without any. Column by column, each column's parts let go
    as it is joined (``parts`` is emptied): ten million customers' frames are not held
    twice."""
    if not parts:
        return None
    sizes = [len(next(iter(cols.values()))) for _, cols in parts]
    out = {"origin": pd.Series([o for o, _ in parts]).repeat(sizes).to_numpy()}
    for name in list(parts[0][1]):
        out[name] = np.concatenate([cols.pop(name) for _, cols in parts])
    return pd.DataFrame(out, copy=False)


def spend_frame(ids: np.ndarray, category: np.ndarray, cents_sum: np.ndarray
                ) -> pd.DataFrame:
    """The category spend as every engine hands it: ids and categories as text (None: no
    category), integer cents, ordered by id then category (the missing one last)."""
    out = pd.DataFrame({"customer_id": pd.array(ids, dtype="str"),
                        "category": pd.Series(category, dtype="object").where(
                            pd.notna(category), None).astype("str"),
                        "cents": np.asarray(cents_sum, dtype="int64")})
    return out.sort_values(["customer_id", "category"], na_position="last",
                           kind="stable").reset_index(drop=True)


def category_spend(clean: pd.DataFrame, codes: tuple[np.ndarray, np.ndarray]
                   ) -> pd.DataFrame | None:
    """Each customer's net spend per category in cents (returns netted where they are
    kept): its rows add up to the customer's revenue. None without ``columns.category``."""
    if "category" not in clean:
        return None
    code, ids = codes
    cat, labels = pd.factorize(clean["category"], use_na_sentinel=True)
    ok = code >= 0
    g = pd.DataFrame({"code": code[ok], "cat": cat[ok], "cents": cents(clean["amount"])[ok]}) \
        .groupby(["code", "cat"], sort=False)["cents"].sum().reset_index()
    names = np.append(np.asarray(labels, dtype=object), None)  # -1: no category
    return spend_frame(np.asarray(ids)[g["code"].to_numpy()], names[g["cat"].to_numpy()],
                       g["cents"].to_numpy())


def compute(clean: pd.DataFrame, customers: pd.DataFrame, params: Params,
            codes: tuple[np.ndarray, np.ndarray] | None = None,
            daily: pd.DataFrame | None = None) -> Aggregates:
    """The aggregates of these clean rows (pandas): what the notebooks need of them
    (``codes``, ``daily``: as :func:`clv_inputs` takes them)."""
    window = params.summary.window(clean)
    split, cal_end = split_dates(window, params)
    codes = customer_codes(clean["customer_id"]) if codes is None else codes
    amount_cents = cents(clean["amount"])
    month = clean["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    return Aggregates(
        window=window, last_date=pd.Timestamp(clean["date"].max()),
        transactions=int(len(clean)), zero_amount_rows=int((amount_cents == 0).sum()),
        monthly=monthly_series(month, amount_cents,
                               np.where(purchase_rows(clean, codes[0]), codes[0], -1)),
        split=split,
        halves=half_revenues(clean, split, customers["customer_id"], codes),
        clv=clv_inputs(clean, params.clv, window, customers["customer_id"], cal_end, codes,
                       daily),
        sample=sample_rows(clean), cohort_months=cohort_months(clean, codes),
        category_spend=category_spend(clean, codes))
