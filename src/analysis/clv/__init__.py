"""Stage 4: customer lifetime value (historical and predicted), laid out as lifetimes and
pymc-marketing lay out theirs:

* ``likelihood``: the models' log-likelihoods and the fast maximisation;
* ``models``: lifetimes' fitters subclassed per model, and how they are fitted;
* ``predict``: P(alive), expected purchases, predicted and historical CLV, CLV tiers;
* ``validation``: the holdout check;
* ``bootstrap``: intervals of the estimates and of the total;
* ``stage``: :func:`run`, which does all of it for a run's customers.
"""
from ..stage1.aggregates import historical_clv
from .bootstrap import bootstrap
from .likelihood import ConvergenceError, bgnbd_ll, gg_ll, log_likelihood, mbgnbd_ll, paretonbd_ll
from .models import (MODEL_NAMES, PARAM_NAMES, BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD,
                     fast_fit, fit_gamma_gamma, fit_gamma_gamma_lifetimes, fit_purchase_model,
                     fit_weighted, gamma_gamma_sample, params_of, unique_triples)
from .predict import (MONTH, clv_tiers, definition, discounted_transactions,
                      expected_purchases_fn, expected_spend, margin_ratio,
                      monthly_rate, predict)
from .stage import ClvResult, metrics_entry, parameter_table, run
from .validation import HoldoutResult, conditional_expectations, holdout, tracking

__all__ = ["bootstrap", "ConvergenceError", "bgnbd_ll", "gg_ll", "log_likelihood", "mbgnbd_ll",
           "paretonbd_ll", "MODEL_NAMES", "PARAM_NAMES", "BetaGeo", "GammaGamma",
           "ModifiedBetaGeo", "ParetoNBD", "fast_fit", "fit_gamma_gamma",
           "fit_gamma_gamma_lifetimes", "fit_purchase_model", "fit_weighted",
           "gamma_gamma_sample", "params_of", "unique_triples", "MONTH", "clv_tiers",
           "definition", "discounted_transactions", "expected_purchases_fn", "expected_spend",
           "historical_clv", "margin_ratio", "monthly_rate", "predict", "ClvResult",
           "metrics_entry", "parameter_table", "run", "HoldoutResult",
           "conditional_expectations", "holdout", "tracking"]
