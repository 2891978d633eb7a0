"""Parameters: read, validated against the one schema, and handed to each stage as a typed
group.

:func:`resolve` merges defaults, a YAML file and ``-p key=value`` overrides and validates
the result against :data:`~analysis.schema.FIELDS`; an unknown key or a bad value raises
:class:`ParamError` before anything runs. YAML is read with ``yaml.safe_load`` only: no
parameter is ever evaluated as code. The validated values (a plain dict) are what a run
writes into ``params.yaml`` and the manifest and what papermill passes to the notebooks.

:class:`Params` (:func:`typed`) turns them into the frozen groups of ``groups.py``, one
per consumer: ``read``, ``clean``, ``summary``, ``tiers``, ``segments``, ``clv``,
``report`` and ``engine``. A function takes the group it needs, never the whole mapping;
dates are ``pd.Timestamp``, lists are tuples, and ``time_unit`` is a
:class:`~analysis.units.TimeUnit` (the one encoding of the unit). Each group's fields are
schema names (a test checks that every schema field reaches a group).

A dataclass-style table with explicit checks was chosen over pydantic so that the
error messages can name the parameter file and key the way the rest of the
project names a data file, column and row.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import yaml

from .errors import ParamError
from .groups import (CleanParams, ClvParams, CustomerParams, EngineParams, Lookup,
                     MasterFile, Privacy, ReadParams, ReportParams, RowFilter,
                     SegmentParams, SummaryParams, TierParams, cancel_regex, missing_tokens)
from .playbook import check_playbook_covers, segment_table
from .schema import FIELD_BY_NAME, FIELDS, check_columns, coerce, shown
from .units import TimeUnit

__all__ = ["SALT_ENV", "public", "defaults", "validate", "read_yaml", "parse_override",
           "merge", "resolve", "typed", "GROUPS", "Params", "ReadParams", "Privacy",
           "CleanParams", "SummaryParams", "TierParams", "SegmentParams", "ClvParams",
           "ReportParams", "EngineParams", "CustomerParams", "cancel_regex", "missing_tokens"]

SALT_ENV = "ANALYSIS_ANONYMIZE_SALT"


def public(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as they may be written into outputs: the anonymisation salt removed."""
    out = dict(params)
    if out.get("anonymize_salt"):
        out["anonymize_salt"] = None
    return out


def defaults() -> dict[str, Any]:
    return {f.name: _copy(f.default) for f in FIELDS}


def _copy(v):
    if isinstance(v, list):
        return list(v)
    if isinstance(v, dict):
        return dict(v)
    return v


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, FIELD_BY_NAME, n=1)
    return f"Did you mean {close[0]!r}?" if close else \
        "Known parameters are listed in the README's parameter reference"


def validate(raw: Mapping[str, Any], source: str = "parameters") -> dict[str, Any]:
    """Check keys and values of ``raw`` (already merged) and return a full parameter dict."""
    out = defaults()
    for key, value in raw.items():
        if key not in FIELD_BY_NAME:
            raise ParamError(f"unknown parameter {key!r}. {_suggest(key)}", file=source,
                             column=key)
        field = FIELD_BY_NAME[key]
        written, value = value, coerce(field, value, source)
        if value is not None and field.check is not None:
            msg = field.check(value)
            if msg:  # a mapping's check names the entry; its value is not echoed; the value
                # is echoed as written ([1, 3], not the [1.0, 3.0] it was read into)
                got = "" if field.kind == "mapping" else f", got {shown(written)}"
                raise ParamError(f"parameter {key!r} {msg}{got}", file=source, column=key)
        out[key] = value
    check_columns(out["columns"], source)
    cols = out["columns"]
    for required in ("customer_id", "date"):
        if required not in cols:
            raise ParamError(f"columns.{required} is required: name the file's column that "
                             f"holds the {required.replace('_', ' ')}", file=source,
                             column="columns")
    if {"cost", "profit"} <= set(cols):
        raise ParamError("columns may map cost or profit, not both (profit = amount - cost)",
                         file=source, column="columns")
    if "amount" not in cols and not {"quantity", "unit_price"} <= set(cols):
        raise ParamError("columns must map 'amount', or both 'quantity' and 'unit_price'",
                         file=source, column="columns")
    for a, b in (("active_days", "churn_days"),):
        if out[a] is not None and out[b] is not None and out[a] >= out[b]:
            raise ParamError(f"{a} ({out[a]}) must be smaller than {b} ({out[b]})",
                             file=source, column=a)
    if cols["customer_id"] in out["dimensions"]:
        raise ParamError(f"dimensions lists the customer id column {cols['customer_id']!r}: "
                         f"an id is not an attribute of the customer, and it would carry the "
                         f"raw id into every table even with anonymize on", file=source,
                         column="dimensions", hint="Remove it from dimensions")
    if out["anonymize"]:
        if not out["anonymize_salt"]:
            out["anonymize_salt"] = os.environ.get(SALT_ENV) or None
        if not out["anonymize_salt"]:
            raise ParamError(f"anonymize: true needs a secret anonymize_salt (or the "
                             f"environment variable {SALT_ENV})", file=source,
                             column="anonymize_salt")
        unknown = [c for c in out["anonymize_columns"] if c not in out["dimensions"]]
        if unknown:
            raise ParamError(f"anonymize_columns names {unknown[0]!r}, which is not among the "
                             f"dimensions loaded", file=source, column="anonymize_columns")
    if out["segment_map"]:
        try:
            table = segment_table(out["segment_map"])
            check_playbook_covers(list(table["segment"].unique()))
        except ParamError as exc:
            raise ParamError(exc.problem, file=source, column="segment_map",
                             hint=exc.hint) from None
    if out["table"] and out["query"]:
        raise ParamError("set table or query, not both", file=source, column="query")
    if out["thousands"] and out["thousands"] == out["decimal"]:
        raise ParamError("thousands and decimal must differ", file=source, column="thousands")
    if out["observation_start"] and out["observation_end"] and \
            out["observation_start"] > out["observation_end"]:
        raise ParamError("observation_start is after observation_end", file=source,
                         column="observation_start")
    return out


MAX_PARAMS_BYTES = 1 << 20


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a parameter file with ``yaml.safe_load`` (tags such as !!python/object are refused)."""
    p = Path(path)
    if not p.exists():
        raise ParamError("parameter file not found", file=str(p))
    if p.is_dir():
        raise ParamError("parameter file is a directory, not a file", file=str(p))
    if not p.is_file():  # a FIFO would hang, /dev/zero would fill the memory
        raise ParamError("parameter file is not a regular file (a device, pipe or socket)",
                         file=str(p), hint="Give a YAML file")
    if p.stat().st_size > MAX_PARAMS_BYTES:
        raise ParamError(f"parameter file is larger than {MAX_PARAMS_BYTES // 1024} KiB, "
                         f"which no parameter file needs", file=str(p),
                         hint="Check that this is the YAML parameter file")
    try:
        text = p.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise ParamError("parameter file is not UTF-8 text", file=str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamError(f"parameter file is not valid safe YAML{where}: {detail}",
                         file=str(p), hint="Only plain YAML values are accepted; tags such "
                         "as !!python/object are refused") from None
    problem = _too_big(data)
    if problem:
        raise ParamError(f"parameter file {problem}", file=str(p),
                         hint="A parameter file needs no more; YAML aliases (*name) that "
                         "repeat large parts multiply its size")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamError("parameter file must hold a mapping of key: value lines",
                         file=str(p))
    return data


#: what a parameter file may expand to once its aliases are followed: values and nesting
MAX_PARAM_VALUES, MAX_PARAM_DEPTH = 100_000, 32


def _too_big(data: Any) -> str | None:
    """Why ``data`` (as YAML gave it) is too large to be a parameter file, or None.

    YAML aliases share one object, so a 571-byte file can stand for 10**9 values, which
    every later step (JSON for the manifest, the digest of the parameters) would expand.
    The walk counts values as those steps see them and stops at the limit."""
    budget = [MAX_PARAM_VALUES]
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            return f"expands to more than {MAX_PARAM_VALUES:,} values"
        if depth > MAX_PARAM_DEPTH:
            return f"is nested more than {MAX_PARAM_DEPTH} levels deep"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for kv in item.items() for v in kv)
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)
    return None


#: parameters whose -p value is taken as written, not read as YAML (0123 stays '0123')
_AS_WRITTEN = ("anonymize_salt",)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``-p key=value`` (value read as a YAML scalar/list; dotted keys nest)."""
    if "=" not in text:
        raise ParamError(f"override {text!r} must look like key=value", file="-p")
    key, _, raw = text.partition("=")
    key = key.strip()
    if key in _AS_WRITTEN:
        return key, raw if raw else None
    if len(raw) > MAX_PARAMS_BYTES:
        raise ParamError(f"override {key!r} is longer than {MAX_PARAMS_BYTES // 1024} KiB",
                         file="-p", column=key)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    problem = _too_big(value)
    if problem:
        raise ParamError(f"override {key!r} {problem}", file="-p", column=key)
    return key, value


def merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Apply overrides; ``columns.customer_id`` style keys set one entry of a mapping."""
    out = {k: _copy(v) for k, v in base.items()}
    for key, value in overrides.items():
        if "." in key:
            head, sub = key.split(".", 1)
            inner = dict(out.get(head) or {})
            inner[sub] = value
            out[head] = inner
        else:
            out[key] = value
    return out


def resolve(params_file: str | Path | None = None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults ← YAML file ← overrides, validated. The one entry point for CLI and notebooks."""
    raw: dict[str, Any] = read_yaml(params_file) if params_file else {}
    source = str(params_file) if params_file else "parameters"
    if overrides:
        bad = [k for k in overrides if k.split(".")[0] not in FIELD_BY_NAME]
        if bad:
            raise ParamError(f"unknown parameter {bad[0]!r}. {_suggest(bad[0])}",
                             file="-p override", column=bad[0])
        raw = merge(raw, overrides)
    return validate(raw, source)


# -- the typed groups ------------------------------------------------------------------------

#: the attribute of :class:`Params` that holds each group
GROUPS = {"read": ReadParams, "clean": CleanParams, "summary": SummaryParams,
          "tiers": TierParams, "segments": SegmentParams, "clv": ClvParams,
          "report": ReportParams, "engine": EngineParams, "customers": CustomerParams}


@dataclass(frozen=True)
class Params:
    """The validated parameters as typed groups; ``values`` is the plain mapping they came
    from (what a run writes out, salt removed by :func:`public`)."""
    values: dict[str, Any]
    read: ReadParams
    clean: CleanParams
    summary: SummaryParams
    tiers: TierParams
    segments: SegmentParams
    clv: ClvParams
    report: ReportParams
    engine: EngineParams
    customers: CustomerParams

    def replace(self, **changes: Any) -> Params:
        """The same parameters with some values changed (validated again)."""
        return typed({**self.values, **changes})


def _typed_value(name: str, value: Any) -> Any:
    """A validated value as its group holds it: a Timestamp, a tuple, a TimeUnit."""
    kind = FIELD_BY_NAME[name].kind
    if value is None:
        return None
    if kind == "date":
        return pd.Timestamp(value)
    if name == "clv_horizons_months":  # whole months, in order, each once
        return tuple(sorted({int(x) for x in value}))
    if kind in ("list_str", "list_float"):
        return tuple(value)
    if name == "time_unit":
        return TimeUnit(value)
    if name == "lookups":
        return tuple(Lookup.of(e) for e in value)
    if name == "customers_file":
        return MasterFile.of(value)
    if name == "exclude_rows":
        return tuple(RowFilter.of(c, r) for c, r in value.items())
    return value


def typed(values: Mapping[str, Any], source: str = "parameters") -> Params:
    """:class:`Params` from parameter values (validated here, so a changed copy of a resolved
    mapping is checked again)."""
    v = validate(values, source)
    privacy = Privacy(v["anonymize"], v["anonymize_salt"], tuple(v["anonymize_columns"]),
                      v["columns"]["customer_id"])
    groups = {}
    for key, cls in GROUPS.items():
        groups[key] = cls(**{f.name: privacy if f.name == "privacy" else
                             _typed_value(f.name, v[f.name])
                             for f in dataclasses.fields(cls)})
    # the values as given (a YAML 2 stays 2 in params.yaml), with the defaults filled in
    return Params(values={**v, **dict(values)}, **groups)
