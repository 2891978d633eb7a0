"""Log-likelihoods of the purchase and spend models, and the fast maximisation behind the fits.

Per-customer log-likelihoods in the data's own time unit, written from the papers:

* BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. 6;
* MBG/NBD: Batislam, Denizel & Filiztekin (2007) (lifetimes' ``ModifiedBetaGeoFitter``);
* Pareto/NBD: Fader & Hardie (2005), "A note on deriving the Pareto/NBD model and related
  expressions", eq. 18-20;
* Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves".

:func:`log_likelihood` totals them with weights (counts of identical customers); tests
check each against lifetimes' own objective. The BG/NBD and Gamma-Gamma objectives with
analytic gradients (:func:`bgnbd_objective`, :func:`gg_objective`) are what
``models.fast_fit`` minimises with :func:`minimise`.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1

__all__ = ["ConvergenceError", "bgnbd_ll", "mbgnbd_ll", "pareto_pairs", "paretonbd_ll",
           "paretonbd_p_alive", "gg_ll", "log_likelihood", "bgnbd_objective", "gg_objective",
           "numeric_objective", "minimise", "minimise_numeric"]


class ConvergenceError(RuntimeError):
    """The likelihood maximisation did not converge."""


def bgnbd_ll(r, alpha, a, b, x, tx, T) -> np.ndarray:
    """BG/NBD log-likelihood of each customer (FHL 2005, eq. 6)."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + tx), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def mbgnbd_ll(r, alpha, a, b, x, tx, T) -> np.ndarray:
    """MBG/NBD log-likelihood of each customer (Batislam et al. 2007): as BG/NBD, but a
    customer may also drop out right after the first purchase."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return a1 + a2 + a3 + np.logaddexp(a4, 0)


def pareto_pairs(x, tx, T) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
    """The distinct (x, tₓ) and (x, T) pairs, each with the index of every customer's pair:
    Pareto/NBD's two Gauss hypergeometric terms depend on one pair each, and a million
    customers have some 470,000 distinct (x, tₓ, T) but only 32,000 (x, tₓ) and 17,000
    (x, T) (the synthetic benchmark), so the costly term is evaluated ~15x fewer times.
    Computed once per data set, passed to :func:`paretonbd_ll` as ``pairs``."""
    x = np.asarray(x, dtype="float64")
    out = []
    for y in (tx, T):
        # a pair as one complex number: np.unique sorts them as (x, y), fast
        u, inv = np.unique(x + 1j * np.asarray(y, dtype="float64"), return_inverse=True)
        out.append((u.real.copy(), u.imag.copy(), np.asarray(inv).ravel()))
    return tuple(out)


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


def gg_ll(p, q, v, x, m) -> np.ndarray:
    """Gamma-Gamma log-likelihood of each repeat buyer (x repeat purchases, mean spend m)."""
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(x * m + v))


def log_likelihood(model: str, params, frequency, recency, T, weights=None, pairs=None
                   ) -> float:
    """Total log-likelihood of a purchase model (``params``: a mapping by parameter name) in
    the data's own time unit (lifetimes reports a mean on rescaled time). ``pairs``: for
    Pareto/NBD, :func:`pareto_pairs` of the data, when computed already."""
    x = np.asarray(frequency, dtype="float64")
    tx = np.asarray(recency, dtype="float64")
    T = np.asarray(T, dtype="float64")
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
    p = {k: float(v) for k, v in dict(params).items()}
    if model == "paretonbd":
        ll = paretonbd_ll(p["r"], p["alpha"], p["s"], p["beta"], x, tx, T, pairs)
    else:
        per = bgnbd_ll if model == "bgnbd" else mbgnbd_ll
        ll = per(p["r"], p["alpha"], p["a"], p["b"], x, tx, T)
    return float((w * ll).sum())


def bgnbd_objective(x, tx, T, weights, penalizer: float, modified: bool = False):
    """Negative mean log-likelihood of BG/NBD (``modified``: MBG/NBD) and its gradient, in
    log parameters.

    The same function lifetimes' ``BetaGeoFitter`` (``ModifiedBetaGeoFitter``) minimises
    (FHL 2005 eq. 6, weighted, plus ``penalizer * Σ params²``), written out with its
    analytic gradient and evaluated on the distinct values of x, tₓ and T, so a fit costs a
    fraction of autograd's. MBG/NBD is the same sum with b + x + 1 for b + x in the beta
    terms and the drop-out term for every customer, with b + x for b + x − 1
    (:func:`mbgnbd_ll` as exp(A3) + exp(A3 + A4))."""
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


def gg_objective(x, m, weights, penalizer: float):
    """Negative mean log-likelihood of Gamma-Gamma (as lifetimes' ``GammaGammaFitter``) and
    its gradient in log parameters; the gamma-function terms, which depend on x only, are
    evaluated once per distinct x."""
    w = np.asarray(weights, dtype="float64")
    wsum = w.sum()
    ux, ix = np.unique(x, return_inverse=True)
    wx = np.bincount(ix, weights=w, minlength=len(ux))
    log_m = np.log(m)
    wlog_m, wxlog_m = (w * log_m).sum(), (w * x * log_m).sum()
    log_ux = np.log(ux)

    def f(lp):
        p, q, v = theta = np.exp(lp)
        pux = p * ux
        xmv = x * m + v
        lxmv = np.log(xmv)
        px = p * x
        per_x = gammaln(pux + q) - gammaln(pux) - gammaln(q) + pux * log_ux
        ll = ((wx * per_x).sum() + q * np.log(v) * wsum + p * wxlog_m - wlog_m
              - (w * (px + q) * lxmv).sum())
        dq = digamma(pux + q)
        g = np.array([(wx * ux * (dq - digamma(pux) + log_ux)).sum() + wxlog_m
                      - (w * x * lxmv).sum(),
                      (wx * (dq - digamma(q))).sum() + np.log(v) * wsum - (w * lxmv).sum(),
                      q / v * wsum - (w * (px + q) / xmv).sum()])
        return -ll / wsum + penalizer * (theta ** 2).sum(), -g * theta / wsum \
            + 2 * penalizer * theta ** 2
    return f


def numeric_objective(model: str, x, tx, T, weights, penalizer: float):
    """Negative mean log-likelihood of MBG/NBD or Pareto/NBD in log parameters, plus
    ``penalizer * Σ params²`` (lifetimes' objective), for :func:`minimise_numeric`."""
    if model == "paretonbd":  # its costly terms once per distinct pair (pareto_pairs)
        pairs = pareto_pairs(x, tx, T)
        per = lambda *args: paretonbd_ll(*args, pairs=pairs)
    else:
        per = mbgnbd_ll
    w = np.asarray(weights, dtype="float64")
    wsum = w.sum()

    def f(lp):
        theta = np.exp(lp)
        with np.errstate(all="ignore"):
            value = -(w * per(*theta, x, tx, T)).sum() / wsum + penalizer * (theta ** 2).sum()
        return value if np.isfinite(value) else 1e10
    return f


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
        raise ConvergenceError("the likelihood maximisation did not converge")
    return res.x


def minimise(objective, x0) -> np.ndarray:
    """L-BFGS-B with analytic gradients, run to the optimiser's precision limit."""
    with np.errstate(all="ignore"):
        res = minimize(objective, x0, jac=True, method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    if not (np.isfinite(res.fun) and np.all(np.isfinite(res.x))) or \
            np.linalg.norm(res.jac, np.inf) > 1e-5:
        raise ConvergenceError("the likelihood maximisation did not converge")
    return res.x
