"""The maximisation behind the fits: L-BFGS-B on a model's objective (its negative mean
log-likelihood in log parameters, ``models``), with analytic gradients where the model has
them (:func:`minimise`) or central differences (:func:`minimise_numeric`), and the error
both raise when it does not converge. The log-likelihoods themselves are each model's
(``models/bgnbd.py`` and its siblings), written from the papers and tested against
lifetimes' own objectives.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from ..messages import msg

__all__ = ["ConvergenceError", "minimise", "minimise_numeric"]


class ConvergenceError(RuntimeError):
    """The likelihood maximisation did not converge."""


def minimise_numeric(objective, x0, step: float = 1e-6) -> np.ndarray:
    """L-BFGS-B on central-difference gradients; converged when the gradient is ~0."""
    def grad(v):
        e = np.eye(len(v)) * step
        return np.array([(objective(v + e[i]) - objective(v - e[i])) / (2 * step)
                         for i in range(len(v))])
    with np.errstate(all="ignore"):
        res = minimize(objective, x0, jac=grad, method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 5000})
    if not (np.isfinite(res.fun) and np.all(np.isfinite(res.x))) or \
            np.linalg.norm(grad(res.x), np.inf) > 1e-5:
        raise ConvergenceError(msg("error.no_convergence"))
    return res.x


def minimise(objective, x0) -> np.ndarray:
    """L-BFGS-B with analytic gradients, run to the optimiser's precision limit."""
    with np.errstate(all="ignore"):
        res = minimize(objective, x0, jac=True, method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    if not (np.isfinite(res.fun) and np.all(np.isfinite(res.x))) or \
            np.linalg.norm(res.jac, np.inf) > 1e-5:
        raise ConvergenceError(msg("error.no_convergence"))
    return res.x
