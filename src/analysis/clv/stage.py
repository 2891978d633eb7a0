"""Stage 4: customer lifetime value, historical and predicted, with holdout validation
and bootstrap intervals, for every customer.

Degenerate data never raises: what cannot be estimated is NaN in the columns, and
``metrics['status']`` says why in words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..config import ClvParams
from ..narrative.stages import clv_paragraph
from ..units import Window, customer_codes
from .bootstrap import bootstrap
from .likelihood import log_likelihood
from .models import (MIN_REPEAT_BUYERS, MODEL_NAMES, fit_gamma_gamma, fit_problem,
                     fit_weighted, gamma_gamma_sample, one_line, params_of, unique_triples,
                     with_fallback)
from .predict import clv_tiers, definition, historical_clv, predict
from .validation import HoldoutResult, default_calibration_end, holdout

__all__ = ["CORR_WARNING", "ClvResult", "run", "parameter_table", "metrics_entry"]

CORR_WARNING = 0.3


@dataclass
class ClvResult:
    """Stage 4's result: the customers' CLV columns (``table``), what the models found
    (``stats``: status, estimates, holdout, intervals, totals, warnings), the fitted
    models and the holdout check."""
    status: str
    table: pd.DataFrame
    stats: dict[str, Any]
    fitter: Any = None
    ggf: Any = None
    holdout: HoldoutResult | None = None

    def metrics(self) -> dict[str, Any]:
        """The ``clv`` entry of metrics.json."""
        return metrics_entry(self)

    def columns(self) -> pd.DataFrame:
        """The customers table's new columns."""
        return self.table

    def tables(self) -> dict[str, pd.DataFrame]:
        """The report reads this stage from the customers table and metrics.json only."""
        return {}

    def describe(self, currency: str, lang: str = "en") -> str:
        """What the models say and how far to trust them (``narrative.stages``)."""
        return clv_paragraph(self.stats, currency, lang)


def run(clean: pd.DataFrame, customers: pd.DataFrame, window: Window, params: ClvParams
        ) -> ClvResult:
    """Historical and predicted CLV for every customer, the holdout check and intervals.

    Never raises on degenerate data: what cannot be estimated is NaN in the columns and
    explained in ``stats['status']``."""
    model = params.clv_model
    start, end = window.start, window.end
    cols = pd.DataFrame(index=customers.index)
    codes = customer_codes(clean["customer_id"])
    hist = historical_clv(clean, params, codes)
    cols["historical_clv"] = hist.reindex(customers["customer_id"].to_numpy()).to_numpy()
    metrics: dict[str, Any] = {"model": MODEL_NAMES[model],
                               "horizon_months": params.clv_horizon_months,
                               "discount_rate": params.discount_rate,
                               "margin": params.margin if "profit" not in customers
                               else None, "definition": definition(customers, params),
                               "warnings": [],
                               "historical_clv_total": float(cols["historical_clv"].sum())}
    for c in ("p_alive", "expected_purchases", "predicted_clv"):
        cols[c] = np.nan
    cal_end = params.calibration_end if params.calibration_end is not None \
        else default_calibration_end(start, end)
    hold = holdout(clean, params, cal_end, end, codes)
    metrics["holdout"] = {"status": hold.status, **hold.metrics} if hold.status == "ok" \
        else {"status": hold.status, "calibration_end": hold.calibration_end}

    rep = customers[(customers["frequency"] > 0) & (customers["monetary_value"] > 0)]
    corr = float(np.corrcoef(rep["frequency"], rep["monetary_value"])[0, 1]) \
        if len(rep) > 2 and rep["frequency"].nunique() > 1 and \
        rep["monetary_value"].nunique() > 1 else None
    metrics["frequency_monetary_corr"] = corr
    if corr is not None and abs(corr) > CORR_WARNING:
        metrics["warnings"].append(
            f"frequency and spend of repeat buyers are correlated ({corr:.2f} > "
            f"{CORR_WARNING}): Gamma-Gamma assumes they are independent, so spend "
            f"predictions are less reliable")
    problem = fit_problem(customers["frequency"])
    if problem:
        cols["clv_tier"] = "not estimated"
        metrics.update(status=f"not estimated: {problem}", params=None, log_likelihood=None,
                       gamma_gamma=None, intervals=None)
        return ClvResult(metrics["status"], cols, metrics, holdout=hold)
    triples = unique_triples(customers["frequency"], customers["recency"], customers["T"])
    u = triples[0]
    try:
        fitter = with_fallback(
            lambda pen: fit_weighted(model, customers["frequency"], customers["recency"],
                                     customers["T"], pen, triples=u),
            params.penalizer, MODEL_NAMES[model], metrics["warnings"])
    except Exception as exc:
        cols["clv_tier"] = "not estimated"
        metrics.update(status=f"not estimated: the {MODEL_NAMES[model]} fit did not converge "
                       f"({exc.__class__.__name__}); try a small penalizer, e.g. 0.001",
                       params=None, log_likelihood=None, gamma_gamma=None, intervals=None)
        return ClvResult(metrics["status"], cols, metrics, holdout=hold)
    metrics["params"] = params_of(fitter)
    metrics["log_likelihood"] = log_likelihood(model, fitter.params_, u["frequency"], u["recency"],
                                               u["T"], u["weight"])
    gg = gamma_gamma_sample(customers["frequency"], customers["monetary_value"])
    ggf, status = None, "ok"
    if gg["weight"].sum() >= MIN_REPEAT_BUYERS and len(gg) >= 2:
        try:
            ggf = with_fallback(
                lambda pen: fit_gamma_gamma(gg["frequency"], gg["monetary_value"],
                                            gg["weight"], pen),
                params.penalizer, "Gamma-Gamma", metrics["warnings"])
            if ggf.params_["q"] <= 1:
                raise FloatingPointError("q <= 1, so the mean spend is undefined")
            metrics["gamma_gamma"] = {**params_of(ggf), "customers": int(gg["weight"].sum())}
        except Exception as exc:
            ggf, status = None, f"partial: the Gamma-Gamma spend model could not be fitted " \
                                f"({one_line(exc)}); predicted CLV is not estimated"
    else:
        status = "partial: too few repeat buyers with a positive spend for the Gamma-Gamma " \
                 "model; predicted CLV is not estimated"
    if ggf is None:
        metrics["gamma_gamma"] = None
    pred = predict(fitter, ggf, customers, params, triples)
    cols[["p_alive", "expected_purchases", "predicted_clv"]] = pred.to_numpy()
    cols["clv_tier"] = clv_tiers(customers, cols["predicted_clv"])
    metrics["predicted_clv_total"] = float(np.nansum(cols["predicted_clv"])) \
        if ggf is not None else None
    metrics["expected_purchases_total"] = float(cols["expected_purchases"].sum())
    metrics["intervals"] = bootstrap(customers, params, fitter, ggf, params.clv_bootstrap,
                                     params.seed, triples=triples) \
        if params.clv_bootstrap else None
    metrics["status"] = status
    return ClvResult(status, cols, metrics, fitter, ggf, hold)


#: what each estimate means, with its unit ({unit}: the run's time unit, {cur}: currency)
PARAMETER_MEANING = {
    "r": "shape of the purchase rates (no unit)",
    "alpha": "scale of the purchase rates, in {unit}s: r / alpha purchases per {unit} on average",
    "a": "shape of the drop-out probability (no unit)",
    "b": "shape of the drop-out probability (no unit)",
    "s": "shape of the drop-out rates (no unit)",
    "beta": "scale of the drop-out rates, in {unit}s: s / beta drop-outs per {unit} on average",
    "p": "shape of the spend per purchase (no unit)",
    "q": "shape of the customers' mean spends (no unit)",
    "v": "scale of the customers' mean spends, in {cur}",
}


def parameter_table(stats: Mapping[str, Any], time_unit: str = "day", currency: str = ""
                    ) -> pd.DataFrame:
    """Estimates of the purchase and spend models with their 90 % bootstrap intervals and
    what each means, with its unit."""
    ci = (stats.get("intervals") or {}).get("params") or {}
    spend = {k: v for k, v in (stats.get("gamma_gamma") or {}).items() if k != "customers"}
    rows = []
    for name, value in {**(stats.get("params") or {}), **spend}.items():
        lo, hi = ci.get(name) or [None, None]
        rows.append({"parameter": name, "estimate": value, "90% low": lo, "90% high": hi,
                     "meaning": PARAMETER_MEANING[name].format(unit=time_unit, cur=currency)})
    return pd.DataFrame(rows, columns=["parameter", "estimate", "90% low", "90% high",
                                       "meaning"]).set_index("parameter")


def metrics_entry(result: ClvResult) -> dict[str, Any]:
    """The ``clv`` entry of metrics.json (keys as in the design)."""
    m = dict(result.stats)
    hold = m.get("holdout") or {}
    return {"clv": {
        "status": m["status"], "model": m["model"], "params": m.get("params"),
        "log_likelihood": m.get("log_likelihood"), "gamma_gamma": m.get("gamma_gamma"),
        "intervals": m.get("intervals"), "holdout": hold,
        "horizon_months": m["horizon_months"], "discount_rate": m["discount_rate"],
        "margin": m["margin"], "definition": m["definition"],
        "predicted_clv_total": m.get("predicted_clv_total"),
        "expected_purchases_total": m.get("expected_purchases_total"),
        "historical_clv_total": m["historical_clv_total"],
        "frequency_monetary_corr": m.get("frequency_monetary_corr"),
        "warnings": m.get("warnings", []),
    }}
