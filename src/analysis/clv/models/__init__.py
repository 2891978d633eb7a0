"""The purchase and spend models behind one registry, one file per model (as lifetimes'
``fitters/`` and pymc-marketing's ``clv/models/`` are laid out):

* ``base``: the protocol every model follows (key, name, parameters and bounds, time
  scaling, log-likelihood and gradient, expectations, P(alive), probability of no
  purchase, simulator);
* ``bgnbd``, ``mbgnbd``, ``paretonbd``, ``nbd``: the purchase models; ``gamma_gamma``: the
  spend model;
* ``fitting``: the fitting sample, weighted fits, the penalizer fallback;
* ``registry``: the models by key, and which ``clv_model: auto`` compares.

Comparison, bootstrap, diagnostics, prediction and validation loop over :data:`PURCHASE`
and call the models' methods; adding a model is a file and a line in ``registry``.
"""
from __future__ import annotations

from .base import NUMERICAL_FAILURES, SHAPE_BOUNDS, PurchaseModel, SpendModel, quiet
from .bgnbd import BetaGeo
from .fitting import (FALLBACK_PENALIZER, FIT_SAMPLE, MIN_CUSTOMERS, MIN_REPEAT_BUYERS,
                      fit_gamma_gamma, fit_problem, fit_rows, fit_weighted,
                      gamma_gamma_sample, one_line, params_of, unique_triples, with_fallback)
from .gamma_gamma import GammaGamma
from .mbgnbd import ModifiedBetaGeo
from .nbd import NBD
from .paretonbd import ParetoNBD
from .registry import COMPARED, DEFAULT, LIMIT, PURCHASE, SPEND, by_name, get, model_key

__all__ = ["PURCHASE", "SPEND", "COMPARED", "DEFAULT", "LIMIT", "get", "by_name", "model_key",
           "NUMERICAL_FAILURES", "SHAPE_BOUNDS", "PurchaseModel", "SpendModel", "quiet",
           "BetaGeo", "ModifiedBetaGeo", "ParetoNBD", "NBD", "GammaGamma",
           "FALLBACK_PENALIZER", "FIT_SAMPLE", "MIN_CUSTOMERS", "MIN_REPEAT_BUYERS",
           "fit_gamma_gamma", "fit_problem", "fit_rows", "fit_weighted", "gamma_gamma_sample",
           "one_line", "params_of", "unique_triples", "with_fallback"]
