"""Model families the platform routes to, read from its own catalog, and a title that names one.

Why: most lab news is a bare title ("OpenAI o3-mini", "Gemini 2.5: Updates to our family of
thinking models"). Neither the keyword phrases nor a small static embedding know that "o3-mini" is
a model; the catalog does. A new version of a family the platform already routes to is exactly the
release an engineer of this platform wants to read about.

Families (`ModelFamilies.from_catalog`)
    From each catalog model's display name ("Google: Gemini 2.5 Pro" -> the part after the
    provider, "Gemini 2.5 Pro") or, without a name, its id's slug ("openai/o3-mini" -> "o3-mini"):
    the leading letters of the first word, lower-cased ("gemini", "o", "gpt", "qwen"). A family
    counts when at least `min_models` catalog models share it (one-off names such as a fine-tune's
    are not families) and it is not in `ignore`.

Mention (`ModelFamilies.mention`)
    A family name followed by a version: for a name of 3+ letters, an optional space or hyphen,
    an optional "v", 1-2 digits, optionally "." and 1-2 digits, optionally one letter ("Gemini
    2.5", "GPT-4o", "Qwen3.6", "Gemma 3n", "DeepSeek-V4"; the hyphen may also be U+2010 or the
    non-breaking U+2011 that lab feeds write in "GPT-4o"); for a 1-2 letter name, the digits must
    follow directly ("o3", "R1"). It must stand as a word (not inside a longer word or number). It
    counts only as the title's subject: no preposition or "and" before it in the title ("Introducing
    GPT-4.1 in the API" counts; "Fine-tuning now available for GPT-4o", "Extracting concepts from
    GPT-4" do not: those are about something done with the model). Titles only: a summary names
    models in passing far more often than it announces one.

The families are read once per scan; with an empty catalog there are none and no mention is found
(the scan record says how many families it had). The version need not be in the catalog: news of
"Gemini 3" comes before OpenRouter lists it.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

MENTION_PREFIX = "catalog model: "   # how a mention is listed among a topic's phrases
_LEADING_LETTERS = re.compile(r"[A-Za-z]+")
# prepositions and conjunctions that make a later model name the object, not the subject
_OBJECT_MARKERS = re.compile(
    r"(?<![^\W_])(?:with|for|to|from|on|in|into|onto|using|of|by|via|at|and|vs|versus|against|about|"
    r"through|powered|based|inside|within|across|over|beyond)(?![^\W_])", re.IGNORECASE)
_VERSION_AFTER_WORD = r"[\s\-\u2010\u2011]?[vV]?\d{1,2}(?:\.\d{1,2})?[A-Za-z]?"
_VERSION_GLUED = r"\d{1,2}(?:\.\d{1,2})?[A-Za-z]?"
_END = r"(?![\w]|\.\d)"


@dataclass(frozen=True)
class ModelMention:
    text: str        # as written in the title: "Gemini 2.5"
    family: str      # "gemini"
    models: int      # catalog models of that family

    def phrase(self) -> str:
        """How the keyword scorer lists it among a topic's matched phrases."""
        return f"{MENTION_PREFIX}{self.text} ({self.family}, {self.models} in the catalog)"


def family_of(name: str | None, model_id: str | None = None) -> str | None:
    """The family of one catalog model: the leading letters of its display name's first word
    (after "Provider: "), else of its id's slug. None when neither has a leading letter."""
    text = (name or "").split(":", 1)[-1].strip()
    if not text and model_id:
        text = model_id.rsplit("/", 1)[-1]
    first = text.split()[0] if text.split() else ""
    m = _LEADING_LETTERS.match(first)
    return m.group(0).lower() if m else None


class ModelFamilies:
    def __init__(self, counts: dict[str, int]):
        self.counts = dict(sorted(counts.items()))
        words = sorted((f for f in self.counts if len(f) >= 3), key=lambda f: (-len(f), f))
        short = sorted((f for f in self.counts if len(f) < 3), key=lambda f: (-len(f), f))
        parts = []
        if words:
            parts.append(r"(?P<word>" + "|".join(map(re.escape, words)) + r")" + _VERSION_AFTER_WORD)
        if short:
            parts.append(r"(?P<short>" + "|".join(map(re.escape, short)) + r")" + _VERSION_GLUED)
        self._rx = re.compile(r"(?<![\w.\-\u2010\u2011])(?:" + "|".join(parts) + r")" + _END, re.IGNORECASE) if parts else None

    @classmethod
    def from_catalog(cls, models: Iterable[dict[str, Any]], min_models: int = 2,
                     ignore: Iterable[str] = ()) -> "ModelFamilies":
        """`models`: catalog model documents (their "name" and "id" are read; other fields and
        values that are not strings are ignored)."""
        counts: Counter[str] = Counter()
        for doc in models:
            if not isinstance(doc, dict):
                continue
            name, mid = doc.get("name"), doc.get("id")
            family = family_of(name if isinstance(name, str) else None, mid if isinstance(mid, str) else None)
            if family:
                counts[family] += 1
        skip = {i.strip().lower() for i in ignore}
        return cls({f: n for f, n in counts.items() if n >= min_models and f not in skip})

    def __len__(self) -> int:
        return len(self.counts)

    def mention(self, title: str | None) -> ModelMention | None:
        """The first versioned family name that is the subject of `title` (module docstring)."""
        if not title or self._rx is None:
            return None
        m = self._rx.search(title)
        # a preposition before the first name: it, and every later one, is an object
        if m is None or _OBJECT_MARKERS.search(title, 0, m.start()):
            return None
        family = m.group(m.lastgroup).lower()    # the named group that matched: "word" or "short"
        return ModelMention(text=m.group(0), family=family, models=self.counts[family])
