"""Labels and sentences in English and Chinese, one table for the notebooks and the report.

The words live in ``text.yaml`` beside this module (one file a translator can read); this
module reads it once. :func:`t` looks up a label, :func:`s` fills a sentence template;
every text a stakeholder reads comes from these tables (or ``narrative.stages`` for the
notebooks' paragraphs, from the same file), so a run with ``language: zh`` reads in
Chinese throughout.
"""
from __future__ import annotations

import html
import re
from importlib import resources
from typing import Any

import yaml

__all__ = ["TEXT", "LANGUAGES", "LABELS", "NOTEBOOK_TITLES", "SENTENCES", "ACTIONS", "TIER_WORD",
           "STAGE_LABELS", "COLUMN_LABELS", "VALUE_LABELS", "markdown_text", "t", "s",
           "stage_label", "action_label"]

LANGUAGES = ("en", "zh")

def _load() -> dict[str, Any]:
    with resources.files("analysis.narrative").joinpath("text.yaml").open(
            "r", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


#: every table of ``text.yaml``, read once
TEXT: dict[str, Any] = _load()
LABELS: dict[str, dict[str, str]] = TEXT["labels"]
NOTEBOOK_TITLES: dict[str, dict[str, str]] = TEXT["notebook_titles"]
SENTENCES: dict[str, dict[str, str]] = TEXT["sentences"]
ACTIONS: dict[str, dict[str, str]] = TEXT["actions"]
TIER_WORD: dict[str, str] = TEXT["tier_word"]
STAGE_LABELS: dict[str, dict[str, str]] = TEXT["stage_labels"]
#: column code -> its Chinese table header
COLUMN_LABELS: dict[str, str] = TEXT["column_labels"]
#: column code -> {value code -> its Chinese label}, for the code columns tables show
VALUE_LABELS: dict[str, dict[str, str]] = TEXT["value_labels"]


def t(key: str, lang: str) -> str:
    entry = LABELS[key]
    return entry.get(lang, entry["en"])


def markdown_text(text: str) -> str:
    """``text`` as literal Markdown: HTML special characters escaped, and the characters
    Markdown (and a notebook's maths) would read as markup backslash-escaped."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]{}#|$~])", r"\\\1", text)


def s(key: str, lang: str, **values: Any) -> str:
    return SENTENCES[key][lang].format(**values)


def stage_label(stage: str, lang: str) -> str:
    """A lifecycle stage's name (new, active, dormant, churned) in ``lang``."""
    return STAGE_LABELS[stage][lang]


def action_label(action: str, lang: str) -> str:
    """A playbook action's name (its key in playbook.csv) in ``lang``."""
    return ACTIONS[action][lang]

