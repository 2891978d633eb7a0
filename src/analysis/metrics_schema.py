"""The documented schema of ``metrics.json``: every key a stage writes, by section, and a
checked view of the file that the report reads through (:func:`checked`).

Through the view, reading a key the schema does not name raises :class:`SchemaError` at
once (``metrics["clv"].get("stauts")``), so a key renamed in a stage and not in the report
fails a test instead of becoming "missing" on the page; ``tests/test_structure.py`` checks
that a run's file holds no key the schema leaves out. Notation: a section is a dict of
its keys; ``None`` a value (a number, a text, a list of numbers or a record of a message);
``ANY`` a section whose keys are data (segment names, rules, horizons, parameters), each
holding what the dict next to it says; a one-item list, a list of such entries.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

__all__ = ["ANY", "SCHEMA", "SchemaError", "checked", "undocumented"]

ANY = "*"
_RECORD = None  # a message's or a status's record (``analysis.messages.record``)

_FIT = {"customers": None, "p": None, "q": None, "v": None}
_HOLDOUT = {"status": None, "status_record": _RECORD, "calibration_end": None,
            "holdout_end": None, "customers": None, "params": {ANY: None},
            "log_likelihood": None, "actual": None, "predicted": None, "naive_predicted": None,
            "mae": None, "naive_mae": None, "gamma_gamma": _FIT, "revenue_actual": None,
            "revenue_predicted": None, "revenue_naive": None, "revenue_mae": None,
            "naive_revenue_mae": None, "rank_corr": None, "auc": None, "deciles": None,
            "rmse": None, "revenue_rmse": None, "p90_deciles": None, "p90_largest_gap": None,
            "next_order_error_days": None, "next_order_bias_days": None}
#: one model's scores at one backtest origin (``clv.backtest.scorecard``)
_BACKTEST_SCORES = {"status": None, "actual": None, "predicted": None, "naive_predicted": None,
                    "mae": None, "rmse": None, "revenue_rmse": None, "naive_mae": None, "revenue_actual": None,
                    "revenue_predicted": None, "revenue_naive": None, "revenue_mae": None,
                    "naive_revenue_mae": None, "rank_corr": None, "auc": None, "deciles": None,
                    "p90_deciles": None, "p90_largest_gap": None,
                    "next_order_error_days": None, "next_order_bias_days": None}
_BACKTESTS = {"origins": [{"calibration_end": None, "holdout_end": None, "customers": None,
                           "spend_model": None, "models": {ANY: _BACKTEST_SCORES}}],
              "error": {"basis": None, "backtests": None, "predicted": None, "actual": None,
                        "errors": None, "bias": None, "ratios": None},
              "range": None, "ratio_band": None, "coverage": {"covered": None, "of": None},
              "includes_model_error": None,
              "sensitivity": [{"calibration_end": None, "model": None,
                               "predicted_clv_total": None}]}

SCHEMA: dict[str, Any] = {
    # stage 1: the file's figures after cleaning, the window and the ledger
    "customers": None, "transactions": None, "revenue": None, "currency": None,
    "period": {"start": None, "end": None, "days": None, "time_unit": None},
    # customers by month (or quarter) of first purchase (``cohorts.cohort_metrics``)
    "cohorts": {"granularity": None, "cohorts": None, "customers": None, "months_since": None,
                "retention": None, "value_per_customer": None},
    # the last months against as many before (``trend.trend_metrics``)
    "trend": {"months": None,
              "recent": {"start": None, "end": None, "revenue": None, "transactions": None,
                         "customers_per_month": None},
              "before": {"start": None, "end": None, "revenue": None, "transactions": None,
                         "customers_per_month": None},
              "monthly": {"month": None, "revenue": None, "transactions": None}},
    "cleaning": {"input_rows": None, "input_revenue": None,
                 "dropped": {ANY: {"rows": None, "revenue": None}},
                 "warnings": None, "warning_records": None, "zero_amount_rows": None,
                 # the input line per file read (several files), or of the table or query
                 "files": [{"file": None, "rows": None, "revenue": None}]},
    # stage 2: concentration, ABC tiers and their migration
    "pareto": {"customers": None, "gini": None, "negative_revenue_customers": None,
               "zero_revenue_customers": None, "customer_share_for_80pct_revenue": None,
               "customers_for_80pct_revenue": None, "top_1pct_revenue_share": None,
               "top_5pct_revenue_share": None, "top_10pct_revenue_share": None,
               "top_20pct_revenue_share": None},
    "abc": {"method": None, "cuts": None, "ties": [{"tier": None, "value": None,
                                                     "customers": None, "places": None}],
            "tiers": {ANY: {"customers": None, "revenue": None, "revenue_share": None}}},
    "migration": {"split": None, "a_lapsed": None, "a_retention": None,
                  "counts": {ANY: {ANY: None}}},
    # stage 3: segments, clusters, lifecycle
    "rfm": {"r_score_upper_days": None, "segments": {ANY: None},
            "scores_given": {ANY: None}},
    "clusters": {"status": None, "k": None, "silhouette": None, "silhouette_by_k": {ANY: None},
                 "ari": {"mean": None, "min": None}, "repeat_split_ari": None},
    "lifecycle": {"new": None, "active": None, "dormant": None, "churned": None,
                  "median_interpurchase_days": None, "rhythm": None,
                  "thresholds_days": {"new_days": None, "active_days": None,
                                      "churn_days": None}},
    # the customer master against the transactions (``stage1.master``)
    "master": {"file": None, "master_customers": None, "rows_without_id": None,
               "log_customers": None, "log_in_master": None, "log_not_in_master": None,
               "master_buyers": None, "potential": None, "signed_up_after_window": None},
    # sign-up to first purchase, and the customers by nature (``potential``)
    "conversion": {"signed_up": None, "converted": None, "share_converted": None,
                   "median_days": None, "bought_before_signup": None, "potential": None,
                   "window_end": None,
                   "by_month": {ANY: {"signups": None, "converted": None,
                                      "share_converted": None, "median_days": None}}},
    "nature": {ANY: {"customers": None, "potential": None, "revenue": None,
                     "revenue_share": None, "revenue_per_customer": None,
                     "historical_clv_per_customer": None, "predicted_clv": None,
                     "share_tier_a": None, "top_segment": None, "top_action": None}},
    # needs classes and cross-sell pairs from the product categories (``needs``)
    "needs": {"status": None, "categories": None, "dominant_share": None, "min_support": None,
              "no_category_revenue_share": None, "customers_with_class": None,
              "mixed_customers": None, "k": None, "silhouette": None, "classes": {ANY: None},
              "cross_sell": [{"a": None, "b": None, "customers": None, "support": None,
                              "lift": None, "confidence": None}]},
    # the customer-state table's named filters (``state.state_metrics``)
    "state": {"filters": {ANY: {"filter": None, "customers": None, "revenue": None,
                                "predicted_clv": None, "value_at_risk": None,
                                "actions": {ANY: None}}}},
    # one list per action, with its control group and break-even cost (``campaigns``)
    "campaigns": {ANY: {"customers": None, "control": None, "value_at_stake": None,
                        "break_even_mean": None, "contact_cost": None, "losing": None}},
    # what changed since the previous run (``changes.changes``)
    "changes": {"since": None, "until": None, "customers_before": None, "customers_both": None,
                "new": None, "recovered": None, "newly_churned": None, "newly_at_risk": None,
                "transitions": {ANY: {ANY: {ANY: None}}},
                "forecast": {"model": None, "days": None, "customers": None,
                             "predicted_purchases": None, "actual_purchases": None,
                             "predicted_revenue": None, "actual_revenue": None},
                "uplift": {ANY: {"contacted": None, "control": None, "bought_contacted": None,
                                 "bought_control": None, "difference": None, "interval": None,
                                 "revenue_contacted": None, "revenue_control": None,
                                 "revenue_difference": None, "revenue_interval": None}}},
    # stage 4: CLV (``clv.metrics_entry``)
    "clv": {"status": None, "status_record": _RECORD, "model": None, "model_choice": None,
            "comparison": [{"model": None, "chosen": None, "holdout_status": None,
                            "holdout_mae": None, "naive_mae": None, "holdout_predicted": None,
                            "holdout_actual": None, "holdout_total_error": None,
                            "params": {ANY: None}, "log_likelihood": None,
                            "standard_errors_log": {ANY: None}, "fit_error": None,
                            "fit_status": None, "fit_status_record": _RECORD,
                            "fit_checks": None, "backtest_mae": None}],
            "sufficiency": None, "standard_errors_log": {ANY: None}, "p_alive_note": None,
            "fit_checks": None, "params": {ANY: None}, "fit_sample": None,
            "log_likelihood": None, "gamma_gamma": _FIT,
            "spend_model": {"model": None, "params": {ANY: None}, "customers": None,
                            "gamma_gamma_failure": _RECORD},
            "backtests": _BACKTESTS,
            "schedule": {"month": None, "expected_purchases": None, "expected_value": None,
                         "per_customer": None},
            "intervals": {"iterations": None, "failed": None, "level": None, "method": None,
                          "params": {ANY: None}, "total_predicted_clv": None,
                          "scaled_from_sample": None},
            "holdout": _HOLDOUT, "horizon_months": None, "horizons_months": None,
            "horizon_totals": {ANY: None}, "discount_rate": None, "margin": None,
            "definition": None, "definition_record": _RECORD, "predicted_clv_total": None,
            "expected_purchases_total": None, "historical_clv_total": None,
            "frequency_monetary_corr": None, "warnings": None, "warning_records": None},
}


class SchemaError(KeyError):
    """A key read from metrics.json that its schema does not document."""


def _node(schema: Mapping[str, Any], key: str, path: str) -> Any:
    if key in schema:
        return schema[key]
    if ANY in schema:
        return schema[ANY]
    raise SchemaError(f"metrics.json has no documented key {key!r} in {path or 'the top'}")


def _wrap(value: Any, schema: Any, path: str) -> Any:
    if isinstance(value, Mapping) and isinstance(schema, Mapping):
        return Checked(value, schema, path)
    if isinstance(value, list) and isinstance(schema, list):
        return [_wrap(v, schema[0], f"{path}[]") for v in value]
    return value


class Checked(Mapping):
    """A section of metrics.json read through its schema."""

    def __init__(self, data: Mapping[str, Any], schema: Mapping[str, Any], path: str = ""):
        self._data, self._schema, self._path = data, schema, path

    def __getitem__(self, key: str) -> Any:
        node = _node(self._schema, key, self._path)
        return _wrap(self._data[key], node, f"{self._path}.{key}".lstrip("."))

    def get(self, key: str, default: Any = None) -> Any:
        _node(self._schema, key, self._path)  # an undocumented key fails even when absent
        return self[key] if key in self._data else default

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def checked(metrics: Mapping[str, Any]) -> Checked:
    """metrics.json (as read) seen through :data:`SCHEMA`."""
    return Checked(metrics, SCHEMA)


def undocumented(metrics: Mapping[str, Any], schema: Any = SCHEMA, path: str = ""
                 ) -> list[str]:
    """The keys of ``metrics`` (as written) that the schema does not name."""
    out: list[str] = []
    if isinstance(metrics, Mapping) and isinstance(schema, Mapping):
        for key, value in metrics.items():
            try:
                node = _node(schema, key, path)
            except SchemaError:
                out.append(f"{path}.{key}".lstrip("."))
                continue
            out += undocumented(value, node, f"{path}.{key}".lstrip("."))
    elif isinstance(metrics, list) and isinstance(schema, list):
        for value in metrics:
            out += undocumented(value, schema[0], f"{path}[]")
    return out
