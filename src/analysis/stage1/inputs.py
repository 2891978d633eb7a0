"""Stage 1a before typing: several files read as one table, lookups joined on a key, and the
rows left out before any value is typed (``exclude_rows``, keys not in a lookup), counted by
rule with their rows, revenue and an example row, so that the ledger accounts for them.

The plan (:func:`plan`: which columns come from the file and which from each lookup) and
the rules' wording are shared by every engine; this module carries them out in pandas
(:func:`gather`), ``ibis_inputs`` on a query engine.

Rows are left out *before* typing on purpose: a cancelled line or one whose product is
not in the products table may hold values that do not parse (a price that the lookup was to
give), and such a row must be counted, not stop the run. Their revenue is what their own
amount (or quantity × unit price) reads as, 0 where it does not parse or comes from the
lookup they lack (the ledger says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..config import ReadParams
from ..errors import InputError
from ..groups import Lookup
from .database import connect, database_columns, is_database, read_frame, shown_url
from .load import (EXCEL_SUFFIXES, PARQUET_SUFFIXES, check_path, csv_encoding, data_files,
                   read_raw, sniff_sep)
from .parse import as_text, coerce, parse_number
from .privacy import redact_row
from .rules import amount_mismatch_warning
from .sources import file_columns

__all__ = ["Plan", "Before", "check_amounts", "database_needs", "database_line", "plan",
           "needed_columns", "columns_to_read", "read_text_table", "unique_key", "read_lookup",
           "gather", "filter_mask", "lenient_cents", "PRE_RULES"]

#: the rules applied before typing, in ledger order (``rules.RULES`` starts with them)
PRE_RULES = ("excluded_rows", "unmatched_lookup")


@dataclass(frozen=True)
class Plan:
    """Where each needed column comes from: ``main`` the file's columns to read, and for
    each lookup the columns it brings (its key is read from the file or an earlier
    lookup)."""
    main: tuple[str, ...]
    brought: tuple[tuple[str, ...], ...]


@dataclass
class Before:
    """Rows left out before typing, by rule: rows, cents and the first example row."""
    rows: dict[str, int] = field(default_factory=dict)
    cents: dict[str, int] = field(default_factory=dict)
    examples: dict[str, dict] = field(default_factory=dict)

    def add(self, rule: str, rows: int, cents: int, example: dict | None) -> None:
        self.rows[rule] = self.rows.get(rule, 0) + int(rows)
        self.cents[rule] = self.cents.get(rule, 0) + int(cents)
        if example is not None and rule not in self.examples:
            self.examples[rule] = example


def needed_columns(cfg: ReadParams) -> list[str]:
    """The source columns the run reads: the mapping's, the dimensions, the filters'."""
    return list(dict.fromkeys([*cfg.columns.values(), *cfg.dimensions,
                               *(f.column for f in cfg.exclude_rows)]))


def plan(main_columns: list[str] | None, lookup_columns: list[list[str]], cfg: ReadParams,
         file: str) -> Plan:
    """Which columns the file gives and which each lookup brings. A lookup brings its
    ``columns`` (default: every column of its own that the file lacks); a needed column
    found nowhere, a lookup key found nowhere, or a column both the file and a lookup's
    ``columns`` give is refused by name. ``main_columns`` None: the file's columns are not
    known before reading (a workbook): whatever no lookup gives is read from it."""
    have = set(main_columns) if main_columns is not None else None
    available: set[str] = set(main_columns or [])
    brought: list[tuple[str, ...]] = []
    main_needs: list[str] = []
    for lk, cols in zip(cfg.lookups, lookup_columns):
        if lk.lookup_key not in cols:
            raise InputError(f"the lookup has no column {lk.lookup_key!r} (its key)",
                             file=lk.file, column=lk.lookup_key,
                             hint=f"Its columns are {cols[:12]}")
        if have is not None and lk.key not in available:
            raise InputError(f"the lookup key {lk.key!r} is neither in the data file nor in "
                             f"an earlier lookup", file=file, column=lk.key,
                             hint=f"The file's columns are {sorted(have)[:12]}")
        if lk.key not in available:
            main_needs.append(lk.key)
        if lk.columns is not None:
            unknown = [c for c in lk.columns if c not in cols]
            if unknown:
                raise InputError(f"the lookup has no column {unknown[0]!r}", file=lk.file,
                                 column=unknown[0], hint=f"Its columns are {cols[:12]}")
            clash = [c for c in lk.columns if c in available and c != lk.key]
            if clash:
                raise InputError(f"the column {clash[0]!r} is both in the data and in the "
                                 f"lookup", file=lk.file, column=clash[0],
                                 hint="Leave it out of the lookup's columns, or rename it")
            mine = tuple(c for c in lk.columns if c != lk.lookup_key)
        else:
            mine = tuple(c for c in cols if c != lk.lookup_key and c not in available)
        brought.append(mine)
        available |= set(mine) | {lk.key}
    needed = needed_columns(cfg)
    if not cfg.lookups:  # the reader names what is missing (with its separator hints)
        return Plan(tuple(needed), ())
    if have is not None:
        missing = [c for c in needed if c not in available]
        if missing:
            where = "file or its lookups" if cfg.lookups else "file"
            raise InputError((f"mapped column {missing[0]!r} is not in the {where}"
                              if len(missing) == 1 else
                              f"mapped columns {', '.join(map(repr, missing))} are not in "
                              f"the {where}"), file=file, column=missing[0],
                             hint=f"The file's columns are {sorted(have)[:12]}")
    from_lookups = {c for cols in brought for c in cols}
    main = [c for c in [*needed, *main_needs] if c not in from_lookups]
    if have is not None:
        main = [c for c in main if c in have]
    return Plan(tuple(dict.fromkeys(main)), tuple(brought))


def columns_to_read(source: str | Path, cfg: ReadParams) -> list[str]:
    """The columns to read of a file the pandas reader reads for a query engine: what the
    mapping needs and the lookups' keys, less what the lookups bring (by their ``columns``,
    or by their headers where the file's are known)."""
    if not cfg.lookups:
        return needed_columns(cfg)
    # the lookups' headers only (``prepare`` reads them whole); a workbook has to be read
    tables = [file_columns(Path(lk.file), cfg) or list(read_lookup(lk, cfg).columns)
              for lk in cfg.lookups]
    return list(plan(file_columns(data_files(source)[0], cfg), tables, cfg, str(source)).main)


def database_needs(url: str, cfg: ReadParams) -> list[str]:
    """The columns of a table or query a query engine reads: the ones the run may need
    (the mapping's, the dimensions, the filters', the lookups' keys) that it has."""
    conn = connect(url, read_only=True)
    try:
        have = database_columns(conn, url, cfg)
    finally:
        conn.close()
    wanted = set(needed_columns(cfg)) | {lk.key for lk in cfg.lookups}
    return [c for c in have if c in wanted]


def database_line(cfg: ReadParams, ledger: pd.DataFrame, name: str | None = None
                  ) -> pd.DataFrame:
    """The input line of a table or query (or of the one file ``name``), as :func:`gather`
    names it."""
    steps = ledger.set_index("step")
    return pd.DataFrame([{"file": name or _database_name(cfg), "rows": int(steps.at["input", "rows"]),
                          "cents": int(steps.at["input", "cents"] -
                                       steps.at["rounding", "cents"])}])


def _database_name(cfg: ReadParams) -> str:
    return f"table {cfg.table}" if cfg.table else "query"


def read_text_table(file: str, cfg: ReadParams, what: str = "lookup",
                    sheet: str | None = None) -> pd.DataFrame:
    """A table of text (CSV, XLSX or Parquet), every column, names trimmed: a lookup or the
    customer master (``what`` names it in an error)."""
    p = check_path(file)
    suffix = p.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            df = pd.read_parquet(p).astype("str")
        elif suffix in EXCEL_SUFFIXES:
            df = pd.read_excel(p, sheet_name=sheet or 0, engine="calamine", dtype=str)
        else:
            enc = csv_encoding(cfg.encoding)
            sep = sniff_sep(p, enc) if cfg.sep == "auto" else cfg.sep
            df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""],
                             encoding=enc, sep=r"\s+" if sep == "whitespace" else sep)
    except (UnicodeError, ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputError(f"the {what} could not be read: {str(exc).strip()[:200]}",
                         file=file) from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def unique_key(key: pd.Series, what: str, file: str, column: str, hint: str) -> None:
    """Exit 2 when ``key`` (missing values aside) names a row twice."""
    twice = key.duplicated(keep=False) & key.notna()
    if twice.any():
        example = key[twice].iloc[0]
        raise InputError(f"the {what} is not unique: {int(key[twice].nunique()):,} "
                         f"key(s) appear more than once, e.g. {example!r}", file=file,
                         column=column, hint=hint)


def read_lookup(lk: Lookup, cfg: ReadParams) -> pd.DataFrame:
    """A lookup file (CSV, XLSX or Parquet) as text, every column; its key (trimmed) must
    be unique and present."""
    df = read_text_table(lk.file, cfg)
    if lk.lookup_key not in df.columns:
        raise InputError(f"the lookup has no column {lk.lookup_key!r} (its key)", file=lk.file,
                         column=lk.lookup_key, hint=f"Its columns are {list(df.columns)[:12]}")
    key = as_text(df[lk.lookup_key], [""])
    unique_key(key, "lookup key", lk.file, lk.lookup_key,
               "A key must name one row, or the join would copy transactions")
    df[lk.lookup_key] = key
    return df


def filter_mask(raw: pd.DataFrame, cfg: ReadParams) -> np.ndarray:
    """Rows an ``exclude_rows`` filter names (a missing cell never matches)."""
    out = np.zeros(len(raw), dtype=bool)
    for f in cfg.exclude_rows:
        text = as_text(raw[f.column], [""])
        if f.pattern is not None:
            hit = text.str.contains(f.pattern, regex=True)
        else:
            hit = text.str.lower().isin(list(f.values))
        out |= hit.fillna(False).to_numpy(dtype=bool)
    return out


def lenient_cents(raw: pd.DataFrame, cfg: ReadParams) -> np.ndarray:
    """Each row's amount (or quantity × unit price) in cents where its columns are present
    and parse, else 0: the revenue of rows left out before typing."""
    src = cfg.columns

    def number(canon: str) -> np.ndarray | None:
        col = src.get(canon)
        if col is None or col not in raw:
            return None
        return parse_number(raw[col], cfg).to_numpy(dtype="float64", na_value=np.nan)

    amount = number("amount") if "amount" in src else None
    if amount is None and "amount" not in src:
        q, p = number("quantity"), number("unit_price")
        amount = q * p if q is not None and p is not None else None
    if amount is None:
        return np.zeros(len(raw), dtype="int64")
    amount = np.where(np.isfinite(amount) & (np.abs(amount) < 1e12), amount, 0.0)
    return np.rint(amount * 100).astype("int64")


class _Shared(np.ndarray):
    """An array that pandas' ``attrs`` hand on without copying (they are deep-copied into
    every column taken from the frame)."""

    def __new__(cls, values: np.ndarray) -> "_Shared":
        return np.asarray(values).view(cls)

    def __deepcopy__(self, memo: dict) -> "_Shared":
        return self


def _leave_out(raw: pd.DataFrame, mask: np.ndarray, rule: str, before: Before,
               cfg: ReadParams, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    if not mask.any():
        return raw, rows
    out = raw.loc[mask].reset_index(drop=True)  # (``as_text`` keeps a frame's own index)
    example = redact_row({c: out.iloc[0][c] for c in out.columns}, cfg.privacy)
    before.add(rule, int(mask.sum()), int(lenient_cents(out, cfg).sum()), example)
    keep = ~mask
    return raw.loc[keep].reset_index(drop=True), rows[keep]


def _join(raw: pd.DataFrame, lookups: list[pd.DataFrame], brought, cfg: ReadParams
          ) -> tuple[pd.DataFrame, np.ndarray]:
    """The file's rows with each lookup's columns; and which rows lack a lookup's key."""
    unmatched = np.zeros(len(raw), dtype=bool)
    for lk, table, cols in zip(cfg.lookups, lookups, brought):
        key = as_text(raw[lk.key], [""])
        at = pd.Index(table[lk.lookup_key]).get_indexer(key)
        unmatched |= at < 0
        for c in cols:
            values = table[c].to_numpy(dtype=object)
            raw[c] = pd.Series(np.where(at >= 0, values[np.maximum(at, 0)], None),
                               index=raw.index, dtype="str")
    return raw, unmatched


def _sources(source: str | Path, cfg: ReadParams, tables: list[pd.DataFrame]
             ) -> tuple[Plan, Iterator[tuple[str, str, Any]]]:
    """(the plan, and for each part of the source: its name in the per-file ledger, its
    name in messages, a function giving its raw frame)."""
    cols = [list(t.columns) for t in tables]
    if is_database(source):
        url = str(source)
        conn = connect(url, read_only=True)
        try:
            the_plan = plan(database_columns(conn, url, cfg), cols, cfg, shown_url(url))
        finally:
            conn.close()
        name = _database_name(cfg)
        return the_plan, iter([(name, shown_url(url),
                                lambda: read_frame(url, cfg, list(the_plan.main)))])
    files = data_files(source)
    the_plan = plan(file_columns(files[0], cfg) if cfg.lookups else None, cols, cfg,
                    str(files[0]))
    return the_plan, ((f.name, str(f), lambda f=f: (read_raw(f, cfg, list(the_plan.main)),
                                                     None)) for f in files)


def check_amounts(tx: pd.DataFrame, cfg: ReadParams, warnings: list | None) -> None:
    """With ``amount``, ``quantity`` and ``unit_price`` all mapped: warn when amounts are
    more than a cent from quantity × unit price (``rules.amount_mismatch_warning``)."""
    if warnings is None or not {"amount", "quantity", "unit_price"} <= set(cfg.columns) or \
            len(set(cfg.columns[c] for c in ("amount", "quantity", "unit_price"))) < 3:
        return
    amount = np.rint(tx["amount"].to_numpy(dtype="float64") * 100)
    product = np.rint(tx["quantity"].to_numpy(dtype="float64") *
                      tx["unit_price"].to_numpy(dtype="float64") * 100)
    off = np.abs(amount - product) > 1
    example = redact_row(tx.loc[off].sort_values(["date", "amount"]).iloc[0].to_dict(),
                         cfg.privacy, canonical=True) if off.any() else None
    said = amount_mismatch_warning(int(off.sum()), len(tx), int(amount.sum()),
                                   int(product.sum()), example)
    if said is not None:
        warnings.append(said)


def gather(source: str | Path, cfg: ReadParams, warnings: list[str] | None = None
           ) -> tuple[pd.DataFrame, Before, pd.DataFrame]:
    """The typed transactions of every file of ``source`` (one file, a directory, a glob, or
    a PostgreSQL table or query), their lookups joined and the filtered rows left out;
    (transactions, what was left out before typing, rows and cents read per file; for a
    database the digest of the rows read is ``attrs["digest"]``). Errors name the file and
    its line."""
    tables = [read_lookup(lk, cfg) for lk in cfg.lookups]
    the_plan, parts = _sources(source, cfg, tables)
    before = Before()
    typed, per_file = [], []
    subcent, digest = 0, None
    for name, shown, read in parts:
        raw, digest = read()
        lines = np.arange(len(raw))
        n_before = sum(before.rows.values())
        cents_before = sum(before.cents.values())
        raw, unmatched = _join(raw, tables, the_plan.brought, cfg)
        excluded = filter_mask(raw, cfg)
        raw, lines = _leave_out(raw, excluded, "excluded_rows", before, cfg, lines)
        raw, lines = _leave_out(raw, unmatched[~excluded], "unmatched_lookup", before, cfg,
                                lines)
        rows_out = sum(before.rows.values()) - n_before
        cents_out = sum(before.cents.values()) - cents_before
        cents = 0
        if len(raw):
            if rows_out:  # the file's lines of the rows kept, for the errors' line numbers
                raw.attrs["lines"] = _Shared(lines)
            tx = coerce(raw, cfg, file=shown, warnings=warnings)
            subcent += int(tx.attrs.get("subcent", 0))
            cents = int(np.rint(tx["amount"].to_numpy() * 100).sum())
            typed.append(tx)
        per_file.append({"file": name, "rows": len(raw) + rows_out, "cents": cents + cents_out})
    if not typed:
        raise InputError("every row was left out before typing (exclude_rows or lookups)",
                         file=str(source), hint=f"Left out: {before.rows}")
    out = typed[0] if len(typed) == 1 else pd.concat(typed, ignore_index=True)
    out.attrs["subcent"] = subcent
    check_amounts(out, cfg, warnings)
    files = pd.DataFrame(per_file)
    files.attrs["digest"] = digest
    return out, before, files
