"""Checks of single parameter values: each takes a value already of its kind and returns
an error text (completing "parameter 'x' …") or None. :mod:`analysis.schema` names one per
field."""
from __future__ import annotations

import codecs
import datetime as _dt
import re
from typing import Any, Callable

from .engine_settings import check_settings

__all__ = ["SEED_MAX", "DATE_MIN", "DATE_MAX", "INT_MAX", "between", "positive",
           "non_negative", "regex", "no_digits_only", "cuts", "horizons", "currency",
           "encoding", "settings", "seed", "k_range", "lookups", "exclude_rows", "sql_name",
           "export_postgres", "customers_file"]


def between(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(v):
        return None if lo <= v <= hi else f"must be between {lo} and {hi}"
    return check


def positive(v):
    return None if v > 0 else "must be greater than 0"


def non_negative(v):
    return None if v >= 0 else "must be 0 or more"


def regex(v):
    try:
        re.compile(v)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return None


def no_digits_only(v):
    bad = [x for x in v if x.strip().lstrip("-").replace(".", "", 1).isdigit()]
    return f"must not hold numbers ({bad[0]!r} would erase real values)" if bad else None


def cuts(v):
    if len(v) != 2 or not (0 < v[0] < v[1] < 1):
        return "must be two increasing shares strictly between 0 and 1, e.g. [0.05, 0.20]"
    return None


def horizons(v):
    if not v or any(int(x) != x or not 1 <= x <= 120 for x in v):
        return "must be one or more whole numbers of months between 1 and 120, e.g. [3, 6, 12, 24]"
    return None


def currency(v):
    bad = sorted(set(v) & set("<>&*_`[]#|\\\"'{}"))
    if bad or not v.strip() or len(v) > 12:
        return ("must be a currency code or symbol of up to 12 characters without markup "
                f"characters (found {' '.join(bad) or repr(v)}), e.g. USD, EUR, ¥")
    return None


def encoding(v):
    try:
        info = codecs.lookup(v)
    except (LookupError, ValueError):
        return "is not a text encoding Python knows (e.g. utf-8, latin-1, cp1252, utf-16)"
    if not getattr(info, "_is_text_encoding", True):
        return f"names {info.name!r}, which is not a text encoding"
    return None


def settings(name: str) -> Callable[[Any], str | None]:
    def check(v):
        problem = check_settings(name, v)
        return problem and problem.removeprefix(name).lstrip(" ")
    return check


def seed(v):
    return None if 0 <= v <= SEED_MAX else \
        f"must be a whole number, 0 or more and at most {SEED_MAX} (numpy's seeds are 32-bit)"


#: numpy's and scikit-learn's seeds are 32-bit
SEED_MAX = 2 ** 32 - 1
#: the range of dates a parameter may name: what every engine represents (pandas ends in
#: 2262) and the implausible-dates rule does not drop wholesale
DATE_MIN, DATE_MAX = _dt.date(1900, 1, 1), _dt.date(2261, 12, 31)
#: the largest whole number a count parameter may hold (exact in a float, fits int64)
INT_MAX = 2 ** 53


def k_range(v):
    if len(v) != 2 or not (2 <= v[0] <= v[1] <= 30) or any(int(x) != x for x in v):
        return "must be two whole numbers [min, max] with 2 <= min <= max <= 30"
    return None


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


def sql_name(v):
    """A table name: ``name`` or ``schema.name``, plain identifiers only (nothing that could
    close a quote or start a second statement)."""
    return None if _NAME.match(v) else \
        "must be a table name such as orders or sales.orders (letters, digits and _)"


def _text(x) -> bool:
    return isinstance(x, str) and bool(x.strip())


def lookups(v):
    for i, entry in enumerate(v):
        unknown = set(entry) - {"file", "key", "lookup_key", "columns"}
        if unknown:
            return f"entry {i + 1} has unknown key {sorted(unknown)[0]!r} (use file, key, " \
                "lookup_key, columns)"
        if not _text(entry.get("file")) or not _text(entry.get("key")):
            return f"entry {i + 1} needs file and key, e.g. {{file: products.csv, key: " \
                "ProductKey}"
        if "lookup_key" in entry and not _text(entry["lookup_key"]):
            return f"entry {i + 1}: lookup_key must name a column"
        cols = entry.get("columns")
        if cols is not None and (not isinstance(cols, list) or not cols or
                                 not all(_text(c) for c in cols)):
            return f"entry {i + 1}: columns must be a list of column names"
    return None


def exclude_rows(v):
    for column, rule in v.items():
        if isinstance(rule, dict):
            if set(rule) != {"pattern"} or not _text(rule["pattern"]):
                return f"entry {column!r} must be a list of values or {{pattern: '...'}}"
            problem = regex(rule["pattern"])
            if problem:
                return f"entry {column!r}: the pattern {problem}"
        elif isinstance(rule, (str, int, float)) and not isinstance(rule, bool):
            continue
        elif not isinstance(rule, list) or not rule or not all(
                isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in rule):
            return f"entry {column!r} must be a list of values or {{pattern: '...'}}"
    return None


def export_postgres(v):
    if not v:
        return None
    unknown = set(v) - {"table", "url", "campaigns_table"}
    if unknown:
        return f"has unknown key {sorted(unknown)[0]!r} (use table, url, campaigns_table)"
    for key in ("table", "campaigns_table"):
        if key in v and (not isinstance(v[key], str) or sql_name(v[key])):
            return f"{key} must be a table name such as crm.customers"
    if "table" not in v:
        return "needs table, e.g. {table: crm.customers}"
    url = v.get("url")
    if url is not None and (not isinstance(url, str) or
                            not url.startswith(("postgresql://", "postgres://"))):
        return "url must start with postgresql://"
    if isinstance(url, str) and re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", url):
        return "url must not hold a password (set PGPASSWORD or use ~/.pgpass)"
    return None


#: what ``customers_file`` may hold, and what its ``columns`` may map
_MASTER_KEYS = ("file", "columns", "attributes", "date_format", "sheet")
_MASTER_MAPPED = ("customer_id", "signup_date", "nature")


def customers_file(v):
    if not v:
        return None
    unknown = sorted(set(v) - set(_MASTER_KEYS))
    if unknown:
        return f"has unknown key {unknown[0]!r} (use {', '.join(_MASTER_KEYS)})"
    cols = v.get("columns")
    if not _text(v.get("file")) or not isinstance(cols, dict) or \
            not _text(cols.get("customer_id")):
        return "needs file and columns.customer_id, e.g. {file: crm.csv, columns: " \
            "{customer_id: Id, signup_date: Created, nature: Type}}"
    bad = sorted(set(cols) - set(_MASTER_MAPPED))
    if bad:
        return f"columns has unknown key {bad[0]!r} (use {', '.join(_MASTER_MAPPED)})"
    if not all(_text(c) for c in cols.values()):
        return "columns must name columns of the master file"
    attrs = v.get("attributes")
    if attrs is not None and (not isinstance(attrs, list) or
                              not all(_text(a) for a in attrs)):
        return "attributes must be a list of the master's column names"
    for key in ("date_format", "sheet"):
        if key in v and v[key] is not None and not _text(v[key]):
            return f"{key} must be text"
    return None
