"""Per-customer model benchmarks on synthetic customers drawn from a known BG/NBD process.

    python benchmarks/bench_models.py [--customers 1000000] [--seed 7]

Prints, for N customers: the BG/NBD + Gamma-Gamma fit with lifetimes on every customer
(unweighted) and on the unique (frequency, recency, T) triples with counts (weighted,
as the project does), their times, ratio and parameters; and the k-means clustering of
notebook 03 (MiniBatchKMeans, sampled silhouette, k = 2..8, ARI over 5 seeds).
Recency and T are whole days expressed in weeks, as in real data.
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd

TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}


def simulate(n: int, seed: int) -> pd.DataFrame:
    """BG/NBD purchases over T (whole days, 1..546) and Gamma-Gamma spend, vectorised."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)          # purchases per week
    drop = rng.beta(TRUE["a"], TRUE["b"], n)
    T_days = rng.integers(1, 547, n)
    T = T_days / 7
    t = np.zeros(n)
    x = np.zeros(n, dtype=np.int64)
    tx = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t[alive] += rng.exponential(1 / lam[alive])
        buys = alive & (t <= T)
        x[buys] += 1
        tx[buys] = np.floor(t[buys] * 7) / 7  # whole days
        alive = buys & (rng.random(n) > drop)
    nu = rng.gamma(TRUE["q"], 1 / TRUE["v"], n)
    spend = np.where(x > 0, rng.gamma(TRUE["p"] * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": T,
                         "monetary_value": np.round(spend, 2)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--skip-unweighted", action="store_true")
    args = ap.parse_args()
    from analysis import clv, segments

    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    t0 = time.perf_counter()
    data = simulate(args.customers, args.seed)
    print(f"simulated {len(data):,} customers in {time.perf_counter() - t0:.1f} s; "
          f"repeat buyers {(data['frequency'] > 0).mean():.1%}")
    u, _ = clv.unique_triples(data["frequency"], data["recency"], data["T"])
    print(f"unique (frequency, recency, T) triples: {len(u):,}")

    t0 = time.perf_counter()
    w = clv.fit_weighted("bgnbd", data["frequency"], data["recency"], data["T"])
    t_w = time.perf_counter() - t0
    gg = clv.gamma_gamma_sample(data["frequency"], data["monetary_value"])
    t0 = time.perf_counter()
    gw = clv.fit_gamma_gamma(gg["frequency"], gg["monetary_value"], gg["weight"])
    t_gw = time.perf_counter() - t0
    print(f"weighted   BG/NBD {t_w:7.1f} s  {dict(w.params_.round(4))}")
    print(f"weighted   Gamma-Gamma {t_gw:7.1f} s on {len(gg):,} pairs  {dict(gw.params_.round(3))}")
    print(f"true parameters: {TRUE}")
    if not args.skip_unweighted:
        t0 = time.perf_counter()
        p = clv.fit_purchase_model("bgnbd", data["frequency"], data["recency"], data["T"])
        t_p = time.perf_counter() - t0
        rep = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
        t0 = time.perf_counter()
        gp = clv.fit_gamma_gamma(rep["frequency"], rep["monetary_value"])
        t_gp = time.perf_counter() - t0
        print(f"unweighted BG/NBD {t_p:7.1f} s  {dict(p.params_.round(4))}")
        print(f"unweighted Gamma-Gamma {t_gp:7.1f} s  {dict(gp.params_.round(3))}")
        rel = float(np.max(np.abs(w.params_.to_numpy() / p.params_.to_numpy() - 1)))
        print(f"ratio BG/NBD unweighted/weighted: {t_p / t_w:.1f}x; "
              f"BG/NBD + GG: {(t_p + t_gp) / (t_w + t_gw):.1f}x; "
              f"max relative parameter difference {rel:.1e}")

    end = pd.Timestamp("1998-06-30")
    customers = pd.DataFrame({
        "n_orders": data["frequency"].astype(int) + 1,
        "revenue": data["monetary_value"] * data["frequency"] + 20,
        "last_purchase": end - pd.to_timedelta(np.round((data["T"] - data["recency"]) * 7),
                                               unit="D")})
    t0 = time.perf_counter()
    out = segments.cluster(customers, end, (2, 8), seed=args.seed)
    print(f"clustering {len(customers):,} customers (k 2..8, MiniBatchKMeans, silhouette on "
          f"5,000, ARI over 5 seeds): {time.perf_counter() - t0:.1f} s, k = {out['k']}, "
          f"silhouette {out['best_silhouette']:.3f}, ARI mean {out['ari']['mean']:.3f}")


if __name__ == "__main__":
    main()
