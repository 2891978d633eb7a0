"""Scale benchmarks: the transaction stage, the models and the whole run, with figures.

    python benchmarks/run.py --quick     # about 2 minutes: small sizes, prints the figures
    python benchmarks/run.py --full      # about 15 minutes: 1M / 3M / 5M / 10M rows,
                                         # writes benchmarks/RESULTS.md

What it measures (every comparison asserts that both sides give the same answer):

1. scaling: load, clean and summarise at each size, in a fresh process per size,
   with the time and the peak memory (RSS) of each stage;
2. summary: ours against lifetimes' ``summary_data_from_transaction_data`` on the
   same clean transactions (frequency, recency, T, monetary value equal to 1e-9);
3. models: our BG/NBD + Gamma-Gamma fit against lifetimes' plain fits on the same
   synthetic customers (parameters equal to 4 significant digits);
4. the full run (every notebook + HTML) on the largest log: wall time and the peak RSS
   of the whole process tree, per-notebook seconds, and the BG/NBD estimates against
   the parameters the log was drawn from;
5. engines: the transaction stage on the largest log with ``engine`` pandas, duckdb and
   spark (local[2]), each in a fresh process (the JVM included in its memory), with the
   ledgers and customer tables asserted identical, beside the **limit**: one DuckDB query
   on the same file in a fresh process (``limit.py``), and each stage's ratio to it;
6. huge (``--full --huge``): the transaction stage on DuckDB at 30 and 100 million rows
   (Parquet logs) and the whole run at 100 million, DuckDB held to a memory limit.

Logs are generated once by ``benchmarks/generate.py`` into ``benchmarks/data/`` (not
committed). Wall-clock figures depend on the machine; RESULTS.md records which.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from generate import TRUE, generate  # noqa: E402
from limit import limit_probe  # noqa: E402

PARAMS = ROOT / "params" / "synthetic.yaml"
DATA = HERE / "data"
ROWS_PER_CUSTOMER = 10

QUICK = {"scaling": [100_000, 300_000], "summary": [300_000], "fit_customers": 100_000,
         "run": 300_000, "engines": 300_000}
FULL = {"scaling": [1_000_000, 3_000_000, 10_000_000], "summary": [1_000_000, 5_000_000],
        "fit_customers": 1_000_000, "run": 10_000_000, "engines": 10_000_000}
ENGINES = ("pandas", "duckdb", "spark")
#: Spark local mode on two cores (the driver is the executor too)
SPARK = {"spark_master": "local[2]", "spark_config": {"spark.driver.memory": "6g"}}


# -- memory -------------------------------------------------------------------------------

def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (bytes)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo += children.get(p, [])
    return total


class PeakMemory:
    """Polls the RSS of this process (or a process tree) on a thread; ``peak`` in bytes."""

    def __init__(self, pid: int | None = None, tree: bool = False, every: float = 0.05):
        self.pid, self.tree, self.every = pid or os.getpid(), tree, every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid) if self.tree else _rss(self.pid))
            self._stop.wait(self.every)

    def __enter__(self):
        self.peak = _rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


# -- data ---------------------------------------------------------------------------------

def log_file(rows: int) -> Path:
    path = DATA / f"tx_{rows}.csv"
    if not path.exists():
        generate(path, rows, max(rows // ROWS_PER_CUSTOMER, 1), seed=7,
                 echo=lambda m: print("  " + m))
    return path


def _cfg():
    from analysis import config
    return config.typed(config.resolve(PARAMS, {}))


# -- 1. scaling (one fresh process per size) --------------------------------------------------

def stage_probe(path: str) -> dict:
    """Load, clean and summarise ``path``; time and peak RSS of each stage (in this process)."""
    from analysis.stage1 import clean, load, summary
    cfg = _cfg()
    out: dict = {"rows": None}
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        tx = load.load_transactions(path, cfg.read, [])
        out["load"] = {"seconds": time.perf_counter() - t0, "peak": mem.peak}
    out["rows"] = len(tx)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        clean_tx, _ = clean.clean_transactions(tx, cfg.clean)
        del tx
        out["clean"] = {"seconds": time.perf_counter() - t0, "peak": mem.peak}
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        customers = summary.customer_summary(clean_tx, cfg.summary)
        out["summary"] = {"seconds": time.perf_counter() - t0, "peak": mem.peak}
    out["customers"] = len(customers)
    return out


def scaling(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        path = log_file(n)
        res = subprocess.run([sys.executable, __file__, "--stage-probe", str(path)],
                             capture_output=True, text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        r["total"] = sum(r[s]["seconds"] for s in ("load", "clean", "summary"))
        r["peak"] = max(r[s]["peak"] for s in ("load", "clean", "summary"))
        rows.append(r)
        print(f"  {n:>12,} rows  {r['customers']:>9,} customers  " + "  ".join(
            f"{s} {r[s]['seconds']:6.1f} s / {gib(r[s]['peak'])}" for s in
            ("load", "clean", "summary")) + f"  total {r['total']:6.1f} s")
    return rows


# -- 2. summary against lifetimes ---------------------------------------------------------

def summary_vs_lifetimes(rows: int) -> dict:
    from lifetimes.utils import summary_data_from_transaction_data

    from analysis.stage1 import clean, load, summary
    cfg = _cfg()
    tx, _ = clean.clean_transactions(load.load_transactions(log_file(rows), cfg.read, []),
                                     cfg.clean)
    end = cfg.summary.window(tx).end
    t0 = time.perf_counter()
    full = summary.customer_summary(tx, cfg.summary, end)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = summary.customer_summary(tx, cfg.summary, end, btyd_only=True)
    t_ours = time.perf_counter() - t0
    purchases = tx.loc[~tx["is_return"], ["customer_id", "date", "amount"]]
    t0 = time.perf_counter()
    ref = summary_data_from_transaction_data(purchases, "customer_id", "date", "amount",
                                             observation_period_end=end, freq="D",
                                             freq_multiplier=7)
    t_ref = time.perf_counter() - t0
    ours = ours.set_index("customer_id")
    ref = ref.loc[ours.index]
    assert len(ref) == len(ours)
    full = full.set_index("customer_id")
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-9, atol=1e-9, err_msg=col)
        np.testing.assert_array_equal(full[col], ours[col], err_msg=col)
    out = {"rows": rows, "customers": len(ours), "ours": t_ours, "lifetimes": t_ref,
           "ratio": t_ref / t_ours, "ours_full": t_full, "ratio_full": t_ref / t_full}
    print(f"  {rows:>12,} rows: same columns as lifetimes {t_ours:6.2f} s, lifetimes "
          f"{t_ref:6.2f} s, {out['ratio']:.1f}x; full customer summary (also orders, revenue, "
          f"country) {t_full:6.2f} s, {out['ratio_full']:.1f}x; {len(ours):,} customers, "
          f"identical")
    return out


# -- 3. models against lifetimes ----------------------------------------------------------

def simulate(n: int, seed: int) -> pd.DataFrame:
    """BG/NBD purchases over T (whole days, 1..546, in weeks) and Gamma-Gamma spend."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(TRUE["r"], 1 / TRUE["alpha"], n)
    drop = rng.beta(TRUE["a"], TRUE["b"], n)
    T = rng.integers(1, 547, n) / 7
    t, x, tx = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t[alive] += rng.exponential(1 / lam[alive])
        buys = alive & (t <= T)
        x[buys] += 1
        tx[buys] = np.floor(t[buys] * 7) / 7
        alive = buys & (rng.random(n) > drop)
    nu = rng.gamma(TRUE["q"], 1 / TRUE["v"], n)
    xs = np.maximum(x, 1)
    spend = np.where(x > 0, rng.gamma(TRUE["p"] * xs, 1 / (nu * xs)), 0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": tx, "T": T,
                         "monetary_value": np.round(spend, 2)})


def models_vs_lifetimes(n: int) -> dict:
    from analysis import clv
    data = simulate(n, 7)
    f, r, T = data["frequency"], data["recency"], data["T"]
    t0 = time.perf_counter()
    u, _ = clv.unique_triples(f, r, T)
    ours = clv.fit_weighted("bgnbd", f, r, T, triples=u)
    gg = clv.gamma_gamma_sample(f, data["monetary_value"])
    ours_gg = clv.fit_gamma_gamma(gg["frequency"], gg["monetary_value"], gg["weight"])
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = clv.BetaGeo.lifetimes_fit(f, r, T)
    rep = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    ref_gg = clv.GammaGamma.lifetimes_fit(rep["frequency"], rep["monetary_value"])
    t_ref = time.perf_counter() - t0
    a = np.r_[ours.params_.to_numpy(), ours_gg.params_.to_numpy()]
    b = np.r_[ref.params_.to_numpy(), ref_gg.params_.to_numpy()]
    rel = float(np.max(np.abs(a / b - 1)))
    assert rel < 5e-5, f"parameters differ by {rel:.1e}"
    names = ["r", "alpha", "a", "b", "p", "q", "v"]
    out = {"customers": n, "unique_triples": len(u), "ours": t_ours, "lifetimes": t_ref,
           "ratio": t_ref / t_ours, "max_rel_diff": rel,
           "ours_params": dict(zip(names, a.round(6).tolist())),
           "lifetimes_params": dict(zip(names, b.round(6).tolist()))}
    print(f"  {n:,} customers ({len(u):,} unique triples): ours {t_ours:.1f} s, lifetimes "
          f"{t_ref:.1f} s, {out['ratio']:.1f}x; max relative parameter difference {rel:.1e}")
    return out


# -- 4. the full run ----------------------------------------------------------------------

def full_run(rows: int, path: Path | None = None, overrides: tuple[str, ...] = ()) -> dict:
    """``python -m analysis run`` on the log of ``rows`` rows (``path``; default: the CSV
    ``log_file`` writes) with ``-p`` ``overrides``, timed and its process tree's memory
    polled."""
    path = path or log_file(rows)
    out_dir = Path(tempfile.mkdtemp(prefix="bench-run-", dir=DATA)) / "run"
    cmd = [sys.executable, "-m", "analysis", "run", str(path), "--params", str(PARAMS),
           "--out", str(out_dir), *[x for o in overrides for x in ("-p", o)]]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    with PeakMemory(proc.pid, tree=True, every=0.25) as mem:
        log, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the run failed:\n{log}")
    manifest = json.loads((out_dir / "manifest.json").read_text())
    metrics = json.loads((out_dir / "metrics.json").read_text())
    html = sum(p.stat().st_size for p in (out_dir / "report").glob("*.html"))
    res = {"rows": rows, "customers": metrics["customers"], "wall": wall, "peak": mem.peak,
           "stage1": manifest["timings"].get("transaction_stage_seconds"),
           "notebooks": {n["name"]: n["seconds"] for n in manifest["notebooks"]},
           "render": manifest["timings"].get("render_seconds"),
           "report_bytes": html, "gamma_gamma": metrics["clv"]["gamma_gamma"],
           # the log is drawn from BG/NBD: its fit (whichever model the run chose) is the
           # parameter-recovery check
           "params": next(e["params"] for e in metrics["clv"]["comparison"]
                          if e["model"] == "BG/NBD"),
           "model": metrics["clv"]["model"], "model_choice": metrics["clv"]["model_choice"],
           "fit_sample": metrics["clv"].get("fit_sample"),
           "intervals": (metrics["clv"].get("intervals") or {}).get("method"),
           "command": " ".join(cmd[2:]).replace(str(out_dir), "<run folder>")
           .replace(str(ROOT) + "/", "")}
    shutil.rmtree(out_dir.parent, ignore_errors=True)
    print(f"  {rows:,} rows / {res['customers']:,} customers: {wall:.0f} s wall, peak "
          f"{gib(mem.peak)} for the process tree; report pages {html / 1e6:.1f} MB")
    print("  " + ", ".join(f"{k} {v:.0f} s" for k, v in res["notebooks"].items()))
    print("  BG/NBD " + ", ".join(f"{k} {v:.3f} (true {TRUE[k]})"
                                  for k, v in res["params"].items()))
    print(f"  model used {res['model']} ({res['model_choice']}); intervals: {res['intervals']}")
    return res


# -- 5. engines ------------------------------------------------------------------------------

def engine_probe(path: str, engine: str, out: str) -> dict:
    """The transaction stage on ``engine`` in this process, the clean rows written by the
    engine as Parquet; writes ledger and customers to ``out`` so that the parent can compare
    the engines."""
    from analysis import config, pipeline
    extra = SPARK if engine == "spark" else dict([config.parse_override(HUGE_DUCKDB)]) \
        if engine == "duckdb" and path.endswith(".parquet") else {}
    from analysis import progress
    cfg = config.typed(config.resolve(PARAMS, {"engine": engine, **extra}))
    t0 = time.perf_counter()
    with progress.recording() as steps:
        ledger, customers, agg = pipeline.transaction_stage(path, cfg, [],
                                                           Path(out) / "clean.parquet")
    seconds = time.perf_counter() - t0
    ledger.to_csv(Path(out) / "ledger.csv", index=False)
    customers.to_parquet(Path(out) / "customers.parquet", index=False)
    return {"seconds": seconds, "rows": int(ledger.set_index("step").at["input", "rows"]),
            "clean_rows": agg.transactions, "customers": len(customers), "steps": steps}


def _limit(path: Path) -> dict:
    """The one-query lower bound (``limit.py``) in a fresh process, best of two."""
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, __file__, "--limit-probe", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the limit query failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    print(f"  limit   one DuckDB query: {best['customers']:,} customers in "
          f"{best['seconds']:.2f} s (best of 2)")
    return best


def engines(rows: int, which: tuple[str, ...] = ENGINES) -> dict:
    path = log_file(rows)
    limit = _limit(path)
    work = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    out = []
    for engine in which:
        folder = work / engine
        folder.mkdir()
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--engine-probe", str(path), engine,
                                 str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        with PeakMemory(proc.pid, tree=True, every=0.1) as mem:
            log, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"engine {engine} failed:\n{err[-3000:]}")
        r = {"engine": engine, **json.loads(log.strip().splitlines()[-1]),
             "wall": time.perf_counter() - t0, "peak": mem.peak}
        out.append(r)
        print(f"  {engine:<7} {r['rows']:,} rows -> {r['customers']:,} customers: stage "
              f"{r['seconds']:.1f} s ({r['seconds'] / limit['seconds']:.1f}x the limit), "
              f"process {r['wall']:.1f} s, peak {gib(r['peak'])} (process tree)")
    base = which[0]
    for engine in which[1:]:  # the same answer, to the row, the cent and the day
        pd.testing.assert_frame_equal(pd.read_csv(work / base / "ledger.csv"),
                                      pd.read_csv(work / engine / "ledger.csv"), check_exact=True)
        pd.testing.assert_frame_equal(pd.read_parquet(work / base / "customers.parquet"),
                                      pd.read_parquet(work / engine / "customers.parquet"),
                                      check_exact=True)
    print(f"  ledgers and customer tables identical across {', '.join(which)}")
    shutil.rmtree(work, ignore_errors=True)
    return {"limit": limit, "stages": out}


# -- 6. huge: past one machine's memory, through DuckDB ---------------------------------------

#: the huge logs: rows -> customers (10 rows per customer), as Parquet
HUGE = {30_000_000: 3_000_000, 100_000_000: 10_000_000}
#: DuckDB bounded by the run: the memory limit the benchmark gives it (the run's default is
#: a quarter of the machine's memory) and the spill folder the run makes
HUGE_DUCKDB = "duckdb_config={memory_limit: 4GB}"


def huge_file(rows: int) -> Path:
    path = DATA / f"tx_{rows}.parquet"
    if not path.exists():
        generate(path, rows, HUGE[rows], seed=7, echo=lambda m: print("  " + m))
    return path


def huge() -> dict:
    """The transaction stage on DuckDB at each huge size (fresh process, as section 5), then
    the whole run on the largest: every notebook and the report, DuckDB held to its memory
    limit and spilling to disk."""
    stages = []
    for rows in HUGE:
        path = huge_file(rows)
        folder = Path(tempfile.mkdtemp(prefix="bench-huge-", dir=DATA))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--engine-probe", str(path),
                                 "duckdb", str(folder)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        with PeakMemory(proc.pid, tree=True, every=0.25) as mem:
            log, err = proc.communicate()
        shutil.rmtree(folder, ignore_errors=True)
        if proc.returncode != 0:
            raise SystemExit(f"duckdb at {rows:,} rows failed:\n{err[-3000:]}")
        r = {**json.loads(log.strip().splitlines()[-1]), "wall": time.perf_counter() - t0,
             "peak": mem.peak}
        stages.append(r)
        print(f"  duckdb {r['rows']:,} rows -> {r['customers']:,} customers: stage "
              f"{r['seconds']:.0f} s, peak {gib(r['peak'])} (process tree)")
    rows = max(HUGE)
    run = full_run(rows, huge_file(rows), ("engine=duckdb", HUGE_DUCKDB))
    return {"stages": stages, "run": run, "memory_limit": HUGE_DUCKDB}


# -- report -------------------------------------------------------------------------------

def versions() -> str:
    from importlib.metadata import version
    return ", ".join(f"{p} {version(p)}" for p in
                     ("pandas", "pyarrow", "numpy", "scipy", "scikit-learn", "lifetimes",
                      "duckdb", "ibis-framework", "pyspark"))


def run_markdown(run: dict) -> list[str]:
    """A whole run's lines in RESULTS.md: command, wall time, peak, seconds per step, the
    BG/NBD estimates against the truth and the model the run used."""
    lines = [f"`python -m {run['command']}`", "",
             "| rows | customers | wall time | peak RSS (process tree) | report pages |",
             "|---:|---:|---:|---:|---:|",
             f"| {run['rows']:,} | {run['customers']:,} | {run['wall']:.0f} s | "
             f"{gib(run['peak'])} | {run['report_bytes'] / 1e6:.1f} MB |", "",
             "Seconds per step: load + clean + summarise (once, before the notebooks) "
             f"{run['stage1']:.0f}; " + "; ".join(
                 f"{k.removesuffix('.ipynb')} {v:.0f}" for k, v in run["notebooks"].items())
             + f"; HTML {run['render']:.0f}.", "",
             "BG/NBD estimated by the run against the parameters the log was drawn "
             "from: " + ", ".join(f"{k} {v:.3f} (true {TRUE[k]})"
                                  for k, v in run["params"].items()) + ".", ""]
    if run.get("model"):
        lines += [f"Model the run used: {run['model']} (chosen by {run['model_choice']}); "
                  f"90 % intervals by the {run['intervals']} method (above 200,000 "
                  "customers: draws of the estimates' normal approximation, not refits).", ""]
    sample = run.get("fit_sample")
    if sample:
        lines += [f"The models were fitted on a seeded random sample of "
                  f"{sample['customers']:,} of the {sample['of']:,} customers (seed "
                  f"{sample['seed']}); every customer was scored.", ""]
    return lines


def results_markdown(res: dict, command: str, seconds: float) -> str:
    lines = ["# Benchmark results", "",
             f"Written by `{command}` on {dt.date.today().isoformat()} in {seconds / 60:.0f} "
             f"minutes. Machine: {platform.platform()}, {os.cpu_count()} cores, "
             f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB; "
             f"Python {platform.python_version()}; {versions()}.", "",
             "Logs: `benchmarks/generate.py`, seed 7, 10 rows per customer (BG/NBD "
             "purchases, Gamma-Gamma spend, 2 % cancellations, 3 % rows without a "
             "customer id, a country column), read as CSV with `params/synthetic.yaml`.", ""]
    run = res.get("run")
    if run:
        lines += ["## The full run", ""] + run_markdown(run)
    big = res.get("huge")
    if big:
        lines += ["## Past the driver: 30 and 100 million rows through DuckDB", "",
                  "The transaction stage on DuckDB (`engine=duckdb`, "
                  f"`{big['memory_limit']}`; the run gives DuckDB a spill folder of its own "
                  "and keeps no insertion order), each size in a fresh process, the clean "
                  "rows written by DuckDB as Parquet; logs as Parquet, 10 rows per customer. "
                  "Peak RSS is that of the process tree: DuckDB runs inside it.", "",
                  "| rows | customers | load + clean + summarise + aggregates | peak RSS |",
                  "|---:|---:|---:|---:|"]
        for r in big["stages"]:
            lines.append(f"| {r['rows']:,} | {r['customers']:,} | {r['seconds']:.0f} s | "
                         f"{gib(r['peak'])} |")
        peak = big["run"]["peak"]
        lines += ["", "### The whole run at 100 million rows", ""] + run_markdown(big["run"]) + [
            f"The goal for this run, a driver under 8 GiB, is "
            f"{'met' if peak < 8 * 2**30 else 'not met'}: the process tree peaked at "
            f"{gib(peak)}.", ""]
    if res.get("scaling"):
        lines += ["## Scaling of the transaction stage", "",
                  "One fresh process per size; peak RSS of that process during the stage.", "",
                  "| rows | customers | load | clean | summarise | total | peak RSS | "
                  "seconds per million rows |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["scaling"]:
            lines.append(
                f"| {r['rows']:,} | {r['customers']:,} | {r['load']['seconds']:.1f} s | "
                f"{r['clean']['seconds']:.1f} s | {r['summary']['seconds']:.1f} s | "
                f"{r['total']:.1f} s | {gib(r['peak'])} | {r['total'] / r['rows'] * 1e6:.1f} |")
        lines.append("")
    if res.get("summary"):
        lines += ["## Summary: ours against lifetimes", "",
                  "Same clean transactions; `summary_data_from_transaction_data(..., freq='D', "
                  "freq_multiplier=7)`; frequency, recency, T and monetary value asserted "
                  "equal (1e-9). *Ours, same columns*: `customer_summary(..., btyd_only=True)`; "
                  "*ours, full*: the summary the run uses, which also counts orders, revenue "
                  "and each customer's country.", "",
                  "| rows | customers | lifetimes | ours, same columns | ratio | ours, full "
                  "| ratio |", "|---:|---:|---:|---:|---:|---:|---:|"]
        for r in res["summary"]:
            lines.append(f"| {r['rows']:,} | {r['customers']:,} | {r['lifetimes']:.2f} s | "
                         f"{r['ours']:.2f} s | {r['ratio']:.1f}x | {r['ours_full']:.2f} s | "
                         f"{r['ratio_full']:.1f}x |")
        lines.append("")
    if res.get("engines"):
        e, limit = res["engines"], None
        if isinstance(e, dict):  # with the one-query limit beside the stages
            e, limit = e["stages"], e["limit"]
        lines += ["## The transaction stage on each engine", "",
                  "Load, clean and summarise with `-p engine=...`, each in a fresh process; "
                  "peak RSS of the process tree (for Spark, the JVM included). Spark runs in "
                  f"local mode, `{SPARK['spark_master']}`, with "
                  + ", ".join(f"`{k}={v}`" for k, v in SPARK["spark_config"].items())
                  + ". The ledgers and customer tables were asserted identical (exact "
                  "equality).", "",
                  "| engine | rows | customers | stage | process (with start-up) | peak RSS "
                  "| time, pandas = 1 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in e:
            lines.append(f"| {r['engine']} | {r['rows']:,} | {r['customers']:,} | "
                         f"{r['seconds']:.1f} s | {r['wall']:.1f} s | {gib(r['peak'])} | "
                         f"{r['seconds'] / e[0]['seconds']:.1f}x |")
        lines.append("")
        if limit:
            lines += ["### Against the limit: one query", "",
                      "`benchmarks/limit.py`: one DuckDB query on the same CSV in a fresh "
                      "process (best of two) that reads it, drops rows without a customer "
                      "id, cancellations, returns and non-positive prices, merges purchases "
                      "by day and gives one row per customer (first and last day, repeat "
                      "days, revenue) as Arrow. The stage does more (a ledger per rule, "
                      "typing checks, duplicates, the notebooks' aggregates); the goals are "
                      "3x on DuckDB and 4x on pandas.", "",
                      "| | seconds | customers | ratio to the limit |", "|---|---:|---:|---:|",
                      f"| one query | {limit['seconds']:.2f} s | {limit['customers']:,} | "
                      "1.0x |"]
            lines += [f"| {r['engine']} stage | {r['seconds']:.1f} s | {r['customers']:,} | "
                      f"{r['seconds'] / limit['seconds']:.1f}x |" for r in e]
            lines.append("")
        timed = [r for r in e if r.get("steps")]
        if timed:
            lines += ["### Where the time goes", "",
                      "Seconds in each step of the stage, as the engine marks them "
                      "(`analysis.progress`; the steps the command line reports):", ""]
            lines += [f"- **{r['engine']}**: " + " · ".join(f"{name} {sec:.1f} s"
                                                            for name, sec in r["steps"])
                      for r in timed]
            lines.append("")
    m = res.get("models")
    if m:
        lines += ["## BG/NBD + Gamma-Gamma fit: ours against lifetimes", "",
                  f"{m['customers']:,} synthetic customers ({m['unique_triples']:,} unique "
                  "(x, tₓ, T)). Ours: unique triples with counts, analytic gradients on "
                  "lifetimes' objective. lifetimes: `BetaGeoFitter().fit` and "
                  "`GammaGammaFitter().fit` on every customer.", "",
                  "| ours | lifetimes | ratio | max relative parameter difference |",
                  "|---:|---:|---:|---:|",
                  f"| {m['ours']:.1f} s | {m['lifetimes']:.1f} s | {m['ratio']:.1f}x | "
                  f"{m['max_rel_diff']:.1e} |", "",
                  "Estimates (ours): " + ", ".join(f"{k} {v:.4f}" for k, v in
                                                  m["ours_params"].items()) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    mode.add_argument("--stage-probe", metavar="FILE", help=argparse.SUPPRESS)
    mode.add_argument("--engine-probe", nargs=3, metavar=("FILE", "ENGINE", "OUT"),
                      help=argparse.SUPPRESS)
    mode.add_argument("--limit-probe", metavar="FILE", help=argparse.SUPPRESS)
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["scaling", "summary", "models", "run", "engines"])
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES,
                    help="the engines of section 5 (default all; the first is the base)")
    ap.add_argument("--huge", action="store_true",
                    help="with --full: also 30M and 100M rows through DuckDB (section 6; "
                         "generates about 2 GB of Parquet logs once)")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    a = ap.parse_args(argv)
    if a.stage_probe:
        print(json.dumps(stage_probe(a.stage_probe)))
        return 0
    if a.engine_probe:
        print(json.dumps(engine_probe(*a.engine_probe)))
        return 0
    if a.limit_probe:
        print(json.dumps(limit_probe(a.limit_probe)))
        return 0
    plan = FULL if a.full else QUICK
    t0 = time.perf_counter()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores; {versions()}")
    res: dict = {}
    if "scaling" not in a.skip:
        print("1. load / clean / summarise, one process per size")
        res["scaling"] = scaling(plan["scaling"])
    if "summary" not in a.skip:
        print("2. summary: ours vs lifetimes' summary_data_from_transaction_data")
        res["summary"] = [summary_vs_lifetimes(n) for n in plan["summary"]]
    if "models" not in a.skip:
        print("3. BG/NBD + Gamma-Gamma: ours vs lifetimes' plain fits")
        res["models"] = models_vs_lifetimes(plan["fit_customers"])
    if "run" not in a.skip:
        print("4. the full run (every notebook + HTML)")
        res["run"] = full_run(plan["run"])
    if "engines" not in a.skip:
        print("5. the transaction stage on each engine")
        res["engines"] = engines(plan["engines"], tuple(a.engines))
    if a.full and a.huge:
        print("6. huge: 30M and 100M rows through DuckDB, and the whole run at 100M")
        res["huge"] = huge()
    seconds = time.perf_counter() - t0
    print(f"done in {seconds:.0f} s")
    if a.full:  # sections skipped this time keep their figures from the last full run
        raw = a.results.with_suffix(".json")
        previous = json.loads(raw.read_text()) if raw.exists() else {}
        res = {**previous, **res}
        raw.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
        command = "python benchmarks/run.py --full" + (
            " --skip " + " ".join(a.skip) if a.skip else "") + (" --huge" if a.huge else "") + (
            " --engines " + " ".join(a.engines) if tuple(a.engines) != ENGINES else "")
        text = results_markdown(res, command, seconds)
        older = list(a.skip) + (["huge"] if "huge" in res and not a.huge else [])
        if older:  # say which figures are older than this run
            text = text.replace("\n\nLogs:", f"\n\nSections {', '.join(older)} were not rerun: "
                                "their figures are those of the last run that measured "
                                "them.\n\nLogs:", 1)
        a.results.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {a.results} and {raw.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
