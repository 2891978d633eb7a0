"""The stakeholder report and the customer tables."""
import json
import re
import shutil
import subprocess
import zipfile

import pandas as pd
import pytest

from analysis import report, segments
from conftest import RETAIL, RETAIL_PARAMS, run_cli

pytestmark = pytest.mark.slow
SALT = "pepper-7f3a9c"


@pytest.fixture(scope="session")
def anon_zh_run(tmp_path_factory):
    """The retail fixture with unmistakable ids, anonymised, in Chinese."""
    tmp = tmp_path_factory.mktemp("anon")
    raw = pd.read_csv(RETAIL, dtype=str, keep_default_na=False)
    raw["CustomerID"] = raw["CustomerID"].map(lambda v: f"CUST{v}X" if v else "")
    data = tmp / "retail_ids.csv"
    raw.to_csv(data, index=False)
    out = tmp / "run"
    proc = run_cli("run", str(data), "--params", str(RETAIL_PARAMS), "--out", str(out),
                   "-p", "language=zh", "-p", "anonymize=true", "-p", f"anonymize_salt={SALT}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = set(raw.loc[raw["CustomerID"] != "", "CustomerID"])
    return out, ids


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
    english = [v["en"] for v in report.LABELS.values()] + \
        [v["en"] for v in report.NOTEBOOK_TITLES.values()] + \
        [v["en"] for v in segments.ACTIONS.values()] + segments.segment_names() + \
        [v["en"] for v in segments.STAGE_LABELS.values() if len(v["en"]) > 3]
    leaks = [e for e in english if re.search(rf"(?<![A-Za-z]){re.escape(e)}(?![A-Za-z])", visible)]
    assert not leaks, leaks
    for key in ("concentration", "behaviour", "lifecycle", "actions"):
        assert report.LABELS[key]["zh"] in visible
    customers = pd.read_csv(out / "customers.csv")
    assert set(customers["recommended_action"]) <= {v["zh"] for v in segments.ACTIONS.values()}


def test_dictionary_covers_every_column(retail_run, anon_zh_run):
    for out in (retail_run[0], anon_zh_run[0]):
        csv_cols = list(pd.read_csv(out / "customers.csv", nrows=1).columns)
        dic = pd.read_excel(out / "customers.xlsx", sheet_name="dictionary", engine="calamine")
        assert list(dic["column"]) == csv_cols
        assert dic["description"].str.len().gt(1).all() and dic["unit"].notna().all()
        md = (out / "data_dictionary.md").read_text(encoding="utf-8")
        for col in csv_cols:
            assert f"`{col}`" in md
        sheets = pd.ExcelFile(out / "customers.xlsx", engine="calamine").sheet_names
        assert {"customers", "abc_tiers", "rfm_segments", "lifecycle", "actions",
                "dictionary"} <= set(sheets)
        xl = pd.read_excel(out / "customers.xlsx", sheet_name="customers", dtype={"customer_id": str}, engine="calamine")
        assert len(xl) == len(pd.read_csv(out / "customers.csv"))
    for col in report.COLUMN_DOCS:
        assert report.COLUMN_DOCS[col]["zh"][0] and report.COLUMN_DOCS[col]["en"][0]


def _sentences(run_dir):
    customers = pd.read_parquet(run_dir / "customers.parquet")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    import yaml
    cfg = yaml.safe_load((run_dir / "params.yaml").read_text())
    return {s.key: s.text for s in report.build(customers, metrics, cfg)}, metrics


def test_sentences_follow_the_data(retail_run, cdnow_run):
    retail, rm = _sentences(retail_run[0])
    cdnow, cm = _sentences(cdnow_run[0])
    assert set(retail) == set(cdnow) == {"headline", "concentration", "behaviour", "lifecycle",
                                         "clv", "actions"}
    for key in retail:
        assert retail[key] != cdnow[key], key
    assert f"{cm['customers']:,} customers" in cdnow["headline"]
    assert f"{rm['customers']:,} customers" in retail["headline"]
    assert f"{cm['pareto']['top_20pct_revenue_share']:.0%} of revenue" in cdnow["concentration"]
    assert f"{cm['lifecycle']['churned']:,} have churned" in cdnow["lifecycle"]
    assert "GBP" in retail["headline"] and "USD" in cdnow["headline"]


def test_index_is_self_contained_and_small(cdnow_run):
    page = (cdnow_run[0] / "report" / "index.html").read_text(encoding="utf-8")
    assert (cdnow_run[0] / "report" / "index.html").stat().st_size < 5 * 1024 * 1024
    assert "<script" not in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    assert page.count("data:image/png;base64,") >= 4
    assert "<meta name='viewport'" in page
    for nb in ("01_data_cleaning", "02_value_tiers", "03_segments", "04_clv", "05_report"):
        assert f"href='{nb}.html'" in page and (cdnow_run[0] / "report" / f"{nb}.html").exists()


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on this machine")
def test_report_renders_in_a_browser_without_console_errors(cdnow_run, tmp_path):
    index = cdnow_run[0] / "report" / "index.html"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
           "--v=0", "--virtual-time-budget=3000", "--window-size=414,2000", "--dump-dom",
           index.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Customer analytics report" in proc.stdout and "<img" in proc.stdout
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
