"""The transaction stage's vocabulary, defined once for every engine: the cleaning rules'
names, what each removes and what to check when it removes much, the ledger and its
check, the wording of every input error and warning, and the limits of exact money.

The pandas engine (``parse``, ``clean``) and the query engines (``ibis_typing``,
``ibis_rules``) both build their ledgers, errors and warnings from these, so a file gives
the same words on every engine: warnings are messages by key (``analysis.messages``). (What
each rule removes, in words for the reader, is in ``narrative/text.<language>.yaml``.)
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..handoff import uncategorised
from ..messages import Message, msg

__all__ = ["DATE_FLOOR", "DATE_CEILING", "beyond_range_error", "dropped_rows", "RULES",
           "RULE_HINT", "EARLIEST_DATE", "CURRENCY_SYMBOLS",
           "MAX_ROW_AMOUNT", "MAX_TOTAL_CENTS", "date_limit", "implausible_warning",
           "negative_quantity_warning", "example_text", "large_drop_warnings",
           "example_order", "rounding_cents", "SUBCENT_UNITS", "make_ledger",
           "require_purchases",
           "check_ledger", "ledger_table", "date_error", "number_error", "currency_warning",
           "float_ids_warning", "amount_error", "too_large_row", "too_large_total",
           "DIMENSION_MISSING_SHARE", "dimension_missing_warning", "amount_mismatch_warning",
           "CATEGORY_EMPTY_SHARE", "category_warning"]


RULES = ("excluded_rows", "unmatched_lookup", "missing_customer_id", "implausible_dates",
         "cancellations", "non_product_codes", "non_positive_price", "duplicates",
         "out_of_window", "returns_without_purchase")

EARLIEST_DATE = pd.Timestamp("1900-01-01")

#: the ends of what every engine holds as a date (datetime64[ns]); the pandas readers put
#: dates beyond them on them (``parse.bounded_dates``)
DATE_FLOOR, DATE_CEILING = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")




def date_limit(today: pd.Timestamp | None = None) -> pd.Timestamp:
    """The first moment counted as the future by ``implausible_dates`` (tomorrow, 00:00)."""
    return (today or pd.Timestamp.today()).normalize() + pd.Timedelta(days=1)


def implausible_warning(n: int, example: pd.Timestamp) -> Message:
    day = pd.Timestamp(example)
    # dates beyond what a datetime64[ns] holds are read as its ends (parse.bounded_dates)
    shown = msg("date.before_floor") if day <= DATE_FLOOR else \
        msg("date.after_ceiling") if day >= DATE_CEILING else f"{day:%Y-%m-%d}"
    return msg("warning.implausible_dates", n=int(n), date=shown)


def beyond_range_error(n: int) -> InputError:
    """Dates beyond 1677-09-22 … 2262-04-10 kept because ``drop_implausible_dates`` is off:
    no engine could count days from them the same way."""
    return InputError(f"{n:,} row(s) are dated before 1677-09-22 or after 2262-04-10, which "
                      f"no engine can count days from, and drop_implausible_dates is off",
                      column="date", hint="Set drop_implausible_dates: true (the default), "
                      "or fix those dates")


def negative_quantity_warning(n: int, pattern: str | None) -> Message:
    """``pattern``: the cancellation mark those rows lack, None when none is looked for.
    ``n`` counts only rows that the rules before ``cancellations`` keep."""
    if pattern:
        return msg("warning.negative_quantity_unmarked", n=int(n), pattern=pattern)
    return msg("warning.negative_quantity", n=int(n))


#: what to check when a rule removes a large share of the file (``rule_hint.<rule>`` in the
#: message catalogs)
RULE_HINT = {rule: msg("rule_hint." + rule) for rule in RULES}


def example_text(row: Mapping[str, Any] | None) -> str:
    """An example row as shown in a warning: canonical columns, dates as written in ISO."""
    if not row:
        return ""
    parts = []
    for k, v in row.items():
        if k.startswith("_") or k in ("cents", "day", "ret", "is_return"):
            continue
        if v is None or (isinstance(v, float) and np.isnan(v)):
            v = "missing"
        elif isinstance(v, (pd.Timestamp, np.datetime64, _dt.datetime)):
            v = pd.Timestamp(v)
            v = (v.tz_convert(None) if v.tzinfo is not None else v).isoformat(sep=" ")
        elif isinstance(v, (float, np.floating)):
            v = repr(float(v))
        parts.append(f"{k}={v}")
    return "{" + ", ".join(parts) + "}"


def large_drop_warnings(ledger: pd.DataFrame, share: float,
                        example: Callable[[str], Mapping[str, Any] | None]) -> list[Message]:
    """A loud warning for every rule that removed more than ``share`` of the rows or of the
    revenue, with the shares, an example row (``example(rule)``) and what to check."""
    steps = ledger.set_index("step")
    n, total = int(steps.at["input", "rows"]), int(steps.at["input", "cents"])
    out = []
    for rule in RULES:
        rows, c = int(steps.at[rule, "rows"]), int(steps.at[rule, "cents"])
        row_share = rows / n if n else 0.0
        rev_share = c / total if total > 0 else 0.0
        if rows and (row_share > share or abs(rev_share) > share):
            out.append(msg("warning.large_drop", rule=rule, rows=rows, n=n,
                           row_share=row_share, revenue=c / 100, total=total / 100,
                           revenue_share=rev_share, example=example_text(example(rule)),
                           hint=RULE_HINT[rule]))
    return out


def example_order(frame: pd.DataFrame) -> list[str]:
    """The columns that pick a rule's example row the same way on every engine: the earliest
    date, then the amount, then the text columns (missing first)."""
    return [c for c in ("date", "amount", "customer_id", "order_id", "product_code")
            if c in frame]


#: the unit of the rows' sub-cent differences: 10⁻⁸ of the currency
SUBCENT_UNITS = 100_000_000


def rounding_cents(subcent: int) -> int:
    """Cents that rounding each row to the cent removed, from the sum of the rows'
    differences in 1/:data:`SUBCENT_UNITS` of the currency (rounded half to even, once)."""
    return int(np.rint(subcent / (SUBCENT_UNITS // 100)))


def make_ledger(rows: Mapping[str, int], cents_: Mapping[str, int],
                before: Any = None) -> pd.DataFrame:
    """The ledger from rows and cents per step (steps not given count 0), checked.
    ``cents_['input']`` is the rows' total after rounding; ``cents_['rounding']`` what
    rounding changed, added to the input line so that it is the file's own total.
    ``before`` (``inputs.Before``): rows left out before typing, by rule, added to their
    rule's line and to the input line."""
    steps = ["input", "rounding", *RULES, "kept"]
    cents_ = dict(cents_)
    if before is not None:
        rows = dict(rows)
        for rule in before.rows:
            rows[rule] = int(rows.get(rule, 0) or 0) + before.rows[rule]
            cents_[rule] = int(cents_.get(rule, 0) or 0) + before.cents[rule]
            rows["input"] = int(rows.get("input", 0) or 0) + before.rows[rule]
            cents_["input"] = int(cents_.get("input", 0) or 0) + before.cents[rule]
    cents_["input"] = int(cents_.get("input", 0) or 0) + int(cents_.get("rounding", 0) or 0)
    ledger = pd.DataFrame({"step": steps,
                           "rows": [int(rows.get(s, 0) or 0) for s in steps],
                           "cents": [int(cents_.get(s, 0) or 0) for s in steps]})
    ledger["revenue"] = ledger["cents"] / 100
    ledger = ledger[["step", "rows", "revenue", "cents"]]
    check_ledger(ledger)
    return ledger


def require_purchases(purchases: int, ledger: pd.DataFrame, file: str) -> None:
    """Raise InputError when cleaning left no purchase row (``purchases``: the clean rows
    that are not returns), naming what removed the rows."""
    if purchases:
        return
    raise InputError("cleaning removed every row, so there is nothing to analyse: "
                     + ", ".join(f"{r.step} {r.rows}" for r in ledger.itertuples()
                                 if r.step not in ("input", "kept") and r.rows),
                     file=file, hint="Check the column mapping and the cleaning parameters "
                     "(returns, drop_* and observation window)")


def dropped_rows(ledger: pd.DataFrame) -> int:
    """Rows the cleaning rules removed (0 when every row was kept)."""
    steps = ledger[~ledger["step"].isin(["input", "kept", "rounding"])]
    return int(steps["rows"].sum())


def check_ledger(ledger: pd.DataFrame) -> None:
    """Raise AssertionError unless input = kept + Σ dropped, in rows and in cents."""
    steps = ledger.set_index("step")
    dropped = steps.drop(index=["input", "kept"])  # the rounding line included
    rows_ok = steps.at["input", "rows"] == steps.at["kept", "rows"] + dropped["rows"].sum()
    rev_ok = steps.at["input", "cents"] == steps.at["kept", "cents"] + dropped["cents"].sum()
    if not (rows_ok and rev_ok):
        raise AssertionError(f"cleaning ledger does not reconcile:\n{ledger}")


def ledger_table(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger as written to ``cleaning_ledger.csv``: step, rows, revenue."""
    return ledger[["step", "rows", "revenue"]].copy()


# -- input errors and warnings (every engine) ----------------------------------------------

def date_error(n: int, blank: bool, fmt: str, file: str, column: str, row: dict | None,
               line: int | None = None) -> InputError:
    kind = "is empty" if blank else "could not be read as a date"
    return InputError(f"{n} row(s) have a date that {kind} (expected format {fmt})",
                      file=file, column=column, row=row, line=line,
                      hint="Set date_format in the parameter file, or fix those rows")


def number_error(n: int, canon: str, file: str, column: str, row: dict | None,
                 line: int | None = None) -> InputError:
    return InputError(f"{n} row(s) have a {canon.replace('_', ' ')} that is not a finite number "
                      f"(empty, text, NaN or inf)", file=file, column=column, row=row,
                      line=line, hint="Amounts must be numbers; set decimal: ',' for decimal "
                      "commas and thousands: ',' (or '.') for digit grouping")


#: a dimension that loses more than this share of its values to missing-value words warns
DIMENSION_MISSING_SHARE = 0.02


def dimension_missing_warning(column: str, n: int, rows: int) -> Message | None:
    """The warning for a dimension that lost ``n`` of ``rows`` non-blank values to a word of
    ``dimension_missing_values``, or None when that is at most
    :data:`DIMENSION_MISSING_SHARE` of the rows."""
    if not rows or n / rows <= DIMENSION_MISSING_SHARE:
        return None
    return msg("warning.dimension_missing", column=str(column), n=int(n), rows=int(rows),
               share=n / rows)


def currency_warning(column: str, n: int) -> Message:
    return msg("warning.currency_symbols", column=str(column), n=int(n))


def float_ids_warning(column: str, example: str | None) -> Message:
    """``example``: a raw id, or None when ids are anonymised (no raw id is ever printed)."""
    if example is None:
        return msg("warning.float_ids_hidden", column=str(column))
    return msg("warning.float_ids", column=str(column), example=str(example))


CURRENCY_SYMBOLS = r"[$€£¥₹]|\b(?:USD|EUR|GBP|CNY|RMB|JPY)\b"


#: the largest amount of one row: its value in 1/10,000 of the currency fits an int64 with
#: room to spare, and a file of such rows is refused by the total check below
MAX_ROW_AMOUNT = 1e13


#: the largest total of amounts (in cents) counted exactly: every sum, in integers or in
#: float64 (which holds whole numbers exactly up to 2**53), stays exact below it
MAX_TOTAL_CENTS = 2 ** 53


def amount_error(problem: str, file: str, column: str, row: dict | None,
                 line: int | None = None) -> InputError:
    return InputError(problem, file=file, column=column, row=row, line=line,
                      hint="Check the column mapping, the decimal and thousands marks, and "
                      "that the amounts are in currency units (not in a scaled unit)")


def too_large_row(n: int) -> str:
    return (f"{n} row(s) have an amount beyond ±{MAX_ROW_AMOUNT:,.0f}, too large to count "
            f"exactly to the cent")


def too_large_total(total_cents: float) -> str:
    return (f"the amounts add up to {total_cents / 100:,.0f} in absolute value, beyond the "
            f"{MAX_TOTAL_CENTS / 100:,.0f} that can be summed exactly to the cent")


def amount_mismatch_warning(n: int, rows: int, amount_cents: int, product_cents: int,
                            example: Mapping[str, Any] | None) -> Message | None:
    """Where ``amount`` and quantity × unit price are both mapped: the rows whose amount is
    more than a cent from the product, the two totals and an example row (None when all
    agree). The amount is what the run uses."""
    if not n:
        return None
    gap = (amount_cents - product_cents) / abs(product_cents) if product_cents else 0.0
    return msg("warning.amount_mismatch", n=int(n), rows=int(rows), share=n / rows if rows
               else 0.0, amount=amount_cents / 100, product=product_cents / 100, gap=gap,
               example=example_text(example))


#: above this share of the kept revenue without a category, the run warns
CATEGORY_EMPTY_SHARE = 0.5


def category_warning(spend: pd.DataFrame | None) -> Message | None:
    """The warning when most of the kept revenue has no category (``category_spend``)."""
    if spend is None or not len(spend):
        return None
    empty, total = uncategorised(spend)
    if total <= 0 or empty / total <= CATEGORY_EMPTY_SHARE:
        return None
    return msg("warning.category_empty", share=empty / total, revenue=empty / 100,
               total=total / 100)
