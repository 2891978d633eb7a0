"""Stage 1 on a query engine, part 3: the cleaning rules with their ledger, the customer
summary, as Ibis expressions.

The rules of ``clean.py`` in the same order and the summary of ``summary.py``, to the row,
the cent and the day (``tests/test_engines.py`` compares them engine by engine).
"""
from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ..config import CleanParams, SummaryParams
from ..units import to_dates
from .ibis_io import Connection
from .ibis_typing import implausible, rint
from .inputs import Before
from .privacy import redact_row
from .rules import (DATE_CEILING, DATE_FLOOR, beyond_range_error, example_order,
                    large_drop_warnings, make_ledger, rounding_cents)

__all__ = ["clean_rules", "customer_days", "purchase_days", "summarise"]


def clean_rules(eng: Connection, t, cfg: CleanParams, today: pd.Timestamp | None = None,
                warnings: list[str] | None = None, before: Before | None = None):
    """The rules of ``clean.py`` in the same order. Returns (ledger as pandas, clean rows as
    a cached engine table with ``ret``, ``cents`` and ``day``)."""
    canon = [c for c in t.columns if c not in ("cents", "day", "ret")]
    odd = implausible(t, today)
    price = t.unit_price if "unit_price" in t.columns else t.amount
    rules = []
    if cfg.drop_missing_customer:
        rules.append((t.customer_id.isnull(), "missing_customer_id"))
    if cfg.drop_implausible_dates:
        rules.append((odd, "implausible_dates"))
    else:  # kept dates must be ones the pandas engine holds too (one more pass, rule off)
        beyond = (t.date <= DATE_FLOOR.to_pydatetime()) | \
            (t.date >= DATE_CEILING.to_pydatetime())
        n = int(eng.frame(t.aggregate(n=beyond.sum())).iloc[0]["n"] or 0)
        if n:
            raise beyond_range_error(n)
    if cfg.returns == "drop":
        rules.append((t.ret, "cancellations"))
    if cfg.drop_non_product and "product_code" in t.columns and cfg.non_product_codes:
        codes = sorted({s.upper() for s in cfg.non_product_codes})
        rules.append((t.product_code.upper().isin(codes).fill_null(False), "non_product_codes"))
    if cfg.drop_non_positive_price:
        rules.append(((price <= 0) & ~t.ret, "non_positive_price"))
    rule = ibis.cases(*rules, else_=ibis.null("string")) if rules else ibis.null("string")
    flagged = t.mutate(rule=rule)

    # identical rows share their fate (every rule is a function of the row's values), so the
    # rows the row-wise rules keep are grouped once: of n copies, n - 1 are duplicates
    alive = flagged.filter(flagged.rule.isnull()).drop("rule")
    if cfg.drop_duplicates:
        alive = alive.group_by([*canon, "cents", "day", "ret"]).aggregate(n=ibis._.count())
    else:
        alive = alive.mutate(n=ibis.literal(1, "int64"))
    start, end = cfg.observation_start, cfg.observation_end
    outside = ibis.literal(False)
    if start is not None:
        outside = outside | (alive.date < start.to_pydatetime())
    if end is not None:
        outside = outside | (alive.date >= (end + pd.Timedelta(days=1)).to_pydatetime())
    alive = alive.mutate(rule=ibis.ifelse(outside, "out_of_window", ibis.null("string")))
    if cfg.returns == "net":
        key = alive.customer_id.fill_null("\x00")
        buyers = alive.filter(alive.rule.isnull() & ~alive.ret) \
            .select(k=alive.customer_id.fill_null("\x00")).distinct()
        orphan = alive.ret & alive.rule.isnull() & ~key.isin(buyers.k)
        alive = alive.mutate(rule=ibis.ifelse(orphan, "returns_without_purchase", alive.rule))
    alive = eng.cache(alive)

    one = ibis.literal(1, "int64")
    parts = [
        t.aggregate(step=ibis.literal("input"), rows=t.count(), cents=t.cents.sum()),
        flagged.filter(flagged.rule.notnull()).group_by(step=flagged.rule)
        .aggregate(rows=ibis._.count(), cents=ibis._.cents.sum()),
        alive.aggregate(step=ibis.literal("duplicates"), rows=(alive.n - one).sum(),
                        cents=((alive.n - one) * alive.cents).sum()),
        alive.group_by(step=alive.rule.fill_null("kept"))
        .aggregate(rows=alive.count(), cents=alive.cents.sum()),
    ]
    found = eng.frame(ibis.union(*[p.select("step", "rows", "cents") for p in parts]))
    found = found.groupby("step")[["rows", "cents"]].sum()
    ledger = make_ledger(found["rows"].to_dict(),
                                   {**found["cents"].to_dict(),
                                    "rounding": rounding_cents(eng.subcent)}, before)
    if warnings is not None:
        def example(rule: str):
            if before is not None and rule in before.examples:
                return before.examples[rule]
            rows = alive.filter(alive.n > 1) if rule == "duplicates" else \
                alive.filter(alive.rule == rule) if rule in ("out_of_window",
                                                             "returns_without_purchase") \
                else flagged.filter(flagged.rule == rule)
            key = [rows[c].fill_null("") if rows[c].type().is_string() else rows[c]
                   for c in example_order(rows.columns)]
            found = eng.frame(rows.order_by(key).select(*canon).limit(1))
            return redact_row(found.iloc[0].to_dict(), cfg.privacy, canonical=True) \
                if len(found) else None
        warnings.extend(large_drop_warnings(ledger, cfg.drop_warning_share, example))
    return ledger, alive.filter(alive.rule.isnull()).drop("rule", "n")


def customer_days(eng: Connection, kept):
    """One row per customer and day of the clean rows with an id, cached: the purchases'
    cents (``buy_cents``) and rows (``buys``; 0: a day of returns only), every row's cents
    (``cents``, returns netted), the cents less the cost (``value``, with a cost column)
    and the month (``m``, months since 1970). The summary and the aggregates read this
    grouped table where they would each have grouped the clean rows again (the halves
    cannot: the migration split may fall at noon, inside a day)."""
    known = kept.filter(kept.customer_id.notnull())
    buy = ~known.ret
    sums = {"buy_cents": known.cents.sum(where=buy), "buys": buy.cast("int64").sum(),
            "cents": known.cents.sum(),
            "m": ((known.date.year() - 1970) * 12 + known.date.month() - 1).min()}
    if "cost" in known.columns:  # profit = revenue - cost, summed in cents
        sums["value"] = (known.cents - rint(known.cost * 100)).sum()
    return eng.cache(known.group_by("customer_id", "day").aggregate(**sums))


def purchase_days(days):
    """(customer_id, day, cents) of the days with a purchase, from :func:`customer_days`."""
    bought = days.filter(days.buys > 0)
    return bought.select("customer_id", "day", cents=bought.buy_cents)


def summarise(eng: Connection, kept, days, cfg: SummaryParams, end_day: int) -> pd.DataFrame:
    """``summary.customer_summary`` on the engine: one row per customer with a purchase
    (``days``: :func:`customer_days` of ``kept``)."""
    unit = cfg.time_unit.days
    daily = purchase_days(days)
    per = daily.group_by("customer_id").aggregate(
        first_day=daily.day.min(), last_day=daily.day.max(), days=daily.count(),
        total=daily.cents.sum(), first_cents=daily.cents.argmin(daily.day))
    freq = (per.days - 1).cast("float64")
    per = per.select(
        "customer_id", "first_day", "last_day", frequency=freq,
        recency=(per.last_day - per.first_day).cast("float64") / unit,
        T=(ibis.literal(end_day, "int64") - per.first_day).cast("float64") / unit,
        monetary_value=ibis.ifelse(freq > 0, ((per.total - per.first_cents).cast("float64")
                                              / 100) / freq, 0.0))
    sums = {"rev_cents": days.cents.sum()}
    if "value" in days.columns:
        sums["profit_cents"] = days.value.sum()
    if "order_id" in kept.columns:
        buy = kept.filter(~kept.ret & kept.customer_id.notnull())
        orders = buy.select("customer_id", "day", "order_id").distinct() \
            .group_by("customer_id").aggregate(n_orders=ibis._.count())
    else:
        sums["n_orders"] = days.buys.sum()
    revenue = days.group_by("customer_id").aggregate(**sums)
    out = per.join(revenue, "customer_id")
    if "order_id" in kept.columns:
        out = out.join(orders, "customer_id")
    known = kept.filter(kept.customer_id.notnull())
    for dim in [d for d in cfg.dimensions if d in kept.columns]:
        seen = known.filter(known[dim].notnull()).group_by("customer_id", dim) \
            .aggregate(n=ibis._.count(), latest=ibis._.date.max())
        rank = ibis.row_number().over(group_by=seen.customer_id,
                                      order_by=[seen.n.desc(), seen.latest.desc(), seen[dim]])
        best = seen.mutate(rank=rank).filter(ibis._.rank == 0).select("customer_id", dim)
        out = out.left_join(best, "customer_id").drop("customer_id_right")
    df = eng.frame(out)
    res = pd.DataFrame({"customer_id": pd.array(df["customer_id"], dtype="str")})
    res["first_purchase"] = to_dates(df["first_day"].to_numpy(dtype="int64"))
    res["last_purchase"] = to_dates(df["last_day"].to_numpy(dtype="int64"))
    res["n_orders"] = df["n_orders"].to_numpy(dtype="int64")
    for col in ("frequency", "recency", "T", "monetary_value"):
        res[col] = df[col].to_numpy(dtype="float64")
    res["revenue"] = np.rint(df["rev_cents"].to_numpy(dtype="float64")) / 100
    if "profit_cents" in df:
        res["profit"] = np.rint(df["profit_cents"].to_numpy(dtype="float64")) / 100
    for dim in [d for d in cfg.dimensions if d in df]:
        res[dim] = pd.array(df[dim], dtype="str")
    return res
