"""Transaction logs drawn from a buy-till-you-die model with known parameters.

The tests use them to check that a fit recovers what generated the data, and that a fit on
data the model cannot describe (no drop-out at all, a → 0) is flagged rather than reported.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bgnbd_log"]


def bgnbd_log(customers: int, r: float, alpha: float, a: float, b: float, days: int,
              seed: int, start: str = "2020-01-01", spend: tuple[float, float, float] =
              (6.0, 4.0, 15.0)) -> pd.DataFrame:
    """A transaction log (customer_id, date, amount) drawn from BG/NBD (Fader, Hardie & Lee
    2005) in days: each customer's first purchase falls uniformly in the first half of the
    window; while alive they buy at rate λ ~ Gamma(r, 1/alpha) per day, and after each
    repeat purchase drop out with probability p ~ Beta(a, b) (BG/NBD's customers cannot
    drop out before their first repeat purchase). Amounts are gamma-distributed around
    ``spend``. ``a`` may be tiny (almost no drop-out)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, customers)
    nu = rng.gamma(spend[1], 1.0 / spend[2], customers)
    p = rng.beta(a, b, customers)
    first = rng.integers(0, days // 2, customers).astype("float64")
    ids, times = [np.arange(customers)], [first]
    t, alive = first.copy(), np.ones(customers, dtype=bool)
    while alive.any():
        if len(ids) > 1:  # drop out after the last repeat purchase
            alive &= rng.random(customers) >= p
        t = t + rng.exponential(1.0, customers) / np.maximum(lam, 1e-12)
        alive &= t < days
        ids.append(np.flatnonzero(alive))
        times.append(t[alive])
    cid = np.concatenate(ids)
    day = np.floor(np.concatenate(times)).astype("int64")
    amount = np.round(rng.gamma(spend[0], 1.0 / nu[cid]), 2) + 0.01
    frame = pd.DataFrame({"customer_id": [f"C{i:06d}" for i in cid],
                          "date": pd.Timestamp(start) + pd.to_timedelta(day, unit="D"),
                          "amount": amount})
    return frame.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)
