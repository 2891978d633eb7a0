"""NBD (Ehrenberg 1959; Morrison & Schmittlein 1988): purchases at rate λ ~ Gamma(r, α) and
no drop-out, the limit of BG/NBD as p -> 0 (a -> 0). For data in which nobody is seen to
stop buying, where BG/NBD's a runs to the edge of its range.

Per customer, in the data's time unit (the terms free of parameters left out, as BG/NBD's
eq. 6 leaves them): log L = ln Γ(r + x) − ln Γ(r) + r ln α − (r + x) ln(α + T), which is
BG/NBD's with a -> 0 (a test checks it). Recency says nothing under this model.
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from .base import PurchaseModel, Standalone, poisson_summaries, shape_bounds

__all__ = ["NBD", "nbd_ll", "nbd_objective"]


def nbd_ll(r, alpha, x, tx, T) -> np.ndarray:
    """Each customer's log-likelihood (``tx``, the recency, says nothing under NBD)."""
    x, T = np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64")
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)


def nbd_objective(x, tx, T, weights, penalizer: float):
    """Negative mean log-likelihood and its analytic gradient in log parameters."""
    w = np.asarray(weights, dtype="float64")
    wsum = w.sum()

    def f(lp):
        r, alpha = theta = np.exp(lp)
        ll = (w * nbd_ll(r, alpha, x, tx, T)).sum()
        g = np.array([(w * (digamma(r + x) - digamma(r) + np.log(alpha)
                            - np.log(alpha + T))).sum(),
                      (w * (r / alpha - (r + x) / (alpha + T))).sum()])
        return -ll / wsum + penalizer * (theta ** 2).sum(), \
            -g * theta / wsum + 2 * penalizer * theta ** 2
    return f


class NBD(Standalone, PurchaseModel):
    """NBD: no drop-out (lifetimes has no such fitter)."""
    key, name = "nbd", "NBD"
    param_names = ("r", "alpha")
    loglik_fn, objective_fn = staticmethod(nbd_ll), staticmethod(nbd_objective)
    example = (0.385, 12.07)
    bounds = shape_bounds("r")
    cold_start = 0.0
    #: not in ``clv_model: auto``'s comparison: it cannot see churn, so on data with churn it
    #: is not a rival but a limit; a run uses it when asked (``clv_model: nbd``)
    compared = False

    def p_alive(self, x, tx, T, pairs=None):
        return np.ones(np.shape(np.asarray(x, dtype="float64")))

    def expected_repeat(self, t, x, tx, T):
        """(r + x) / (α + T) · t: the posterior mean rate times t."""
        r, alpha = self.theta()
        return (r + np.asarray(x, dtype="float64")) / (alpha + np.asarray(T, dtype="float64")) \
            * t

    def unconditional_expected(self, t):
        r, alpha = self.theta()
        return r / alpha * np.asarray(t, dtype="float64")

    def p_no_purchase(self, t, x, tx, T):
        r, alpha = self.theta()
        T = np.asarray(T, dtype="float64")
        return ((alpha + T) / (alpha + T + t)) ** (r + np.asarray(x, dtype="float64"))

    @classmethod
    def simulate(cls, theta, T, seed):
        r, alpha = theta
        rng = np.random.default_rng(seed)
        lam = rng.gamma(r, 1.0 / alpha, len(T))
        return poisson_summaries(rng, lam, np.asarray(T, dtype="float64"), None)
