"""Stage 1 on a query engine, part 1b: what ``inputs`` does in pandas, as Ibis expressions —
lookups joined on their key, and the rows ``exclude_rows`` names and the rows whose key is
in no lookup left out before typing, counted by rule (rows, cents, an example row) and by
file, so that the ledger is the pandas engine's to the row and the cent.
"""
from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd

from ..config import ReadParams
from ..errors import InputError
from .ibis_io import Connection, arrow_ready, reading
from .ibis_text import text as as_text
from .ibis_typing import _number, rint
from .inputs import Before, Plan, plan, read_lookup
from .load import EXCEL_SUFFIXES, check_path, data_files
from .privacy import redact_row
from .sources import native_format

__all__ = ["FILE", "lookup_tables", "prepare", "per_file"]

#: the column naming each row's file when several are read (``Connection.read``)
FILE = "_file"


def lookup_tables(eng: Connection, cfg: ReadParams) -> list:
    """Each lookup as an engine table of text, its key checked unique (as ``read_lookup``)."""
    out = []
    for lk in cfg.lookups:
        path = check_path(lk.file)
        if path.suffix.lower() in EXCEL_SUFFIXES or native_format(str(path), cfg) is None:
            out.append(eng.table(arrow_ready(read_lookup(lk, cfg))))
            continue
        with reading(eng, lk.file, cfg):
            table = eng.read(str(path), native_format(str(path), cfg), cfg, one_file=True)
            table = table.mutate(**{c: table[c].cast("string") for c in table.columns})
            key = as_text(table[lk.lookup_key], [""]) if lk.lookup_key in table.columns \
                else None
            if key is not None:
                twice = eng.frame(table.group_by(k=key).aggregate(n=ibis._.count())
                                  .filter(lambda r: r.k.notnull() & (r.n > 1))
                                  .order_by("k").limit(1))
                if len(twice):
                    raise InputError(f"the lookup key is not unique, e.g. {twice.k.iloc[0]!r} "
                                     f"appears {int(twice.n.iloc[0])} times", file=lk.file,
                                     column=lk.lookup_key, hint="A key must name one row, or "
                                     "the join would copy transactions")
        out.append(table)
    return out


def _lenient_cents(t, cfg: ReadParams):
    src = cfg.columns

    def number(canon: str):
        col = src.get(canon)
        return _number(t[col], cfg)[0] if col is not None and col in t.columns else None

    amount = number("amount") if "amount" in src else None
    if amount is None and "amount" not in src:
        q, p = number("quantity"), number("unit_price")
        amount = q * p if q is not None and p is not None else None
    if amount is None:
        return ibis.literal(0, "int64")
    ok = amount.notnull() & ~amount.isnan() & ~amount.isinf() & (amount.abs() < 1e12)
    return ibis.ifelse(ok, rint(amount.fill_null(0) * 100), 0).cast("int64")


def prepare(eng: Connection, raw, cfg: ReadParams, source: str
            ) -> tuple[object, Before, pd.DataFrame | None]:
    """(the raw table with its lookups' columns and without the rows left out; what was left
    out, by rule; rows and cents left out per file, when the file of each row is known)."""
    if not (cfg.exclude_rows or cfg.lookups):  # nothing to join or leave out
        return raw, Before(), None
    tables = lookup_tables(eng, cfg)
    columns = [c for c in raw.columns if c != FILE]
    the_plan: Plan = plan(columns, [list(t.columns) for t in tables], cfg, source)
    keep = [*the_plan.main, *([FILE] if FILE in raw.columns else [])]
    raw = raw.select(*keep)
    flags = []
    for i, (lk, table, cols) in enumerate(zip(cfg.lookups, tables, the_plan.brought)):
        right = table.select(_k=as_text(table[lk.lookup_key], [""]),
                             **{c: table[c] for c in cols}, **{f"_m{i}": ibis.literal(True)})
        raw = raw.left_join(right, as_text(raw[lk.key], [""]) == right._k).drop("_k")
        flags.append(f"_m{i}")
    excluded = ibis.literal(False)
    for f in cfg.exclude_rows:
        text = as_text(raw[f.column], [""])
        hit = text.re_search(f.pattern) if f.pattern is not None else \
            text.lower().isin(list(f.values))
        excluded = excluded | hit.fill_null(False)
    unmatched = ibis.literal(False)
    for flag in flags:
        unmatched = unmatched | raw[flag].isnull()
    rule = ibis.cases((excluded, "excluded_rows"), (unmatched, "unmatched_lookup"),
                      else_=ibis.null("string"))
    marked = raw.mutate(_rule=rule)
    before = Before()
    marked = eng.cache(marked)
    out = marked.filter(marked._rule.notnull())
    group = ["_rule", *([FILE] if FILE in raw.columns else [])]
    counts = eng.frame(out.group_by(group).aggregate(
        rows=ibis._.count(), cents=_lenient_cents(out, cfg).sum()))
    shown = [c for c in columns if c in out.columns] + \
        [c for cols in the_plan.brought for c in cols if c not in columns]
    for r in sorted(set(counts["_rule"])):
        part = counts[counts["_rule"] == r]
        example = eng.frame(out.filter(out._rule == r).select(*shown)
                            .order_by(shown).limit(1))
        before.add(r, int(part["rows"].sum()), int(part["cents"].fillna(0).sum()),
                   redact_row(example.iloc[0].to_dict(), cfg.privacy)
                   if len(example) else None)
    by_file = counts.groupby(FILE)[["rows", "cents"]].sum().reset_index() \
        if FILE in raw.columns else None
    kept = marked.filter(marked._rule.isnull()).drop("_rule", *flags)
    return kept, before, by_file


def per_file(source: str, typed_counts: pd.DataFrame | None, left_out: pd.DataFrame | None
             ) -> pd.DataFrame | None:
    """The input line per file (name, rows, cents), as the pandas engine counts it."""
    if typed_counts is None:
        return None
    frames = [typed_counts] + ([left_out] if left_out is not None else [])
    both = pd.concat(frames).groupby(FILE)[["rows", "cents"]].sum()
    names = {str(Path(f).resolve()): f.name for f in data_files(source)}
    rows = [{"file": names.get(str(Path(f).resolve()), Path(f).name), "rows": int(r.rows),
             "cents": int(r.cents)} for f, r in both.iterrows()]
    order = {n: i for i, n in enumerate(names.values())}
    return pd.DataFrame(sorted(rows, key=lambda r: order.get(r["file"], len(order))))

