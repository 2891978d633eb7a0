"""The segment and playbook tables shipped with the package, and their checks.

``segments.csv`` holds the named RFM segments as rectangles on R and FM = (F + M) / 2;
``playbook.csv`` the rules (ABC tier, lifecycle stage, RFM segment, ``*`` = any) that give
each customer an action. Both are read once. :func:`segment_table` applies the
``segment_map`` overrides and checks that the rectangles partition all 125 (R, F, M)
combinations; :func:`check_playbook_covers` that the playbook has an action for every
combination those segments can produce. The parameters are checked with them
(``config.validate``) before a run writes anything.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .errors import ParamError
from .messages import CATALOG

__all__ = ["STAGES", "SLIPPING", "playbook_table", "segment_names", "segment_label",
           "segment_description", "rationale", "segment_table", "check_partition",
           "check_playbook_covers"]

STAGES = ("new", "active", "dormant", "churned")
#: segments of customers who used to buy and have not lately
SLIPPING = ("At Risk", "Cannot Lose Them", "About to Sleep")
def _package_csv(name: str) -> pd.DataFrame:
    with resources.files("analysis").joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, keep_default_na=False)


@lru_cache(maxsize=None)
def _default_segments() -> pd.DataFrame:
    return _package_csv("segments.csv")


@lru_cache(maxsize=None)
def playbook_table() -> pd.DataFrame:
    return _package_csv("playbook.csv").sort_values("priority").reset_index(drop=True)


def segment_names() -> list[str]:
    return list(dict.fromkeys(_default_segments()["segment"]))


def segment_label(name: str, language: str) -> str:
    """A segment's name in ``language`` (``segment.<name>`` in the message catalogs; the
    name itself for a segment of the user's that they do not name)."""
    return CATALOG[language].get("segment." + name, name)


def segment_description(name: str, language: str) -> str:
    """What a segment's customers have in common, in ``language`` (the report's glossary)."""
    return CATALOG[language].get("segment_description." + name, "")


def rationale(priority: int, language: str) -> str:
    """Why a playbook rule's action fits its customers, in ``language``."""
    return CATALOG[language]["rationale." + str(priority)]


def segment_table(overrides: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The segment rectangles, with ``overrides`` ({name: [[r_lo, r_hi], [fm_lo, fm_hi]] or a
    list of such}) replacing a segment's rows; raises ParamError unless it partitions."""
    table = _default_segments().copy()
    for name, spec in (overrides or {}).items():
        rects = spec if spec and isinstance(spec[0][0], (list, tuple)) else [spec]
        try:
            rows = [{"segment": name, "r_min": float(r[0]), "r_max": float(r[1]),
                     "fm_min": float(fm[0]), "fm_max": float(fm[1])} for r, fm in rects]
        except (TypeError, ValueError, IndexError):
            raise ParamError(f"segment_map entry {name!r} must be [[r_lo, r_hi], [fm_lo, "
                             f"fm_hi]] or a list of them, got {spec!r}",
                             column="segment_map") from None
        table = pd.concat([table[table["segment"] != name], pd.DataFrame(rows)],
                          ignore_index=True)
    check_partition(table)
    return table


def check_partition(table: pd.DataFrame) -> None:
    """Every (R, F, M) in 1..5³ must fall in exactly one rectangle."""
    problems = []
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                fm = (f + m) / 2
                hits = table[(table["r_min"] <= r) & (r <= table["r_max"]) &
                             (table["fm_min"] <= fm) & (fm <= table["fm_max"])]["segment"]
                if len(hits) != 1:
                    problems.append(f"R={r} F={f} M={m}: "
                                    + (", ".join(hits) if len(hits) else "no segment"))
    if problems:
        raise ParamError(f"the segment table must give every R/F/M combination exactly one "
                         f"segment; {len(problems)} do not, e.g. {problems[0]}",
                         column="segment_map")


def check_playbook_covers(segment_names_: list[str]) -> None:
    """Raise ParamError unless the playbook gives an action to every (tier, stage, segment)
    combination that these segment names can produce: checked with the parameters, before a
    run writes anything, instead of failing in notebook 03 minutes later."""
    grid = pd.MultiIndex.from_product([["A", "B", "C"], list(STAGES), list(segment_names_)],
                                      names=["abc_tier", "lifecycle_stage", "rfm_segment"])
    labels = grid.to_frame(index=False)
    book = playbook_table()
    covered = np.zeros(len(labels), dtype=bool)
    for _, r in book.iterrows():
        hit = np.ones(len(labels), dtype=bool)
        for col in ("abc_tier", "lifecycle_stage", "rfm_segment"):
            if r[col] != "*":
                hit &= labels[col].to_numpy() == r[col]
        covered |= hit
    if not covered.all():
        first = labels[~covered].iloc[0]
        raise ParamError(f"segment_map adds segment {first['rfm_segment']!r}, for which the "
                         f"playbook has no action (e.g. a tier-{first['abc_tier']} "
                         f"{first['lifecycle_stage']} customer)", column="segment_map",
                         hint="Name an existing segment (" + ", ".join(
                             _default_segments()["segment"].unique()[:4]) + ", …) or keep the "
                         "default segment names")
