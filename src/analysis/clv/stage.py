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
from .backtest import Origin, backtests_entry, criterion, origins, scorecard
from .models import (LIMIT, fit_problem, fit_rows, get, params_of,
                     unique_triples)
from .predict import (clv_tiers, definition, horizon_columns, horizons_of, monthly_steps,
                      predict, value_schedule)
from .sufficiency import checks
from .spend import spend_for_run
from .timing import PURCHASE_DAYS, timing_columns
from .validation import HoldoutResult, Score, calibration_frame, holdout_result, score

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
    #: expected purchases and value per customer per month (``predict.value_schedule``)
    schedule: pd.DataFrame | None = None
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

    def outputs(self) -> dict[str, pd.DataFrame | None]:
        """Tables for the run folder itself: ``value_schedule.parquet`` (None: there is
        none, and an earlier one in the folder goes)."""
        return {"value_schedule": self.schedule}


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
    tests = origins(inputs, ch, end, params)
    scores, fits = _fit_and_score(fitted_models(params.clv_model), sample, tests, params)
    ranked, why = rank(params.clv_model, fits, _over_origins(scores))
    if params.clv_model == "auto" and all(fits[m].reasons for m in ranked
                                          if fits[m].fitter is not None):
        ranked, why = _limit_model(ranked, why, fits, scores, sample, tests, params)
    main = scores[0] if scores else {}
    if fits[ranked[0]].fitter is None:
        metrics.update(model=get(ranked[0]).name, model_choice=why,
                       comparison=comparison_metrics(fits, main, ranked[0]))
        hold = _holdout(inputs, ch, cal_status, main, ranked[0], params, end, tests)
        metrics["holdout"] = hold.entry()
        return _not_estimated(cols, metrics, Status("not estimated", msg(
            "reason.try_penalizer", error=fits[ranked[0]].error)), hold)
    ggf, status = spend_for_run(sample.customers, params, metrics)
    chosen, intervals = _first_sound(ranked, fits, ggf, sample, params)
    fit = fits[chosen]
    hold = _holdout(inputs, ch, cal_status, main, chosen, params, end, tests)
    metrics.update(model=get(chosen).name, model_choice=why,
                   comparison=comparison_metrics(fits, main, chosen, _over_origins(scores)),
                   holdout=hold.entry(),
                   params=params_of(fit.fitter), log_likelihood=fit.log_likelihood,
                   standard_errors_log=fit.standard_errors, intervals=intervals,
                   fit_checks=fit.reasons, p_alive_note="one_time_buyers_alive"
                   if get(chosen).one_time_buyers_alive else None)
    metrics["warnings"] += fit.warnings
    u = sample.triples[0]  # each triple's expected purchases month by month, once
    steps = monthly_steps(fit.fitter, u["frequency"].to_numpy(), u["recency"].to_numpy(),
                          u["T"].to_numpy(), max(horizons_of(params)), params.time_unit.freq)
    pred = predict(fit.fitter, ggf, customers, params, sample.triples, steps)
    cols[list(pred.columns)] = pred.to_numpy()
    timing = timing_columns(fit.fitter, ggf, customers, params.time_unit.days, end,
                            pred["p_alive"].to_numpy())
    for c in timing:
        cols[c] = timing[c].to_numpy()
    metrics["status"] = _outcome(cols, customers, metrics, fit, ggf, params, sample, status)
    schedule = None
    if not fit.reasons:
        schedule, totals = value_schedule(fit.fitter, ggf, customers, params, sample.triples,
                                          steps)
        metrics["schedule"] = {**{k: [None if v != v else v for v in totals[k].tolist()]
                                  for k in totals}, "per_customer": schedule is not None}
    sound = [m for m, f in fits.items() if f.fitter is not None and not f.reasons]
    metrics["backtests"] = backtests_entry(
        scorecard(tests, scores), chosen, sound, metrics,
        lambda m: float(np.nansum(predict(fits[m].fitter, ggf, customers, params,
                                          sample.triples)["predicted_clv"])))
    return ClvResult(metrics["status"], cols, metrics, fit.fitter, ggf, hold, schedule)


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
    _clear(cols, params)
    x = customers["frequency"].to_numpy(dtype="float64")
    cols["avg_days_between_purchases"] = np.where(  # the data's, whatever the model
        x > 0, customers["recency"].to_numpy(dtype="float64") * params.time_unit.days
        / np.where(x > 0, x, 1), np.nan)
    return cols, metrics


def _clear(cols: pd.DataFrame, params: ClvParams) -> None:
    """The model's columns, empty: nothing predicted (or nothing reported)."""
    for c in ["p_alive", "expected_purchases", *horizon_columns(params).values(),
              *(f"p_purchase_{d}d" for d in PURCHASE_DAYS), "expected_spend"]:
        cols[c] = np.nan
    cols["churn_risk"] = "not estimated"
    cols["next_order_date"] = pd.NaT


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


def _fit_and_score(models: tuple[str, ...], sample: _FitSample, tests: list[Origin],
                   params: ClvParams) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each model's whole-window fit and its score on the run's holdout, then, for the
    models whose whole-window fit is sound (no other can be used), its scores at the
    earlier backtest origins: on both cores (scipy's special functions release the GIL).
    A degenerate fit runs slowly to its boundary, on every origin; it is not repeated."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        def scoring(origin: Origin, which) -> dict[str, Any]:
            ch = origin.frame  # the origin's customers' triples, once for every model
            cal_rows = fit_rows(len(ch), params.seed)
            everyone = unique_triples(ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
            on = ch.iloc[cal_rows] if cal_rows is not None else None
            cal = everyone[0] if on is None else \
                unique_triples(on["frequency_cal"], on["recency_cal"], on["T_cal"])[0]
            return {m: pool.submit(score, m, ch, params, cal, origin.spend, everyone)
                    for m in which}
        first = scoring(tests[0], models) if tests else {}
        fitting = {m: pool.submit(fit_model, m, sample.customers, sample.fit_triples[0], params)
                   for m in models}
        fits = {m: job.result() for m, job in fitting.items()}
        sound = [m for m in models if fits[m].fitter is not None and not fits[m].reasons]
        later = [scoring(origin, sound) for origin in tests[1:]]
        return ([{m: job.result() for m, job in jobs.items()} for jobs in [first, *later]]
                if tests else [], fits)


def _over_origins(scores: list[dict[str, Any]]) -> dict[str, Score]:
    """Each model's mean errors per customer over the backtest origins as one score: the
    comparison's (``mae``) and the choice's (``error``: ``backtest.criterion``, the same
    for every model); 'not validated' where an origin failed."""
    out: dict[str, Score] = {}
    everyone = [s.metrics for by_model in scores for s in by_model.values() if s.status == "ok"]
    key = criterion(everyone)
    for m in (scores[0] if scores else {}):
        each = [by_model[m] for by_model in scores if m in by_model]
        if len(each) < len(scores):
            out[m] = Score(m, Status("not validated", msg("reason.not_backtested")))
        elif all(s.status == "ok" for s in each):
            out[m] = Score(m, Status("ok"), {
                "mae": float(np.mean([s.metrics["mae"] for s in each])),
                "error": float(np.mean([s.metrics[key] for s in each])), "criterion": key})
        else:
            out[m] = Score(m, next(s.status for s in each if s.status != "ok"))
    return out


def _limit_model(ranked, why, fits, scores, sample, tests, params):
    """When every compared model's fit ran to a boundary or is weak: the NBD model (no
    drop-out, the limit the others reach when no customer loss can be seen), fitted and
    backtested the same way, used first when its own fit is sound."""
    more, fit = _fit_and_score((LIMIT,), sample, tests, params)
    fits.update(fit)
    for by_model, extra in zip(scores, more):
        by_model.update(extra)
    if fit[LIMIT].fitter is None or fit[LIMIT].reasons:
        return ranked, why
    return [LIMIT, *ranked], "limit"


def _first_sound(ranked: list[str], fits: dict[str, Any], ggf, sample: _FitSample,
                 params: ClvParams) -> tuple[str, dict[str, Any] | None]:
    """The model used, with its intervals: the first of ``ranked`` whose bootstrap is
    sound too (auto), else the best; a model whose bootstrap scatters is marked so."""
    intervals: dict[str, Any] = {}
    for m in ranked:
        if fits[m].fitter is None or fits[m].reasons:  # no bootstrap of what is not used
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
    return chosen, intervals.get(chosen)


def _outcome(cols: pd.DataFrame, customers: pd.DataFrame, metrics: dict[str, Any], fit,
             ggf, params: ClvParams, sample: _FitSample, status: Status) -> Status:
    """The predictions kept, with their totals and tiers, or withheld when the fit is
    degenerate or weak; the stage's status that follows."""
    if fit.reasons:
        _clear(cols, params)
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


def _holdout(inputs, ch, cal_status, scores, model, params, end, tests) -> HoldoutResult:
    """The holdout check of ``model`` (every scored model's conditional expectations), with
    the spend model the run's backtest fitted on the same calibration period."""
    if ch is None:
        return HoldoutResult(cal_status, str(inputs.calibration_end.date()))
    return holdout_result(inputs, ch, scores[model], scores, params, end,
                          tests[0].spend if tests else None)


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
        "spend_model": m.get("spend_model"), "backtests": m.get("backtests"),
        "schedule": m.get("schedule"),
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
