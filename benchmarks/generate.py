"""Write a synthetic transaction log drawn from a known BTYD process (CSV or Parquet).

    python benchmarks/generate.py --transactions 10000000 --customers 1000000 \
        --seed 7 --out data/synthetic/tx_10m.parquet

The process, so that every result can be checked against the truth (``TRUE``):

* each customer's first purchase falls uniformly in the first ``--cohort-weeks`` of the
  window; purchase times then follow BG/NBD (Fader, Hardie & Lee 2005): a Poisson rate
  λ ~ Gamma(r, α) per week, and after each repeat purchase the customer drops out for
  good with probability p ~ Beta(a, b);
* a purchase day's value follows Gamma-Gamma: ν ~ Gamma(q, γ) per customer and the
  value ~ Gamma(p, ν); it is split over the day's basket lines with lognormal weights;
* basket lines: every purchase has one line and the remaining purchase lines are
  spread uniformly over purchases, so the file has exactly ``--transactions`` rows;
* noise that cleaning must remove: ``--cancel-share`` of rows are cancellations
  (order id ``C…``, negative quantity, copies of earlier lines) and ``--missing-share``
  are purchases with no customer id; each customer has a country.

Columns: InvoiceNo, StockCode, InvoiceDate, Quantity, UnitPrice, CustomerID, Country
(``params/synthetic.yaml`` maps them; recency and T are measured in weeks there).

It streams: customers are simulated and written in blocks of ``--block`` customers, so
memory stays near one block's rows whatever the file size. The same seed gives the
same file, byte for byte.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: the true parameters; purchase rates are per week
TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "v": 15.0}
START = np.datetime64("2023-01-01")
COUNTRIES = np.array(["United Kingdom", "Germany", "France", "Spain", "Netherlands",
                      "Belgium", "Switzerland", "Portugal", "Australia", "Norway"])
COUNTRY_WEIGHTS = np.array([0.70, 0.08, 0.07, 0.03, 0.03, 0.025, 0.02, 0.015, 0.015, 0.015])
PRODUCTS = 4000
COLUMNS = ["InvoiceNo", "StockCode", "InvoiceDate", "Quantity", "UnitPrice", "CustomerID",
           "Country"]


def purchase_days(rng: np.random.Generator, n: int, weeks: float, cohort_weeks: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD purchases of ``n`` customers: (customer index, day number, ν) per purchase,
    with purchases falling on the same calendar day merged (as the summary merges them)."""
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    drop = rng.beta(TRUE["a"], TRUE["b"], n)
    nu = rng.gamma(TRUE["q"], 1 / TRUE["v"], n)
    birth = rng.uniform(0, cohort_weeks, n)
    who, when = [np.arange(n)], [birth]
    t = birth.copy()
    alive = np.arange(n)
    while len(alive):
        t[alive] += rng.exponential(1 / lam[alive])
        inside = alive[t[alive] < weeks]
        who.append(inside)
        when.append(t[inside])
        alive = inside[rng.random(len(inside)) >= drop[inside]]
    cust = np.concatenate(who)
    day = np.floor(np.concatenate(when) * 7).astype(np.int64)
    keys = np.unique(cust * 100_000 + day)  # one purchase per customer-day, sorted
    cust, day = keys // 100_000, keys % 100_000
    return cust, day, nu


def block_frame(rng: np.random.Generator, first_id: int, n_customers: int, n_rows: int,
                first_order: int, weeks: float, cohort_weeks: float,
                cancel_share: float, missing_share: float) -> tuple[pd.DataFrame, int]:
    """One block of customers as transaction rows; returns (rows, orders used)."""
    cust, day, nu = purchase_days(rng, n_customers, weeks, cohort_weeks)
    n_purchases = len(cust)
    n_cancel = int(round(n_rows * cancel_share))
    n_missing = int(round(n_rows * missing_share))
    n_lines = n_rows - n_cancel - n_missing
    if n_lines < n_purchases:
        raise SystemExit(f"--transactions is too small: this block needs at least "
                         f"{n_purchases:,} purchase lines for {n_customers:,} customers; "
                         f"raise --transactions or lower --customers")
    extra = rng.multinomial(n_lines - n_purchases, np.full(n_purchases, 1 / n_purchases))
    lines = 1 + extra
    value = rng.gamma(TRUE["p"], 1 / nu[cust])  # Gamma-Gamma spend of each purchase day
    line_purchase = np.repeat(np.arange(n_purchases), lines)
    w = rng.lognormal(0.0, 0.8, n_lines)
    w /= np.bincount(line_purchase, weights=w, minlength=n_purchases)[line_purchase]
    line_value = value[line_purchase] * w
    qty = 1 + rng.poisson(2.0, n_lines)
    price = np.maximum(np.round(line_value / qty, 2), 0.01)
    order = first_order + line_purchase
    seconds = rng.integers(8 * 3600, 20 * 3600, n_purchases)[line_purchase]
    country = rng.choice(len(COUNTRIES), n_customers, p=COUNTRY_WEIGHTS)

    cid = (first_id + cust[line_purchase]).astype(str)
    frame = pd.DataFrame({
        "InvoiceNo": order.astype(str),
        "StockCode": rng.integers(10000, 10000 + PRODUCTS, n_lines).astype(str),
        "InvoiceDate": START + day[line_purchase].astype("timedelta64[D]")
        + seconds.astype("timedelta64[s]"),
        "Quantity": qty,
        "UnitPrice": price,
        "CustomerID": cid,
        "Country": COUNTRIES[country[cust[line_purchase]]],
    })
    parts = [frame]
    if n_cancel:  # copies of purchase lines, cancelled up to a week later
        src = frame.iloc[rng.integers(0, n_lines, n_cancel)].reset_index(drop=True)
        src["InvoiceNo"] = "C" + src["InvoiceNo"]
        src["Quantity"] = -src["Quantity"]
        src["InvoiceDate"] = src["InvoiceDate"] + rng.integers(0, 8, n_cancel).astype(
            "timedelta64[D]")
        src["InvoiceDate"] = src["InvoiceDate"].clip(upper=pd.Timestamp(
            START + np.timedelta64(int(weeks * 7) - 1, "D")))
        parts.append(src)
    if n_missing:  # walk-in purchases with no customer id
        src = frame.iloc[rng.integers(0, n_lines, n_missing)].reset_index(drop=True)
        src["CustomerID"] = None
        src["InvoiceNo"] = (first_order + n_purchases + np.arange(n_missing)).astype(str)
        parts.append(src)
    out = pd.concat(parts, ignore_index=True)
    out = out.iloc[np.argsort(out["InvoiceDate"].to_numpy(), kind="stable")]
    return out.reset_index(drop=True), n_purchases + n_missing


def _schema():
    import pyarrow as pa
    return pa.schema([("InvoiceNo", pa.string()), ("StockCode", pa.string()),
                      ("InvoiceDate", pa.timestamp("s")), ("Quantity", pa.int64()),
                      ("UnitPrice", pa.float64()), ("CustomerID", pa.string()),
                      ("Country", pa.string())])


def _writer(fmt: str, path: Path, schema):
    """pyarrow's streaming writers: CSV (ISO timestamps, text quoted) or Parquet (zstd)."""
    if fmt == "csv":
        import pyarrow.csv as pcsv
        return pcsv.CSVWriter(path, schema)
    import pyarrow.parquet as pq
    return pq.ParquetWriter(path, schema, compression="zstd")


def generate(out: Path, transactions: int, customers: int, seed: int = 7,
             weeks: float = 156.0, cohort_weeks: float = 52.0, block: int = 100_000,
             cancel_share: float = 0.02, missing_share: float = 0.03,
             echo=print) -> dict:
    """Write the log to ``out`` (``.csv`` or ``.parquet``); return what was written."""
    if customers <= 0 or transactions <= 0:
        raise SystemExit("--transactions and --customers must be positive")
    fmt = "parquet" if out.suffix.lower() in (".parquet", ".pq") else "csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    seeds = np.random.SeedSequence(seed).spawn((customers + block - 1) // block)
    writer, SCHEMA = None, _schema()
    rows_done, orders, t0 = 0, 1_000_000, time.perf_counter()
    try:
        for i, ss in enumerate(seeds):
            lo = i * block
            n_c = min(block, customers - lo)
            hi_rows = round(transactions * (lo + n_c) / customers)
            n_r = hi_rows - rows_done
            frame, used = block_frame(np.random.default_rng(ss), 100_000 + lo, n_c, n_r,
                                      orders, weeks, cohort_weeks, cancel_share,
                                      missing_share)
            orders += used
            import pyarrow as pa
            table = pa.Table.from_pandas(frame, preserve_index=False).cast(SCHEMA)
            if writer is None:
                writer = _writer(fmt, tmp, table.schema)
            writer.write_table(table)
            rows_done = hi_rows
        if writer is not None:
            writer.close()
        tmp.replace(out)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    info = {"path": str(out), "rows": rows_done, "customers": customers, "seed": seed,
            "seconds": round(time.perf_counter() - t0, 1), "bytes": out.stat().st_size}
    echo(f"wrote {rows_done:,} rows for {customers:,} customers to {out} "
         f"({info['bytes'] / 1e6:,.0f} MB) in {info['seconds']} s")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transactions", type=int, required=True)
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True, help="*.csv or *.parquet")
    ap.add_argument("--weeks", type=float, default=156.0, help="length of the log")
    ap.add_argument("--cohort-weeks", type=float, default=52.0,
                    help="first purchases fall in this many first weeks")
    ap.add_argument("--cancel-share", type=float, default=0.02)
    ap.add_argument("--missing-share", type=float, default=0.03)
    ap.add_argument("--block", type=int, default=100_000, help="customers per block")
    a = ap.parse_args(argv)
    generate(a.out, a.transactions, a.customers, a.seed, a.weeks, a.cohort_weeks, a.block,
             a.cancel_share, a.missing_share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
