"""Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"): each repeat
buyer's transactions are Gamma(p, ν) with ν ~ Gamma(q, v), so the mean spend of x
transactions is informative about ν. lifetimes' ``GammaGammaFitter``'s objective, with its
analytic gradient (:func:`gg_objective`)."""
from __future__ import annotations

import numpy as np
from lifetimes import GammaGammaFitter
from scipy.special import digamma, gammaln

from .base import SpendModel, quiet, shape_bounds

__all__ = ["GammaGamma", "gg_ll", "gg_objective"]


def gg_ll(p, q, v, x, m) -> np.ndarray:
    """Gamma-Gamma log-likelihood of each repeat buyer (x repeat purchases, mean spend m)."""
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v) + (px - 1) * np.log(m)
            + px * np.log(x) - (px + q) * np.log(x * m + v))


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


class GammaGamma(SpendModel, GammaGammaFitter):
    """Gamma-Gamma model of the mean spend of repeat buyers."""
    key, name = "gg", "Gamma-Gamma"
    param_names = ("p", "q", "v")
    example = (6.25, 3.74, 15.44)
    bounds = shape_bounds("p", "q")
    cold_start = 0.1

    @classmethod
    def per_customer(cls, theta, x, m):
        return gg_ll(*theta, x, m)

    @classmethod
    def objective(cls, x, m, weights, penalizer):
        return gg_objective(x, m, weights, penalizer)

    def expected_spend(self, x, m):
        x = np.asarray(x, dtype="float64")
        m = np.asarray(m, dtype="float64")
        return np.asarray(self.conditional_expected_average_profit(x, np.where(x > 0, m, 0.0)),
                          dtype="float64")

    @classmethod
    def lifetimes_fit(cls, frequency, monetary, weights=None, penalizer: float = 0.0):
        """lifetimes' own fit: the reference the tests and benchmarks compare with."""
        return quiet(GammaGammaFitter.fit, cls(penalizer_coef=penalizer),
                     np.asarray(frequency), np.asarray(monetary),
                     weights=None if weights is None else np.asarray(weights))

    @classmethod
    def simulate(cls, theta, x, seed):
        """Mean spend of x ≥ 1 transactions: ν ~ Gamma(q, v), each z ~ Gamma(p, ν)."""
        p, q, v = theta
        rng = np.random.default_rng(seed)
        x = np.asarray(x, dtype="int64")
        nu = rng.gamma(q, 1.0 / v, len(x))
        return rng.gamma(p * x, 1.0 / nu) / x
