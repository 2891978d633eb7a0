"""Campaign lists with control groups and break-even costs (issue 34, part 1)."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis import campaigns
from analysis.report import sections


def _customers(n=2000, seed=3):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"K{i:05d}" for i in range(n)],
        "recommended_action": rng.choice(["Win back", "Upsell", "Retain and reward"], n),
        "abc_tier": rng.choice(["A", "B", "C"], n, p=[0.1, 0.3, 0.6]),
        "lifecycle_stage": rng.choice(["active", "dormant", "churned"], n),
        "predicted_clv": rng.gamma(2, 20, n), "value_at_risk": rng.gamma(2, 10, n)})


def test_the_control_group_is_a_seeded_share_of_every_stratum_whatever_the_row_order():
    c = _customers()
    got = campaigns.campaign_columns(c, 0.1, seed=42)
    strata = c.assign(control=got["control"]).groupby(
        ["recommended_action", "abc_tier", "lifecycle_stage"])["control"]
    assert (strata.sum() == np.round(strata.size() * 0.1)).all()
    shuffled = c.sample(frac=1, random_state=1)
    again = campaigns.campaign_columns(shuffled, 0.1, seed=42)
    assert again["control"].reindex(c.index).equals(got["control"])
    other = campaigns.campaign_columns(c, 0.1, seed=7)
    assert not other["control"].equals(got["control"])
    assert not campaigns.campaign_columns(c, 0.0, seed=42)["control"].any()


def test_the_break_even_cost_is_the_value_a_contact_can_win_back_or_protect():
    c = _customers()
    got = campaigns.campaign_columns(c, 0.1, seed=42)
    win = c["recommended_action"] == "Win back"
    assert np.allclose(got.loc[win, "break_even_cost"], c.loc[win, "value_at_risk"])
    assert np.allclose(got.loc[~win, "break_even_cost"], c.loc[~win, "predicted_clv"])
    table = c.join(got)
    m = campaigns.campaign_metrics(table, {"win_back": 20.0})
    assert m["win_back"]["losing"] == int((table.loc[win, "break_even_cost"] < 20).sum())
    assert m["upsell"]["losing"] is None and m["upsell"]["contact_cost"] is None
    assert sum(v["customers"] for v in m.values()) == len(c)
    # a zh run's table holds the names in Chinese: the lists are the same
    zh = table.assign(recommended_action=table["recommended_action"].map(
        {"Win back": "挽回", "Upsell": "向上销售", "Retain and reward": "保留并奖励"}))
    assert campaigns.campaign_metrics(zh, {"win_back": 20.0}) == m


def test_cdnow_lists_cover_every_customer_once_and_the_page_says_what_pays_back(cdnow_run):
    out, _ = cdnow_run
    customers = pd.read_csv(out / "customers.csv", dtype={"customer_id": str})
    lists = {p.stem: pd.read_csv(p, dtype={"customer_id": str})
             for p in sorted((out / "campaigns").glob("*.csv"))}
    assert set(lists) == {"low_cost", "nurture", "retain_reward", "upsell", "win_back"}
    ids = pd.concat([frame["customer_id"] for frame in lists.values()])
    assert ids.is_unique and set(ids) == set(customers["customer_id"])
    m = json.loads((out / "metrics.json").read_text())["campaigns"]
    for action, frame in lists.items():
        assert m[action]["customers"] == len(frame)
        assert m[action]["control"] == int(frame["control"].sum())
        assert m[action]["value_at_stake"] == pytest.approx(frame["break_even_cost"].sum())
    win = lists["win_back"]
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", (out / "report" / "index.html")
                                      .read_text(encoding="utf-8")))
    assert f"Win back: {len(win):,} customers, {int(win['control'].sum()):,} of them held back" \
        in text
    # the control flag is a column of the customer table too: the lists are its filters
    assert int(customers["control"].sum()) == sum(v["control"] for v in m.values())
    # with a contact cost the page says for how many a contact cannot pay back
    costs = {"win_back": 20.0}
    table = customers.assign(break_even_cost=customers["break_even_cost"].astype(float))
    entry = campaigns.campaign_metrics(table, costs)
    section = sections._campaign_section(entry, 0.1, "en", "USD")
    losing = int((win["break_even_cost"] < 20).sum())
    assert entry["win_back"]["losing"] == losing > 0
    assert any(f"it costs more than it can return for {losing:,} of them" in item
               for item in section.items)
    zh = sections._campaign_section(entry, 0.1, "zh", "USD")
    assert any(f"{losing:,} 位客户的联系成本高于可收回的价值" in item for item in zh.items)
