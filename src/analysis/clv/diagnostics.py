"""Is a fit worth reporting? Checks that name degenerate and weak fits in words.

A maximum-likelihood fit can converge and still say nothing: on data with almost no
drop-out, BG/NBD's a runs to 0 and b to infinity along a flat ridge of equal likelihood,
and the reported a and b (and every P(alive)) are an accident of where the optimiser
stopped. Three checks, each giving a plain reason when it fails:

* **at a bound**: a shape parameter (r, a, b, s, p, q) below 1e-4 or above 1e4, i.e. the
  optimiser ran to the edge of the parameter space;
* **flat likelihood**: from the curvature of the log-likelihood at the estimate (numerical
  Hessian in log parameters), a direction with no curvature, or a parameter whose standard
  error in logs exceeds 1 (known only to a factor of about 5 either way at 90 %);
* **unstable bootstrap**: more than 10 % of the refits failed, or a parameter's 90 %
  interval of a purchase-model parameter spans more than a factor of 25.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from .models import SHAPE_BOUNDS, get

__all__ = ["SHAPE_BOUNDS", "SE_LOG_LIMIT", "FAILED_SHARE_LIMIT", "SPREAD_LIMIT",
           "standard_errors", "errors_of", "purchase_covariance", "log_covariance",
           "fit_reasons", "bootstrap_reasons"]

SE_LOG_LIMIT = 1.0
FAILED_SHARE_LIMIT = 0.10
SPREAD_LIMIT = 25.0


def standard_errors(model, params: Mapping[str, float], frequency, recency, T,
                    weights=None, step: float = 1e-4) -> dict[str, float] | None:
    """Standard errors of the log parameters from the numerical Hessian of the total
    log-likelihood at the estimate; None when the Hessian is not positive definite (the
    likelihood is flat or curves the wrong way in some direction)."""
    cov = purchase_covariance(model, params, frequency, recency, T, weights, step)
    return errors_of(cov, list(params))


def errors_of(cov: np.ndarray | None, names: list[str]) -> dict[str, float] | None:
    """The standard errors (square roots of the diagonal) of a covariance, by name."""
    return None if cov is None else dict(zip(names, np.sqrt(np.diag(cov)).tolist()))


def purchase_covariance(model, params: Mapping[str, float], frequency, recency, T,
                        weights=None, step: float = 1e-4) -> np.ndarray | None:
    """:func:`log_covariance` of a purchase model's estimates (``model``: its class or key;
    ``params`` in its parameters' order)."""
    cls = get(model)
    names = list(params)
    x, tx, T = (np.asarray(v, dtype="float64") for v in (frequency, recency, T))
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
    pairs = cls.precompute(x, tx, T)

    def nll(v):
        return -float((w * cls.per_customer(np.exp(v), x, tx, T, pairs)).sum())
    return log_covariance(nll, [params[k] for k in names], step)


def log_covariance(nll: Callable[[np.ndarray], float], theta, step: float = 1e-4
                   ) -> np.ndarray | None:
    """The covariance of the log parameters at the estimate ``theta``: the inverse of the
    numerical Hessian of the total negative log-likelihood ``nll`` (a function of the log
    parameters); None when it is not positive definite or not finite."""
    lp = np.log(np.asarray(theta, dtype="float64"))
    if not np.isfinite(lp).all():
        return None
    k = len(lp)
    eye = np.eye(k) * step
    f = lambda v: _quiet(nll, v)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            hess[i, j] = hess[j, i] = (f(lp + eye[i] + eye[j]) - f(lp + eye[i] - eye[j])
                                       - f(lp - eye[i] + eye[j])
                                       + f(lp - eye[i] - eye[j])) / (4 * step * step)
    if not np.isfinite(hess).all() or np.linalg.eigvalsh(hess).min() <= 0:
        return None
    return np.linalg.inv(hess)


def _quiet(nll, v) -> float:
    with np.errstate(all="ignore"):
        return float(nll(v))


def fit_reasons(params: Mapping[str, float], se: Mapping[str, float] | None,
                bounds: Mapping[str, tuple[float, float]] | None = None
                ) -> list[dict[str, Any]]:
    """Why a fit is degenerate or weak (empty when it is neither): each a dict with the
    ``check`` and its numbers, put in words by ``narrative.stages.fit_check_sentence``.
    ``bounds``: the model's (``PurchaseModel.bounds``); default: every parameter but a
    rate (alpha, beta) within :data:`SHAPE_BOUNDS`."""
    reasons: list[dict[str, Any]] = []
    bounds = bounds if bounds is not None else \
        {k: SHAPE_BOUNDS for k in params if k not in ("alpha", "beta")}
    at_bound = [f"{k} = {v:.2g}" for k, v in params.items()
                if k in bounds and not bounds[k][0] <= v <= bounds[k][1]]
    if at_bound:
        reasons.append({"check": "bound", "params": ", ".join(at_bound)})
    if se is None:
        reasons.append({"check": "flat"})
    else:
        loose = [f"{k} (×{np.exp(v):.3g})" for k, v in se.items() if v > SE_LOG_LIMIT]
        if loose:
            reasons.append({"check": "loose", "params": ", ".join(loose)})
    return reasons


def bootstrap_reasons(intervals: Mapping[str, Any] | None,
                      purchase_params: tuple[str, ...] = ("r", "alpha", "a", "b", "s", "beta")
                      ) -> list[dict[str, Any]]:
    """Failed refits, or purchase-model estimates that scatter across the refits, as
    :func:`fit_reasons` gives them. (The spend model's q and v may scatter together with
    their ratio, the mean spend, well pinned down: that is not counted.)"""
    if not intervals:
        return []
    reasons: list[dict[str, Any]] = []
    n, failed = intervals["iterations"], intervals["failed"]
    if n and failed / n > FAILED_SHARE_LIMIT:
        reasons.append({"check": "failed", "failed": failed, "iterations": n})
    wide = [k for k, ci in (intervals.get("params") or {}).items()
            if k in purchase_params and ci and (ci[0] <= 0 or ci[1] / ci[0] > SPREAD_LIMIT)]
    if wide:
        reasons.append({"check": "scatter", "params": ", ".join(wide), "limit": SPREAD_LIMIT})
    return reasons
