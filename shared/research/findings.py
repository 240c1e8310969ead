"""Normalised research findings: the contract between parsers, scoring and the blackboard."""
from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

SourceKind = Literal["arxiv_api", "arxiv_rss", "hf_models", "hf_daily_papers", "rss"]
SUMMARY_MAX_CHARS = 1200


class Signals(BaseModel):
    upvotes: int | None = None          # HF daily papers
    likes: int | None = None            # HF models
    downloads: int | None = None        # HF models
    trending_score: float | None = None
    comments: int | None = None
    github_url: str | None = None       # code released (HF githubRepo, link in arXiv comment)
    venue: str | None = None            # from arxiv:comment, e.g. "Accepted at ICLR 2026"


class Finding(BaseModel):
    id: str = Field(description="dedup key: arxiv:<id>, hf:<repo id>, url:<canonical url>")
    source: str = Field(description="name of the configured source")
    kind: SourceKind
    url: str
    title: str
    summary: str = ""
    authors: list[str] = []
    published_at: datetime | None = None
    categories: list[str] = []
    arxiv_id: str | None = None
    arxiv_version: int | None = None
    announce_type: str | None = None    # arXiv RSS: new, cross, replace, replace-cross
    base_model: str | None = None       # HF: the model a quantized / GGUF repo derives from
    signals: Signals = Signals()


# --- identifiers -------------------------------------------------------------------------
_ARXIV_NEW = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v(\d+))?(?![\d])")
_ARXIV_OLD = re.compile(r"\b([a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?\b")


def parse_arxiv_id(text: str | None) -> tuple[str, int | None] | None:
    """'http://arxiv.org/abs/2510.14968v1' → ('2510.14968', 1); also oai:arXiv.org:…, cs/0112017v2."""
    if not text:
        return None
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        m = pattern.search(text)
        if m:
            return m.group(1), int(m.group(2)) if m.group(2) else None
    return None


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, https, no fragment, no tracking query, no trailing slash."""
    parts = urlsplit(url.strip())
    query = "&".join(q for q in parts.query.split("&")
                     if q and not q.lower().startswith(("utm_", "ref=", "source=")))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", parts.netloc.lower().removeprefix("www."), path, query, ""))


def url_finding_id(url: str) -> str:
    return "url:" + hashlib.sha256(canonical_url(url).encode()).hexdigest()[:24]


# --- text cleaning -------------------------------------------------------------------------
# Only real HTML tag names are stripped, so arXiv text such as "k < n and n > 2" or "Array<string>"
# survives. Inline tags vanish without a space ("<em>fast</em>er" → "faster"), block tags become one.
_INLINE_TAGS = ("a|abbr|b|bdi|bdo|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|small|span|"
                "strike|strong|sub|sup|time|tt|u|var|wbr")
_BLOCK_TAGS = ("address|article|aside|audio|blockquote|body|br|button|caption|center|col|colgroup|dd|"
               "details|div|dl|dt|embed|figcaption|figure|footer|form|h[1-6]|head|header|hr|html|iframe|"
               "img|input|label|li|link|main|math|meta|nav|noscript|object|ol|p|param|picture|pre|"
               "section|source|summary|svg|path|g|table|tbody|td|tfoot|th|thead|title|tr|track|ul|video")
_TAG_TAIL = r"(?:\s[^<>]*)?/?>"
_INLINE_TAG = re.compile(rf"</?(?:{_INLINE_TAGS}){_TAG_TAIL}", re.IGNORECASE)
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCK_TAGS}){_TAG_TAIL}", re.IGNORECASE)
_DROP_BLOCKS = re.compile(r"<(script|style|template)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST)\b[^>]*>|<\?xml[^>]*\?>", re.IGNORECASE)
_CDATA = re.compile(r"<!\[CDATA\[|\]\]>")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_WS = re.compile(r"\s+")
_TAG = _BLOCK_TAG  # kept for callers that imported the old name


def _strip_markup(text: str) -> str:
    text = _CDATA.sub("", _DECLARATION.sub(" ", _COMMENT.sub(" ", _DROP_BLOCKS.sub(" ", text))))
    return _BLOCK_TAG.sub(" ", _INLINE_TAG.sub("", text))


def clean_text(value: str | None) -> str:
    """Plain one-line text: HTML tags, comments, scripts and CDATA markers removed, entities decoded
    (twice-escaped markup such as '&lt;p&gt;' is removed too), whitespace collapsed."""
    if not value:
        return ""
    text = _strip_markup(str(value))
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:                      # markup that was escaped twice
            text = _strip_markup(text)
    text = _INVISIBLE.sub("", text)
    return _WS.sub(" ", text).strip()


# Scraped titles such as "Aug 18, 2026ScienceHow Claude…" (date, category label, title glued
# together) or "InterpretabilityJul 6, 2026A global workspace in language modelsNew research…"
# (label, date, title, then the teaser glued on).
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_LABEL_WORD = r"(?:[A-Z][a-z]+|&)"
_DATE_PREFIX = re.compile(
    rf"^(?P<label>{_LABEL_WORD}(?: {_LABEL_WORD}){{0,3}})?\s*{_MONTH} \d{{1,2}}, \d{{4}}(?!\d)")
# A label of 1-4 capitalised words glued to the title: "Frontier Red TeamPatterns and…"
_GLUED_LABEL = re.compile(rf"^(?P<label>{_LABEL_WORD}(?: {_LABEL_WORD}){{0,3}}?)(?<=[a-z]{{3}})(?=[A-Z][a-z]|[AI] )")
# A teaser glued to the title: "…in language modelsNew interpretability research…"
_GLUED_TAIL = re.compile(r"\b[a-z]{2,}(?=[A-Z][a-z])")
# camel-case names that must not be split at their inner capital
_CAMEL_NAMES = frozenset({
    "ChatGPT", "DeepMind", "DeepSeek", "GitHub", "GitLab", "HuggingFace", "JavaScript", "LinkedIn",
    "McKinsey", "MiniMax", "OpenAI", "PayPal", "PyTorch", "SpaceX", "TensorFlow", "TypeScript",
    "WordPress", "YouTube", "AlphaFold", "AlphaGo", "AlphaEvolve", "NotebookLM", "SageMaker",
})


def _camel_word_at(text: str, pos: int) -> str:
    """The word around the inner capital at text[pos] ("Deep|Mind" → "DeepMind")."""
    start = pos
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    end = pos
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[start:end]


def split_scraped_title(value: str | None, known_categories: tuple[str, ...] = ()) -> tuple[str, str]:
    """(title, teaser) from a title that a scraper glued to its date, category label and teaser.
    Titles without such a date prefix are only cleaned; the teaser is then ''."""
    text = clean_text(value)
    m = _DATE_PREFIX.match(text)
    if not m:
        return text, ""
    rest = text[m.end():].lstrip(" -|·:")
    if not m.group("label"):                 # "Aug 18, 2026ScienceHow Claude…": label after the date
        for cat in sorted((c for c in known_categories if c), key=len, reverse=True):
            if rest.startswith(cat) and len(rest) > len(cat) and rest[len(cat)].isupper():
                rest = rest[len(cat):]
                break
        else:
            g = _GLUED_LABEL.match(rest)
            if (g and " " in rest[g.end():].strip()
                    and _camel_word_at(rest, g.end()) not in _CAMEL_NAMES):
                rest = rest[g.end():]
    teaser = ""
    t = _GLUED_TAIL.search(rest)
    if t and " " in rest[:t.start()].strip() and _camel_word_at(rest, t.end()) not in _CAMEL_NAMES:
        rest, teaser = rest[:t.end()], rest[t.end():]
    title = rest.strip() or text
    return title, teaser.strip()


def clean_title(value: str | None, known_categories: tuple[str, ...] = ()) -> str:
    """Clean text; scraped date/category junk before the real title (and a teaser glued after it)
    removed. known_categories (e.g. the feed's category terms) are stripped exactly when they
    follow the date; otherwise a glued label of 1-4 capitalised words is recognised."""
    return split_scraped_title(value, known_categories)[0]


def bounded_summary(value: str | None, limit: int = SUMMARY_MAX_CHARS) -> str:
    """Clean text of at most limit characters plus ' …' when it had to be cut (at a word boundary)."""
    text = clean_text(value)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + " …"
