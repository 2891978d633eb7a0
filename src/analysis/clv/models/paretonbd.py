"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): purchases at rate λ ~ Gamma(r, α)
until an exponential lifetime with rate μ ~ Gamma(s, β) ends.

The log-likelihood is Fader & Hardie (2005), "A note on deriving the Pareto/NBD model and
related expressions", eq. 18-20, with its costly hypergeometric terms evaluated once per
distinct pair (:func:`pareto_pairs`); P(alive) and the conditional expectation are
computed in logs, finite where lifetimes' formulas give NaN for very frequent buyers
(tests check both equal lifetimes where it is finite). It has no analytic gradient here:
fits use central differences, which converge where lifetimes' Nelder-Mead stops short.
"""
from __future__ import annotations

import numpy as np
from lifetimes import ParetoNBDFitter
from scipy.special import gammaln, hyp2f1, roots_jacobi

from .base import poisson_summaries, shape_bounds
from .bgnbd import LifetimesBacked

__all__ = ["ParetoNBD", "pareto_pairs", "distinct_pairs", "paretonbd_ll", "paretonbd_p_alive"]

#: Gauss-Jacobi nodes of :func:`_share_of_purchases` (its integrand is a smooth ratio)
QUADRATURE_NODES = 32


def pareto_pairs(x, tx, T) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """The distinct (x, tₓ) and (x, T) pairs, each with the index of every customer's pair:
    Pareto/NBD's two Gauss hypergeometric terms depend on one pair each, and a million
    customers have some 470,000 distinct (x, tₓ, T) but only 32,000 (x, tₓ) and 17,000
    (x, T) (the synthetic benchmark), so the costly term is evaluated ~15x fewer times.
    Computed once per data set, passed to :func:`paretonbd_ll` as ``pairs``."""
    return distinct_pairs(x, tx), distinct_pairs(x, T)


def distinct_pairs(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (x, y), sorted, and the index of each customer's pair among them."""
    # a pair as one complex number: np.unique sorts them as (x, y), fast
    u, inv = np.unique(np.asarray(x, dtype="float64") + 1j * np.asarray(y, dtype="float64"),
                       return_inverse=True)
    return u.real.copy(), u.imag.copy(), np.asarray(inv).ravel()


def paretonbd_ll(r, alpha, s, beta, x, tx, T, pairs=None) -> np.ndarray:
    """Pareto/NBD log-likelihood of each customer (Fader & Hardie 2005, eq. 18-20).
    ``pairs``: :func:`pareto_pairs` of (x, tₓ, T), when computed already.

    Every term that depends on (x, tₓ) or on (x, T) alone is evaluated once per distinct
    pair and gathered (the same floating-point operations on the same values, so the same
    result to the bit as term by term, in half the time); only the terms that join the
    two pairs are evaluated per customer."""
    x, tx, T = (np.asarray(v, dtype="float64") for v in (x, tx, T))
    if pairs is None:  # any shapes that broadcast (a grid, a scalar T), as before
        x, tx, T = np.broadcast_arrays(x, tx, T)
        if x.ndim != 1:
            return paretonbd_ll(r, alpha, s, beta, x.ravel(), tx.ravel(), T.ravel()) \
                .reshape(x.shape)
        pairs = pareto_pairs(x, tx, T)
    (x1, y1, i1), (x2, y2, i2) = pairs
    low, high = min(alpha, beta), max(alpha, beta)

    def hyp(ux, uy):  # 2F1(r+s+x, t; r+s+x+1; (high-low)/(high+y)), t as eq. 19-20 say
        rsx = r + s + ux
        t = r + ux if alpha < beta else s + 1
        return hyp2f1(rsx, t, rsx + 1, (high - low) / (high + uy))
    with np.errstate(all="ignore"):
        # log(p1 / q1^rsx - p2 / q2^rsx), the two terms of A0 (eq. 19-20)
        u = (np.log(hyp(x1, y1)) - (r + s + x1) * np.log(high + y1))[i1]
        v2 = np.log(hyp(x2, y2)) - (r + s + x2) * np.log(high + y2)
        a1 = gammaln(r + x2) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x2) * np.log(alpha + y2) - s * np.log(beta + y2)
        log_a0 = u + np.log1p(-np.exp(v2[i2] - u))
        a2 = np.logaddexp(alive[i2], np.log(s) + log_a0 - np.log(r + s + x2)[i2])
    return a1[i2] + a2


def paretonbd_p_alive(r, alpha, s, beta, x, tx, T, pairs=None) -> np.ndarray:
    """Pareto/NBD P(alive | x, tₓ, T) (Fader & Hardie 2005, eq. 18-20) as the share of the
    likelihood in which the customer is still alive at T, in logs: finite where lifetimes'
    formula overflows (e.g. 170 repeat purchases, the last one on the final day)."""
    x, tx, T = (np.asarray(v, dtype="float64") for v in (x, tx, T))
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    with np.errstate(all="ignore"):
        ll = paretonbd_ll(r, alpha, s, beta, x, tx, T, pairs)
        return np.exp(np.minimum(alive - (ll - a1), 0.0))


def _share_of_purchases(p, q, a, b) -> np.ndarray:
    """E[λ/(λ + μ)] for λ ~ Gamma(p, a), μ ~ Gamma(q, b) independent (shapes, rates;
    arrays of one length, q a number). With v = u/(a + u) in
    E[λ/(λ + μ)] = ∫ E[λ e^−uλ] E[e^−uμ] du it is
    p ∫₀¹ (1 − v)^(p+q−1) (b / (b(1 − v) + a v))^q dv: the weight (1 − v)^(p+q−1) goes
    to Gauss-Jacobi (exact for any p, however peaked), the rest is smooth. Equal
    rates give p / (p + q), the beta mean."""
    out = np.empty(len(p))
    for k in np.unique(p):
        at = p == k
        nodes, weights = roots_jacobi(QUADRATURE_NODES, k + q - 1, 0.0)
        v = (nodes + 1) / 2
        h = (b[at, None] / (b[at, None] * (1 - v) + a[at, None] * v)) ** q
        out[at] = k * 2.0 ** -(k + q) * (h @ weights)
    return out


def _numeric_objective(x, tx, T, weights, penalizer: float):
    """Negative mean log-likelihood in log parameters, plus ``penalizer * Σ params²``
    (lifetimes' objective); its costly terms once per distinct pair."""
    pairs = pareto_pairs(x, tx, T)
    w = np.asarray(weights, dtype="float64")
    wsum = w.sum()

    def f(lp):
        theta = np.exp(lp)
        with np.errstate(all="ignore"):
            value = -(w * paretonbd_ll(*theta, x, tx, T, pairs=pairs)).sum() / wsum \
                + penalizer * (theta ** 2).sum()
        return value if np.isfinite(value) else 1e10
    return f


class ParetoNBD(LifetimesBacked, ParetoNBDFitter):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987)."""
    key, name = "paretonbd", "Pareto/NBD"
    param_names = ("r", "alpha", "s", "beta")
    objective_fn = staticmethod(_numeric_objective)
    example = (0.553, 10.58, 0.606, 11.67)
    bounds = shape_bounds("r", "s")
    rate_params = ("alpha", "beta")
    cold_start = 0.0
    analytic_gradient = False
    #: above this many distinct (frequency, recency, T), a fit starts where a fit on a
    #: seeded sample ends: a third fewer costly iterations, the same optimum
    #: (at 255,748 triples: 10.6 s -> 7.2 s)
    warm_start_above = 50_000
    lifetimes_log_params = False
    # lifetimes starts Pareto/NBD at a random point (unseeded); start at the centre of its
    # random draws instead, so that a fit is reproducible
    lifetimes_cold_start = np.ones(4)

    @classmethod
    def per_customer(cls, theta, x, tx, T, pairs=None):
        return paretonbd_ll(*theta, x, tx, T, pairs)

    @classmethod
    def precompute(cls, x, tx, T):
        return pareto_pairs(x, tx, T)

    def p_alive(self, x, tx, T, pairs=None):
        return self.conditional_probability_alive(x, tx, T, pairs)

    def conditional_probability_alive(self, frequency, recency, T, pairs=None):
        """``pairs``: :func:`pareto_pairs` of the data, when computed already."""
        return paretonbd_p_alive(*self.theta(), frequency, recency, T, pairs)

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T,
                                                           p_alive=None):
        """E[Y(t) | x, tₓ, T] = (r + x)(β + T) / ((α + T)(s − 1)) · (1 − ((β + T) /
        (β + T + t))^(s − 1)) · P(alive) (Fader & Hardie 2005, eq. 22). ``p_alive``: the
        customers' P(alive), when already computed (it does not depend on t)."""
        r, alpha, s, beta = self.theta()
        x = np.asarray(frequency, dtype="float64")
        T = np.asarray(T, dtype="float64")
        with np.errstate(all="ignore"):
            if abs(s - 1) < 1e-9:  # the limit s -> 1
                factor = (r + x) * (beta + T) / (alpha + T) \
                    * np.log((beta + T + t) / (beta + T))
            else:
                factor = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * \
                    (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
        if p_alive is None:
            p_alive = self.conditional_probability_alive(x, recency, T)
        return factor * p_alive

    def expected_fn(self, x, tx, T, pairs=None):
        """P(alive), the costly factor, once for every t; with ``pairs``, the other factor
        (it depends on (x, T) only) once per distinct pair, then gathered (the same values,
        multiplied by P(alive) as before: the same result to the bit)."""
        x, tx, T = (np.asarray(v, dtype="float64") for v in (x, tx, T))
        with np.errstate(all="ignore"):
            alive = self.conditional_probability_alive(x, tx, T, pairs)
        expect = self.conditional_expected_number_of_purchases_up_to_time
        if pairs is None:
            return lambda t: np.asarray(expect(t, x, tx, T, p_alive=alive), dtype="float64")
        ux, uT, inv = pairs[1]
        ones = np.ones(len(ux))
        return lambda t: np.asarray(expect(t, ux, ux, uT, p_alive=ones),
                                    dtype="float64")[inv] * alive

    def p_no_purchase(self, t, x, tx, T):
        """1 − P(alive) + P(alive) · P(no purchase in t | alive at T). Alive at T, the rates'
        posterior is λ ~ Gamma(r + x, α + T), μ ~ Gamma(s, β + T), independent, and given
        them the next event is a purchase with chance λ/(λ + μ) if it comes within t:
        P(no purchase) = 1 − E[λ/(λ + μ)] + E[e^−(λ+μ)t] · E*[λ/(λ + μ)], E* under the
        posterior tilted by e^−(λ+μ)t (rates α + T + t, β + T + t). Each E[λ/(λ + μ)] is
        a one-dimensional Gauss-Jacobi sum (:func:`_share_of_purchases`), once per
        distinct (x, T); a test checks it against lifetimes' closed form."""
        r, alpha, s, beta = self.theta()
        x, tx, T = (np.asarray(v, dtype="float64") for v in (x, tx, T))
        alive = self.conditional_probability_alive(x, tx, T)
        ux, uT, inv = distinct_pairs(x, T)
        shape = r + ux
        tilt = ((alpha + uT) / (alpha + uT + t)) ** shape * ((beta + uT) / (beta + uT + t)) ** s
        quiet_given_alive = 1 - _share_of_purchases(shape, s, alpha + uT, beta + uT) \
            + tilt * _share_of_purchases(shape, s, alpha + uT + t, beta + uT + t)
        return 1 - alive + alive * quiet_given_alive[inv]

    @classmethod
    def simulate(cls, theta, T, seed):
        r, alpha, s, beta = theta
        rng = np.random.default_rng(seed)
        n = len(T)
        lam, mu = rng.gamma(r, 1.0 / alpha, n), rng.gamma(s, 1.0 / beta, n)
        death = rng.exponential(1.0, n) / np.maximum(mu, 1e-12)
        return poisson_summaries(rng, lam, np.asarray(T, dtype="float64"), None, death)
