"""What the intervals cost where every dropout model is degenerate (issue 32).

    python benchmarks/intervals.py            # about 3 minutes

An ERP-like log of 17,000 B2B customers who order steadily and never leave (drawn from
BG/NBD with a -> 0, seeded): BG/NBD, MBG/NBD and Pareto/NBD all run to a boundary, the run
uses the NBD limit. The whole run (``python -m analysis run``) twice, in fresh processes,
side by side: with the default bootstrap (``clv_bootstrap`` 100) and without
(``clv_bootstrap=0``); printed: wall time, notebook 04's seconds, their ratio, the model
used and the predicted total with its range. Figures depend on the machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
from analysis.clv.simulate import bgnbd_log  # noqa: E402

CUSTOMERS = 17_000
PARAMS = """dataset: erp-like
columns: {customer_id: customer_id, date: date, amount: amount}
date_format: "%Y-%m-%d"
currency: EUR
time_unit: week
"""


def run(data: Path, params: Path, out: Path, *overrides: str) -> dict:
    cmd = [sys.executable, "-m", "analysis", "run", str(data), "--params", str(params),
           "--out", str(out), *[x for o in overrides for x in ("-p", o)]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    manifest = json.loads((out / "manifest.json").read_text())
    clv = json.loads((out / "metrics.json").read_text())["clv"]
    nb04 = next(n["seconds"] for n in manifest["notebooks"] if n["name"] == "04_clv.ipynb")
    return {"wall": wall, "nb04": nb04, "model": clv["model"], "choice": clv["model_choice"],
            "total": clv["predicted_clv_total"],
            "range": (clv.get("backtests") or {}).get("range"),
            "interval": (clv.get("intervals") or {}).get("total_predicted_clv"),
            "fits": {e["model"]: e["fit_status"] for e in clv["comparison"]}}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-intervals-") as tmp:
        tmp = Path(tmp)
        log = bgnbd_log(CUSTOMERS, 1.5, 60.0, 1e-4, 2.4, 730, seed=32, start="2022-01-01")
        data = tmp / "erp_like.csv"
        log.assign(date=log["date"].dt.strftime("%Y-%m-%d")).to_csv(data, index=False)
        params = tmp / "erp_like.yaml"
        params.write_text(PARAMS)
        print(f"{CUSTOMERS:,} customers, {len(log):,} rows (ERP-like, nobody leaves)")
        with_ci = run(data, params, tmp / "with")
        without = run(data, params, tmp / "without", "clv_bootstrap=0")
    for name, r in (("clv_bootstrap 100", with_ci), ("clv_bootstrap 0", without)):
        print(f"  {name:18} wall {r['wall']:6.1f} s   notebook 04 {r['nb04']:6.1f} s   "
              f"model {r['model']} ({r['choice']})   total {r['total']:,.0f}   "
              f"interval {r['interval']}   range {r['range']}")
    print(f"  ratio with/without: wall {with_ci['wall'] / without['wall']:.2f}, "
          f"notebook 04 {with_ci['nb04'] / without['nb04']:.2f}")
    print("  fits: " + ", ".join(f"{k}: {v.split(':')[0]}" for k, v in with_ci["fits"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
