"""Stage 1 on a query engine, part 2: text as written to typed canonical columns.

:func:`typed` builds, as Ibis expressions, what ``parse.coerce`` does in pandas: trimmed
text with the missing words as NULL, numbers (decimal and thousands marks, currency
symbols), dates (ISO, or ``date_format`` with the engine's own parser), cents rounded half
to even, day numbers and the cancellation flag; it counts what does not parse and raises
the same errors, with one example row, and gives the same warnings in the same order.
"""
from __future__ import annotations

import re
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from ..config import CleanParams, ReadParams
from ..errors import InputError
from .ibis_io import Connection, reading
from .ibis_text import null_words, text, trimmed
from .load import missing_columns_text
from .privacy import redact_row
from .rules import (CURRENCY_SYMBOLS, EARLIEST_DATE, MAX_ROW_AMOUNT, MAX_TOTAL_CENTS,
                    SUBCENT_UNITS, amount_error, currency_warning, date_error, date_limit,
                    dimension_missing_warning, float_ids_warning,
                    implausible_warning, negative_quantity_warning, number_error,
                    amount_mismatch_warning,
                    too_large_row, too_large_total)

__all__ = ["java_pattern", "rint", "day", "typed"]

def _number(col, cfg: ReadParams, text_done: bool = False):
    """(the value as float64, a flag for a currency symbol or None); ``text_done``: ``col``
    went through ``_text`` already."""
    if col.type().is_numeric():
        return col.cast("float64"), None
    t = col if text_done else text(col, cfg.missing_tokens)
    plain = not cfg.thousands and cfg.decimal == "."
    direct = t.try_cast("float64") if plain else None
    cleaned = t.re_replace(CURRENCY_SYMBOLS, "").re_replace(r"^\s+|\s+$", "")
    if cfg.thousands:
        cleaned = cleaned.replace(cfg.thousands, "")
    if cfg.decimal != ".":
        cleaned = cleaned.replace(cfg.decimal, ".")
    if not plain:
        return cleaned.try_cast("float64"), t.re_search(CURRENCY_SYMBOLS)
    # most values are plain numbers: the regular expressions only run where the cast fails
    # (a value with a currency symbol never casts)
    return direct.coalesce(cleaned.try_cast("float64")), \
        direct.isnull() & t.notnull() & t.re_search(CURRENCY_SYMBOLS)


def _timestamp(eng: Connection, col, cfg: ReadParams, text_done: bool = False):
    if col.type().is_timestamp() or col.type().is_date():
        return col.cast("timestamp")
    t = col if text_done else text(col, cfg.missing_tokens)
    fmt = cfg.date_format
    if not fmt:
        if eng.casts_offsets:  # Spark's cast honours an offset (its session is UTC)
            return t.try_cast("timestamp")
        # DuckDB's cast to TIMESTAMP drops an offset (+02:00, Z); a text that has one is
        # cast with its zone and converted to UTC (the connection's TimeZone), as the
        # pandas engine does. Only such texts take the slower cast.
        n = t.length()
        zoned = (n > 10) & ((t.right(1) == "Z") | t.substr(n - 6, 1).isin(["+", "-"]) |
                            t.substr(n - 5, 1).isin(["+", "-"]))
        # (a blank before the offset, as Shopify writes "2023-01-05 14:22:10 +0100", is
        # taken out: DuckDB's cast refuses it, pandas reads it)
        bare = t.re_replace(r"\s+([+-]\d\d:?\d\d)$", r"\1")
        return ibis.ifelse(zoned, bare.try_cast(dt.Timestamp(timezone="UTC")).cast("timestamp"),
                           t.try_cast("timestamp"))
    # the engine's own parser, which gives NULL where the text does not parse
    name, java = eng.date_parser
    return _timestamp_function(name)(t, java_pattern(fmt) if java else fmt).cast("timestamp")


def _timestamp_function(name: str):
    """An engine's built-in ``name(text, format) -> timestamp`` as an Ibis function."""

    def fn(s, f):
        ...
    fn.__name__ = name
    fn.__annotations__ = {"s": dt.string, "f": dt.string, "return": dt.timestamp}
    return ibis.udf.scalar.builtin(name=name)(fn)


_JAVA = {"Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s",
         "f": "SSSSSS", "p": "a", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE", "z": "Z",
         "j": "D"}


def java_pattern(fmt: str) -> str:
    """A strftime format as a Spark datetime pattern. A number next to another number
    (``%Y%m%d``) gets its full width; otherwise one letter, which reads one or two digits,
    as strptime does (``12/2/2010 8:32`` with ``%m/%d/%Y %H:%M``)."""
    tokens = re.findall(r"%.|[^%]+", fmt)
    out = []
    for i, tok in enumerate(tokens):
        if not tok.startswith("%"):
            out.append("'" + tok.replace("'", "''") + "'" if re.search(r"[A-Za-z]", tok)
                       else tok)
            continue
        code = tok[1]
        if code == "%":
            out.append("%")
            continue
        if code not in _JAVA:
            raise InputError(f"date_format directive {tok!r} is not supported by engine 'spark'",
                             file="parameters", column="date_format",
                             hint="Use %Y %y %m %d %H %I %M %S %f %p %b %B %a %A %z %j")
        pat = _JAVA[code]
        adjacent = any(0 <= j < len(tokens) and tokens[j].startswith("%") for j in (i - 1, i + 1))
        if adjacent and len(pat) == 1:
            pat = pat * 2
        out.append(pat)
    return "".join(out)


def _not_finite(v):
    return v.isnull() | v.isnan() | v.isinf()


def _too_large(v):
    """A money value the run refuses (``rules.MAX_ROW_AMOUNT``), or one that is not finite."""
    return _not_finite(v) | (v.abs() > MAX_ROW_AMOUNT)


def rint(y):
    """Round half to even, as numpy's rint, so cents agree with the pandas engine."""
    f = y.floor().cast("int64")
    d = y - f
    return ibis.cases((d > 0.5, f + 1), (d < 0.5, f), else_=f + (f % 2).abs())


def _cents(y, big):
    """``rint(y)`` as an integer, NULL where ``big`` (no cast may overflow)."""
    return ibis.ifelse(big, ibis.null("int64"), rint(y))


def _parse(eng: Connection, raw, cfg: ReadParams, file: str):
    """(the typed table with the check flags, cached on the engine; the raw table's mapped
    columns; the currency-symbol flag of each numeric file column; the output columns)."""
    src = dict(cfg.columns)
    usecols = list(dict.fromkeys(list(src.values()) + list(cfg.dimensions)))
    missing = [c for c in usecols if c not in raw.columns]
    if missing:
        raise InputError(missing_columns_text(missing, "file"), file=file, column=missing[0],
                         hint=f"The file's columns are {list(raw.columns)[:12]}")
    raw = raw.select(*usecols, *(["_file"] if "_file" in raw.columns else []))
    # built in steps, each on the columns of the last, so that no parsing expression is
    # repeated inside another in the SQL the engine gets
    def kept_type(col):
        return col.type().is_numeric() or col.type().is_timestamp() or col.type().is_date()

    text_cols = {"customer_id": src["customer_id"],
                 **{c: src[c] for c in ("order_id", "product_code", "category") if c in src},
                 **{d: d for d in cfg.dimensions}}
    numeric = [c for c in ("amount", "quantity", "unit_price", "cost", "profit") if c in src]
    money = [c for c in ("cost", "profit") if c in src]  # the row's cost, or its profit
    nulls = cfg.missing_tokens
    # on DuckDB each file column is trimmed once, then read as missing or not per use (a
    # step of its own: DuckDB evaluates an expression repeated inside another twice);
    # Spark keeps the one step it was measured with
    once = eng.name == "duckdb"
    step0 = raw.select(*[raw[c] if kept_type(raw[c]) or c == "_file"
                         else trimmed(raw[c], by_code_point=True).name(c)
                         for c in raw.columns]) if once else raw
    read = null_words if once else text  # on Spark, trimmed where it is read
    step1 = step0.select(
        **{c: read(step0[col], cfg.dimension_missing_tokens if c in cfg.dimensions
                   else nulls) for c, col in text_cols.items()},
        _date_in=step0[src["date"]] if kept_type(step0[src["date"]])
        else read(step0[src["date"]], nulls),
        **{f"_{c}_in": step0[src[c]] if kept_type(step0[src[c]])
           else read(step0[src[c]], nulls) for c in numeric},
        **({"_file": step0._file} if "_file" in step0.columns else {}))
    passthrough = list(text_cols) + (["_file"] if "_file" in raw.columns else [])
    pattern = cfg.cancel_regex
    step2: dict[str, Any] = {
        "date": _timestamp(eng, step1._date_in, cfg, text_done=True),
        "_blank_date": step1._date_in.isnull(),
        "_marked": step1.order_id.re_search(pattern).fill_null(False)
        if pattern and "order_id" in src else ibis.literal(False)}
    symbols: dict[str, int] = {}
    for canon in numeric:
        value, symbol = _number(step1[f"_{canon}_in"], cfg, text_done=True)
        step2[f"_{canon}_v"] = value
        if symbol is not None and src[canon] not in symbols:  # one flag per file column
            step2[f"_sym_{len(symbols)}"] = symbol
            symbols[src[canon]] = len(symbols)
    step2 = step1.select(*passthrough, **step2)
    amount = step2._amount_v if "amount" in src else step2._quantity_v * step2._unit_price_v
    step3 = step2.mutate(_amount=amount,
                         **{f"_bad_{c}": _not_finite(step2[f"_{c}_v"]) for c in numeric})
    # rows too large to count exactly are refused below (as load refuses them); their cents
    # stay NULL so that no cast overflows on the engine
    # each in a step of its own: the sub-cent part rounds the amount less its cents, and
    # with the cents' rounding written inside it the SQL held 25 copies of the amount's
    step3 = step3.mutate(_big=_too_large(step3._amount),
                         **{f"_big_{c}": _too_large(step3[f"_{c}_v"]) for c in money})
    step4 = step3.mutate(cents=_cents(step3._amount * 100, step3._big),
                         **{f"_{c}_cents": _cents(step3[f"_{c}_v"] * 100, step3[f"_big_{c}"])
                            for c in money})
    step4 = step4.mutate(_sub=_cents((step4._amount - step4.cents.cast("float64") / 100)
                                     * SUBCENT_UNITS, step4._big))
    # a return is decided on the cents the rules work on, as the pandas engine does: an
    # amount of -0.004 is a zero-amount row, not a return
    negative = (step4._quantity_v < 0) if "quantity" in src else (step4.cents < 0)
    cost = {}
    if "cost" in src:
        cost["cost"] = step4._cost_cents.cast("float64") / 100
    elif "profit" in src:
        cost["cost"] = (step4.cents - step4._profit_cents).cast("float64") / 100
    step5 = step4.mutate(amount=step4.cents.cast("float64") / 100, day=day(step4.date),
                         ret=step4._marked | negative.fill_null(False), **cost)
    canon_order = ["customer_id", "date", "amount",
                   *[c for c in ("quantity", "unit_price") if c in src], *cost,
                   *[c for c in ("order_id", "product_code", "category") if c in src],
                   *cfg.dimensions]
    cols = {**{c: step5[c] for c in canon_order if c not in ("quantity", "unit_price")},
            **{c: step5[f"_{c}_v"] for c in ("quantity", "unit_price") if c in src},
            "cents": step5.cents, "day": step5.day, "ret": step5.ret}
    cols = {c: cols[c] for c in [*canon_order, "cents", "day", "ret"]}
    flags = {"_marked": step5._marked, "_blank_date": step5._blank_date, "_big": step5._big,
             **{f"_big_{c}": step5[f"_big_{c}"] for c in money},
             "_sub": step5._sub,
             **{f"_bad_{c}": step5[f"_bad_{c}"] for c in numeric},
             **{f"_sym_{i}": step5[f"_sym_{i}"] for i in symbols.values()},
             **({"_file": step5._file} if "_file" in raw.columns else {})}
    # DuckDB reads the file here; Spark only when the checks below run
    with reading(eng, file, cfg):
        t = eng.cache(step5.select(**cols, **flags))
        eng.parsed = t
    return t, raw, symbols, list(cols)


def typed(eng: Connection, raw, cfg: ReadParams, cleaning: CleanParams, file: str,
          warnings: list[str] | None, today: pd.Timestamp | None = None):
    """The canonical transactions table (``customer_id, date, amount, …, dimensions``) with
    helper columns ``cents``, ``day`` and ``ret``, parsed once and cached on the engine.
    Raises InputError naming the file, the column and an example row when a date or a
    number does not parse; appends the warnings the pandas engine gives, in its order."""
    t, raw, symbols, cols = _parse(eng, raw, cfg, file)
    src = dict(cfg.columns)
    numeric = [c for c in ("amount", "quantity", "unit_price", "cost", "profit") if c in src]
    money = [c for c in ("cost", "profit") if c in src]
    checks = {"date": src["date"], **{c: src[c] for c in numeric}}
    pattern = cfg.cancel_regex
    # one pass over the cached table for every check and warning
    odd = implausible(t, today)
    aggs = {"rows": t.count(), "bad_date": t.date.isnull().sum(),
            "blank_date": t._blank_date.sum(),
            **{f"bad_{c}": t[f"_bad_{c}"].sum() for c in checks if c != "date"},
            **{f"sym_{i}": t[f"_sym_{i}"].sum() for i in range(len(symbols))},
            "ids": t.customer_id.count(),
            "float_ids": t.customer_id.re_search(r"^\d+\.0$").sum(),
            "id_example": t.customer_id.min(),
            "odd": odd.sum(), "odd_first": t.date.argmin(ibis.ifelse(odd, 0, 1))}
    aggs.update(big=t._big.sum(), abs_cents=t.cents.abs().cast("float64").sum(),
                cents=t.cents.sum(),
                sub=t._sub.sum(), **{f"big_{c}": t[f"_big_{c}"].sum() for c in money})
    if "quantity" in t.columns:  # among the rows the rules before cancellations keep
        neg = (t.quantity < 0) & ~t._marked
        if cleaning.drop_missing_customer:
            neg = neg & t.customer_id.notnull()
        if cleaning.drop_implausible_dates:
            neg = neg & ~odd
        aggs["neg"] = neg.sum()
    both = {"amount", "quantity", "unit_price"} <= set(src) and \
        len({src["amount"], src["quantity"], src["unit_price"]}) == 3
    if both:  # amount against quantity × unit price (``inputs.check_amounts``)
        product = rint(t.quantity * t.unit_price * 100)
        aggs.update(off=((t.cents - product).abs() > 1).sum(), product=product.sum())
    with reading(eng, file, cfg):
        counts = eng.frame(t.aggregate(**aggs)).iloc[0]
    if int(counts["rows"]) == 0:
        raise InputError("the data file has a header but no data rows", file=file)
    for canon, column in checks.items():
        n = int(counts[f"bad_{canon}"])
        if not n:
            continue
        example = eng.frame(raw.filter(_raw_mask(eng, raw, cfg, src, canon)).limit(1))
        example = redact_row(example.iloc[0].to_dict(), cfg.privacy) if len(example) else None
        if canon == "date":
            raise date_error(n, int(counts["blank_date"]) == n, cfg.date_format or
                             "ISO 8601 (set date_format for any other format)", file,
                             column, example)
        raise number_error(n, canon, file, column, example)
    # money the pandas engine refuses (``parse``: _refuse_large_rows, _refuse_large_total)
    shown = [c for c in cols if c not in ("cents", "day", "ret")]

    def refuse(problem: str, column: str, rows) -> None:
        example = eng.frame(rows.select(*shown).limit(1))
        raise amount_error(problem, file, column,
                           redact_row(example.iloc[0].to_dict(), cfg.privacy, canonical=True))

    amount_column = src.get("amount") or src["unit_price"]
    for flag, column in [("_big", amount_column), *((f"_big_{c}", src[c]) for c in money)]:
        if int(counts[flag[1:]] or 0):
            refuse(too_large_row(int(counts[flag[1:]])), column, t.filter(t[flag]))
    if float(counts["abs_cents"] or 0) >= MAX_TOTAL_CENTS:
        refuse(too_large_total(float(counts["abs_cents"])), amount_column,
               t.order_by(t.cents.abs().desc()))
    eng.subcent = int(counts["sub"] or 0)
    eng.files = eng.frame(t.group_by("_file").aggregate(rows=ibis._.count(),
                                                        cents=ibis._.cents.sum())) \
        if "_file" in t.columns else None
    customer_id = t.customer_id
    if int(counts["ids"]) and int(counts["float_ids"]) == int(counts["ids"]):
        customer_id = customer_id.left(customer_id.length() - 2)
        if warnings is not None:
            warnings.append(float_ids_warning(
                src["customer_id"], None if cfg.privacy.anonymize else counts["id_example"]))
    if warnings is not None:  # in the order the pandas engine gives them
        for i, column in enumerate(symbols):
            if int(counts[f"sym_{i}"]):
                warnings.append(currency_warning(column, int(counts[f"sym_{i}"])))
        warnings.extend(_dimension_losses(eng, raw, cfg, int(counts["rows"])))
        if cleaning.drop_implausible_dates and int(counts["odd"]):
            warnings.append(implausible_warning(int(counts["odd"]), counts["odd_first"]))
        if int(counts.get("neg", 0) or 0):
            warnings.append(negative_quantity_warning(
                int(counts["neg"]), pattern if "order_id" in src else None))
        if both and int(counts["off"] or 0):
            off = t.filter((t.cents - rint(t.quantity * t.unit_price * 100)).abs() > 1)
            example = eng.frame(off.order_by(["date", "amount"]).select(*shown).limit(1))
            warnings.append(amount_mismatch_warning(
                int(counts["off"]), int(counts["rows"]), int(counts["cents"]),
                int(counts["product"]), redact_row(example.iloc[0].to_dict(), cfg.privacy,
                                                   canonical=True)))
    keep = [c for c in cols if not c.startswith("_")]
    return t.select(*[customer_id.name("customer_id") if c == "customer_id" else c
                      for c in keep])


def _dimension_losses(eng: Connection, raw, cfg: ReadParams, rows: int) -> list:
    """The warning of each dimension that lost more than a few per cent of its values to a
    word of ``dimension_missing_values`` (one more pass over the file, only when such
    words are set), as the pandas engine warns."""
    words = cfg.dimension_missing_tokens
    if len(words) < 2 or not cfg.dimensions:
        return []
    counts = eng.frame(raw.aggregate(**{
        f"lost_{i}": (text(raw[d], [""]).notnull() & text(raw[d], words).isnull()).sum()
        for i, d in enumerate(cfg.dimensions)})).iloc[0]
    said = [dimension_missing_warning(d, int(counts[f"lost_{i}"] or 0), rows)
            for i, d in enumerate(cfg.dimensions)]
    return [w for w in said if w is not None]


def _raw_mask(eng: Connection, raw, cfg: ReadParams, src, canon):
    """Rows of the raw table whose ``canon`` value does not parse (for the example row)."""
    if canon == "date":
        return _timestamp(eng, raw[src["date"]], cfg).isnull()
    return _not_finite(_number(raw[src[canon]], cfg)[0])


def implausible(t, today: pd.Timestamp | None):
    """Dates before 1900 or in the future (``rules.date_limit``)."""
    return (t.date < EARLIEST_DATE.to_pydatetime()) | \
        (t.date >= date_limit(today).to_pydatetime())


def day(ts):
    return ts.date().delta(ibis.date(1970, 1, 1), unit="day").cast("int64")
