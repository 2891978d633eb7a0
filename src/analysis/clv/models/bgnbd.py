"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

A customer buys at rate λ ~ Gamma(r, α) while alive and drops out after each repeat
purchase with probability p ~ Beta(a, b). The log-likelihood is eq. 6 of the paper; the
objective (also MBG/NBD's, ``modified``) is lifetimes' ``BetaGeoFitter`` one written out
with its analytic gradient.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter
from scipy.special import digamma, gammaln, hyp2f1

from .base import PurchaseModel, poisson_summaries, quiet, shape_bounds

__all__ = ["BetaGeo", "bgnbd_ll", "bgnbd_objective", "LifetimesBacked",
           "beta_geometric_summaries"]


def bgnbd_ll(r, alpha, a, b, x, tx, T) -> np.ndarray:
    """BG/NBD log-likelihood of each customer (FHL 2005, eq. 6)."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + tx), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_objective(x, tx, T, weights, penalizer: float, modified: bool = False):
    """Negative mean log-likelihood of BG/NBD (``modified``: MBG/NBD) and its gradient, in
    log parameters.

    The same function lifetimes' ``BetaGeoFitter`` (``ModifiedBetaGeoFitter``) minimises
    (FHL 2005 eq. 6, weighted, plus ``penalizer * Σ params²``), written out with its
    analytic gradient and evaluated on the distinct values of x, tₓ and T, so a fit costs a
    fraction of autograd's. MBG/NBD is the same sum with b + x + 1 for b + x in the beta
    terms and the drop-out term for every customer, with b + x for b + x − 1
    (``mbgnbd_ll`` as exp(A3) + exp(A3 + A4))."""
    (ux, ix), (ur, ir), (uT, iT) = (np.unique(v, return_inverse=True) for v in (x, tx, T))
    rep = np.ones(len(x), dtype=bool) if modified else x > 0
    w = np.asarray(weights, dtype="float64")
    wsum = w.sum()
    bx1 = ux if modified else np.maximum(ux - 1, 0)
    k = 1 if modified else 0  # the beta terms' shift

    def f(lp):
        r, alpha, a, b = theta = np.exp(lp)
        A12 = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + gammaln(a + b)
               + gammaln(b + ux + k) - gammaln(b) - gammaln(a + b + ux + k))
        rx = (r + ux)[ix]
        lT, lr = np.log(alpha + uT)[iT], np.log(alpha + ur)[ir]
        A3 = -rx * lT
        A4 = np.where(rep, (np.log(a) - np.log(np.maximum(b + bx1, 1e-300)))[ix] - rx * lr,
                      -np.inf)
        L = np.logaddexp(A3, A4)
        w3, w4 = np.exp(A3 - L), np.exp(A4 - L)
        ll = (w * (A12[ix] + L)).sum()
        d12 = np.stack([digamma(r + ux) - digamma(r) + np.log(alpha),
                        np.full_like(ux, r / alpha),
                        digamma(a + b) - digamma(a + b + ux + k),
                        digamma(a + b) + digamma(b + ux + k) - digamma(b)
                        - digamma(a + b + ux + k)])
        g = (d12 * np.bincount(ix, weights=w, minlength=len(ux))).sum(axis=1)
        g += [-(w * (w3 * lT + w4 * lr)).sum(),
              -(w * rx * (w3 / (alpha + uT)[iT] + w4 / (alpha + ur)[ir])).sum(),
              (w * w4).sum() / a,
              -(w * w4 / np.maximum(b + bx1, 1e-300)[ix]).sum()]
        value = -ll / wsum + penalizer * (theta ** 2).sum()
        grad = -g * theta / wsum + 2 * penalizer * theta ** 2
        return value, grad
    return f


def beta_geometric_summaries(theta, T, seed: int, first: bool = False) -> pd.DataFrame:
    """Customers of BG/NBD (``first``: MBG/NBD, who may also drop out right after the first
    purchase): λ ~ Gamma(r, α), p ~ Beta(a, b), a drop-out with chance p after each
    purchase; their (frequency, recency, T) over ``T``."""
    r, alpha, a, b = theta
    rng = np.random.default_rng(seed)
    n = len(T)
    lam, p = rng.gamma(r, 1.0 / alpha, n), rng.beta(a, b, n)
    death = np.where(rng.random(n) < p, 0.0, np.inf) if first else None
    return poisson_summaries(rng, lam, np.asarray(T, dtype="float64"),
                             lambda alive: rng.random(n) < p, death)


class LifetimesBacked(PurchaseModel):
    """A model lifetimes has: its fitter's P(alive) and expectations are used as they are
    (``lifetimes_fit`` is lifetimes' own fit, the reference of the tests)."""
    #: lifetimes' optimiser takes log parameters (Pareto/NBD's takes them as they are)
    lifetimes_log_params = True
    #: lifetimes' starting point when not warm-started (None: lifetimes' own)
    lifetimes_cold_start: np.ndarray | None = None

    def p_alive(self, x, tx, T, pairs=None):
        return np.asarray(self.conditional_probability_alive(x, tx, T), dtype="float64")

    def expected_repeat(self, t, x, tx, T):
        return self.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)

    def unconditional_expected(self, t):
        return self.expected_number_of_purchases_up_to_time(t)

    def predict(self, t, frequency, recency, T):
        """lifetimes' ``predict`` (set by its ``fit``; a model built from estimates has it)."""
        return self.expected_repeat(t, frequency, recency, T)

    @classmethod
    def lifetimes_fit(cls, frequency, recency, T, weights=None, penalizer: float = 0.0,
                      start=None):
        """lifetimes' own fit. ``start``: estimates in the data's time unit (a warm start),
        turned into lifetimes' starting point (time scaled so that max T = 1)."""
        fitter = cls(penalizer_coef=penalizer)
        kwargs = {}
        if start is None and cls.lifetimes_cold_start is not None:
            kwargs["initial_params"] = cls.lifetimes_cold_start
        if start is not None:
            scale = 1.0 / float(np.max(np.asarray(T, dtype="float64")))
            values = np.asarray(start, dtype="float64") * cls.time_rates(scale)
            kwargs["initial_params"] = np.log(values) if cls.lifetimes_log_params else values
        fit = next(k for k in cls.__mro__ if k.__module__.startswith("lifetimes")).fit
        return quiet(fit, fitter, np.asarray(frequency), np.asarray(recency), np.asarray(T),
                     weights=None if weights is None else np.asarray(weights), **kwargs)


class BetaGeo(LifetimesBacked, BetaGeoFitter):
    """BG/NBD (Fader, Hardie & Lee 2005)."""
    key, name = "bgnbd", "BG/NBD"
    param_names = ("r", "alpha", "a", "b")
    loglik_fn, objective_fn = staticmethod(bgnbd_ll), staticmethod(bgnbd_objective)
    example = (0.243, 4.414, 0.793, 2.426)
    bounds = shape_bounds("r", "a", "b")
    cold_start = 0.1
    one_time_buyers_alive = True

    def p_no_purchase(self, t, x, tx, T):
        """Alive at T, no purchase in t: the gamma-Poisson zero, ((α + T)/(α + T + t))^(r+x)
        (drop-out happens only right after a purchase)."""
        r, alpha = self.theta()[:2]
        x, T = np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64")
        alive = self.p_alive(x, tx, T)
        return 1 - alive + alive * ((alpha + T) / (alpha + T + t)) ** (r + x)

    def expected_fn(self, x, tx, T, pairs=None):
        """lifetimes' formula, with its Gauss hypergeometric term, which depends on (x, T)
        only, evaluated once per distinct (x, T) pair instead of once per customer (~10x
        fewer hyp2f1 calls at a million customers); tests check it equals lifetimes."""
        x = np.asarray(x, dtype="float64")
        tx = np.asarray(tx, dtype="float64")
        T = np.asarray(T, dtype="float64")
        r, alpha, a, b = (float(self.params_[k]) for k in self.param_names)
        t_code, t_values = pd.factorize(T)
        x_code, x_values = pd.factorize(x)
        keys, pair = np.unique(x_code.astype("int64") * len(t_values) + t_code,
                               return_inverse=True)
        ux = np.asarray(x_values, dtype="float64")[keys // len(t_values)]
        uT = np.asarray(t_values, dtype="float64")[keys % len(t_values)]
        with np.errstate(all="ignore"):
            first = (a + b + x - 1) / (a - 1)
            denominator = 1 + (x > 0) * (a / (b + x - 1)) * \
                ((alpha + T) / (alpha + tx)) ** (r + x)

        def at(t):
            _a, _b, _c = r + ux, b + ux, a + b + ux - 1
            _z = t / (alpha + uT + t)
            with np.errstate(all="ignore"):
                ln_hyp = np.log(hyp2f1(_a, _b, _c, _z))
                alt = np.log(hyp2f1(_c - _a, _c - _b, _c, _z)) + (_c - _a - _b) * np.log(1 - _z)
                ln_hyp = np.where(np.isinf(ln_hyp), alt, ln_hyp)
                second = 1 - np.exp(ln_hyp + (r + ux) * np.log((alpha + uT) / (alpha + t + uT)))
                return first * second[pair] / denominator
        return at

    @classmethod
    def simulate(cls, theta, T, seed):
        return beta_geometric_summaries(theta, T, seed)
