"""Issue 36: a customer master (potential customers, conversion, nature) and needs classes
from a product category, on a shop export of our own (``fixtures/make_shop.py``): one run
through the real CLI, in Chinese, shared by the end-to-end checks; the stage functions,
the engines and the bad inputs on their own."""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from analysis import config, needs, potential
from analysis.__main__ import main
from analysis.config import ReportParams
from analysis.report import sections
from analysis.runfolder import read_tables
from analysis.stage1_cache import transaction_stage
from analysis.units import TimeUnit
from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import make_shop  # noqa: E402  (a fixture builder, beside the tests)


@pytest.fixture(scope="session")
def shop(tmp_path_factory):
    """The shop's three files and its parameter file, as a user has them."""
    folder = tmp_path_factory.mktemp("shop")
    files = make_shop.write(folder)
    return folder, files, make_shop.params_file(folder)


@pytest.fixture(scope="session")
def shop_run(tmp_path_factory, shop):
    """One full run on the shop export, in Chinese."""
    folder, files, params = shop
    out = tmp_path_factory.mktemp("runs") / "shop"
    proc = run_cli("run", str(files["orders"]), "--params", str(params), "--out", str(out),
                   "-p", "language=zh")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def _read(out):
    c = pd.read_csv(out / "customers.csv", dtype={"customer_id": str}, keep_default_na=False,
                    na_values=[""])
    return c, json.loads((out / "metrics.json").read_text())


def test_master_and_log_reconcile(shop, shop_run):
    out, _ = shop_run
    c, m = _read(out)
    master = m["master"]
    raw = pd.read_csv(shop[1]["customers"], dtype=str)
    orders = pd.read_csv(shop[1]["orders"], dtype=str)
    assert master["master_customers"] == len(raw) == 900
    assert master["log_not_in_master"] == 0  # every buyer is in the master
    # log customers + potential + signed up after the window = master customers
    assert master["log_customers"] + master["potential"] + \
        master["signed_up_after_window"] == master["master_customers"]
    signup = pd.to_datetime(raw["Created At"], format="%d/%m/%Y")
    paid = orders[orders["Financial Status"] != "voided"]["Customer ID"].str[:-2]
    never = ~raw["Customer ID"].isin(paid)
    assert master["signed_up_after_window"] == int((never & (signup > make_shop.END)).sum())
    assert master["potential"] == int((never & (signup <= make_shop.END)).sum())
    # the customer table: buyers then potential customers, each once
    pot = c[c["lifecycle_stage"] == "potential"]
    assert len(c) == master["log_customers"] + master["potential"] == m["customers"] + len(pot)
    assert c["customer_id"].is_unique
    assert (pot["n_orders"] == 0).all() and (pot["revenue"] == 0).all()
    assert pot[["abc_tier", "rfm_segment", "predicted_clv", "p_alive"]].isna().all().all()
    assert (pot["recommended_action"] == "首单优惠").all()
    assert m["state"]["filters"]["potential"]["customers"] == len(pot)
    # their campaign list, with a control group drawn as for every list
    camp = pd.read_csv(out / "campaigns" / "first_order.csv", dtype={"customer_id": str})
    assert set(camp["customer_id"]) == set(pot["customer_id"])
    assert camp["control"].sum() == round(len(pot) * 0.10)
    # master attributes reached the table; the e-mails and names did not reach any output
    assert {"signup_date", "customer_nature", "Industry", "Region"} <= set(c.columns)
    assert (c["Region"] == "NA").sum() > 0  # North America stays a region
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".html", ".parquet"):
            text = path.read_bytes()
            assert b"@example.com" not in text and b"Name17" not in text, path


def test_conversion_is_the_tables(shop_run):
    out, _ = shop_run
    c, m = _read(out)
    conv = m["conversion"]
    people = c[c["signup_date"].notna()]
    bought = people["first_purchase"].notna()
    assert conv["signed_up"] == len(people) and conv["converted"] == int(bought.sum())
    assert conv["potential"] == int((people["lifecycle_stage"] == "potential").sum())
    days = (pd.to_datetime(people["first_purchase"]) - pd.to_datetime(people["signup_date"])
            ).dt.days.clip(lower=0)
    assert conv["median_days"] == float(days[bought].median())
    months = pd.to_datetime(people["signup_date"]).dt.to_period("M").astype(str)
    assert sum(v["signups"] for v in conv["by_month"].values()) == len(people)
    last = sorted(conv["by_month"])[-1]
    assert conv["by_month"][last]["converted"] == int(bought[months == last].sum())


def test_nature_section_is_a_filter_of_the_table(shop_run):
    out, _ = shop_run
    c, m = _read(out)
    buyers = c[c["lifecycle_stage"] != "potential"]
    for nature, row in m["nature"].items():
        mine = buyers[buyers["customer_nature"] == nature]
        assert row["customers"] == len(mine)
        assert row["revenue"] == pytest.approx(mine["revenue"].sum(), abs=0.01)
        assert row["potential"] == int(((c["customer_nature"] == nature) &
                                        (c["lifecycle_stage"] == "potential")).sum())
    org, ind = m["nature"]["Organisation"], m["nature"]["Individual"]
    assert org["revenue_per_customer"] > ind["revenue_per_customer"]  # as the shop is built


def test_needs_classes_follow_the_rule(shop_run):
    out, _ = shop_run
    c, m = _read(out)
    spend = pd.read_parquet(out / "aggregates" / "category_spend.parquet")
    # the category spend adds up to each customer's revenue, to the cent
    by_customer = spend.groupby("customer_id")["cents"].sum()
    buyers = c[c["lifecycle_stage"] != "potential"].set_index("customer_id")
    assert (np.rint(buyers["revenue"] * 100).astype("int64") ==
            by_customer.reindex(buyers.index)).all()
    share = spend.pivot_table(index="customer_id", columns="category", values="cents",
                              aggfunc="sum", fill_value=0)
    share = share.div(share.sum(axis=1), axis=0)
    top = share.max(axis=1)
    dominant = top[top >= 0.5].index
    assert (buyers.loc[dominant, "needs_class"] == share.loc[dominant].idxmax(axis=1)).all()
    mixed = buyers.drop(index=dominant)
    assert mixed["needs_class"].str.contains(r" \+ ").all()
    assert m["needs"]["mixed_customers"] == len(mixed)
    assert c.loc[c["lifecycle_stage"] == "potential", "needs_class"].isna().all()
    # every cross-sell hint holds in the data: lift and support recomputed from the spend
    bought = share > 0
    n = len(bought)
    for pair in m["needs"]["cross_sell"]:
        both = (bought[pair["a"]] & bought[pair["b"]]).sum()
        lift = (both / n) / (bought[pair["a"]].mean() * bought[pair["b"]].mean())
        assert pair["customers"] == both and pair["lift"] == pytest.approx(lift, abs=1e-4)
        assert pair["support"] >= 0.02 and pair["lift"] >= needs.MIN_LIFT


def test_the_page_shows_the_classes_in_both_languages(shop_run):
    out, _ = shop_run
    page = (out / "report" / "index.html").read_text()
    for heading in ("潜在客户：已注册但尚未购买的人", "按客户性质", "需求：客户买什么"):
        assert heading in page
    assert "首单优惠" in page and "推荐" in page
    c, m = _read(out)
    customers = pd.read_parquet(out / "customers.parquet")
    params = ReportParams("en", "EUR", TimeUnit("day"), 200000, None, False)
    built = {sec.key: sec for sec in sections.build(customers, m, read_tables(out), params)}
    assert {"potential", "nature", "needs", "needs_by_segment"} <= set(built)
    assert "signed up by 2024-06-30" in built["potential"].text
    assert "First-order offer" in built["potential"].text
    assert "Organisation accounts" in built["nature"].text
    assert any("offer" in item and "times as often" in item for item in built["needs"].items)
    assert built["needs"].table.columns[0] == "Tier"


def test_cdnow_has_no_new_classes(cdnow_run):
    """CDNOW (no master, no categories) runs as before: no potential rows or new columns."""
    out, _ = cdnow_run
    c, m = _read(out)
    assert not {"master", "conversion", "nature", "needs"} & set(m)
    assert "potential" not in set(c["lifecycle_stage"]) and "needs_class" not in c
    assert "potential" not in m["state"]["filters"]


def test_engines_agree_on_the_category_spend_and_the_master(shop, tmp_path):
    folder, files, params_file = shop
    params = config.typed(config.resolve(params_file))
    results = {}
    for engine in ("pandas", "duckdb"):
        ledger, customers, agg = transaction_stage(str(files["orders"]),
                                                   params.replace(engine=engine), [])
        results[engine] = (ledger, customers, agg)
    (l0, c0, a0), (l1, c1, a1) = results["pandas"], results["duckdb"]
    pd.testing.assert_frame_equal(l0, l1)
    pd.testing.assert_frame_equal(a0.category_spend, a1.category_spend)
    pd.testing.assert_frame_equal(a0.potential, a1.potential)
    assert a0.master == a1.master
    pd.testing.assert_frame_equal(c0[["customer_id", "signup_date", "customer_nature"]],
                                  c1[["customer_id", "signup_date", "customer_nature"]])


def test_anonymised_master_joins_the_hashed_ids(shop):
    folder, files, params_file = shop
    params = config.typed(config.resolve(params_file, {"anonymize": True,
                                                       "anonymize_salt": "s3cret"}))
    _, customers, agg = transaction_stage(str(files["orders"]), params, [])
    raw = set(pd.read_csv(files["customers"], dtype=str)["Customer ID"])
    assert customers["signup_date"].notna().all()  # every hashed buyer found its master row
    assert not (set(customers["customer_id"]) | set(agg.potential["customer_id"])) & raw
    assert not set(agg.category_spend["customer_id"]) & raw


def _check(tmp_path, capsys, master: pd.DataFrame | None = None, **more):
    """``analysis check`` on the shop's orders with a changed master or parameters."""
    folder = tmp_path
    files = make_shop.write(folder, people=120)
    if master is not None:
        master.to_csv(files["customers"], index=False)
    params = make_shop.params_file(folder, **more)
    capsys.readouterr()
    code = main(["check", str(files["orders"]), "--params", str(params)])
    return code, capsys.readouterr()


def test_a_master_naming_an_id_twice_is_one_line(tmp_path, capsys):
    master = make_shop.build(people=120)["customers"]
    master = pd.concat([master, master.iloc[[3]]])
    code, cap = _check(tmp_path, capsys, master)
    assert code == 2 and cap.err.count("\n") == 1
    assert "customers.csv" in cap.err and "Customer ID" in cap.err and "not unique" in cap.err


def test_bad_masters_are_one_line(tmp_path, capsys):
    master = make_shop.build(people=120)["customers"]
    bad = master.assign(**{"Created At": master["Created At"].where(
        master.index != 5, "31/02/2023")})
    code, cap = _check(tmp_path / "a", capsys, bad)
    assert code == 2 and "sign-up date" in cap.err and "31/02/2023" in cap.err
    other = master.assign(**{"Customer ID": "C-" + master["Customer ID"].astype(str)})
    code, cap = _check(tmp_path / "b", capsys, other)
    assert code == 2 and "no customer id of the customer master" in cap.err
    code, cap = _check(tmp_path / "c", capsys, master.drop(columns="Account Type"))
    assert code == 2 and "'Account Type'" in cap.err and cap.err.count("\n") == 1


def test_a_mostly_empty_category_warns(tmp_path, capsys):
    files = make_shop.write(tmp_path, people=120)
    products = pd.read_csv(files["products"])
    products.loc[products.index % 5 != 0, "Product Type"] = ""
    products.to_csv(files["products"], index=False)
    params = make_shop.params_file(tmp_path)
    capsys.readouterr()
    assert main(["check", str(files["orders"]), "--params", str(params)]) == 0
    assert "CATEGORY MOSTLY EMPTY" in capsys.readouterr().out


def test_customers_file_is_checked_by_the_schema():
    with pytest.raises(config.ParamError, match="customers_file"):
        config.resolve(None, {"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                              "customers_file": {"file": "m.csv", "columns": {"id": "x"}}})
    with pytest.raises(config.ParamError, match="unknown key 'signup'"):
        config.resolve(None, {"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                              "customers_file": {"file": "m.csv", "columns": {
                                  "customer_id": "x", "signup": "y"}}})


# -- equal inputs, equal labels ----------------------------------------------------------

shares_st = st.lists(st.lists(st.integers(0, 5000), min_size=4, max_size=4), min_size=3,
                     max_size=40)


@settings(max_examples=40, deadline=None)
@given(rows=shares_st, seed=st.integers(0, 2**31 - 1), dominant=st.sampled_from([0.4, 0.5, 0.7]))
def test_needs_class_depends_on_spend_only(rows, seed, dominant):
    """Two customers with the same spend per category get the same needs class, whatever
    their ids and the order of the rows."""
    cats = ["Coffee", "Tea", "Gifts", "Books"]
    n = len(rows)
    ids = [f"c{i:03d}" for i in range(n)]
    spend = pd.DataFrame([(ids[i], cats[j], v) for i, r in enumerate(rows)
                          for j, v in enumerate(r) if v], columns=["customer_id", "category",
                                                                   "cents"])
    customers = pd.DataFrame({"customer_id": ids, "revenue": [sum(r) / 100 for r in rows]})
    params = config.typed({"columns": {"customer_id": "c", "date": "d", "amount": "a"},
                           "needs_dominant_share": dominant, "seed": seed}).customers
    a = needs.needs_classes(needs.shares(customers, spend), dominant, seed)[0]["needs_class"]
    # the same customers under other ids, the rows shuffled
    perm = np.random.default_rng(seed).permutation(n)
    other = {ids[i]: f"z{k:03d}" for k, i in enumerate(perm)}
    spend2 = spend.assign(customer_id=spend["customer_id"].map(other)).sample(
        frac=1, random_state=seed % 1000)
    customers2 = pd.DataFrame({"customer_id": [other[ids[i]] for i in perm],
                               "revenue": customers["revenue"].to_numpy()[perm]})
    b = needs.needs_classes(needs.shares(customers2, spend2), dominant, seed)[0]["needs_class"]
    by_id = pd.Series(b.to_numpy(), index=customers2["customer_id"])
    assert (a.fillna("-").to_numpy() ==
            by_id.reindex([other[i] for i in ids]).fillna("-").to_numpy()).all()
    key = pd.Series([tuple(r) for r in rows])
    for _, group in a.groupby(key.to_numpy()):
        assert group.fillna("-").nunique() == 1
    assert needs.run(customers, spend, params) is not None


def test_the_playbook_names_the_potential_customers_action():
    from analysis import playbook
    book = playbook.playbook_table()
    rule = book[book["lifecycle_stage"] == potential.POTENTIAL]
    assert list(rule["action"]) == [potential.POTENTIAL_ACTION]
    assert playbook.rationale(int(rule["priority"].iloc[0]), "zh")


def test_potential_rows_take_the_table_columns():
    table = pd.DataFrame({"customer_id": ["1", "2"], "n_orders": [3, 1],
                          "revenue": [10.0, 2.5], "at_risk": [True, False],
                          "first_purchase": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                          "abc_tier": ["A", "C"], "lifecycle_stage": ["active", "new"],
                          "recommended_action": ["Upsell", "Nurture"]})
    pot = pd.DataFrame({"customer_id": ["9"], "signup_date": pd.to_datetime(["2024-03-01"])})
    rows = potential.potential_rows(pot, table, "en")
    assert list(rows.columns) == list(table.columns)
    row = rows.iloc[0]
    assert row["n_orders"] == 0 and row["revenue"] == 0 and not row["at_risk"]
    assert pd.isna(row["first_purchase"]) and pd.isna(row["abc_tier"])
    assert row["lifecycle_stage"] == "potential" and row["recommended_action"] == \
        "First-order offer"
