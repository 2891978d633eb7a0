"""Labels and sentences in English and Chinese, one table for the notebooks and the report.

The words live in ``text.<language>.yaml`` beside this module (one file per language, the
same keys in each: adding a language is adding a file); this module reads them once.
:func:`t` looks up a label, :func:`s` fills a sentence template; every text a stakeholder
reads comes from these tables (or ``narrative.stages`` for the notebooks' paragraphs, from
the same file), so a run with ``language: zh`` reads in Chinese throughout.
"""
from __future__ import annotations

import html
import re
from importlib import resources
from typing import Any

import yaml

from ..messages import CATALOG, action_label, stage_label, vocabulary

__all__ = ["language_files", "BY_LANGUAGE", "TRANSLATIONS", "TEXT", "LANGUAGES", "LABELS",
           "NOTEBOOK_TITLES", "SENTENCES", "ACTIONS", "TIER_WORD",
           "STAGE_LABELS", "COLUMN_LABELS", "VALUE_LABELS", "markdown_text", "t", "s",
           "stage_label", "action_label"]

def language_files(stem: str) -> dict[str, Any]:
    """``<stem>.<language>.yaml`` beside this module, by language."""
    out = {}
    for entry in resources.files("analysis.narrative").iterdir():
        parts = entry.name.split(".")
        if len(parts) == 3 and parts[0] == stem and parts[2] == "yaml":
            with entry.open("r", encoding="utf-8") as fh:
                out[parts[1]] = yaml.safe_load(fh)
    return out


def _merge(trees: dict[str, Any]) -> Any:
    """One tree of the languages' files: each text a {language: text} pair, as the code
    reads them (``TEXT["labels"]["title"]["zh"]``)."""
    en = trees["en"]
    if isinstance(en, dict):
        return {k: _merge({lang: tree[k] for lang, tree in trees.items()}) for k in en}
    return dict(trees)


#: the words of each language, one file each (``text.en.yaml``, ``text.zh.yaml`` …)
BY_LANGUAGE: dict[str, dict[str, Any]] = language_files("text")
LANGUAGES: tuple[str, ...] = tuple(sorted(BY_LANGUAGE))
#: language tables that translate English codes and texts (English has none)
TRANSLATIONS = ("column_labels", "value_labels", "figure_text")
#: every table, read once: those English has, as {language: text} pairs; the
#: :data:`TRANSLATIONS` by language
TEXT: dict[str, Any] = {
    **{table: _merge({lang: tree[table] for lang, tree in BY_LANGUAGE.items()})
       for table in BY_LANGUAGE["en"]},
    **{table: {lang: tree.get(table, {}) for lang, tree in BY_LANGUAGE.items()}
       for table in TRANSLATIONS}}
LABELS: dict[str, dict[str, str]] = TEXT["labels"]
NOTEBOOK_TITLES: dict[str, dict[str, str]] = TEXT["notebook_titles"]
SENTENCES: dict[str, dict[str, str]] = TEXT["sentences"]
#: the playbook's actions, the lifecycle stages and the tier word, from the message catalogs
#: (the segments stage writes them into the customers table in the run's language;
#: ``stage_label`` and ``action_label`` give one of them)
ACTIONS: dict[str, dict[str, str]] = vocabulary("action")
TIER_WORD: dict[str, str] = {lang: CATALOG[lang]["tier_word"] for lang in CATALOG}
STAGE_LABELS: dict[str, dict[str, str]] = vocabulary("stage")
#: language -> column code -> its table header (English shows the codes)
COLUMN_LABELS: dict[str, dict[str, str]] = TEXT["column_labels"]
#: language -> column code -> {value code -> its label}, for the code columns tables show
VALUE_LABELS: dict[str, dict[str, dict[str, str]]] = TEXT["value_labels"]


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
