"""Every word a reader sees, in English and Chinese: labels and sentences (``labels``), the
data dictionary (``glossary``) and the paragraphs each notebook writes from its numbers
(``stages``). The notebooks and the report use the same tables."""
from .glossary import COLUMN_DOCS, DIMENSION_DOC, dictionary, dictionary_markdown
from .labels import (ACTIONS, LABELS, LANGUAGES, NOTEBOOK_TITLES, SENTENCES, STAGE_LABELS,
                     TIER_WORD, action_label, s, stage_label, t)

__all__ = ["COLUMN_DOCS", "DIMENSION_DOC", "dictionary", "dictionary_markdown", "ACTIONS",
           "LABELS", "LANGUAGES", "NOTEBOOK_TITLES", "SENTENCES", "STAGE_LABELS", "TIER_WORD",
           "action_label", "s", "stage_label", "t"]
