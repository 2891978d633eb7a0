"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD in which a customer may also drop
out right after the first purchase, so a one-time buyer can have lapsed (lifetimes'
``ModifiedBetaGeoFitter``). Fitted with BG/NBD's objective in its modified form, with the
analytic gradient: lifetimes' own BFGS fails next to a warm start."""
from __future__ import annotations

import numpy as np
from functools import partial

from lifetimes import ModifiedBetaGeoFitter
from scipy.special import gammaln

from .bgnbd import BetaGeo, LifetimesBacked, beta_geometric_summaries, bgnbd_objective

__all__ = ["ModifiedBetaGeo", "mbgnbd_ll"]


def mbgnbd_ll(r, alpha, a, b, x, tx, T) -> np.ndarray:
    """MBG/NBD log-likelihood of each customer (Batislam et al. 2007): as BG/NBD, but a
    customer may also drop out right after the first purchase."""
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x + 1) - gammaln(b) - gammaln(a + b + x + 1)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
    return a1 + a2 + a3 + np.logaddexp(a4, 0)


class ModifiedBetaGeo(LifetimesBacked, ModifiedBetaGeoFitter):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007)."""
    key, name = "mbgnbd", "MBG/NBD"
    param_names = BetaGeo.param_names
    loglik_fn = staticmethod(mbgnbd_ll)
    objective_fn = staticmethod(partial(bgnbd_objective, modified=True))
    example = (0.525, 6.183, 0.891, 1.614)
    bounds = BetaGeo.bounds
    cold_start = 0.0

    #: as BG/NBD: alive at T, no purchase in t is the gamma-Poisson zero
    p_no_purchase = BetaGeo.p_no_purchase

    @classmethod
    def simulate(cls, theta, T, seed):
        return beta_geometric_summaries(theta, T, seed, first=True)
