"""The customer master (``customers_file``): one row per customer with a sign-up date, the
customer's nature (individual / organisation, as the file writes it) and attributes,
joined to the transaction stage's customers by id.

* Ids are read as the log's are (text, trimmed, ``12345.0`` is ``12345``) and hashed the
  same way when ``anonymize`` is on, so the master joins the hashed customers table; its
  rows are ordered by the raw id first, so nothing depends on the salt.
* A master that names an id twice, lacks a column it maps, or has a sign-up date that does
  not parse stops the run with one line (exit 2); one that shares no id with the log does
  too (the ids are then written differently in the two files).
* The master's people with no purchase kept in the window who signed up by its end are the
  **potential** customers (:attr:`~analysis.handoff.Aggregates.potential`); the match
  counts (:attr:`~analysis.handoff.Aggregates.master`) say how the two sides meet, so
  that log customers + potential + signed up after the window = master customers when
  every log customer is in the master.

Its attributes become dimension columns of the customers table (every column but the
mapped ones by default, except those whose names look like a name, e-mail, phone or
address: :data:`~analysis.stage1.privacy.IDENTIFYING`, said in a warning).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from ..config import Params, ReadParams
from ..errors import InputError
from ..groups import MasterFile
from ..handoff import MASTER_COLUMNS, Aggregates
from ..messages import Message, msg
from .inputs import read_text_table, unique_key
from .parse import as_text, customer_ids
from .privacy import IDENTIFYING, hash_ids, redact_row
from .summary import SUMMARY_COLUMNS

__all__ = ["read_master", "attributes", "join_master", "with_master"]


def attributes(spec: MasterFile, columns: list[str], dimensions: tuple[str, ...]
               ) -> tuple[list[str], list[str]]:
    """The master's columns to carry, and those left out because their names look like
    they identify a person (only when ``attributes`` is not given)."""
    mapped = {spec.customer_id, spec.signup_date, spec.nature}
    if spec.attributes is not None:
        return list(spec.attributes), []
    rest = [c for c in columns if c not in mapped and c not in dimensions]
    return [c for c in rest if not IDENTIFYING.search(c)], \
        [c for c in rest if IDENTIFYING.search(c)]


def _dates(text: pd.Series, spec: MasterFile, cfg: ReadParams, raw: pd.DataFrame
           ) -> pd.Series:
    """Sign-up dates (``date_format``, else ISO 8601, else read one by one); a value that
    does not parse stops the run with its row."""
    fmt = spec.date_format or "ISO8601"
    dates = pd.to_datetime(text, format=fmt, errors="coerce")
    if spec.date_format is None and (dates.isna() & text.notna()).any():
        dates = pd.to_datetime(text, format="mixed", dayfirst=cfg.dayfirst, errors="coerce")
    bad = dates.isna() & text.notna()
    if bad.any():
        pos = int(bad.to_numpy().nonzero()[0][0])
        row = redact_row({c: raw.iloc[pos][c] for c in raw.columns},
                         replace(cfg.privacy, id_column=spec.customer_id))
        raise InputError(f"{int(bad.sum()):,} sign-up date(s) of the customer master do not "
                         f"parse as {spec.date_format or 'ISO 8601 or inferred dates'}",
                         file=spec.file, column=spec.signup_date, row=row,
                         hint="Set customers_file.date_format, e.g. '%d/%m/%Y'")
    return dates.astype("datetime64[ns]").dt.normalize()


def read_master(spec: MasterFile, cfg: ReadParams, dimensions: tuple[str, ...] = (),
                warnings: list | None = None) -> pd.DataFrame:
    """The master as typed columns: ``customer_id`` (as the log's ids are read), then
    ``signup_date`` and ``customer_nature`` when mapped, then the attributes as text."""
    raw = read_text_table(spec.file, cfg, "customer master", spec.sheet)
    mapped = [c for c in (spec.customer_id, spec.signup_date, spec.nature) if c]
    carry, left_out = attributes(spec, list(raw.columns), dimensions)
    missing = [c for c in [*mapped, *carry] if c not in raw.columns]
    if missing:
        raise InputError(f"the customer master has no column {missing[0]!r}", file=spec.file,
                         column=missing[0], hint=f"Its columns are {list(raw.columns)[:12]}")
    clash = [c for c in carry if c in dimensions or c in SUMMARY_COLUMNS or
             c in MASTER_COLUMNS]
    if clash:
        raise InputError(f"the customer master's column {clash[0]!r} is also a column of the "
                         f"customers table (a dimension or a summary column)", file=spec.file,
                         column=clash[0], hint="Leave it out of customers_file.attributes")
    if left_out and warnings is not None:
        warnings.append(msg("warning.master_identifying", columns=", ".join(left_out)))
    ids = customer_ids(raw[spec.customer_id], None, spec.customer_id, cfg.missing_tokens)
    unique_key(ids, "customer id of the customer master", spec.file, spec.customer_id,
               "The master holds one row per customer")
    keep = ids.notna().to_numpy()
    out = pd.DataFrame({"customer_id": ids})
    if spec.signup_date:
        out["signup_date"] = _dates(as_text(raw[spec.signup_date], cfg.missing_tokens), spec,
                                    cfg, raw)
    words = cfg.dimension_missing_tokens
    if spec.nature:
        out["customer_nature"] = as_text(raw[spec.nature], words).astype("str")
    for col in carry:
        out[col] = as_text(raw[col], words).astype("str")
    out = out[keep].sort_values("customer_id", kind="stable").reset_index(drop=True)
    out.attrs["rows_without_id"] = int((~keep).sum())
    return out


def join_master(customers: pd.DataFrame, agg: Aggregates, master: pd.DataFrame,
                params: Params, warnings: list | None = None
                ) -> tuple[pd.DataFrame, Aggregates]:
    """The customers table with the master's columns (by id, its order kept), and the
    aggregates with the potential customers and the match counts (module docstring)."""
    privacy = params.read.privacy
    spec = params.customers.customers_file
    m = master.copy()
    if privacy.anonymize:
        m["customer_id"] = hash_ids(m["customer_id"], privacy.anonymize_salt)
    in_log = m["customer_id"].isin(customers["customer_id"]).to_numpy()
    known = customers["customer_id"].isin(m["customer_id"]).to_numpy()
    if len(m) and len(customers) and not in_log.any():
        raise InputError(f"no customer id of the customer master is among the "
                         f"{len(customers):,} customers of the transactions (e.g. master "
                         f"{m['customer_id'].iloc[0]!r}, transactions "
                         f"{customers['customer_id'].iloc[0]!r})", file=spec.file,
                         column=spec.customer_id,
                         hint="Both files must write the same ids the same way")
    after = (~in_log & (m["signup_date"] > agg.window.end).to_numpy()) \
        if "signup_date" in m else (in_log & False)
    potential = m[~in_log & ~after].reset_index(drop=True)
    table = customers.join(m.set_index("customer_id"), on="customer_id")
    counts = {"file": Path(spec.file).name, "master_customers": int(len(m)),
              "rows_without_id": int(master.attrs.get("rows_without_id", 0)),
              "log_customers": int(len(customers)), "log_in_master": int(known.sum()),
              "log_not_in_master": int((~known).sum()), "master_buyers": int(in_log.sum()),
              "potential": int(len(potential)),
              "signed_up_after_window": int(after.sum())}
    if (~known).any() and warnings is not None:
        warnings.append(_unmatched(counts, customers["customer_id"][~known].iloc[0]))
    return table, replace(agg, potential=potential, master=counts)


def _unmatched(counts: dict, example: str) -> Message:
    return msg("warning.master_unmatched", n=counts["log_not_in_master"],
               total=counts["log_customers"],
               share=counts["log_not_in_master"] / counts["log_customers"],
               file=counts["file"], example=str(example))


def with_master(customers: pd.DataFrame, agg: Aggregates, params: Params,
                warnings: list | None = None) -> tuple[pd.DataFrame, Aggregates]:
    """The transaction stage's customers and aggregates joined to the customer master,
    when ``customers_file`` names one (else as they are)."""
    spec = params.customers.customers_file
    if spec is None:
        return customers, agg
    master = read_master(spec, params.read, params.read.dimensions, warnings)
    return join_master(customers, agg, master, params, warnings)
