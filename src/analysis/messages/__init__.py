"""Every sentence a stage writes for a person, as a key and its parameters (:class:`Message`),
put in words in the run's language only where it is shown (:func:`render`); nothing
English is parsed back. The words are one file per language beside this module
(``en.yaml``, ``zh.yaml``, key -> template with ``str.format`` fields): adding a language is
adding a file, and a test checks every key is in every file.

A :class:`Message` is also its English text (a ``str``), so logs, ``manifest.json`` and the
English fields of ``metrics.json`` read as before; :func:`record` and :func:`from_record`
carry the key and parameters across the run folder (``metrics.json``' ``*_record`` fields,
``stage1.json``) to the page that renders them. A :class:`Status` is a kind from
:data:`KINDS` and a reason, never a prefix of a text to match.
"""
from __future__ import annotations

from importlib import resources
from typing import Any, Mapping

import numpy as np
import yaml

__all__ = ["CATALOG", "LANGUAGES", "KINDS", "Message", "msg", "check_message", "render",
           "record",
           "from_record", "Status", "join", "vocabulary", "stage_label", "action_label",
           "tier_word"]


def _load() -> dict[str, dict[str, str]]:
    out = {}
    for entry in resources.files("analysis.messages").iterdir():
        if entry.name.endswith(".yaml"):
            with entry.open("r", encoding="utf-8") as fh:
                out[entry.name[:-5]] = yaml.safe_load(fh)
    return out


#: language -> message key -> template
CATALOG: dict[str, dict[str, str]] = _load()
LANGUAGES: tuple[str, ...] = tuple(sorted(CATALOG))


def _fill(template: str, params: Mapping[str, Any], lang: str) -> str:
    return template.format(**{k: _shown(v, lang) for k, v in params.items()})


def _shown(value: Any, lang: str) -> Any:
    if isinstance(value, Message):
        return render(value, lang)
    if isinstance(value, (list, tuple)):
        return join([render(v, lang) for v in value], lang)
    return value


class Message(str):
    """A sentence by key: ``key``, ``params`` (numbers, texts, messages or lists of them);
    as a ``str``, its English."""
    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, **params: Any):
        if key not in CATALOG["en"]:
            raise KeyError(f"no message {key!r} in en.yaml")
        self = super().__new__(cls, _fill(CATALOG["en"][key], params, "en"))
        self.key, self.params = key, params
        return self

    def __reduce__(self):  # pickled (joblib, threads) as its key and parameters
        return (_rebuild, (self.key, self.params))

    def capitalised(self, lang: str) -> str:
        text = render(self, lang)
        return text[:1].upper() + text[1:]


def _rebuild(key: str, params: dict[str, Any]) -> Message:
    return Message(key, **params)


def msg(key: str, **params: Any) -> Message:
    return Message(key, **params)


def check_message(table: str, check: Mapping[str, Any]) -> Message:
    """A failed check (a dict with its ``check`` and numbers, as ``clv.sufficiency`` and
    ``clv.diagnostics`` give them) as the message ``<table>.<check>``."""
    return Message(f"{table}.{check['check']}", **check)


def render(text: Any, lang: str) -> str:
    """``text`` in ``lang``: a :class:`Message` from the catalog; a record of one
    (:func:`record`) likewise; anything else as it is (a value from the data)."""
    if isinstance(text, Mapping) and "key" in text:
        text = from_record(text)
    if isinstance(text, Message):
        return _fill(CATALOG[lang][text.key], text.params, lang)
    return "" if text is None else str(text)


def vocabulary(prefix: str) -> dict[str, dict[str, str]]:
    """The words of one kind (``action``, ``stage``): code -> language -> word."""
    head = prefix + "."
    return {key[len(head):]: {lang: CATALOG[lang][key] for lang in CATALOG}
            for key in CATALOG["en"] if key.startswith(head)}


def stage_label(stage: str, lang: str) -> str:
    """A lifecycle stage's name (new, active, dormant, churned) in ``lang``."""
    return CATALOG[lang]["stage." + stage]


def action_label(action: str, lang: str) -> str:
    """A playbook action's name (its key in playbook.csv) in ``lang``."""
    return CATALOG[lang]["action." + action]


def tier_word(tier: str, lang: str) -> str:
    """"tier A" in ``lang``."""
    return CATALOG[lang]["tier_word"].format(tier)


def join(items: list[str], lang: str) -> str:
    """Sentences joined by the language's separator ("; " / "；")."""
    return CATALOG[lang]["separator"].join(items)


def record(message: Any) -> Any:
    """A message as JSON: {"key", "params"} with nested messages as records; a plain text
    as it is (a numpy number as a Python one)."""
    if isinstance(message, np.generic):
        return message.item()
    if isinstance(message, Message):
        return {"key": message.key,
                "params": {k: [record(x) for x in v] if isinstance(v, (list, tuple))
                           else record(v) for k, v in message.params.items()}}
    return message


def from_record(data: Any) -> Any:
    """The inverse of :func:`record`."""
    if isinstance(data, Mapping) and set(data) == {"key", "params"}:
        return Message(data["key"], **{k: [from_record(x) for x in v] if isinstance(v, list)
                                       else from_record(v) for k, v in data["params"].items()})
    return data


#: what a status may say, in its English word (``status.<kind>`` in the catalog)
KINDS = ("ok", "partial", "not estimated", "unreliable", "weak", "sound", "not fitted",
         "not run", "not validated")


class Status(str):
    """A stage's or a check's status: its ``kind`` (one of :data:`KINDS`) and why (a
    :class:`Message`, or None). As a ``str``, the English form "kind: reason" that
    metrics.json keeps; code reads ``kind``, never a prefix of the text."""
    kind: str
    reason: Message | None

    def __new__(cls, kind: str, reason: Message | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown status kind {kind!r}")
        self = super().__new__(cls, kind if reason is None else f"{kind}: {reason}")
        self.kind, self.reason = kind, reason
        return self

    def __reduce__(self):
        return (Status, (self.kind, self.reason))

    @property
    def ok(self) -> bool:
        return self.kind in ("ok", "sound")

    def render(self, lang: str) -> str:
        head = CATALOG[lang]["status." + self.kind]
        if self.reason is None:
            return head
        return head + CATALOG[lang]["status_separator"] + render(self.reason, lang)

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": record(self.reason)}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "Status":
        return cls(data["kind"], from_record(data.get("reason")))
