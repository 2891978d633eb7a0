"""Stage 4: customer lifetime value (historical and predicted), laid out as lifetimes and
pymc-marketing lay out theirs:

* ``models``: the purchase and spend models, one file each, behind a registry
  (``models.PURCHASE``, ``models.SPEND``), and how they are fitted;
* ``likelihood``: the maximisation behind the fits;
* ``predict``: P(alive), expected purchases, predicted and historical CLV, CLV tiers;
* ``compare``: the models side by side, and the choice among them;
* ``validation``: the holdout check;
* ``bootstrap``: intervals of the estimates and of the total;
* ``backtest``: the models scored at several calibration ends, and the range with their
  error; ``spend``: Gamma-Gamma or its fallback; ``timing``: purchase chances, churn
  risk, the next order, one customer's story;
* ``stage``: :func:`run`, which does all of it for a run's customers.
"""
from .bootstrap import bootstrap
from .likelihood import ConvergenceError
from .models import (PURCHASE, SPEND, BetaGeo, GammaGamma, ModifiedBetaGeo, NBD, ParetoNBD,
                     fit_gamma_gamma, fit_weighted, gamma_gamma_sample, get, params_of,
                     unique_triples)
from .predict import (MONTH, clv_tiers, definition, discounted_transactions,
                      expected_purchases_fn, expected_spend, margin_ratio,
                      monthly_rate, one_time_buyers, predict)
from .stage import ClvResult, metrics_entry, run
from .timing import alive_history, period_counts, story_customer
from .validation import HoldoutResult, conditional_expectations, holdout, tracking

__all__ = ["bootstrap", "ConvergenceError", "PURCHASE", "SPEND", "BetaGeo", "GammaGamma",
           "ModifiedBetaGeo", "NBD", "ParetoNBD", "fit_gamma_gamma", "fit_weighted",
           "gamma_gamma_sample", "get", "params_of", "unique_triples", "MONTH", "clv_tiers",
           "definition", "discounted_transactions", "expected_purchases_fn", "expected_spend",
           "margin_ratio", "monthly_rate", "predict", "one_time_buyers", "ClvResult",
           "metrics_entry", "run", "HoldoutResult",
           "conditional_expectations", "holdout", "tracking", "alive_history", "period_counts",
           "story_customer"]
