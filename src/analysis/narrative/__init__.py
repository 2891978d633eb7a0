"""Every word a reader sees, in English and Chinese: labels and sentences (``labels``), the
data dictionary (``glossary``) and the paragraphs each notebook writes from its numbers
(``stages``); ``translate`` puts the notebooks' Markdown and figures in a run's language.
The notebooks and the report use the same tables."""
from .glossary import COLUMN_DOCS, DIMENSION_DOC, dictionary, dictionary_markdown
from .labels import (ACTIONS, LABELS, LANGUAGES, NOTEBOOK_TITLES, SENTENCES, STAGE_LABELS,
                     TEXT, TIER_WORD, action_label, s, stage_label, t)

__all__ = ["COLUMN_DOCS", "DIMENSION_DOC", "dictionary", "dictionary_markdown", "ACTIONS",
           "LABELS", "LANGUAGES", "NOTEBOOK_TITLES", "SENTENCES", "STAGE_LABELS", "TEXT",
           "TIER_WORD",
           "action_label", "s", "stage_label", "t"]
