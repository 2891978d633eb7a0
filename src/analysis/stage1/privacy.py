"""Anonymisation: salted hashes of customer ids (and chosen columns), and example rows
redacted before any message or warning shows them.

The transaction stage hashes last (:func:`anonymize_stage1`), so every tie-break, rank and
sample sees the ids as written and the analysis cannot change with the salt.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..config import Privacy
from ..messages import Message, msg

__all__ = ["hash_ids", "anonymize", "anonymize_stage1", "redact_row", "IDENTIFYING",
           "identifying_warnings"]

#: dimension names that look like they identify a person: ids, e-mails, phones, names
IDENTIFYING = re.compile(r"(^|[^a-z])id($|[^a-z])|id$|^id|e-?mail|phone|mobile|\btel\b|"
                         r"telefon|name|ssn|passport|address", re.I)


def identifying_warnings(dimensions: tuple[str, ...] | list[str], privacy: Privacy
                         ) -> list[Message]:
    """With ``anonymize`` on, a warning for each dimension whose name looks like an id, an
    e-mail, a phone number or a name and that is not hashed (``anonymize_columns``): its
    values reach every output as written."""
    if not privacy.anonymize:
        return []
    return [msg("warning.identifying_dimension", dimension=str(d)) for d in dimensions
            if IDENTIFYING.search(d) and d not in privacy.anonymize_columns]


def hash_ids(values: pd.Series, salt: str) -> pd.Series:
    """Salted SHA-256 of each value (first 16 hex digits); missing values stay missing."""
    uniq = pd.unique(values.dropna().to_numpy())
    table = {v: hashlib.sha256((salt + "\x1f" + str(v)).encode("utf-8")).hexdigest()[:16]
             for v in uniq}
    return values.map(table).astype("str")


def anonymize(frame: pd.DataFrame, privacy: Privacy) -> pd.DataFrame:
    """Hash customer ids and ``anonymize_columns`` when ``anonymize`` is on (rows keep their
    order)."""
    if not privacy.anonymize:
        return frame
    out = frame.copy()
    for col in ["customer_id"] + list(privacy.anonymize_columns):
        if col in out:
            out[col] = hash_ids(out[col], privacy.anonymize_salt)
    return out


def anonymize_stage1(customers: pd.DataFrame, agg: Any, privacy: Privacy
                     ) -> tuple[pd.DataFrame, Any]:
    """The transaction stage's customers table and aggregates (``aggregates.Aggregates``)
    with ids hashed, as its very last step.

    Everything before it (duplicates, dimension ties, the customers' order: by raw id) ran
    on the ids as written, and the rows keep that order, so every later tie-break, rank and
    sample sees the same customers in the same order with or without ``anonymize``: the
    analysis cannot change with the salt. (The clean transactions are hashed as they are
    written: ``pandas_engine``, ``ibis_aggregates.write_clean``.)"""
    if not privacy.anonymize:
        return customers, agg

    def ids(index: pd.Index) -> pd.Index:
        return pd.Index(hash_ids(pd.Series(index.to_numpy(), dtype="str"),
                                 privacy.anonymize_salt).to_numpy(), dtype="str",
                        name="customer_id")

    clv = agg.clv
    cal = clv.calibration.set_axis(ids(clv.calibration.index)) \
        if clv.calibration is not None else None
    clv = replace(clv, calibration=cal,
                  historical_clv=clv.historical_clv.set_axis(ids(clv.historical_clv.index)))
    spend = None if agg.category_spend is None else anonymize(agg.category_spend, privacy)
    return anonymize(customers, privacy), replace(
        agg, halves=anonymize(agg.halves, privacy), sample=anonymize(agg.sample, privacy),
        clv=clv, category_spend=spend)


def redact_row(row: dict | None, privacy: Privacy, canonical: bool = False
               ) -> dict | None:
    """An example row as it may be shown: with ``anonymize`` on, the customer id (and the
    ``anonymize_columns``) hashed, so that no message or warning prints a raw id.
    ``canonical``: the row's keys are canonical names (customer_id), not the file's."""
    if not row or not privacy.anonymize:
        return row
    cid = "customer_id" if canonical else privacy.id_column
    out = dict(row)
    for col in [cid, *privacy.anonymize_columns]:
        value = out.get(col)
        if col in out and value is not None and not (isinstance(value, float) and
                                                       np.isnan(value)):
            out[col] = "hash:" + hash_ids(pd.Series([str(value)]),
                                          privacy.anonymize_salt).iloc[0]
    return out
