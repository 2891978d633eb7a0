"""Stage 5: the stakeholder report and the customer table.

* ``sections``: what the report says, from the run's metrics and the stages' tables;
* ``html``: the self-contained ``report/index.html``;
* ``exports``: the CRM tables (CSV, Parquet, XLSX) and the data dictionary.

Labels, sentences and the dictionary's texts are in :mod:`analysis.narrative`.
"""
from .exports import summary_sheets, write_tables, write_xlsx
from .html import figure_png, index_html, write_index
from .sections import Section, build

__all__ = ["summary_sheets", "write_tables", "write_xlsx", "figure_png", "index_html",
           "write_index", "Section", "build"]
