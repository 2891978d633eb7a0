"""The CLI end to end on both datasets: every contract file, the ledger, the manifest."""
import json

import pandas as pd
import pytest

from analysis import load, runner
from analysis.pipeline import CUSTOMER_COLUMNS
from conftest import CDNOW, RETAIL, RETAIL_PARAMS

pytestmark = pytest.mark.slow

CONTRACT = ["manifest.json", "cleaning_ledger.csv", "transactions_clean.parquet",
            "customers.parquet", "customers.csv", "customers.xlsx", "data_dictionary.md",
            "metrics.json", "report/index.html"]


def count_figures(path):
    nb = json.loads(path.read_text())
    return sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


def check_run(out, data_path, expected_customers=None):
    for name in CONTRACT:
        assert (out / name).is_file(), name
    for nb in runner.notebook_paths():
        assert (out / "notebooks" / nb.name).is_file()
        assert (out / "report" / (nb.stem + ".html")).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["error"] is None
    assert manifest["input"]["sha256"] == load.sha256(data_path)
    assert all(n["status"] == "ok" and n["seconds"] > 0 for n in manifest["notebooks"])
    assert manifest["packages"]["pandas"] and manifest["parameters"]["seed"] == 42

    ledger = pd.read_csv(out / "cleaning_ledger.csv")
    assert list(ledger.columns) == ["step", "rows", "revenue"]
    steps = ledger.set_index("step")
    dropped = steps.drop(index=["input", "kept"])
    assert steps.at["input", "rows"] == steps.at["kept", "rows"] + dropped["rows"].sum()
    assert round(steps.at["input", "revenue"] * 100) == \
        round(steps.at["kept", "revenue"] * 100) + round((dropped["revenue"] * 100).sum())
    assert steps.at["input", "rows"] == manifest["input"]["rows"]

    customers = pd.read_parquet(out / "customers.parquet")
    contract_cols = [c for c in CUSTOMER_COLUMNS if c in customers]
    assert list(customers.columns[:len(contract_cols)]) == contract_cols
    assert customers["customer_id"].is_unique
    csv = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    assert len(csv) == len(customers)
    assert csv["customer_id"].tolist() == customers["customer_id"].tolist()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["customers"] == len(customers)
    assert metrics["transactions"] == steps.at["kept", "rows"]
    assert metrics["revenue"] == pytest.approx(steps.at["kept", "revenue"])
    assert metrics["revenue"] == pytest.approx(customers["revenue"].sum())
    if expected_customers:
        assert len(customers) == expected_customers
    # value tiers (notebook 02)
    n = len(customers)
    tier_counts = customers["abc_tier"].value_counts()
    assert tier_counts.sum() == n and set(tier_counts.index) <= {"A", "B", "C"}
    assert {t: v["customers"] for t, v in metrics["abc"]["tiers"].items()} == \
        {t: int(tier_counts.get(t, 0)) for t in "ABC"}
    assert 0 <= metrics["pareto"]["gini"] <= 1
    assert sum(sum(r.values()) for r in metrics["migration"]["counts"].values()) == n
    # segments (notebook 03): one segment, one stage and one action per customer
    for col in ("r_score", "f_score", "m_score", "rfm_segment", "cluster", "lifecycle_stage",
                "recommended_action"):
        assert customers[col].notna().all(), col
    assert sum(metrics["rfm"]["segments"].values()) == n
    assert sum(metrics["lifecycle"][s] for s in ("new", "active", "dormant", "churned")) == n
    assert customers["cluster"].nunique() == metrics["clusters"]["k"]
    # CLV (notebook 04)
    assert customers["historical_clv"].notna().all()
    c = metrics["clv"]
    assert {"status", "model", "params", "log_likelihood", "gamma_gamma", "intervals",
            "holdout"} <= set(c)
    assert {"calibration_end", "params", "gamma_gamma", "actual", "predicted", "mae",
            "naive_mae"} <= set(c["holdout"])
    if c["status"] == "ok":
        assert customers["p_alive"].between(0, 1).all()
        assert c["predicted_clv_total"] == pytest.approx(customers["predicted_clv"].sum())
        assert set(customers["clv_tier"]) == {"top", "middle", "bottom"}
    assert list(customers.columns[:len(CUSTOMER_COLUMNS)]) == CUSTOMER_COLUMNS
    index = (out / "report" / "index.html").read_text()
    assert f"{metrics['customers']:,}" in index and "01_data_cleaning.html" in index
    return manifest, metrics, customers


def test_retail_fixture_end_to_end(retail_run):
    out, proc = retail_run
    manifest, metrics, customers = check_run(out, RETAIL)
    assert "Country" in customers.columns
    # the Country dimension adds two heatmaps to Lorenz, tier shares and migration
    assert count_figures(out / "notebooks" / "02_value_tiers.ipynb") == 5
    assert metrics["cleaning"]["dropped"]["cancellations"]["rows"] > 0
    assert "report:" in proc.stdout and "01_data_cleaning" in proc.stdout


def test_cdnow_end_to_end(cdnow_run):
    out, _ = cdnow_run
    manifest, metrics, customers = check_run(out, CDNOW, expected_customers=23570)
    assert metrics["transactions"] == 69659
    assert count_figures(out / "notebooks" / "02_value_tiers.ipynb") == 3  # no dimensions
    assert metrics["period"] == {"start": "1997-01-01", "end": "1998-06-30", "days": 546,
                                 "time_unit": "week"}


def _notebook(path, *sources):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell(src) for src in sources])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_notebooks_share_no_variables(tmp_path):
    """The run reuses one kernel; a notebook must not see another's variables."""
    first = _notebook(tmp_path / "01_a.ipynb", "run_dir = ''", "secret = 42")
    second = _notebook(tmp_path / "02_b.ipynb", "run_dir = ''", "print(secret)")
    outputs = tmp_path / "outputs"
    result = runner.run(RETAIL, RETAIL_PARAMS, outputs_root=outputs, notebooks=[first, second],
                        echo=lambda s: None)
    assert result.status == "failed" and "NameError" in result.error and "secret" in result.error


def test_failed_notebook_keeps_folder_marked_failed_and_latest_untouched(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    good = tmp_path / "01_ok.ipynb"
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, good)
    bad = tmp_path / "02_boom.ipynb"
    nb.cells.append(new_code_cell("raise RuntimeError('the model exploded')"))
    nbformat.write(nb, bad)

    outputs = tmp_path / "outputs"
    outputs.mkdir()
    earlier = outputs / "earlier-run"
    earlier.mkdir()
    (outputs / "latest").symlink_to("earlier-run")
    before = load.sha256(RETAIL)
    result = runner.run(RETAIL, RETAIL_PARAMS, outputs_root=outputs, notebooks=[good, bad],
                        echo=lambda s: None)
    assert result.status == "failed" and result.exit_code == 1
    assert "RuntimeError: the model exploded" in result.error
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_notebook"] == "02_boom.ipynb"
    assert [n["status"] for n in manifest["notebooks"]] == ["ok", "failed"]
    assert (outputs / "latest").resolve() == earlier.resolve()
    assert load.sha256(RETAIL) == before
    assert not any(p.name.endswith(".partial") for p in outputs.iterdir())
