"""Model comparison: BG/NBD, MBG/NBD and Pareto/NBD side by side, and the choice among them.

Each model is fitted on the whole window (for the predictions) and checked for a degenerate
or weak fit (``diagnostics``); each is also fitted on the calibration period and scored on
the holdout (``validation.score``). With ``clv_model: auto`` the model used is the one with
the smallest holdout error per customer (mean absolute error of the holdout purchases)
among those whose fit is sound, on the whole window and in the bootstrap; without a
holdout, the one with the lowest AIC (2k − 2 log-likelihood, k its parameters: a model
with fewer parameters is not beaten by one that fits as well with more). When no fit is
sound the best is still used, and the stage's status says it is unreliable. The models
are the registry's (``models.COMPARED``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..config import ClvParams
from .diagnostics import errors_of, fit_reasons, purchase_covariance
from ..messages import Message, Status, check_message, msg, render
from .models import (COMPARED, DEFAULT, NUMERICAL_FAILURES, fit_weighted, get, one_line,
                     params_of, with_fallback)
from .validation import Score, holdout_error

__all__ = ["MODELS", "Fit", "fit_model", "aic", "fitted_models", "rank", "fit_status",
           "comparison_table",
           "comparison_metrics"]

MODELS = COMPARED


@dataclass
class Fit:
    """A model fitted on the whole window, with what the checks found."""
    model: str
    fitter: Any = None
    error: Message | None = None
    log_likelihood: float | None = None
    standard_errors: dict[str, float] | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: of the log parameters (inverse Hessian), for the normal-approximation intervals
    covariance: np.ndarray | None = None


def fit_model(model: str, customers: pd.DataFrame, triples: pd.DataFrame,
              params: ClvParams) -> Fit:
    """Fit ``model`` on the unique (frequency, recency, T) triples and check the fit."""
    warnings: list[str] = []
    cls = get(model)
    try:
        fitter = with_fallback(
            lambda pen: fit_weighted(cls, customers["frequency"], customers["recency"],
                                     customers["T"], pen, triples=triples),
            params.penalizer, cls.name, warnings)
    except NUMERICAL_FAILURES as exc:
        return Fit(model, error=msg("reason.fit_did_not_converge", model=cls.name,
                                    error=one_line(exc)))
    u = triples
    estimates = params_of(fitter)
    ll = fitter.loglik(u["frequency"], u["recency"], u["T"], u["weight"])
    cov = purchase_covariance(cls, estimates, u["frequency"], u["recency"], u["T"],
                              u["weight"])
    se = errors_of(cov, list(estimates))
    return Fit(model, fitter, None, ll, se, fit_reasons(estimates, se, cls.bounds), warnings,
               cov)


def aic(fit: Fit) -> float:
    """2k − 2 log L of a whole-window fit (k: the model's parameters)."""
    return 2 * len(get(fit.model).param_names) - 2 * fit.log_likelihood


def fitted_models(requested: str) -> tuple[str, ...]:
    """The models a run fits: those compared, and the one set when it is not among them."""
    return MODELS if requested in ("auto", *MODELS) else (*MODELS, requested)


def rank(requested: str, fits: Mapping[str, Fit], scores: Mapping[str, Score]
         ) -> tuple[list[str], str]:
    """The models to try, best first, and why as a key of ``model_choice`` in text.<language>.yaml
    ('set', 'holdout', 'likelihood', 'none'; with ' unsound' when no fit is sound).

    With 'auto': the fitted models whose whole-window fit is sound, by error per customer
    (``scores``: the mean over the backtests; without a holdout, by :func:`aic`), then the
    unsound ones. The stage
    uses the first whose bootstrap is also sound."""
    if requested != "auto":
        return [requested], "set"
    fitted = [m for m in MODELS if m in fits and fits[m].fitter is not None]
    if not fitted:
        return [DEFAULT], "none"
    def ok(m: str) -> bool:
        return m in scores and scores[m].status == "ok"
    scored = any(ok(m) for m in fitted)  # one that failed a backtest comes after the others

    def key(m: str) -> tuple[bool, float]:
        if not scored:
            return False, aic(fits[m])
        return (False, scores[m].metrics.get("error", scores[m].metrics["mae"])) if ok(m) \
            else (True, aic(fits[m]))
    sound = sorted((m for m in fitted if not fits[m].reasons), key=key)
    unsound = sorted((m for m in fitted if fits[m].reasons), key=key)
    return sound + unsound, ("holdout" if scored else "likelihood") + \
        ("" if sound else " unsound")


def comparison_metrics(fits: Mapping[str, Fit], scores: Mapping[str, Score], chosen: str,
                       over: Mapping[str, Score] | None = None) -> list[dict[str, Any]]:
    """One entry per model for metrics.json: holdout scores, the mean error per customer
    over the backtests (``over``), whole-window fit and checks."""
    out = []
    for m in (*MODELS, *(m for m in fits if m not in MODELS)):
        fit, sc = fits.get(m), scores.get(m)
        h = sc.metrics if sc is not None and sc.status == "ok" else {}
        err = holdout_error(h)
        status = fit_status(fit.error, fit.reasons) if fit else Status("sound")
        back = (over or {}).get(m)
        out.append({
            "backtest_mae": back.metrics["mae"] if back is not None and back.status == "ok"
            else None,
            "model": get(m).name, "chosen": m == chosen,
            "holdout_status": sc.status if sc is not None else "not run",
            "holdout_mae": h.get("mae"), "naive_mae": h.get("naive_mae"),
            "holdout_predicted": h.get("predicted"), "holdout_actual": h.get("actual"),
            "holdout_total_error": err,
            "params": params_of(fit.fitter) if fit and fit.fitter is not None else None,
            "log_likelihood": fit.log_likelihood if fit else None,
            "standard_errors_log": fit.standard_errors if fit else None,
            "fit_error": fit.error if fit else None,
            "fit_status": status,
            "fit_checks": fit.reasons if fit else [],
            "fit_status_record": status.record(),
        })
    return out


def comparison_table(entries: list[Mapping[str, Any]], lang: str = "en") -> pd.DataFrame:
    """The comparison as a table (notebook 04): one row per model, its fit's status and
    the checks it failed in ``lang``."""
    used = render(msg("comparison.used"), lang)
    rows = [{"model": e["model"] + (used if e["chosen"] else ""),
             "backtests' MAE per customer": e.get("backtest_mae"),
             "holdout MAE per customer": e["holdout_mae"],
             "naive rule's MAE": e["naive_mae"],
             "holdout purchases predicted": e["holdout_predicted"],
             "holdout purchases actual": e["holdout_actual"],
             "total error": e["holdout_total_error"],
             "log-likelihood (whole window)": e["log_likelihood"],
             "fit": Status.from_record(e["fit_status_record"]).render(lang)}
            for e in entries]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index("model").replace({None: np.nan})


def fit_status(error: Message | None, reasons: list | None) -> Status:
    """A whole-window fit's status: sound, weak (the checks it failed) or not fitted (why)."""
    if error:
        return Status("not fitted", error)
    if reasons:
        return Status("weak", msg("items", items=[check_message("fit_check", r)
                                                  for r in reasons]))
    return Status("sound")
