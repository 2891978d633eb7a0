"""Stage 4: customer lifetime value, historical and predicted, with holdout validation
and 90 % intervals (bootstrap, or the normal approximation on large data), for every
customer.

Degenerate data never raises: what cannot be estimated is NaN in the columns, and
``metrics['status']`` says why in words.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..config import ClvParams
from ..messages import Status, check_message, msg, record
from ..handoff import ClvInputs
from ..units import Window
from .bootstrap import intervals as interval_estimates
from .compare import comparison_metrics, comparison_table, fit_model, fitted_models, rank
from .diagnostics import bootstrap_reasons
from .models import (MIN_REPEAT_BUYERS, NUMERICAL_FAILURES, fit_gamma_gamma, fit_problem,
                     fit_rows, gamma_gamma_sample, get, one_line, params_of, unique_triples,
                     with_fallback)
from .predict import clv_tiers, definition, horizon_columns, horizons_of, predict
from .sufficiency import checks
from .validation import HoldoutResult, calibration_frame, holdout_result, score

__all__ = ["CORR_WARNING", "ClvResult", "run", "metrics_entry"]

CORR_WARNING = 0.3


@dataclass
class ClvResult:
    """Stage 4's result: the customers' CLV columns (``table``), what the models found
    (``stats``: status, estimates, holdout, intervals, totals, warnings), the fitted
    models and the holdout check."""
    status: Status
    table: pd.DataFrame
    stats: dict[str, Any]
    fitter: Any = None
    ggf: Any = None
    holdout: HoldoutResult | None = None
    stage: ClassVar[str] = "clv"

    def metrics(self) -> dict[str, Any]:
        """The ``clv`` entry of metrics.json."""
        return metrics_entry(self)

    def columns(self) -> pd.DataFrame:
        """The customers table's new columns."""
        return self.table

    def comparison(self, lang: str = "en") -> pd.DataFrame:
        """BG/NBD, MBG/NBD and Pareto/NBD side by side: holdout error, fit and checks."""
        return comparison_table(self.stats.get("comparison") or [], lang)

    def horizon_table(self, currency: str) -> pd.DataFrame:
        """Total predicted CLV over each horizon (empty when it is not estimated)."""
        totals = self.stats.get("horizon_totals") or {}
        return pd.DataFrame({"months": [int(k) for k in totals],
                             f"predicted CLV ({currency})": list(totals.values())}
                            ).set_index("months")

    def tables(self) -> dict[str, pd.DataFrame]:
        """The report reads this stage from the customers table and metrics.json only."""
        return {}


def run(inputs: ClvInputs, customers: pd.DataFrame, window: Window, params: ClvParams
        ) -> ClvResult:
    """Historical and predicted CLV for every customer, the model comparison, the holdout
    check and intervals, from the customers table and the transaction stage's
    :class:`~analysis.handoff.ClvInputs` (historical CLV, the calibration frame at
    ``inputs.calibration_end``, the tracking counts).

    Never raises on degenerate data: what cannot be estimated is NaN in the columns and
    explained by the status (a :class:`~analysis.messages.Status`); a fit that is
    degenerate or weak leaves the predicted columns empty and says why (``unreliable``)."""
    end = window.end
    cols, metrics = _before_fitting(inputs, customers, window, params)
    ch, cal_status = calibration_frame(inputs, end)
    problem = fit_problem(customers["frequency"])
    if problem:
        return _not_estimated(cols, metrics, Status("not estimated", problem),
                              HoldoutResult(cal_status, str(inputs.calibration_end.date())))
    sample = _FitSample.of(customers, params.seed)
    metrics["fit_sample"] = sample.entry(params.seed)
    scores, fits = _fit_and_score(fitted_models(params.clv_model), sample, ch, params)
    ranked, why = rank(params.clv_model, fits, scores)
    if fits[ranked[0]].fitter is None:
        metrics.update(model=get(ranked[0]).name, model_choice=why,
                       comparison=comparison_metrics(fits, scores, ranked[0]))
        hold = _holdout(inputs, ch, cal_status, scores, ranked[0], params, end)
        metrics["holdout"] = hold.entry()
        return _not_estimated(cols, metrics, Status("not estimated", msg(
            "reason.try_penalizer", error=fits[ranked[0]].error)), hold)
    ggf, status = _spend_model(sample.customers, params, metrics)
    chosen, intervals = _first_sound(ranked, fits, ggf, sample, params)
    fit = fits[chosen]
    hold = _holdout(inputs, ch, cal_status, scores, chosen, params, end)
    metrics.update(model=get(chosen).name, model_choice=why,
                   comparison=comparison_metrics(fits, scores, chosen), holdout=hold.entry(),
                   params=params_of(fit.fitter), log_likelihood=fit.log_likelihood,
                   standard_errors_log=fit.standard_errors, intervals=intervals,
                   fit_checks=fit.reasons, p_alive_note="one_time_buyers_alive"
                   if get(chosen).one_time_buyers_alive else None)
    metrics["warnings"] += fit.warnings
    pred = predict(fit.fitter, ggf, customers, params, sample.triples)
    cols[list(pred.columns)] = pred.to_numpy()
    metrics["status"] = _outcome(cols, customers, metrics, fit, ggf, params, sample, status)
    return ClvResult(metrics["status"], cols, metrics, fit.fitter, ggf, hold)


def _before_fitting(inputs: ClvInputs, customers: pd.DataFrame, window: Window,
                    params: ClvParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The columns before any fit (historical CLV; the predicted ones empty) and what is
    known of the data: its sufficiency checks, the CLV definition, the horizons, the
    frequency-spend correlation, and the warnings these give."""
    end, cal_end = window.end, inputs.calibration_end
    cols = pd.DataFrame(index=customers.index)
    cols["historical_clv"] = inputs.historical_clv.reindex(
        customers["customer_id"].to_numpy()).to_numpy()
    found = checks(customers, window, int((end - cal_end).days) if cal_end < end else None)
    corr = _frequency_spend_corr(customers)
    warnings = [check_message("sufficiency", c) for c in found]
    if corr is not None and abs(corr) > CORR_WARNING:
        warnings.append(msg("warning.frequency_spend_correlated", corr=corr,
                            limit=CORR_WARNING))
    metrics: dict[str, Any] = {"model": None, "model_choice": None,
                               "horizon_months": params.clv_horizon_months,
                               "horizons_months": list(horizons_of(params)),
                               "discount_rate": params.discount_rate,
                               "margin": params.margin if "profit" not in customers
                               else None, "definition": definition(customers, params),
                               "sufficiency": found, "fit_sample": None,
                               "warnings": warnings,
                               "historical_clv_total": float(cols["historical_clv"].sum()),
                               "frequency_monetary_corr": corr}
    for c in ["p_alive", "expected_purchases", *horizon_columns(params).values()]:
        cols[c] = np.nan
    return cols, metrics


@dataclass
class _FitSample:
    """The customers the models are fitted on (a seeded sample of them above
    ``models.FIT_SAMPLE``; ``rows``, their positions, else None) with their unique
    triples, and every customer's triples (``triples``, for the predictions)."""
    customers: pd.DataFrame
    fit_triples: tuple[pd.DataFrame, np.ndarray]
    triples: tuple[pd.DataFrame, np.ndarray]
    rows: np.ndarray | None
    everyone: int

    @classmethod
    def of(cls, customers: pd.DataFrame, seed: int) -> "_FitSample":
        triples = unique_triples(customers["frequency"], customers["recency"], customers["T"])
        rows = fit_rows(len(customers), seed)
        if rows is None:
            return cls(customers, triples, triples, None, len(customers))
        fitted = customers.iloc[rows]
        fit_triples = unique_triples(fitted["frequency"], fitted["recency"], fitted["T"])
        return cls(fitted, fit_triples, triples, rows, len(customers))

    def entry(self, seed: int) -> dict[str, Any] | None:
        """``fit_sample`` of metrics.json."""
        if self.rows is None:
            return None
        return {"customers": len(self.rows), "of": self.everyone, "seed": seed}


def _fit_and_score(models: tuple[str, ...], sample: _FitSample, ch: pd.DataFrame | None,
                   params: ClvParams) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each model's holdout score (fitted on the calibration period) and whole-window fit,
    independent of each other, on both cores (scipy's special functions release the GIL):
    the same results, sooner."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        if ch is not None:  # the calibration customers' triples, once for every model
            cal_rows = fit_rows(len(ch), params.seed)
            on = ch if cal_rows is None else ch.iloc[cal_rows]
            cal = unique_triples(on["frequency_cal"], on["recency_cal"], on["T_cal"])[0]
            scoring = {m: pool.submit(score, m, ch, params, cal) for m in models}
        else:
            scoring = {}
        fitting = {m: pool.submit(fit_model, m, sample.customers, sample.fit_triples[0], params)
                   for m in models}
        return ({m: job.result() for m, job in scoring.items()},
                {m: job.result() for m, job in fitting.items()})


def _first_sound(ranked: list[str], fits: dict[str, Any], ggf, sample: _FitSample,
                 params: ClvParams) -> tuple[str, dict[str, Any] | None]:
    """The model used, with its intervals: the first of ``ranked`` whose bootstrap is
    sound too (auto), else the best; a model whose bootstrap scatters is marked so."""
    intervals: dict[str, Any] = {}
    for m in ranked:
        if fits[m].fitter is None or (fits[m].reasons and m != ranked[0]):
            continue
        intervals[m] = interval_estimates(sample.customers, params, fits[m].fitter, ggf,
                                          params.clv_bootstrap, params.seed,
                                          triples=sample.fit_triples,
                                          covariance=fits[m].covariance) \
            if params.clv_bootstrap else None
        fits[m].reasons += bootstrap_reasons(intervals[m], get(m).param_names)
        if not fits[m].reasons:
            break
    chosen = next((m for m in intervals if not fits[m].reasons), ranked[0])
    return chosen, intervals[chosen]


def _outcome(cols: pd.DataFrame, customers: pd.DataFrame, metrics: dict[str, Any], fit,
             ggf, params: ClvParams, sample: _FitSample, status: Status) -> Status:
    """The predictions kept, with their totals and tiers, or withheld when the fit is
    degenerate or weak; the stage's status that follows."""
    if fit.reasons:
        for c in cols.columns.drop("historical_clv"):
            cols[c] = np.nan
        metrics.update(predicted_clv_total=None, expected_purchases_total=None,
                       horizon_totals=None, p_alive_note=None)
        cols["clv_tier"] = "not estimated"
        return Status("unreliable", msg(
            "reason.fit_degenerate", model=get(fit.model).name,
            reasons=[check_message("fit_check", r) for r in fit.reasons]))
    cols["clv_tier"] = clv_tiers(customers, cols["predicted_clv"])
    metrics["expected_purchases_total"] = float(cols["expected_purchases"].sum())
    metrics["predicted_clv_total"] = float(np.nansum(cols["predicted_clv"])) \
        if ggf is not None else None
    metrics["horizon_totals"] = {
        str(h): float(np.nansum(cols[col])) for h, col in horizon_columns(params).items()
    } if ggf is not None else None
    if sample.rows is not None:
        metrics["intervals"] = _scaled(metrics["intervals"], cols["predicted_clv"],
                                       sample.rows)
    return status


def _scaled(intervals: dict[str, Any] | None, predicted: pd.Series, rows: np.ndarray
            ) -> dict[str, Any] | None:
    """Intervals computed on the fitting sample, with the total's scaled to every customer:
    each draw's total over the sample, times the ratio of everyone's predicted total to
    the sample's (the draws move every customer's prediction together; the ratio is what
    the sample leaves out)."""
    ci = (intervals or {}).get("total_predicted_clv")
    if not ci:
        return intervals
    values = predicted.to_numpy(dtype="float64")
    sample = float(np.nansum(values[rows]))
    if sample <= 0:  # nothing to scale by: no interval rather than a wrong one
        return {**intervals, "total_predicted_clv": None}
    ratio = float(np.nansum(values)) / sample
    return {**intervals, "total_predicted_clv": [v * ratio for v in ci],
            "scaled_from_sample": True}


def _holdout(inputs, ch, cal_status, scores, model, params, end) -> HoldoutResult:
    """The holdout check of ``model`` (every scored model's conditional expectations)."""
    if ch is None:
        return HoldoutResult(cal_status, str(inputs.calibration_end.date()))
    return holdout_result(inputs, ch, scores[model], scores, params, end)


def _frequency_spend_corr(customers: pd.DataFrame) -> float | None:
    rep = customers[(customers["frequency"] > 0) & (customers["monetary_value"] > 0)]
    if len(rep) > 2 and rep["frequency"].nunique() > 1 and rep["monetary_value"].nunique() > 1:
        return float(np.corrcoef(rep["frequency"], rep["monetary_value"])[0, 1])
    return None


def _not_estimated(cols: pd.DataFrame, metrics: dict, status: Status, hold: HoldoutResult
                   ) -> ClvResult:
    cols["clv_tier"] = "not estimated"
    metrics.setdefault("holdout", hold.entry())
    metrics.update(status=status, params=None, log_likelihood=None, gamma_gamma=None,
                   intervals=None, horizon_totals=None)
    return ClvResult(status, cols, metrics, holdout=hold)


def _spend_model(customers: pd.DataFrame, params: ClvParams, metrics: dict
                 ) -> tuple[Any, Status]:
    """The Gamma-Gamma fit on the repeat buyers (None when it cannot be fitted) and the
    stage's status that follows."""
    gg = gamma_gamma_sample(customers["frequency"], customers["monetary_value"])
    metrics["gamma_gamma"] = None
    if gg["weight"].sum() < MIN_REPEAT_BUYERS or len(gg) < 2:
        return None, Status("partial", msg("reason.gg_too_few"))
    try:
        ggf = with_fallback(
            lambda pen: fit_gamma_gamma(gg["frequency"], gg["monetary_value"], gg["weight"],
                                        pen),
            params.penalizer, "Gamma-Gamma", metrics["warnings"])
        if ggf.params_["q"] <= 1:
            raise FloatingPointError(msg("error.q_at_most_1"))
    except NUMERICAL_FAILURES as exc:
        return None, Status("partial", msg("reason.gg_failed", error=one_line(exc)))
    metrics["gamma_gamma"] = {**params_of(ggf), "customers": int(gg["weight"].sum())}
    return ggf, Status("ok")


def metrics_entry(result: ClvResult) -> dict[str, Any]:
    """The ``clv`` entry of metrics.json (keys as in the design)."""
    m = dict(result.stats)
    hold = m.get("holdout") or {}
    return {"clv": {
        "status": m["status"], "model": m["model"], "model_choice": m.get("model_choice"),
        "comparison": m.get("comparison"), "sufficiency": m.get("sufficiency", []),
        "standard_errors_log": m.get("standard_errors_log"),
        "p_alive_note": m.get("p_alive_note"), "fit_checks": m.get("fit_checks", []),
        "params": m.get("params"), "fit_sample": m.get("fit_sample"),
        "log_likelihood": m.get("log_likelihood"), "gamma_gamma": m.get("gamma_gamma"),
        "intervals": m.get("intervals"), "holdout": hold,
        "horizon_months": m["horizon_months"], "horizons_months": m["horizons_months"],
        "horizon_totals": m.get("horizon_totals"), "discount_rate": m["discount_rate"],
        "margin": m["margin"], "definition": m["definition"],
        "predicted_clv_total": m.get("predicted_clv_total"),
        "expected_purchases_total": m.get("expected_purchases_total"),
        "historical_clv_total": m["historical_clv_total"],
        "frequency_monetary_corr": m.get("frequency_monetary_corr"),
        "warnings": m.get("warnings", []),
        # the same sentences by key, which the page renders in its language
        "status_record": m["status"].record(), "definition_record": record(m["definition"]),
        "warning_records": [record(w) for w in m.get("warnings", [])],
    }}
