"""Stage 5: the stakeholder report and the customer table.

* ``sections``: what the report says, from the run's metrics and the stages' tables;
* ``story``: the findings, action groups, at-risk list, tier movement, dimensions, data
  quality and glossary sections;
* ``html``: the self-contained ``report/index.html``;
* ``exports``: the CRM tables (CSV, Parquet, XLSX), the data dictionary and at_risk.csv.

Labels, sentences and the dictionary's texts are in :mod:`analysis.narrative`.
"""
from .exports import at_risk_list, summary_sheets, write_tables, write_xlsx
from .html import figure_png, index_html, write_index
from .sections import Section, build

__all__ = ["at_risk_list", "summary_sheets", "write_tables", "write_xlsx", "figure_png", "index_html",
           "write_index", "Section", "build"]
