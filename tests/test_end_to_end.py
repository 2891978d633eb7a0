"""Everything that needs a full run, in one file so that each run happens once (pytest-xdist
keeps a file on one worker): the contract files, the stakeholder report, anonymisation,
the zh labels, the dictionary and determinism."""
import json
import re
import zipfile
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from analysis import config, narrative, playbook, report, runfolder, runner, schema
from analysis.stage1 import load
from analysis.runfolder import CUSTOMER_COLUMNS
from conftest import (CDNOW, RETAIL, RETAIL_PARAMS, RETAIL_RUN_ARGS, SALT,
                      assert_state_is_the_table, run_cli)

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
    assert set(customers["lifecycle_stage"]) <= {"new", "active", "dormant", "churned"}
    index = (out / "report" / "index.html").read_text()
    assert f"{metrics['customers']:,}" in index and "01_data_cleaning.html" in index
    return manifest, metrics, customers


def test_retail_fixture_end_to_end(retail_run, retail_data):
    out, proc = retail_run
    manifest, metrics, customers = check_run(out, retail_data[0])
    assert "Country" in customers.columns
    # the Country dimension adds two heatmaps to Lorenz, tier shares and migration
    assert count_figures(out / "notebooks" / "02_value_tiers.ipynb") == 5
    assert metrics["cleaning"]["dropped"]["cancellations"]["rows"] > 0
    assert "report:" in proc.stdout and "01_data_cleaning" in proc.stdout
    assert any("no cancellation mark (an order id matching '^C[0-9]')" in w
               for w in manifest["warnings"])


def test_cdnow_end_to_end(cdnow_run):
    out, _ = cdnow_run
    manifest, metrics, customers = check_run(out, CDNOW, expected_customers=23570)
    assert metrics["transactions"] == 69659
    assert count_figures(out / "notebooks" / "02_value_tiers.ipynb") == 3  # no dimensions
    assert metrics["period"] == {"start": "1997-01-01", "end": "1998-06-30", "days": 546,
                                 "time_unit": "week"}
    # issue 15: three models compared on the holdout, the one used named in metrics.json
    # and in notebook 04, its holdout error beside the CLV total on the page
    clv = metrics["clv"]
    assert [e["model"] for e in clv["comparison"]] == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    used = [e for e in clv["comparison"] if e["chosen"]]
    assert [e["model"] for e in used] == [clv["model"]] and clv["model_choice"] == "holdout"
    # issue 32: chosen on the backtests (mean squared error per customer in revenue)
    origins = clv["backtests"]["origins"]
    error = {e["model"]: np.mean([o["models"][e["model"]]["revenue_rmse"] for o in origins])
             for e in clv["comparison"] if e["fit_status"] == "sound"}
    assert used[0]["model"] == min(error, key=error.get)
    assert clv["status"] == "ok" and clv["sufficiency"] == []
    nb04 = (out / "notebooks" / "04_clv.ipynb").read_text()
    assert "holdout MAE per customer" in nb04 and f"{clv['model']} (used)" in nb04
    page = (out / "report" / "index.html").read_text()
    err = (clv["holdout"]["predicted"] - clv["holdout"]["actual"]) / clv["holdout"]["actual"]
    total = f"{clv['predicted_clv_total']:,.0f} USD"
    assert total in page and f"{err:+.0%}" in page
    at = page.index(total, page.index("What customers will be worth"))
    lo, hi = clv["backtests"]["range"]  # the range with the model's error follows the total
    assert at < page.index(f"{lo:,.0f} USD to {hi:,.0f} USD", at) < at + 400
    for months in (3, 6, 24):
        assert customers[f"predicted_clv_{months}m"].sum() == \
            pytest.approx(clv["horizon_totals"][str(months)])


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


def test_two_runs_give_identical_tables_and_metrics(tmp_path, retail_run, retail_data):
    """The second run with the clean transactions switched off: no step after the
    transaction stage reads them, so every notebook runs and every table is the same."""
    first = retail_run[0]
    proc = run_cli("run", str(retail_data[0]), "--params", str(RETAIL_PARAMS), "--out",
                   str(tmp_path / "b"), *RETAIL_RUN_ARGS, "-p", "clean_transactions=off")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (first / "transactions_clean.parquet").exists()
    assert not list((tmp_path / "b").rglob("transactions_clean*"))
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * 5
    for name in ("customers.csv", "customers.parquet", "metrics.json", "cleaning_ledger.csv"):
        assert (first / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.spark
def test_a_run_on_spark_gives_the_same_report(tmp_path, retail_run, retail_data):
    """``python -m analysis run DATA --params FILE -p engine=spark`` (Spark local[2]): the
    same bytes in the customer table, metrics and ledger as the pandas run."""
    proc = run_cli("run", str(retail_data[0]), "--params", str(RETAIL_PARAMS), "--out",
                   str(tmp_path / "spark"), *RETAIL_RUN_ARGS, "-p", "engine=spark",
                   "-p", "spark_master=local[2]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("customers.csv", "customers.parquet", "metrics.json", "cleaning_ledger.csv"):
        assert (retail_run[0] / name).read_bytes() == (tmp_path / "spark" / name).read_bytes(), \
            name
    manifest = json.loads((tmp_path / "spark" / "manifest.json").read_text())
    assert manifest["input"]["engine"] == "spark" and manifest["status"] == "ok"


@pytest.fixture(scope="session")
def anon_zh_run(retail_run, retail_data):
    return retail_run[0], retail_data[1]


def _strip_images(text: str) -> str:
    return re.sub(r"[A-Za-z0-9+/=]{200,}", "", text)


def _texts(run_dir):
    """Every file of the run as text: text files as is, XLSX members unzipped, Parquet as CSV."""
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            yield path, pd.read_parquet(path).to_csv()
        elif path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                yield path, "".join(z.read(n).decode("utf-8", "ignore") for n in z.namelist())
        else:
            yield path, path.read_text(encoding="utf-8", errors="ignore")


def test_anonymised_outputs_hold_no_raw_id_and_no_salt(anon_zh_run):
    out, ids = anon_zh_run
    checked = 0
    for path, text in _texts(out):
        text = _strip_images(text)
        found = [i for i in ids if i in text]
        assert not found, f"{path.name} contains raw ids such as {found[:3]}"
        assert SALT not in text, f"{path.name} contains the salt"
        checked += 1
    assert checked >= 15
    customers = pd.read_parquet(out / "customers.parquet")
    assert customers["customer_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert json.loads((out / "manifest.json").read_text())["parameters"]["anonymize_salt"] is None


def test_zh_report_has_no_untranslated_label(anon_zh_run):
    out, _ = anon_zh_run
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "<html lang='zh'>" in page
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", _strip_images(page), flags=re.S))
    english = [v["en"] for v in narrative.LABELS.values()] + \
        [v["en"] for v in narrative.NOTEBOOK_TITLES.values()] + \
        [v["en"] for v in narrative.ACTIONS.values()] + playbook.segment_names() + \
        [v["en"] for v in narrative.STAGE_LABELS.values() if len(v["en"]) > 3]
    leaks = [e for e in english if re.search(rf"(?<![A-Za-z]){re.escape(e)}(?![A-Za-z])", visible)]
    assert not leaks, leaks
    for key in ("concentration", "behaviour", "lifecycle", "actions"):
        assert narrative.LABELS[key]["zh"] in visible
    # the large-drop warning of the data-quality section reads in Chinese too
    assert "LARGE DROP" not in visible and "大幅删除" in visible
    customers = pd.read_csv(out / "customers.csv")
    assert set(customers["recommended_action"]) <= {v["zh"] for v in narrative.ACTIONS.values()}


class _PageText(HTMLParser):
    """The words a reader sees on a notebook page: not the code cells (hidden), styles,
    scripts or images, and not names set as code (`dimensions`)."""

    def __init__(self):
        super().__init__()
        self.hidden, self.words = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in ("br", "img", "meta", "link", "hr", "input"):
            self.hidden.append(tag in ("style", "script", "title", "code"))

    def handle_endtag(self, tag):
        if tag not in ("br", "img", "meta", "link", "hr", "input") and self.hidden:
            self.hidden.pop()

    def handle_data(self, data):
        if data.strip() and not any(self.hidden):
            self.words.append(data.strip())


#: English a zh page may show: model and method names, abbreviations, parameter symbols
_NAMES = {"BG/NBD", "MBG/NBD", "Pareto/NBD", "Gamma-Gamma", "CLV", "RFM", "R/F/M", "ABC",
          "A/B/C", "BTYD", "MAE", "ARI", "alpha", "beta", "r/alpha", "s/beta", "k-means",
          "bootstrap", "P(alive)", "pandas", "DuckDB", "Spark", "lifetimes", "Gini", "CRM",
          "CSV", "XLSX", "Excel", "Parquet", "CDNOW", "AUC", "NBD"}


def test_zh_notebook_pages_read_in_chinese(retail_run, retail_data):
    """Every line a reader sees on the pages of a zh run (the notebooks' and the index) is
    Chinese: the
    paragraphs, the lines between them, table headers and code values (segments, stages,
    ledger steps, CLV tiers, fit status). English is left only for codes (column codes,
    parameter names, file names), the data's own words, model names and symbols."""
    out = retail_run[0]
    customers = pd.read_csv(out / "customers.csv", dtype=str)
    word = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/()]*[A-Za-z0-9)]")
    # the data's own words (ids, countries, products) are shown as they are
    data = set(word.findall(retail_data[0].read_text(encoding="utf-8") + customers.to_csv()))
    allowed = _NAMES | data | set(customers.columns) | set(schema.FIELD_BY_NAME) | {
        out.name, json.loads((out / "metrics.json").read_text())["currency"],
        runfolder.AGGREGATES, runfolder.CAMPAIGNS}  # folders' names, as file names are
    allowed |= set(word.findall(json.loads((out / "manifest.json").read_text())
                                .get("dataset") or ""))
    leaks = []
    for page in sorted((out / "report").glob("*.html")):  # the notebooks' and the index
        text = page.read_text(encoding="utf-8")
        assert re.search(r"<html lang=.zh.>", text), page.name
        if page.stem != "index":
            title = re.search(r"<title>(.*?)</title>", text).group(1)
            assert title == narrative.NOTEBOOK_TITLES[page.stem]["zh"]
        parser = _PageText()
        parser.feed(text)
        for words in parser.words:
            shown = re.sub(r"\{[^{}]*\}", "", words)  # an example row, as the data has it
            english = [w for w in word.findall(shown)
                       if re.search("[A-Za-z]{3}", w) and "." not in w and "_" not in w
                       and w not in allowed]  # a/(a+b) is a formula, not a word
            if english:
                leaks.append(f"{page.name}: {english} in {words[:80]}")
    assert not leaks, "\n".join(leaks[:30])


def test_dictionary_covers_every_column(retail_run, cdnow_run):
    """Both runs' dictionaries cover every column; the retail run is in Chinese, so its
    sheets and their headers are too (the customers sheet keeps the column codes)."""
    for out, lang in ((retail_run[0], "zh"), (cdnow_run[0], "en")):
        name = {k: v[lang] for k, v in narrative.TEXT["sheet_names"].items()}
        head = {k: (v if lang == "zh" else k)
                for k, v in narrative.TEXT["column_labels"]["zh"].items()}
        csv_cols = list(pd.read_csv(out / "customers.csv", nrows=1).columns)
        dic = pd.read_excel(out / "customers.xlsx", sheet_name=name["dictionary"],
                            engine="calamine")
        assert list(dic[head["column"]]) == csv_cols
        assert dic[head["description"]].str.len().gt(1).all() and dic[head["unit"]].notna().all()
        md = (out / "data_dictionary.md").read_text(encoding="utf-8")
        for col in csv_cols:
            assert f"`{col}`" in md
        sheets = pd.ExcelFile(out / "customers.xlsx", engine="calamine").sheet_names
        assert {name[k] for k in ("customers", "abc_tiers", "rfm_segments", "lifecycle",
                                  "actions", "dictionary")} <= set(sheets)
        xl = pd.read_excel(out / "customers.xlsx", sheet_name=name["customers"],
                           dtype={"customer_id": str}, engine="calamine")
        assert len(xl) == len(pd.read_csv(out / "customers.csv"))
    for col in narrative.COLUMN_DOCS:
        assert narrative.COLUMN_DOCS[col]["zh"][0] and narrative.COLUMN_DOCS[col]["en"][0]


def _sentences(run_dir):
    """The report's sentences for a run's numbers, in English."""
    customers = pd.read_parquet(run_dir / "customers.parquet")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # the run's parameters (the salt is never written; the sentences do not depend on it)
    params = config.typed({**config.read_yaml(run_dir / "params.yaml"), "language": "en",
                           "anonymize_salt": "not-written-out"})
    sections = report.build(customers, metrics, runfolder.read_tables(run_dir), params.report,
                            report.at_risk_list(customers, metrics))
    return {s.key: s.text + " ".join(s.items or []) for s in sections}, metrics


def test_sentences_follow_the_data(retail_run, cdnow_run):
    retail, rm = _sentences(retail_run[0])
    cdnow, cm = _sentences(cdnow_run[0])
    assert set(cdnow) == {"summary", "actions", "at_risk", "concentration", "behaviour", "lifecycle",
                          "migration", "clv", "data_quality", "glossary", "trend",
                          "cohorts", "campaigns"}
    # the retail fixture carries a Country dimension: a section of its own
    assert set(retail) == set(cdnow) | {"dimension:Country"}
    # its rows without a customer id carry -11.9 % of the net revenue (returns by guests):
    # more than drop_warning_share, so the first finding says to check the data, and the
    # data-quality section says which rule
    assert retail["summary"].startswith("First check the data: 1 cleaning rule")
    assert "rule missing_customer_id removed 61 of 4,536 rows" in retail["data_quality"]
    assert "LARGE DROP" not in cdnow["data_quality"]
    for key in set(retail) - {"glossary", "dimension:Country"}:
        assert retail[key] != cdnow[key], key
    assert f"all {cm['customers']:,} customers" in cdnow["actions"]
    assert f"all {rm['customers']:,} customers" in retail["actions"]
    assert f"{cm['pareto']['top_20pct_revenue_share']:.0%} of revenue" in cdnow["concentration"]
    assert f"{cm['lifecycle']['churned']:,} have churned" in cdnow["lifecycle"]
    assert "GBP" in retail["actions"] and "USD" in cdnow["actions"]
    # CDNOW's data quality: 80 rows of $0.00, 68 customers without revenue, nobody new
    assert "80 kept rows have an amount of 0" in cdnow["data_quality"]
    assert "68 customers have no revenue" in cdnow["data_quality"]
    assert "No customer is new" in cdnow["data_quality"]
    assert "20% were still tier A" in cdnow["migration"]


def test_index_is_self_contained_and_small(cdnow_run):
    page = (cdnow_run[0] / "report" / "index.html").read_text(encoding="utf-8")
    assert (cdnow_run[0] / "report" / "index.html").stat().st_size < 5 * 1024 * 1024
    assert "<script" not in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert page.count("data:image/png;base64,") >= 4
    assert "<meta name='viewport'" in page
    for nb in ("01_data_cleaning", "02_value_tiers", "03_segments", "04_clv", "05_report"):
        assert f"href='{nb}.html'" in page and (cdnow_run[0] / "report" / f"{nb}.html").exists()


def test_no_churned_customer_is_named_or_treated_as_active(cdnow_run):
    """Issue 15: on CDNOW two thirds of the base has churned; a churned customer is Lost
    (never a Champion), gets a win-back (key customers) or low-cost action, and the
    customers said to be slipping away have not churned yet."""
    c = pd.read_csv(cdnow_run[0] / "customers.csv")
    churned = c["lifecycle_stage"] == "churned"
    assert churned.mean() > 0.5
    assert (c.loc[churned, "rfm_segment"] == "Lost").all()
    assert (c.loc[~churned, "rfm_segment"] != "Lost").all()
    action = c["recommended_action"].map({v["en"]: k for k, v in narrative.ACTIONS.items()})
    assert set(action[churned & (c["abc_tier"] == "A")]) == {"win_back"}
    assert set(action[churned & (c["abc_tier"] != "A")]) == {"low_cost"}
    slipping = c["rfm_segment"].isin(playbook.SLIPPING)
    assert slipping.any() and (c.loc[slipping, "lifecycle_stage"] == "dormant").all()
    active_names = {"Champions", "Loyal", "Potential Loyalist", "New Customers", "Promising"}
    named_active = c["rfm_segment"].isin(active_names)
    assert c.loc[named_active, "lifecycle_stage"].isin(["new", "active"]).all()


def test_metrics_hold_only_documented_keys_and_the_report_reads_through_them(retail_run,
                                                                              cdnow_run):
    """Every key the stages write to metrics.json is in its schema (``metrics_schema``);
    the report reads the file through the schema, so reading a key no stage writes fails
    (the pages of both runs were built that way)."""
    from analysis import metrics_schema
    for out in (retail_run[0], cdnow_run[0]):
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics_schema.undocumented(metrics) == []
        view = metrics_schema.checked(metrics)
        assert view["clv"]["holdout"]["status"] == metrics["clv"]["holdout"]["status"]
        with pytest.raises(metrics_schema.SchemaError, match="'stauts' in clv"):
            view["clv"].get("stauts")
        # statuses and sentences travel by key: the record renders to the English kept
        from analysis.messages import Status, from_record
        assert Status.from_record(metrics["clv"]["status_record"]) == metrics["clv"]["status"]
        assert [from_record(w) for w in metrics["cleaning"]["warning_records"]] == \
            metrics["cleaning"]["warnings"]


def test_cdnow_page_is_filters_of_the_customer_table(cdnow_run):
    """Issue 30: every finding and the at-risk section is a named filter of customers.csv,
    with its count, money and the actions of its rows; equal histories share every label;
    one-time buyers all have F = 1."""
    out = cdnow_run[0]
    c = assert_state_is_the_table(out)
    assert (c.loc[c["n_orders"] == 1, "f_score"] == 1).all()
    assert c.groupby("n_orders")["f_score"].nunique().max() == 1
    metrics = json.loads((out / "metrics.json").read_text())
    filters = metrics["state"]["filters"]
    assert metrics["rfm"]["scores_given"]["f_score"] == [1, 3, 4, 5]
    sections, _ = _sentences(out)
    for name in ("key_lapsing", "key_active", "slipping", "churned", "future"):
        f = filters[name]
        assert f"{f['customers']:,}" in sections["summary"], name
        for action, n in f["actions"].items():  # the finding names its rows' actions
            assert action in sections["summary"] and (len(f["actions"]) == 1
                                                      or f"{action} for {n:,}" in sections["summary"])
    group = filters["at_risk"]
    assert f"{group['customers']:,} customers who brought {group['revenue']:,.0f} USD" \
        in sections["at_risk"]
    assert f"{group['value_at_risk']:,.0f} USD of it is at risk" in sections["at_risk"]
    # where the lifecycle and P(alive) disagree, the page says how many
    n = filters["churned_but_alive"]["customers"] + filters["active_but_fading"]["customers"]
    if n:
        assert f"disagree for {n:,} customers" in sections["lifecycle"]
    else:  # under MBG/NBD on CDNOW they agree: no sentence claims otherwise
        assert "disagree for" not in sections["lifecycle"]
    assert "the rest is listed by reason" not in sections["data_quality"]
    assert "no rule removed anything" in sections["data_quality"]
    # issue 31: notebook 04 teaches what it assumes, with the data's own numbers
    nb04 = (out / "notebooks" / "04_clv.ipynb").read_text()
    corr = metrics["clv"]["frequency_monetary_corr"]
    assert f"mean spend of the repeat buyers: {corr:.2f}" in nb04
    one_time = int((c["frequency"] == 0).sum())
    assert f"{one_time:,} customers ({one_time / len(c):.0%}) bought on one day only" in nb04
    assert "non-contractual" in nb04
