"""A parameter's value as its kind in the schema (``schema.Field.kind``): a YAML value read
into text, a number, a date, a list or a mapping, or one clear error naming the parameter
file and the key."""
from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from . import checks
from .errors import ParamError, cut

__all__ = ["shown", "coerce"]


def shown(value: Any) -> str:
    """A value as an error message echoes it: a date as a date, else its repr, cut like a
    cell (:func:`~analysis.errors.cut`)."""
    return cut(value.isoformat() if isinstance(value, _dt.date) else repr(value))


def _finite(x: Any) -> bool:
    return not isinstance(x, float) or math.isfinite(x)


def coerce(field: Any, value: Any, source: str) -> Any:
    """``value`` as ``field``'s kind (a ``schema.Field``), or a ParamError naming it."""
    def bad(expected: str):
        got = "" if field.name == "anonymize_salt" else f", got {shown(value)}"
        raise ParamError(f"parameter {field.name!r} must be {expected}{got}",
                         file=source, column=field.name)

    if value is None:
        if field.nullable or field.default is None:
            return None
        bad("set (it cannot be empty)")
    k = field.kind
    if field.name == "anonymize_salt" and not isinstance(value, str):
        # YAML reads 0123 as the number 83 and 1e3 as 1000.0: a salt is text, as written
        bad("text: quote it in the parameter file (anonymize_salt: '0123'), or set it in "
            "the environment")
    if k == "str":
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and \
                _finite(value):
            return str(value)
        if value is False and field.name == "clean_transactions":
            return "off"  # YAML 1.1 reads a bare `off` (in a file or a -p override) as false
        bad("a text value")
    if k == "bool":
        if isinstance(value, bool):
            return value
        bad("true or false")
    if k == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not _finite(value) or int(value) != value:
            bad("a whole number")
        if abs(value) > checks.INT_MAX:
            bad(f"a whole number of at most {checks.INT_MAX:,}")
        return int(value)
    if k == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not _finite(value):
            bad("a finite number")
        return float(value)
    if k == "choice":
        if value in field.choices:
            return value
        bad("one of " + ", ".join(repr(c) for c in field.choices))
    if k == "date":
        day = None
        if isinstance(value, _dt.datetime):
            day = value.date()
        elif isinstance(value, _dt.date):
            day = value
        elif isinstance(value, str):
            try:
                day = _dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        if day is None:
            bad("a date written YYYY-MM-DD")
        if not checks.DATE_MIN <= day <= checks.DATE_MAX:
            bad(f"a date from {checks.DATE_MIN} to {checks.DATE_MAX}")
        return day.isoformat()
    if k == "list_str":
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and all(isinstance(x, (str, int, float)) and
                                           not isinstance(x, bool) and _finite(x)
                                           for x in value):
            return [str(x) for x in value]
        bad("a list of text values")
    if k == "list_float":
        if isinstance(value, list) and all(isinstance(x, (int, float)) and
                                           not isinstance(x, bool) and _finite(x)
                                           for x in value):
            return [float(x) for x in value]
        bad("a list of finite numbers, e.g. [0.05, 0.2]")
    if k == "list_mapping":
        if isinstance(value, dict):
            value = [value]
        if isinstance(value, list) and all(isinstance(x, dict) and
                                           all(isinstance(k, str) for k in x) for x in value):
            return [dict(x) for x in value]
        bad("a list of mappings, e.g. [{file: products.csv, key: ProductKey}]")
    if k == "mapping":
        if isinstance(value, dict) and all(isinstance(x, str) for x in value):
            return dict(value)
        bad("a mapping of names to values")
    raise AssertionError(k)  # pragma: no cover - every kind is handled above
