"""The data dictionary: what each column of the customers table means, and its unit, in
English and Chinese (``data_dictionary.md``, the XLSX ``dictionary`` sheet, notebook 05)."""
from __future__ import annotations

import pandas as pd

from ..clv.models import by_name
from ..messages import CATALOG
from ..runfolder import horizon_months
from .labels import TEXT, t

__all__ = ["COLUMN_DOCS", "DIMENSION_DOC", "dictionary", "dictionary_markdown"]

#: column -> language -> (description, unit)
COLUMN_DOCS: dict[str, dict[str, tuple[str, str]]] = {
    col: {lang: tuple(pair) for lang, pair in docs.items()}
    for col, docs in TEXT["column_docs"].items()}
#: a dimension column (an attribute from the data)
DIMENSION_DOC: dict[str, tuple[str, str]] = {lang: tuple(pair) for lang, pair in
                                             TEXT["dimension_doc"].items()}


def dictionary(columns: list[str], lang: str, currency: str, time_unit: str,
               model: str | None = None) -> pd.DataFrame:
    """Column, description and unit of each column, in ``lang``, units as in this run.
    ``model``: the purchase model used, by name (under one whose one-time buyers all have
    P(alive) = 1, BG/NBD, the dictionary says what that means)."""
    rows = []
    for col in columns:
        months = horizon_months(col)
        key = "p_alive_bgnbd" if col == "p_alive" and model is not None and \
            by_name(model).one_time_buyers_alive else col
        if months is not None:
            desc, unit = COLUMN_DOCS["predicted_clv_horizon"][lang]
            desc = desc.format(months=months)
        else:
            desc, unit = COLUMN_DOCS.get(key, DIMENSION_DOC)[lang]
        unit = unit.format(currency=currency, time_unit=CATALOG[lang]["time_unit." + time_unit])
        rows.append({"column": col, "description": desc, "unit": unit})
    return pd.DataFrame(rows)


def dictionary_markdown(table: pd.DataFrame, lang: str) -> str:
    """The dictionary as ``data_dictionary.md``."""
    head = f"# {t('dictionary_title', lang)}\n\n"
    lines = ["| column | description | unit |", "|---|---|---|"]
    lines += [f"| `{r.column}` | {r.description} | {r.unit} |" for r in table.itertuples()]
    return head + "\n".join(lines) + "\n"
