"""Report pieces that need no run: the XLSX writer, the dictionary, the label tables, and
the sections built from stage results."""
import re
import warnings

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis import config, narrative, report, segments, tiers
from analysis.stage1 import aggregates, summary
from analysis.units import TimeUnit, Window, money


@pytest.fixture(autouse=True)
def _close_figures():
    """The sections hold matplotlib figures; a page would close them as it embeds them."""
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def test_xlsx_round_trip_with_openpyxl_and_calamine(tmp_path):
    df = pd.DataFrame({
        "customer_id": ["007", "A&B <c>", None],
        "day": pd.to_datetime(["1997-01-01", "2020-02-29", None]),
        "n": [1, 2, 3],
        "x": [0.1, np.nan, -1e-7],
        "label": ["汉字", "ctrl\x01char", "plain"],
    })
    path = tmp_path / "t.xlsx"
    report.write_xlsx(path, {"data": df, "empty": df.iloc[:0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # openpyxl must not complain about the file
        wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["data", "empty"]
    rows = list(wb["data"].values)
    assert rows[0] == tuple(df.columns)
    assert rows[1][0] == "007" and rows[2][0] == "A&B <c>" and rows[3][0] is None
    assert rows[1][1].date().isoformat() == "1997-01-01" and rows[3][1] is None
    assert rows[2][2] == 2 and rows[2][3] is None and rows[3][3] == pytest.approx(-1e-7)
    assert rows[1][4] == "汉字" and rows[2][4] == "ctrlchar"
    back = pd.read_excel(path, sheet_name="data", engine="calamine", dtype={"customer_id": str})
    assert back["n"].tolist() == [1, 2, 3]
    assert back["day"].iloc[1] == pd.Timestamp("2020-02-29")


def test_dictionary_units_follow_the_run():
    d = narrative.dictionary(["customer_id", "revenue", "T", "Country"], "en", "GBP", "week")
    assert d.set_index("column").loc["revenue", "unit"] == "GBP"
    assert d.set_index("column").loc["T", "unit"] == "weeks"
    assert "most frequent" in d.set_index("column").loc["Country", "description"]
    zh = narrative.dictionary(["T"], "zh", "GBP", "day")
    assert zh["unit"].iloc[0] == "天"


def test_every_label_and_sentence_exists_in_both_languages():
    for table in (narrative.LABELS, narrative.SENTENCES, narrative.NOTEBOOK_TITLES):
        for key, entry in table.items():
            assert set(entry) == {"en", "zh"}, key
            assert entry["zh"] != entry["en"] or key in ("clv_ci",), key
    for key, entry in narrative.SENTENCES.items():
        fields = lambda text: sorted(re.findall(r"\{(\w+)", text))
        assert fields(entry["en"]) == fields(entry["zh"]), key


def test_every_paragraph_template_says_the_same_in_both_languages():
    """text.<language>.yaml: every leaf is text (YAML reads a bare off or no as a boolean);
    every language's file has English's keys (and the tables that translate from English),
    and every template the same placeholders: adding a language is adding a file."""
    def leaves(node, path=()):
        if isinstance(node, dict):
            for key, value in node.items():
                assert isinstance(key, str), path
                yield from leaves(value, path + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from leaves(value, path + (i,))
        else:
            yield path, node
    for path, value in leaves(narrative.labels.TEXT):
        assert isinstance(value, str) and value, path
    fields = lambda text: sorted(re.findall(r"\{(\w+)", text))
    by_language = narrative.labels.BY_LANGUAGE
    assert set(by_language) == set(narrative.LANGUAGES) >= {"en", "zh"}
    english = dict(leaves({k: v for k, v in by_language["en"].items()}))
    for lang, tree in by_language.items():
        shown = dict(leaves({k: v for k, v in tree.items()
                             if k not in narrative.labels.TRANSLATIONS}))
        assert set(shown) == set(english), (lang, set(shown) ^ set(english))
        for path, text in english.items():
            assert fields(shown[path]) == fields(text), (lang, path)
        if lang != "en":
            assert set(narrative.labels.TRANSLATIONS) <= set(tree), lang


def _stages(language="en"):
    """Stages 2 and 3 on a small made-up log, as the notebooks run them."""
    rng = np.random.default_rng(4)
    rows = [(f"c{i:03d}", pd.Timestamp("2020-01-01") + pd.Timedelta(days=int(d)),
             float(rng.integers(5, 200))) for i in range(120)
            for d in rng.choice(365, size=1 + rng.integers(0, 5), replace=False)]
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).assign(is_return=False)
    params = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                           "language": language, "k_range": [2, 3]})
    customers = summary.customer_summary(tx, params.summary)
    window = Window.of(tx, None, TimeUnit("day"))
    agg = aggregates.compute(tx, customers, params)
    tier = tiers.run(customers, agg.halves, agg.split, window, params.tiers)
    customers = customers.join(tier.columns())
    seg = segments.run(customers, window, params.segments)
    customers = customers.drop(columns="abc_tier").join(tier.columns()).join(seg.columns())
    metrics = {"customers": len(customers), "transactions": len(tx),
               "revenue": float(tx["amount"].sum()), "currency": "EUR",
               "period": {"start": "2020-01-01", "end": "2020-12-30"},
               **tier.metrics(), **seg.metrics()}
    return customers, metrics, {**tier.tables(), **seg.tables()}, params


@pytest.mark.parametrize("language", ["en", "zh"])
def test_sections_read_the_stage_results_and_add_up(language):
    """The report draws the Lorenz curve, the segment bars and the playbook from the tables
    the stages left (it computes none of them); its totals are those tables' totals."""
    customers, metrics, tables, params = _stages(language)
    sections = {s.key: s for s in report.build(customers, metrics, tables, params.report)}
    assert list(sections) == ["summary", "actions", "concentration", "behaviour",
                              "lifecycle", "migration", "data_quality", "glossary"]
    assert sections["concentration"].figure is not None
    top = tables["segments"].index[0]
    label = narrative.t("behaviour", language)
    assert sections["behaviour"].heading == label
    assert f"{int(tables['segments'].loc[top, 'customers']):,}" in sections["behaviour"].text
    # issue 16: every customer in exactly one action group; the headline's totals are the
    # groups' totals; every group shown, each with every rule inside it
    groups = sections["actions"].table
    assert groups["customers"].sum() == len(customers)
    assert groups["revenue"].sum() == pytest.approx(customers["revenue"].sum())
    assert set(groups.index) == set(customers["recommended_action"])
    assert f"all {len(customers):,}" in sections["actions"].text \
        or f"全部 {len(customers):,}" in sections["actions"].text
    assert list(groups["at_stake"]) == sorted(groups["at_stake"], reverse=True)
    for action, rules in tables["playbook"].groupby("action"):
        assert rules["customers"].sum() == groups.at[action, "customers"]
        for who, n in zip(rules["who"], rules["customers"]):
            shown = groups.at[action, "who"]  # "(3)", or "(3 of 5; …)" / "（5 位中的 3 位；…）"
            assert f"{who} ({n:,})" in shown or f"{who} ({n:,} of " in shown \
                or f"{who}（{n:,}）" in shown \
                or re.search(rf"{re.escape(who)}（[0-9,]+ 位中的 {n:,} 位", shown)
    # the findings: at most five, each one sentence with a number and an action
    items = sections["summary"].items
    assert 1 <= len(items) <= 5
    for item in items:
        assert re.search(r"\d", item) and ("Action:" in item or "行动：" in item)
    # without the stages' tables the report leaves those sections out instead of recomputing
    bare = [s.key for s in report.build(customers, metrics, {}, params.report)]
    assert bare == ["summary", "actions", "concentration", "lifecycle", "migration",
                    "data_quality", "glossary"]


def test_findings_are_ranked_by_money_and_name_the_key_customers_lapsing():
    customers, metrics, tables, params = _stages("en")
    found = report.story.findings(customers, metrics, "en", "EUR")
    assert [f.money for f in found] == sorted((f.money for f in found), reverse=True)
    a = customers["abc_tier"].astype(str) == "A"
    lapsing = a & customers["lifecycle_stage"].isin(["dormant", "churned"])
    hit = [f for f in found if f.key == "key_lapsing"]
    if lapsing.any():
        assert hit[0].customers == lapsing.sum()
        assert hit[0].money == pytest.approx(customers.loc[lapsing, "revenue"].sum())
        assert f"{int(lapsing.sum()):,} tier-A customers" in hit[0].text


def test_the_at_risk_list_holds_overdue_valuable_customers_the_model_also_doubts():
    from analysis.risk import at_risk
    c = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "revenue": [500.0, 900.0, 300.0, 800.0, 0.0],
        "frequency": [4.0, 9.0, 0.0, 2.0, 3.0], "recency": [40.0, 90.0, 0.0, 100.0, 30.0],
        "last_purchase": pd.to_datetime(["2020-02-10", "2020-12-25", "2020-01-05",
                                         "2020-04-10", "2020-02-01"]),
        "p_alive": [0.2, 0.1, 0.1, 0.9, 0.1]})
    window = Window(pd.Timestamp("2020-01-01"), pd.Timestamp("2020-12-31"), TimeUnit("day"))
    risk = at_risk(c, window)
    # a: 10-day gap, 325 days quiet, P(alive) 0.2 -> at risk; b: 10-day gap, 6 days quiet
    # -> not overdue; c: one-time buyer, no rhythm; d: overdue but P(alive) 0.9; e: no
    # revenue
    assert risk["customer_id"].tolist() == ["a"]
    assert risk.loc[0, "times_usual_gap"] == pytest.approx(325 / 10)
    assert risk.loc[0, "days_since_last"] == 325
    without_model = at_risk(c.drop(columns="p_alive"), window)
    assert without_model["customer_id"].tolist() == ["d", "a"]  # by revenue


def test_index_page_is_one_self_contained_file(tmp_path):
    customers, metrics, tables, params = _stages()
    page = report.index_html(report.build(customers, metrics, tables, params.report), metrics,
                             ["01_data_cleaning.html"], params.report)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert page.count("data:image/png;base64,") == 3  # Lorenz, segments, lifecycle
    assert "1. Data cleaning and the ledger" in page and "EUR" in page


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_clv_total_stands_beside_its_holdout_error_and_failed_refits(language):
    """Issue 15: a bootstrap interval counts only the estimates' uncertainty, so the page
    puts the model's holdout error next to it, and says how many refits failed (and, above
    FIT_SAMPLE customers, that the models were fitted on a sample)."""
    customers, metrics, tables, params = _stages(language)
    customers = customers.assign(predicted_clv=1.0)
    metrics["clv"] = {"horizon_months": 12, "definition": "revenue: discounted", "margin": None,
                      "predicted_clv_total": 789_387.0, "historical_clv_total": 1.0,
                      "intervals": {"total_predicted_clv": [778_708.0, 801_699.0],
                                    "failed": 10, "iterations": 100},
                      "holdout": {"status": "ok", "predicted": 16_874.0, "actual": 19_684.0,
                                  "mae": 0.5, "naive_mae": 0.6}}
    text = {s.key: s.text for s in report.build(customers, metrics, tables,
                                               params.report)}["clv"]
    # amounts as the language writes them: 789,387 EUR, or 78.9 万 EUR in Chinese
    total, interval = (money(v, "EUR", language) for v in (789_387.0, 778_708.0))
    assert total == {"en": "789,387 EUR", "zh": "78.9 万 EUR"}[language]
    assert total in text and interval in text and "-14%" in text
    k = text.index(interval)
    stop = text.find("。" if language == "zh" else ". ", k)  # the sentence's end
    assert k < text.index("-14%") < stop  # in the same sentence as the interval
    assert ("10 of 100" in text) if language == "en" else ("100 次" in text and "10 次" in text)
    del metrics["clv"]["holdout"]
    text = {s.key: s.text for s in report.build(customers, metrics, tables,
                                               params.report)}["clv"]
    assert "-14%" not in text and interval in text
    assert "500,000" not in text
    metrics["clv"]["fit_sample"] = {"customers": 500_000, "of": 3_000_000, "seed": 42}
    text = {s.key: s.text for s in report.build(customers, metrics, tables,
                                               params.report)}["clv"]
    assert "500,000" in text and "3,000,000" in text  # the models saw a sample: it says so
    assert ("random sample" in text and "every customer is scored" in text) \
        if language == "en" else "随机抽取" in text


def test_every_markdown_cell_has_its_chinese_text():
    """A zh run renders the notebooks' Markdown cells in Chinese: every cell has one."""
    import json
    from analysis.narrative.translate import NOTEBOOK_TEXT
    from conftest import ROOT
    ids = []
    for path in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        ids += [c["id"] for c in cells if c["cell_type"] == "markdown"]
    assert sorted(ids) == sorted(NOTEBOOK_TEXT["zh"])
    for i in ids:
        head = NOTEBOOK_TEXT["zh"][i].lstrip().splitlines()[0]
        assert head.startswith("#") and re.search(r"[\u4e00-\u9fff]", head), i


def test_figure_texts_are_translated_exactly_or_by_template():
    from analysis import plots
    from analysis.narrative.translate import translate_figure, translate_text
    assert translate_text("Transactions per month", "zh") == "每月交易数"
    assert translate_text("revenue (EUR)", "zh") == "收入（EUR）"
    assert translate_text("Predicted CLV per customer, next 12 months", "zh") == \
        "每位客户未来 12 个月的预测 CLV"
    assert translate_text("expected purchases in the next week", "zh") == "下一周的预期购买次数"
    assert translate_text("Cannot Lose Them", "zh") == "重要保持客户"
    assert translate_text("churned", "zh") == narrative.STAGE_LABELS["churned"]["zh"]
    assert translate_text("unknown words", "zh") == "unknown words"
    assert translate_text("Transactions per month", "en") == "Transactions per month"
    fig = plots.bar_counts(pd.Series({"active": 3, "churned": 5}), "Customers by lifecycle stage",
                           "lifecycle stage")
    translate_figure(fig, "zh")
    ax = fig.axes[0]
    assert ax.get_title() == "各生命周期阶段的客户数" and ax.get_xlabel() == "生命周期阶段"
    assert [t.get_text() for t in ax.get_xticklabels()] == \
        [narrative.STAGE_LABELS[k]["zh"] for k in ("active", "churned")]


_CJK = re.compile(r"[\u4e00-\u9fff]")


def test_stage_notes_read_in_chinese_and_keep_their_numbers():
    """Every warning stage 1 writes, and the CLV stage's statuses, are messages by key: in
    a zh run Chinese with the numbers, codes and example of the English, and their English
    is what metrics.json and the logs keep."""
    from analysis.messages import Status, from_record, msg, record, render
    from analysis.stage1 import rules
    ledger = pd.DataFrame({"step": ["input", "rounding", *rules.RULES, "kept"]})
    ledger["rows"] = [1000, 0] + [0] * len(rules.RULES) + [600]
    ledger["cents"] = [100_000, 0] + [0] * len(rules.RULES) + [60_000]
    ledger.loc[ledger["step"] == "cancellations", ["rows", "cents"]] = [400, 40_000]
    notes = [rules.implausible_warning(3, pd.Timestamp("1899-12-31")),
             rules.negative_quantity_warning(1234, "^C[0-9]"),
             rules.negative_quantity_warning(5, None),
             rules.currency_warning("Price", 12),
             rules.float_ids_warning("CustomerID", "12346.0"),
             rules.float_ids_warning("CustomerID", None),
             *rules.large_drop_warnings(ledger, 0.1, lambda rule: {"order_id": "C536379"})]
    assert len(notes) == 7 and notes[-1].startswith("LARGE DROP")
    for note in notes:
        zh = render(note, "zh")
        assert _CJK.search(zh) and not re.search(r"\b(rows|column|removed|treated)\b", zh), zh
        numbers = re.findall(r"\d[\d,.]*\d|\d", re.sub(r"\{.*?\}", "", note))
        assert all(n in zh for n in numbers), (note, zh)
        assert render(note, "en") == note
        assert from_record(record(note)) == note and render(record(note), "zh") == zh
    assert "order_id=C536379" in render(notes[-1], "zh")
    assert render(msg("rule_hint.cancellations"), "zh") in render(notes[-1], "zh")
    assert render("a value from the data", "zh") == "a value from the data"
    assert Status("ok").render("zh") == "正常" and Status("ok").render("en") == "ok"
    few = Status("not estimated", msg("reason.too_few_repeat_buyers", n=12, needed=20))
    assert few == "not estimated: too few repeat buyers (12, at least 20 needed)"
    assert few.render("zh") == "未估计：复购客户太少（12 位，至少需要 20 位）"
    assert Status.from_record(few.record()).render("zh") == few.render("zh")
    with pytest.raises(ValueError):
        Status("estimated")  # a kind that is not one is refused, never read as "missing"


def test_every_message_is_in_every_language_with_the_same_fields():
    """Adding a language is adding a file: every key of en.yaml is in each, with the same
    fields, and the model parameters' meanings likewise."""
    import string
    from analysis.messages import CATALOG, LANGUAGES
    fields = lambda t: sorted(f for _, f, _, _ in string.Formatter().parse(t) if f)
    assert set(LANGUAGES) >= {"en", "zh"}
    for lang in LANGUAGES:
        assert set(CATALOG[lang]) == set(CATALOG["en"]), lang
        for key, template in CATALOG["en"].items():
            assert fields(CATALOG[lang][key]) == fields(template), (lang, key)
    for key, both in narrative.TEXT["parameter_meaning"].items():
        assert fields(both["en"]) == fields(both["zh"]), key


def test_zh_tables_show_labels_for_headers_and_codes():
    """What a zh notebook page shows for a table: headers (index names too, also of a
    Styler) as labels, code columns as labels, numbers and their formats untouched."""
    from analysis.narrative.translate import translate_table
    frame = pd.DataFrame({"customers": [3, 4], "revenue_share": [0.1, 0.25],
                          "clv_tier": ["top", "not estimated"], "rfm_segment": ["Lost", "Champions"],
                          "is_return": [True, False], "predicted_clv_24m": [1.0, 2.0],
                          "step": ["input", "cancellations"]},
                         index=pd.Index(["A", "B"], name="abc_tier"))
    zh = translate_table(frame, "zh")
    assert list(zh.columns) == ["客户数", "收入占比", "价值层级", "RFM 分群", "是否退货",
                                "预测 CLV（24 个月）", "步骤"]
    assert zh.index.name == "ABC 层级" and list(zh["客户数"]) == [3, 4]
    assert list(zh["价值层级"]) == ["高（前 20%）", "未估计"]
    assert list(zh["RFM 分群"]) == ["流失客户", "重要价值客户"] and list(zh["是否退货"]) == ["是", "否"]
    assert list(zh["步骤"]) == ["输入", "取消与退货"]
    assert frame.index.name == "abc_tier" and translate_table(frame, "en") is frame
    html = translate_table(frame.style.format({"revenue_share": "{:.1%}"}), "zh").to_html()
    assert "ABC 层级" in html and "25.0%" in html and "重要价值客户" in html and "abc_tier" not in html
    assert frame.index.name == "abc_tier"  # the analyst's frame is not renamed


def test_large_csv_is_written_in_pieces_with_the_same_bytes(tmp_path, monkeypatch):
    """customers.csv of a large run is formatted in pieces on two processes; the file is
    byte for byte what pandas' to_csv writes (header once, dates as days, missing cells
    empty), and a formula-like cell in one piece only is neutralised as in the whole
    table."""
    from analysis import runfolder
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(1001)],
        "first_purchase": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, 1001), "D"),
        "revenue": np.where(rng.random(1001) < 0.1, np.nan, rng.lognormal(3, 2, 1001)),
        "n_orders": rng.integers(1, 9, 1001),
        "Country": rng.choice(["United Kingdom", "Korea, Republic of", 'say "hi"'], 1001)})
    frame.loc[[7, 8], "Country"] = ["=HYPERLINK(1)", None]
    expected, safe = tmp_path / "pandas.csv", tmp_path / "safe.csv"
    frame.to_csv(expected, index=False, date_format="%Y-%m-%d")
    frame.apply(runfolder.spreadsheet_safe).to_csv(safe, index=False, date_format="%Y-%m-%d")
    assert "'=HYPERLINK(1)" in safe.read_text()
    monkeypatch.setattr(runfolder, "PARALLEL_CSV_ROWS", 100)
    monkeypatch.setattr(runfolder, "CSV_PIECE_ROWS", 300)  # 4 pieces, the last one short
    runfolder.write_csv(frame, tmp_path / "ours.csv")
    assert (tmp_path / "ours.csv").read_bytes() == expected.read_bytes()
    assert pd.read_csv(tmp_path / "ours.csv")["customer_id"].tolist() == frame["customer_id"].tolist()
    runfolder.write_csv(frame, tmp_path / "ours_safe.csv", safe=True)
    assert (tmp_path / "ours_safe.csv").read_bytes() == safe.read_bytes()


def test_a_segment_rule_says_when_an_earlier_rule_took_part_of_the_segment():
    """Issue 30: "Champions (4,071)" in the actions, "(4,777)" in the segments: a segment's
    rule now says it holds part of the segment, and how much."""
    from analysis.report import story
    labels = pd.DataFrame({"rfm_segment": ["Champions"] * 3 + ["Lost"],
                           "abc_tier": ["C"] * 4,
                           "lifecycle_stage": ["new", "active", "active", "churned"]})
    customers = labels.assign(customer_id=list("abcd"), revenue=[1.0, 2.0, 3.0, 4.0])
    rec = segments.recommend(labels)
    customers["recommended_action"] = rec["recommended_action"]
    book = segments.playbook_summary(customers, rec)
    groups = story.action_groups(customers, book)
    assert groups.at["Retain and reward", "who"] == \
        "Champions (2 of 3; the others matched an earlier rule)"
    assert groups.at["Low-cost maintenance", "who"] == "Lost (1)"
    assert groups["customers"].sum() == 4
