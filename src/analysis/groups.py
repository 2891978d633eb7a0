"""The typed parameter groups: frozen dataclasses, one per consumer, whose fields are the
schema's parameters (``config.typed`` builds them from validated values).

Dates are ``pd.Timestamp``, lists are tuples and ``time_unit`` is a
:class:`~analysis.units.TimeUnit`. A function takes the group it needs, never the whole
mapping of parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .schema import DEFAULT_MISSING_VALUES
from .units import TimeUnit, Window

__all__ = ["migration_split_date", "Privacy", "Lookup", "RowFilter", "ReadParams", "CleanParams", "SummaryParams",
           "TierParams", "SegmentParams", "ClvParams", "ReportParams", "EngineParams", "MasterFile", "CustomerParams",
           "cancel_regex", "missing_tokens"]


@dataclass(frozen=True)
class Privacy:
    """Anonymisation: which columns are hashed, with what salt (never written out)."""
    anonymize: bool
    anonymize_salt: str | None
    anonymize_columns: tuple[str, ...]
    id_column: str  # the file's customer id column (how an example row names it)


@dataclass(frozen=True)
class _Cancellations:
    """The anchored regular expression of a cancelled order id, from ``cancel_pattern`` or
    ``cancel_prefix`` (read marks it, clean drops or nets it)."""
    cancel_prefix: str | None
    cancel_pattern: str | None

    @property
    def cancel_regex(self) -> str | None:
        return cancel_regex(self.cancel_pattern, self.cancel_prefix)


@dataclass(frozen=True)
class Lookup:
    """A table joined to the transactions on ``key`` (``lookup_key`` in the lookup) before
    the mapping reads them; ``columns``: what it brings (None: every other column)."""
    file: str
    key: str
    lookup_key: str
    columns: tuple[str, ...] | None = None

    @staticmethod
    def of(entry: dict[str, Any]) -> "Lookup":
        cols = entry.get("columns")
        return Lookup(str(entry["file"]), str(entry["key"]),
                      str(entry.get("lookup_key") or entry["key"]),
                      tuple(str(c) for c in cols) if cols else None)


@dataclass(frozen=True)
class RowFilter:
    """Rows of ``column`` whose trimmed text is one of ``values`` (any letter case), or
    matches ``pattern``: left out by the rule ``excluded_rows``."""
    column: str
    values: tuple[str, ...] = ()
    pattern: str | None = None

    @staticmethod
    def of(column: str, rule: Any) -> "RowFilter":
        if isinstance(rule, dict):
            return RowFilter(str(column), (), str(rule["pattern"]))
        rule = rule if isinstance(rule, list) else [rule]
        return RowFilter(str(column), tuple(dict.fromkeys(str(v).strip().lower()
                                                          for v in rule)))


@dataclass(frozen=True)
class ReadParams(_Cancellations):
    """Reading the file: mapping, CSV dialect, dates, numbers, missing values, dimensions."""
    columns: dict[str, str]
    header: bool
    names: tuple[str, ...] | None
    sep: str
    encoding: str
    sheet: str | None
    date_format: str | None
    dayfirst: bool
    decimal: str
    thousands: str | None
    missing_values: tuple[str, ...]
    dimensions: tuple[str, ...]
    privacy: Privacy
    dimension_missing_values: tuple[str, ...] = ("",)
    lookups: tuple[Lookup, ...] = ()
    exclude_rows: tuple[RowFilter, ...] = ()
    table: str | None = None
    query: str | None = None

    @property
    def missing_tokens(self) -> list[str]:
        """The ``missing_values`` texts as compared: trimmed, lower case, without repeats."""
        return missing_tokens(self.missing_values)

    @property
    def dimension_missing_tokens(self) -> list[str]:
        """The ``dimension_missing_values`` texts as compared (the blank cell always)."""
        return missing_tokens(("", *self.dimension_missing_values))


@dataclass(frozen=True)
class CleanParams(_Cancellations):
    """The cleaning rules and the window they cut to."""
    drop_missing_customer: bool
    drop_implausible_dates: bool
    returns: str
    drop_warning_share: float
    drop_non_product: bool
    non_product_codes: tuple[str, ...]
    drop_non_positive_price: bool
    drop_duplicates: bool
    observation_start: pd.Timestamp | None
    observation_end: pd.Timestamp | None
    currency: str
    privacy: Privacy


@dataclass(frozen=True)
class SummaryParams:
    """One row per customer: the time unit, the end of the window, the dimensions."""
    time_unit: TimeUnit
    observation_end: pd.Timestamp | None
    dimensions: tuple[str, ...]
    currency: str

    def window(self, clean: pd.DataFrame) -> Window:
        """The observation window of these clean transactions: T is measured to its end."""
        return Window.of(clean, self.observation_end, self.time_unit)


@dataclass(frozen=True)
class TierParams:
    """Value tiers: the ABC method and its cuts, and where the window splits for migration."""
    abc_method: str
    abc_rank_cuts: tuple[float, float]
    abc_revenue_cuts: tuple[float, float]
    migration_split: pd.Timestamp | None
    currency: str


@dataclass(frozen=True)
class SegmentParams:
    """Segments: what M ranks, the segment table's overrides, k-means and the lifecycle
    thresholds."""
    rfm_monetary: str
    segment_map: dict[str, Any]
    k_range: tuple[float, float]
    silhouette_sample: int
    minibatch_threshold: int
    cluster_fit_sample: int
    new_days: int | None
    active_days: int | None
    churn_days: int | None
    seed: int
    currency: str
    language: str
    lifecycle_rhythm: str = "own"


@dataclass(frozen=True)
class ClvParams:
    """CLV: the purchase model, horizon, discounting, margin, holdout and bootstrap."""
    clv_model: str
    clv_horizon_months: int
    clv_horizons_months: tuple[int, ...]
    discount_rate: float
    margin: float
    calibration_end: pd.Timestamp | None
    clv_bootstrap: int
    penalizer: float
    seed: int
    time_unit: TimeUnit
    currency: str


@dataclass(frozen=True)
class ReportParams:
    """The report and the CRM tables: language, currency, unit and the XLSX limit."""
    language: str
    currency: str
    time_unit: TimeUnit
    xlsx_max_customers: int
    dataset: str | None
    anonymize: bool
    control_share: float = 0.10
    contact_costs: dict[str, Any] = field(default_factory=dict)
    previous_run: str | None = None
    export_postgres: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MasterFile:
    """The customer master (``customers_file``): its file, the columns of the id, the sign-up
    date and the customer's nature, and the attributes to carry (None: every other column
    whose name does not look like it identifies a person)."""
    file: str
    customer_id: str
    signup_date: str | None = None
    nature: str | None = None
    attributes: tuple[str, ...] | None = None
    date_format: str | None = None
    sheet: str | None = None

    @staticmethod
    def of(entry: dict[str, Any]) -> "MasterFile | None":
        if not entry:
            return None
        cols, attrs = entry["columns"], entry.get("attributes")
        return MasterFile(str(entry["file"]), str(cols["customer_id"]),
                          cols.get("signup_date"), cols.get("nature"),
                          None if attrs is None else tuple(str(a) for a in attrs),
                          entry.get("date_format"), entry.get("sheet"))


@dataclass(frozen=True)
class CustomerParams:
    """The customer master, and the needs classes and cross-sell hints from categories."""
    customers_file: MasterFile | None
    needs_dominant_share: float
    cross_sell_min_support: float
    seed: int


@dataclass(frozen=True)
class EngineParams:
    """Where the transaction stage runs, and the engine's own settings."""
    engine: str
    spark_master: str
    spark_config: dict[str, Any]
    duckdb_config: dict[str, Any]
    clean_transactions: str


def cancel_regex(pattern: str | None, prefix: str | None) -> str | None:
    """The regular expression (anchored at the start) of a cancelled order id: the
    ``cancel_pattern`` parameter, else ``cancel_prefix`` followed by a digit; None for none."""
    if pattern:
        return pattern if pattern.startswith("^") else f"^(?:{pattern})"
    return f"^{re.escape(prefix)}[0-9]" if prefix else None


def missing_tokens(values=DEFAULT_MISSING_VALUES) -> list[str]:
    """``missing_values`` texts as compared: trimmed, lower case, without repeats."""
    return list(dict.fromkeys(v.strip().lower() for v in values))


def migration_split_date(window: Window, params: TierParams) -> pd.Timestamp:
    """``migration_split``, else the midpoint of the window."""
    if params.migration_split is not None:
        return params.migration_split
    return window.start + (window.end + pd.Timedelta(days=1) - window.start) / 2
