"""The customer table (and the campaign lists) written back into PostgreSQL for the CRM
(``export_postgres``), at the end of a run whose notebooks all succeeded.

:func:`preflight` runs before anything else: the database answers and the tables are new
or ones a run wrote, so a wrong password or a foreign table is one line and exit 2 before
minutes of work. :func:`export` then writes each table in one transaction
(``stage1.database.write_table``); the column comments are the data dictionary's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..campaigns import CAMPAIGN_COLUMNS, action_codes
from ..config import Params
from ..errors import InputError
from ..folders import final_of
from ..narrative.glossary import dictionary
from ..runfolder import CUSTOMERS, read_frame, read_metrics
from ..stage1.database import check_target, is_database, shown_url, write_table

__all__ = ["targets", "preflight", "export"]


def targets(params: Params, data: str) -> tuple[str, str, str] | None:
    """(URL, customers table, campaigns table) of ``export_postgres``, or None."""
    spec: dict[str, Any] = params.report.export_postgres
    if not spec:
        return None
    url = spec.get("url") or (data if is_database(data) else None)
    if url is None:
        raise InputError("export_postgres needs url when the data is a file",
                         file="parameters", column="export_postgres",
                         hint="For example {table: crm.customers, url: "
                         "postgresql://analyst@db.example.com/shop}")
    table = spec["table"]
    return url, table, spec.get("campaigns_table") or f"{table}_campaigns"


def preflight(params: Params, data: str) -> None:
    """Connect and check both target tables before the run starts."""
    found = targets(params, data)
    if found is not None:
        url, table, campaigns = found
        check_target(url, table)
        check_target(url, campaigns)


def export(run_dir: str | Path, params: Params, data: str) -> dict[str, Any] | None:
    """Write the run's customers (and campaign lists) into the tables; what was written
    (shown URL, tables, rows), or None when nothing is asked."""
    found = targets(params, data)
    if found is None:
        return None
    url, table, campaigns_table = found
    run = Path(run_dir)
    customers = read_frame(run / CUSTOMERS)
    metrics = read_metrics(run)
    docs = dictionary(list(customers.columns), params.report.language,
                      metrics.get("currency", params.report.currency),
                      params.report.time_unit.name, (metrics.get("clv") or {}).get("model"))
    comments = {r.column: f"{r.description} ({r.unit})" if r.unit else r.description
                for r in docs.itertuples()}
    name = final_of(run).name  # the folder's name once published
    out = {"url": shown_url(url), "table": table,
           "rows": write_table(url, table, customers, name, comments)}
    if "recommended_action" in customers:
        lists = customers[[c for c in CAMPAIGN_COLUMNS if c in customers]].copy()
        lists.insert(0, "action", pd.Series(action_codes(customers), index=customers.index,
                                            dtype="str"))
        out.update(campaigns_table=campaigns_table,
                   campaign_rows=write_table(url, campaigns_table, lists, name, comments))
    return out
