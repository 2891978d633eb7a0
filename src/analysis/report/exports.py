"""The tables a CRM loads: customers.csv / .parquet / .xlsx (with summary sheets, the
cleaning ledger and the data dictionary), data_dictionary.md and at_risk.csv.

The XLSX file is written by hand (:func:`write_xlsx`) because openpyxl builds a Python
object per cell: ~16 s for the 23,570 x 23 CDNOW customer table and minutes at a million
customers, while the format is a zip of a few XML parts that vectorised string operations
produce in about a second.
"""
from __future__ import annotations

import html
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..config import ReportParams
from ..narrative.glossary import dictionary, dictionary_markdown
from ..narrative.labels import TEXT
from ..narrative.translate import translate_table, translate_value
from ..campaigns import write_campaigns
from ..risk import at_risk
from ..runfolder import LEDGER, export_customers, replacing, safe_header, spreadsheet_safe
from ..units import Window

__all__ = ["AT_RISK_LIMIT", "write_xlsx", "summary_sheets", "at_risk_list", "labelled",
           "localised_sheets", "write_tables"]

#: customers in at_risk.csv (the page shows the first ten)
AT_RISK_LIMIT = 100

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_STYLES = (f'<styleSheet xmlns="{_NS}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
           '</font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
           '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/>'
           '<right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf '
           'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2">'
           '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="14" '
           'fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
           '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
           '</cellStyles></styleSheet>')
_BAD_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _xml_text(col: pd.Series) -> pd.Series:
    text = spreadsheet_safe(col.astype("str")).str.replace(_BAD_XML, "", regex=True).str.replace("&", "&amp;") \
        .str.replace("<", "&lt;").str.replace(">", "&gt;")
    cells = '<c t="inlineStr"><is><t xml:space="preserve">' + text + "</t></is></c>"
    return cells.where(col.notna(), "<c/>").astype(object)


def _xml_cells(col: pd.Series) -> pd.Series:
    """One column as SpreadsheetML cells: numbers, dates (serial + date style) or text."""
    if pd.api.types.is_bool_dtype(col):
        return ('<c t="b"><v>' + col.astype(int).astype(str) + "</v></c>").astype(object)
    if pd.api.types.is_datetime64_any_dtype(col):
        serial = (col - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
        cells = '<c s="1"><v>' + serial.astype(str) + "</v></c>"
        return cells.where(col.notna(), "<c/>").astype(object)
    if pd.api.types.is_numeric_dtype(col):
        finite = col.notna() & np.isfinite(col.astype("float64"))
        cells = "<c><v>" + col.astype(str) + "</v></c>"
        return cells.where(finite, "<c/>").astype(object)
    return _xml_text(col)


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """Write DataFrames as sheets of an .xlsx file.

    Written by hand because openpyxl builds a Python object per cell: ~16 s for the
    23,570 x 23 CDNOW customer table and minutes at a million customers, while the
    format is a zip of a few XML parts that vectorised string operations produce in
    about a second. Numbers stay numbers, datetimes become Excel dates, everything
    else inline text; tests read the file back with openpyxl and calamine."""
    names = list(sheets)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                   'package.relationships+xml"/><Default Extension="xml" ContentType='
                   '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
                   f'"{_CT}.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType='
                   f'"{_CT}.styles+xml"/>'
                   + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType='
                             f'"{_CT}.worksheet+xml"/>' for i in range(1, len(names) + 1))
                   + "</Types>")
        z.writestr("_rels/.rels", f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
                   f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{_NS}" xmlns:r="{_REL}"><sheets>'
                   + "".join(f'<sheet name="{html.escape(n[:31])}" sheetId="{i}" r:id="rId{i}"/>'
                             for i, n in enumerate(names, start=1)) + "</sheets></workbook>")
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{_PKG}">'
                   + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                             f'Target="worksheets/sheet{i}.xml"/>'
                             for i in range(1, len(names) + 1))
                   + f'<Relationship Id="rIdS" Type="{_REL}/styles" Target="styles.xml"/>'
                   "</Relationships>")
        z.writestr("xl/styles.xml", _STYLES)
        for i, name in enumerate(names, start=1):
            df = sheets[name].reset_index(drop=True)
            header = "<row>" + "".join(_xml_text(pd.Series([str(c) for c in df.columns], dtype=object)).tolist()) + "</row>"
            rows = pd.Series([""] * len(df), dtype=object)
            for col in df.columns:
                rows = rows + _xml_cells(df[col])
            body = ("<row>" + rows + "</row>").str.cat() if len(df) else ""
            z.writestr(f"xl/worksheets/sheet{i}.xml",
                       f'<worksheet xmlns="{_NS}"><sheetData>{header}{body}</sheetData>'
                       "</worksheet>")


def summary_sheets(customers: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Customers and revenue (with its share) per tier, segment, stage, action, CLV tier."""
    sheets: dict[str, pd.DataFrame] = {}
    def share(g):
        g["revenue_share"] = g["revenue"] / customers["revenue"].sum()
        return g.reset_index()
    for col, name in (("abc_tier", "abc_tiers"), ("rfm_segment", "rfm_segments"),
                      ("lifecycle_stage", "lifecycle"), ("recommended_action", "actions"),
                      ("clv_tier", "clv_tiers")):
        if col in customers:
            g = customers.groupby(col).agg(customers=("customer_id", "size"),
                                           revenue=("revenue", "sum"))
            sheets[name] = share(g)
    return sheets


def at_risk_list(customers: pd.DataFrame, metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The valuable customers whose activity is falling (:func:`analysis.risk.at_risk`),
    the window taken from metrics.json's period."""
    return at_risk(customers, Window.from_period(metrics["period"]), AT_RISK_LIMIT)


def labelled(customers: pd.DataFrame, lang: str) -> pd.DataFrame:
    """In a language other than English, a label column beside each coded one
    (``rfm_segment_label``, ``lifecycle_stage_label``): the codes stay stable for machines,
    the labels are for people."""
    if lang == "en":
        return customers
    out = customers.copy()
    for col in ("rfm_segment", "lifecycle_stage"):
        if col in out:
            out[f"{col}_label"] = out[col].map(lambda v, c=col: translate_value(c, v, lang))
    return out


def localised_sheets(sheets: Mapping[str, pd.DataFrame], lang: str
                     ) -> dict[str, pd.DataFrame]:
    """The XLSX sheets named in ``lang``; the summary, ledger and dictionary sheets with
    headers in ``lang`` and codes (segment, stage, ledger step, CLV tier) as labels, as the
    notebooks show them. The customers sheet keeps its column codes (the dictionary sheet
    explains them) beside the label columns."""
    if lang == "en":
        return dict(sheets)
    names = TEXT["sheet_names"]
    return {names.get(key, {}).get(lang, key):
            frame if key == "customers" else translate_table(frame, lang)
            for key, frame in sheets.items()}


def write_tables(run_dir: str | Path, customers: pd.DataFrame, params: ReportParams,
                 metrics: Mapping[str, Any], risk: pd.DataFrame | None = None
                 ) -> dict[str, Path]:
    """customers.csv / .parquet / .xlsx (with summary and dictionary sheets; anonymised, in
    the order of the hashed ids, since the table's own order follows the raw ids),
    data_dictionary.md and at_risk.csv (``risk``: :func:`at_risk_list` of these customers,
    when the caller made it already)."""
    run = Path(run_dir)
    lang = params.language
    if params.anonymize:  # rows in the order of the hashes: the place of a row says nothing
        customers = customers.sort_values("customer_id", kind="stable")  # of the raw id
    table = export_customers(run, labelled(customers, lang))
    risk = at_risk_list(table, metrics) if risk is None else risk
    write_campaigns(run, table)
    with replacing(run / "at_risk.csv") as tmp:
        safe_header(risk.apply(spreadsheet_safe)).to_csv(tmp, index=False,
                                                         date_format="%Y-%m-%d")
    dic = dictionary(list(table.columns), lang, metrics.get("currency", params.currency),
                     params.time_unit.name, (metrics.get("clv") or {}).get("model"))
    with replacing(run / "data_dictionary.md") as tmp:
        tmp.write_text(dictionary_markdown(dic, lang), encoding="utf-8")
    ledger = run / LEDGER
    sheets: dict[str, pd.DataFrame] = {}
    if len(table) <= params.xlsx_max_customers:
        sheets["customers"] = table
    sheets.update(summary_sheets(table))
    if ledger.exists():
        sheets["cleaning_ledger"] = pd.read_csv(ledger)
    sheets["dictionary"] = dic
    with replacing(run / "customers.xlsx") as tmp:
        write_xlsx(tmp, localised_sheets(sheets, lang))
    return {"csv": run / "customers.csv", "parquet": run / "customers.parquet",
            "xlsx": run / "customers.xlsx", "dictionary": run / "data_dictionary.md",
            "at_risk": run / "at_risk.csv"}
