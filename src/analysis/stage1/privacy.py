"""Anonymisation: salted hashes of customer ids (and chosen columns), and example rows
redacted before any message or warning shows them.

The transaction stage hashes last (:func:`anonymize_stage1`), so every tie-break, rank and
sample sees the ids as written and the analysis cannot change with the salt.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from ..config import Privacy

__all__ = ["hash_ids", "anonymize", "anonymize_stage1", "redact_row"]


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


def anonymize_stage1(clean: pd.DataFrame, customers: pd.DataFrame,
                     privacy: Privacy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The transaction stage's frames with ids hashed, as its very last step.

    Everything before it (duplicates, dimension ties, the customers' order: by raw id) ran
    on the ids as written, and the rows keep that order, so every later tie-break, rank and
    sample sees the same customers in the same order with or without ``anonymize``: the
    analysis cannot change with the salt."""
    return anonymize(clean, privacy), anonymize(customers, privacy)


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
