"""The parameter schema: every parameter declared once, with its type, default, check and
one-line description, in the group the README's reference lists it under.

:mod:`analysis.config` validates YAML files and overrides against :data:`FIELDS` and builds
the typed parameter groups from it; the README's parameter reference is
:func:`reference_markdown` (a test checks the README against it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import checks
from .engine_settings import check_spark_master
from .coercion import coerce, shown
from .errors import ParamError

__all__ = ["Field", "FIELDS", "FIELD_BY_NAME", "CANONICAL_COLUMNS", "DEFAULT_MISSING_VALUES",
           "DEFAULT_NON_PRODUCT_CODES", "GROUP_TITLES", "coerce", "check_columns",
           "reference_markdown"]

#: canonical transaction columns a mapping may name (``columns:`` in params)
CANONICAL_COLUMNS = ("customer_id", "date", "amount", "quantity", "unit_price", "order_id",
                     "product_code", "category", "cost", "profit")

#: codes of the UCI Online Retail export that are not products (postage, fees, adjustments)
DEFAULT_NON_PRODUCT_CODES = ["POST", "DOT", "M", "C2", "D", "S", "B", "BANK CHARGES",
                             "AMAZONFEE", "CRUK", "PADS", "ADJUST", "ADJUST2", "TEST001",
                             "TEST002"]


#: cell texts read as missing (compared in lower case after trimming): what R, Excel,
#: pandas, SQL exports and ERPs write for "no value"
DEFAULT_MISSING_VALUES = ["", "NA", "N/A", "#N/A", "NaN", "null", "None", "nil", "-", "--",
                         "(blank)", "(null)"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: str            # str|int|float|bool|date|list_str|list_float|mapping|list_mapping|choice
    default: Any
    help: str
    choices: tuple = ()
    nullable: bool = False
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    group: str = "data"


FIELDS: tuple[Field, ...] = (
    # -- reading the file ----------------------------------------------------------------
    Field("dataset", "str", None, "Name of the dataset, used in the run-folder name "
          "(default: the data file's name without extension).", nullable=True),
    Field("columns", "mapping", {}, "Mapping from canonical column to the file's column: "
          "customer_id and date are required; amount, or quantity and unit_price; optional "
          "order_id, product_code, category (what kind of product: each customer's needs "
          "class), and cost or profit of the row (then CLV is the discounted profit, "
          "revenue minus cost, instead of margin x revenue). Example: "
          "{customer_id: CustomerID, date: InvoiceDate}."),
    Field("header", "bool", True, "Whether the first line of a CSV holds column names."),
    Field("names", "list_str", None, "Column names to use when the file has no header line "
          "(or to replace it).", nullable=True),
    Field("sep", "str", "auto", "CSV separator: a character, 'whitespace', or 'auto' "
          "(detected from the first line among , ; tab |)."),
    Field("encoding", "str", "utf-8", "Text encoding of a CSV file (a UTF-8 byte-order mark "
          "is accepted).", check=checks.encoding),
    Field("sheet", "str", None, "XLSX sheet name (default: the first sheet).", nullable=True),
    Field("date_format", "str", None, "strftime format of the date column, e.g. '%Y%m%d' "
          "(default: ISO 8601 or pandas' inference, checked row by row).", nullable=True),
    Field("dayfirst", "bool", False, "Read ambiguous dates like 01/02/2011 as day first."),
    Field("decimal", "choice", ".", "Decimal mark of amounts: '.' or ','.", choices=(".", ",")),
    Field("thousands", "choice", None, "Digit-grouping mark in amounts to remove: ',', '.', "
          "' ' or \"'\" (default: none).", choices=(",", ".", " ", "'"), nullable=True),
    Field("currency", "str", "USD", "Currency code or symbol shown in tables and figures "
          "(up to 12 characters; no markup characters such as < > & * _ ` [ ] # |).",
          check=checks.currency),
    Field("missing_values", "list_str", DEFAULT_MISSING_VALUES, "Cell texts read as missing "
          "in the id, date, amount, order and product columns, in any letter case, after "
          "trimming blanks (R's NA, Excel's #N/A, ...); a customer id written so is dropped "
          "by missing_customer_id.", check=checks.no_digits_only),
    Field("dimension_missing_values", "list_str", [""], "Cell texts read as missing in the "
          "dimensions (default: only the blank cell, so a region 'NA', North America, stays "
          "a value); e.g. ['', 'n/a', '(none)']. A dimension that loses more than 2 % of its "
          "values to such words warns.", check=checks.no_digits_only),
    Field("dimensions", "list_str", [], "Customer attributes to carry into the customers "
          "table (file columns, e.g. [Country]); a customer's value is its most frequent one."),
    Field("lookups", "list_mapping", [], "Further tables joined to the transactions on a "
          "key before the mapping reads them, each {file: products.csv, key: ProductKey} "
          "(optional lookup_key: the key's name in the lookup when it differs; columns: the "
          "lookup's columns to bring, default all). The mapping, dimensions and exclude_rows "
          "may then name their columns (price, cost, category, country). A key must be unique "
          "in its lookup; rows whose key is not in it are dropped by the rule "
          "unmatched_lookup and counted in the ledger. Paths are relative to the current "
          "directory.", check=checks.lookups),
    Field("exclude_rows", "mapping", {}, "Rows to leave out, by the text of a column (of the "
          "file or of a lookup): {STATUS: [Cancelled, Void]} (trimmed, any letter case), or "
          "{STATUS: {pattern: '^Cancel'}} (a regular expression). Dropped by the rule "
          "excluded_rows, counted in the ledger with their revenue.",
          check=checks.exclude_rows),
    Field("table", "str", None, "With a postgresql:// source: the table (or schema.table) "
          "to read.", nullable=True, check=checks.sql_name),
    Field("query", "str", None, "With a postgresql:// source: a SELECT to read instead of a "
          "table; it runs in a read-only transaction.", nullable=True),
    # -- cleaning ----------------------------------------------------------------------------
    Field("drop_missing_customer", "bool", True, "Drop rows without a customer id.",
          group="cleaning"),
    Field("drop_implausible_dates", "bool", True, "Drop rows dated before 1900 or after "
          "the day of the run (typos such as 2102 for 2012).", group="cleaning"),
    Field("returns", "choice", "drop", "Cancellations and returns (negative quantity or "
          "amount, or an order id matching the cancellation pattern): 'drop' them, or 'net' "
          "them against the customer's revenue.", choices=("drop", "net"), group="cleaning"),
    Field("cancel_prefix", "str", "C", "Letter(s) that mark a cancelled order when a digit "
          "follows them (C536379 is a cancellation, CA-2016-152156 is not); the pattern is "
          "the prefix followed by a digit.", nullable=True, group="cleaning"),
    Field("cancel_pattern", "str", None, "Regular expression matched at the start of the "
          "order id that marks a cancellation; replaces cancel_prefix when set, e.g. "
          "'^RET-?[0-9]'.", nullable=True, check=checks.regex, group="cleaning"),
    Field("drop_warning_share", "float", 0.10, "A cleaning rule that drops more than this "
          "share of the rows or of the revenue prints a loud warning (with an example row), "
          "shown in the manifest, notebook 01 and the report.", check=checks.between(0, 1),
          group="cleaning"),
    Field("drop_non_product", "bool", True, "Drop rows whose product_code is in "
          "non_product_codes (postage, fees, manual adjustments).", group="cleaning"),
    Field("non_product_codes", "list_str", DEFAULT_NON_PRODUCT_CODES, "Product codes that "
          "are not products.", group="cleaning"),
    Field("drop_non_positive_price", "bool", True, "Drop purchase rows whose unit price (or "
          "amount, when no price is mapped) is zero or negative.", group="cleaning"),
    Field("drop_duplicates", "bool", True, "Drop exact duplicate rows (every mapped column "
          "equal), keeping the first.", group="cleaning"),
    Field("observation_start", "date", None, "First day of the observation window; earlier "
          "rows are dropped (default: the first date in the data).", nullable=True,
          group="cleaning"),
    Field("observation_end", "date", None, "Last day of the observation window; later rows "
          "are dropped and T is measured to it (default: the last date in the data).",
          nullable=True, group="cleaning"),
    # -- summary and models ----------------------------------------------------------------
    Field("time_unit", "choice", "day", "Unit of recency and T: 'day' or 'week' (7 days).",
          choices=("day", "week"), group="summary"),
    Field("seed", "int", 42, "Seed for every random step (sampling, k-means, bootstrap).",
          check=checks.seed, group="summary"),
    Field("language", "choice", "en", "Language of labels, text and the playbook in "
          "notebooks and reports: 'en' or 'zh'.", choices=("en", "zh"), group="report"),
    Field("anonymize", "bool", False, "Replace customer ids (and anonymize_columns) by salted "
          "hashes from the moment the data is loaded, so no shared output holds a raw id.",
          group="report"),
    Field("anonymize_salt", "str", None, "Secret salt of the hashes (or the environment "
          "variable ANALYSIS_ANONYMIZE_SALT); never written into any output.", nullable=True,
          group="report"),
    Field("anonymize_columns", "list_str", [], "Further mapped columns (names, e-mails among "
          "the dimensions) to hash when anonymize is on.", group="report"),
    Field("xlsx_max_customers", "int", 200000, "Above this many customers customers.xlsx "
          "holds the summary sheets only (the full table is in CSV and Parquet).",
          check=checks.positive, group="report"),
    Field("control_share", "float", 0.10, "Share of each campaign list held out at random "
          "as a control group (stratified by ABC tier and lifecycle stage, seeded), to "
          "measure what the campaign changes; 0 holds none out.",
          check=checks.between(0, 0.5), group="report"),
    Field("contact_costs", "mapping", {}, "Cost of one contact per action, in the currency "
          "(e.g. {win_back: 12.5}); the page then says for how many customers of that list "
          "a contact costs more than it can return.", group="report"),
    Field("export_postgres", "mapping", {}, "Write the customer table (and the campaign "
          "lists) into PostgreSQL when the run ends: {table: crm.customers} (optional url: "
          "postgresql://user@host/db, default the source's; campaigns_table). The new table "
          "replaces the old one in one transaction, and only a table an earlier run wrote. "
          "Passwords come from PGPASSWORD or ~/.pgpass, never from this file.",
          check=checks.export_postgres, group="report"),
    Field("previous_run", "str", None, "An earlier run folder of the same dataset, on data "
          "that ended before this one's: the page then opens with what changed since (who "
          "moved, its forecast against what happened, each campaign against its control "
          "group).", nullable=True, group="report"),
    # -- value tiers (notebook 02) ---------------------------------------------------------
    Field("abc_method", "choice", "rank_share", "ABC method: 'rank_share' (top 5 % / next "
          "15 % / rest of customers) or 'revenue_share' (customers bringing the first 80 % / "
          "next 15 % / last 5 % of revenue).", choices=("rank_share", "revenue_share"),
          group="tiers"),
    Field("abc_rank_cuts", "list_float", [0.05, 0.20], "Cumulative customer shares closing "
          "tiers A and B for rank_share.", check=checks.cuts, group="tiers"),
    Field("abc_revenue_cuts", "list_float", [0.80, 0.95], "Cumulative revenue shares closing "
          "tiers A and B for revenue_share.", check=checks.cuts, group="tiers"),
    Field("migration_split", "date", None, "Date splitting the window in two halves for tier "
          "migration (default: the midpoint).", nullable=True, group="tiers"),
    # -- segments (notebook 03) -------------------------------------------------------------
    Field("rfm_monetary", "choice", "revenue", "What the M score ranks: total 'revenue' or "
          "'mean_order_value'.", choices=("revenue", "mean_order_value"), group="segments"),
    Field("segment_map", "mapping", {}, "Overrides of the named-segment table: "
          "{segment name: [[r_lo, r_hi], [fm_lo, fm_hi]], ...} replacing rows by name.",
          group="segments"),
    Field("k_range", "list_float", [2, 8], "Range of k tried for k-means, chosen by "
          "silhouette.", check=checks.k_range, group="segments"),
    Field("silhouette_sample", "int", 5000, "Customers sampled (seeded) to compute the "
          "silhouette (its cost grows with the square of this).", check=checks.positive,
          group="segments"),
    Field("minibatch_threshold", "int", 50000, "Use MiniBatchKMeans above this many "
          "customers.", check=checks.positive, group="segments"),
    Field("cluster_fit_sample", "int", 200000, "Above this many customers, k-means (and the "
          "choice of k) is fitted on a seeded random sample of this size; every customer is "
          "then assigned to the nearest centre.", check=checks.positive, group="segments"),
    Field("new_days", "int", None, "A customer whose first purchase is at most this many "
          "days before the end is 'new' (default: from the median inter-purchase time).",
          nullable=True, check=checks.positive, group="segments"),
    Field("active_days", "int", None, "Last purchase within this many days: 'active' "
          "(default: from the median inter-purchase time).", nullable=True, check=checks.positive,
          group="segments"),
    Field("churn_days", "int", None, "Last purchase more than this many days ago: 'churned'; "
          "between active_days and churn_days: 'dormant'.", nullable=True, check=checks.positive,
          group="segments"),
    Field("lifecycle_rhythm", "choice", "own", "'own': a repeat buyer's active and churn "
          "thresholds scale with their own gap between purchases (shrunk toward the median "
          "gap by two purchases' weight), so a weekly buyer is dormant sooner than a "
          "quarterly one; 'population': the same thresholds for everyone.",
          choices=("own", "population"), group="segments"),
    # -- CLV (notebook 04) ---------------------------------------------------------------
    Field("clv_model", "choice", "auto", "Purchase model: 'auto' (the default: BG/NBD, "
          "MBG/NBD and Pareto/NBD are each backtested at up to four calibration ends and the "
          "one with the smallest squared error per customer in revenue whose fit is sound is "
          "used; when all three run to a boundary, 'nbd'), or one of 'bgnbd', 'mbgnbd', "
          "'paretonbd', or 'nbd' (no drop-out: nobody leaves).",
          choices=("auto", "bgnbd", "paretonbd", "mbgnbd", "nbd"), group="clv"),
    Field("clv_horizon_months", "int", 12, "Horizon of the headline predicted CLV "
          "(predicted_clv), in months.", check=checks.positive, group="clv"),
    Field("clv_horizons_months", "list_float", [3, 6, 12, 24], "Further horizons, in months, "
          "each a column predicted_clv_<n>m of the customers table and a line of the "
          "report.", check=checks.horizons, group="clv"),
    Field("discount_rate", "float", 0.10, "Annual discount rate for CLV.",
          check=checks.between(0, 1), group="clv"),
    Field("margin", "float", 1.0, "Share of revenue kept as profit (1.0 = CLV in revenue); "
          "not used when columns maps cost or profit.",
          check=checks.between(0, 1), group="clv"),
    Field("calibration_end", "date", None, "End of the calibration period for holdout "
          "validation (default: leaves the last 40 % of the window as holdout); the earlier "
          "backtests step back from it a quarter at a time, with holdouts as long.",
          nullable=True, group="clv"),
    Field("clv_bootstrap", "int", 100, "Bootstrap refits (up to 200,000 customers) or "
          "normal-approximation draws (above) for CLV intervals (0 skips).",
          check=checks.non_negative, group="clv"),
    Field("penalizer", "float", 0.0, "L2 penalizer of the lifetimes fitters.",
          check=checks.non_negative, group="clv"),
    # -- customer master and needs -----------------------------------------------------------
    Field("customers_file", "mapping", {}, "A customer master, one row per customer: {file: "
          "crm.csv, columns: {customer_id: Id, signup_date: Created, nature: AccountType}} "
          "(optional: attributes, the master's columns to carry, default every other column "
          "whose name does not look like a name, e-mail, phone or address; date_format; "
          "sheet). Its attributes become dimensions, nature (individual / organisation) gets "
          "a section of its own, and people in it with no purchase in the window are "
          "'potential' customers (lifecycle stage potential, action first-order offer). Ids "
          "match as the log's do (12345.0 is 12345) and are hashed with anonymize.",
          check=checks.customers_file, group="customers"),
    Field("needs_dominant_share", "float", 0.5, "With columns.category: a customer whose "
          "largest category holds at least this share of their spend gets that category as "
          "needs class; the others are grouped by k-means (seeded) on their category shares "
          "and named by the two largest categories of their group ('mixed: A + B').",
          check=checks.between(0.2, 1), group="customers"),
    Field("cross_sell_min_support", "float", 0.02, "A pair of categories is a cross-sell hint "
          "when at least this share of the buying customers bought both and more of them did "
          "than chance would give (lift of at least 1.1); the page states lift and support.",
          check=checks.between(0, 1), group="customers"),
    # -- where the transaction stage runs --------------------------------------------------
    Field("engine", "choice", "pandas", "Where load, clean and summarise run: 'pandas' (one "
          "machine, the default), 'duckdb' (one machine, out of core) or 'spark' (a cluster, or "
          "local mode); the results are the same to the cent and the day.",
          choices=("pandas", "duckdb", "spark"), group="engine"),
    Field("spark_master", "str", "local[*]", "Spark master URL for engine 'spark', e.g. "
          "'local[2]', 'spark://host:7077', 'yarn'.", check=check_spark_master, group="engine"),
    Field("spark_config", "mapping", {}, "Spark settings passed to the session builder, e.g. "
          "{spark.driver.memory: 8g, spark.executor.memory: 16g}; only the settings the README "
          "lists are accepted (none that reaches a JVM command line).",
          check=checks.settings("spark_config"), group="engine"),
    Field("duckdb_config", "mapping", {}, "Settings for DuckDB's connection with engine "
          "'duckdb', e.g. {memory_limit: 8GB, threads: 4, temp_directory: /scratch}; only the "
          "settings the README lists are accepted.", check=checks.settings("duckdb_config"),
          group="engine"),
    Field("clean_transactions", "str", "run", "Where the engine writes the clean "
          "transactions as Parquet: 'run' (transactions_clean.parquet in the run folder), "
          "'off' (not written), or a path (with engine 'spark', a directory of part files). "
          "No notebook reads them (the transaction stage hands on aggregates) but for one "
          "customer's rows in notebook 04's story.",
          group="engine"),
)

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


def check_columns(mapping: dict, source: str) -> None:
    for key, col in mapping.items():
        if key not in CANONICAL_COLUMNS:
            raise ParamError(f"columns: unknown canonical column {key!r}; use one of "
                             + ", ".join(CANONICAL_COLUMNS), file=source, column="columns")
        if not isinstance(col, (str, int)) or isinstance(col, bool) or not str(col).strip():
            raise ParamError(f"columns.{key} must name a column of the file, got "
                             f"{shown(col)}", file=source, column="columns")
        # a file's column names are text once read (a header cell 0 is the name '0')
        mapping[key] = str(col).strip() if isinstance(col, int) else col


GROUP_TITLES = {"data": "Reading the file", "cleaning": "Cleaning",
                "summary": "Summary and randomness", "report": "Report and outputs",
                "tiers": "Value tiers (notebook 02)", "segments": "Segments (notebook 03)",
                "clv": "Customer lifetime value (notebook 04)",
                "customers": "Customer master and needs",
                "engine": "Engine for the transaction stage (large data)"}


def reference_markdown() -> str:
    """The README's parameter reference, generated from :data:`FIELDS`."""
    out: list[str] = []
    groups: dict[str, list[Field]] = {}
    for f in FIELDS:
        groups.setdefault(f.group, []).append(f)
    for group, fields in groups.items():
        out += [f"**{GROUP_TITLES[group]}**", "", "| parameter | default | meaning |",
                "|---|---|---|"]
        for f in fields:
            d = f.default
            if f.name == "non_product_codes":
                shown = "postage / fee codes of the UCI export"
            elif f.name == "missing_values":
                shown = " ".join(f"`{v}`" if v else "`''`" for v in d)
            elif d is None:
                shown = "—"
            else:
                shown = f"`{d}`"
            out.append(f"| `{f.name}` | {shown} | {f.help.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)
