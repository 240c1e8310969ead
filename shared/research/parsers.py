"""Feed parsers: raw payloads of the configured research sources → normalised Findings.

parse_feed(kind, body, source_name, window_start, window_end) handles the five source kinds:

- arxiv_api        export.arxiv.org/api/query Atom, both the legacy format and the one served since
                   November 2025. An error entry (id containing /api/errors) raises FeedError.
- arxiv_rss        rss.arxiv.org RSS 2.0 with arxiv:announce_type. Zero items (weekends) is normal.
- hf_models        huggingface.co/api/models JSON list. Quantized / GGUF derivatives are folded into
                   their base model (id hf:<base repo>).
- hf_daily_papers  huggingface.co/api/daily_papers JSON list. Never window-filtered (fetched per date).
- rss              any RSS 2.0 / Atom blog feed; ids from the canonical link (url:<sha256>).

Ids: arxiv:<id without version> (arXiv API, arXiv RSS, HF daily papers, so one paper seen in three
sources has one id), hf:<repo id> (hf:<base repo> for derivatives), url:<sha256 of canonical url>
(blogs), guid:<sha256(source + guid)> (blog entries without a link).

Contract:
- Every payload that is not a usable feed raises FeedError (a ValueError), never another exception
  type: empty body, HTML page, body that is not valid XML / UTF-8 JSON, JSON of the wrong shape,
  arXiv API error entry, XML that is not RSS/Atom.
- A truncated / malformed XML feed yields its COMPLETE items only: items after the last closing
  </item> or </entry> tag are dropped with the reason "incomplete item (truncated feed)". When no
  complete item can be recovered from malformed XML it is a FeedError (a cut-off feed must not
  look like a quiet day). A well-formed feed with zero items is not an error.
- ParsedFeed.total_items counts the items present in the payload; every item is either a finding
  or has one reason in skipped, so total_items == len(findings) + len(skipped).
- Reasons in skipped are short fixed phrases ("outside window", "no createdAt", "no link or guid",
  "no arXiv id", ...) so they can be counted; a merged duplicate is "duplicate of <id>".
- Window: an item whose date (published; hf_models createdAt) is outside [window_start,
  window_end] (inclusive) is skipped "outside window"; items without a date are kept, except
  hf_models entries without createdAt ("no createdAt"). Naive window bounds are taken as UTC.
- Duplicate ids within one payload are merged into one Finding: the entry that is not a derivative
  (base_model None) keeps its fields, else the first one seen; numeric signals take the maximum,
  missing fields and categories are filled from the other entry.
"""
from __future__ import annotations

import calendar
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
import xml.sax
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

import feedparser

from shared.research.findings import (
    Finding,
    Signals,
    SourceKind,
    bounded_summary,
    clean_text,
    clean_title,
    parse_arxiv_id,
    split_scraped_title,
    url_finding_id,
)

UTC = timezone.utc
PREVIEW_CHARS = 160


class FeedError(ValueError):
    """The payload is not a usable feed: malformed XML/JSON, an HTML page instead of a feed,
    an arXiv API error entry (id containing /api/errors), a JSON body of the wrong shape. The
    message says which, in one line, with a short preview of the body where useful."""


@dataclass
class ParsedFeed:
    findings: list[Finding]
    total_items: int                 # items/entries present in the payload
    skipped: list[str]               # one short reason per item not turned into a finding
    feed_title: str | None = None
    total_results: int | None = None  # arXiv API opensearch:totalResults


class _SkipItem(Exception):
    """Raised inside an item converter: the item is skipped with this reason."""


# --- shared helpers ----------------------------------------------------------------------------
def _one_line(text: str, limit: int = PREVIEW_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _preview(body: bytes | str, limit: int = PREVIEW_CHARS) -> str:
    """A short, printable, one-line preview of a payload for error messages."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text[:20_000]
    sample = text[:2000]
    garbage = sum(1 for ch in sample if ch == "\ufffd" or (ch < " " and ch not in "\t\r\n"))
    if sample and garbage > len(sample) // 20:
        return f"<{len(body)} bytes of binary data>"
    cleaned = clean_text(text) or text
    return repr(_one_line(cleaned, limit)) if cleaned.strip() else "(blank)"


_LEADING_JUNK = re.compile(r"^(?:\ufeff|\s|<\?xml[^>]*\?>|<!--.*?-->)*", re.DOTALL)


def _looks_like_html(head: str) -> bool:
    head = _LEADING_JUNK.sub("", head[:8192]).lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body"))


def _html_error(body: bytes | str) -> FeedError:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    title = re.search(r"<title[^>]*>(.*?)</title>", text[:20_000], re.IGNORECASE | re.DOTALL)
    rest = re.sub(r"<title[^>]*>.*?</title>", " ", text[:20_000], flags=re.IGNORECASE | re.DOTALL)
    parts = [clean_text(title.group(1)) if title else "", clean_text(rest)]
    return FeedError("HTML page, not a feed: " + _one_line(" — ".join(p for p in parts if p) or "(empty)"))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _struct_to_dt(st: Any) -> datetime | None:
    """feedparser's *_parsed values are time.struct_time in UTC."""
    if not st:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(st), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _iso_to_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value == value else None
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _http_url(value: Any, base: str | None = None) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
    if base and not urlsplit(url).scheme:
        url = urljoin(base, url)
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


_GITHUB = re.compile(r"(?:https?://)?(?:www\.)?github\.com/([A-Za-z0-9][\w.-]*)/([\w.-]+)", re.IGNORECASE)


def _github_url(*texts: str | None) -> str | None:
    for text in texts:
        for m in _GITHUB.finditer(text or ""):
            owner, repo = m.group(1), m.group(2).rstrip(".")
            repo = repo[:-4] if repo.lower().endswith(".git") else repo
            if repo and owner.lower() not in ("orgs", "features", "topics", "about", "sponsors"):
                return f"https://github.com/{owner}/{repo}"
    return None


# arXiv comments that name a venue or an acceptance
_VENUE_WORDS = re.compile(
    r"\b(?:accepted|to appear|appears? in|published (?:in|at|by)|camera[- ]ready|proceedings|"
    r"conference|workshop|symposium|journal|transactions)\b", re.IGNORECASE)
_VENUE_ACRONYMS = re.compile(
    r"(?<![\w/.-])(?:NeurIPS|NIPS|ICLR|ICML|ACL|EMNLP|NAACL|EACL|AACL|COLING|LREC|CoNLL|COLM|TACL|"
    r"AAAI|IJCAI|AISTATS|UAI|CVPR|ICCV|ECCV|WACV|BMVC|KDD|WWW|WSDM|SIGIR|CIKM|RecSys|ICRA|IROS|CoRL|"
    r"RSS|ICASSP|INTERSPEECH|Interspeech|JMLR|TMLR|TPAMI|IEEE|ACM|MICCAI|USENIX|SIGGRAPH|FAccT|ICSE|"
    r"FSE|ASE|MLSys|OSDI|SOSP|Nature|Science)(?![\w-])")
_NOT_YET = re.compile(r"\b(?:under (?:double[- ]blind )?review|submitted to|in submission|preprint)\b",
                      re.IGNORECASE)
_ACCEPTED = re.compile(r"\b(?:accepted|to appear|appears? in|published|camera[- ]ready)\b", re.IGNORECASE)


def _venue(comment: str | None) -> str | None:
    text = clean_text(comment)
    if not text or not (_VENUE_WORDS.search(text) or _VENUE_ACRONYMS.search(text)):
        return None
    if _NOT_YET.search(text) and not _ACCEPTED.search(text):
        return None                       # "Submitted to ACL 2026" is no venue yet
    # keep the sentence that names the venue, not page counts or code links around it
    sentences = [x.strip() for x in re.split(r"(?<=[.;])\s+", text) if x.strip()]
    named = next((x for x in sentences if _VENUE_WORDS.search(x) or _VENUE_ACRONYMS.search(x)), text)
    return _one_line(named.rstrip(".;"), 300)


# --- collection, window and dedup ------------------------------------------------------------
_NUMERIC_SIGNALS = ("upvotes", "likes", "downloads", "trending_score", "comments")


def merge_findings(existing: Finding, new: Finding) -> Finding:
    """One finding from two sightings of the same id: a base model keeps its fields over a
    derivative, the first sighting otherwise; best signals, missing fields filled in."""
    if existing.base_model is not None and new.base_model is None:
        primary, other = new, existing      # the base entry keeps its fields
    else:
        primary, other = existing, new
    signals = primary.signals.model_copy()
    for name in _NUMERIC_SIGNALS:
        a, b = getattr(primary.signals, name), getattr(other.signals, name)
        if a is None or (b is not None and b > a):
            setattr(signals, name, b)
    for name in ("github_url", "venue"):
        if getattr(signals, name) is None:
            setattr(signals, name, getattr(other.signals, name))
    update: dict[str, Any] = {
        "signals": signals,
        "categories": primary.categories + [c for c in other.categories if c not in primary.categories],
    }
    for name in ("summary", "authors", "published_at", "arxiv_id", "announce_type"):
        if not getattr(primary, name) and getattr(other, name):
            update[name] = getattr(other, name)
    if primary.arxiv_version is None or (other.arxiv_version or 0) > primary.arxiv_version:
        update["arxiv_version"] = other.arxiv_version or primary.arxiv_version
    return primary.model_copy(update=update)


class _Collector:
    def __init__(self, window_start: datetime | None, window_end: datetime | None) -> None:
        self.window_start = _utc(window_start)
        self.window_end = _utc(window_end)
        self.findings: dict[str, Finding] = {}
        self.skipped: list[str] = []
        self.total = 0

    def outside_window(self, when: datetime | None) -> bool:
        if when is None:
            return False
        return bool((self.window_start and when < self.window_start)
                    or (self.window_end and when > self.window_end))

    def item(self, convert: Callable[[], Finding | None], window: bool = True) -> None:
        """Counts one payload item and turns it into a finding or a skip reason."""
        self.total += 1
        try:
            finding = convert()
        except _SkipItem as exc:
            self.skipped.append(str(exc))
            return
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            self.skipped.append(f"invalid item ({type(exc).__name__})")
            return
        if finding is None:
            return
        if window and self.outside_window(finding.published_at):
            self.skipped.append("outside window")
            return
        existing = self.findings.get(finding.id)
        if existing is None:
            self.findings[finding.id] = finding
        else:
            self.findings[finding.id] = merge_findings(existing, finding)
            self.skipped.append(f"duplicate of {finding.id}")

    def result(self, feed_title: str | None = None, total_results: int | None = None) -> ParsedFeed:
        return ParsedFeed(findings=list(self.findings.values()), total_items=self.total,
                          skipped=self.skipped, feed_title=feed_title or None,
                          total_results=total_results)


# --- XML front end ---------------------------------------------------------------------------
_CLOSING_ITEM = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


@dataclass
class _XmlFeed:
    parsed: Any                  # feedparser.FeedParserDict
    entries: list[Any]           # complete entries only
    incomplete: int              # entries dropped because the payload was cut / malformed
    malformed: bool


def _parse_xml(body: bytes) -> _XmlFeed:
    if not body.strip():
        raise FeedError("empty body, not a feed")
    head = body[:8192].decode("utf-8", "replace")
    if _looks_like_html(head):
        raise _html_error(body)
    if _LEADING_JUNK.sub("", head)[:1] in ("{", "["):
        raise FeedError(f"JSON body, not an RSS/Atom feed: {_preview(body)}")
    # A BytesIO, never the bytes themselves: feedparser treats a bytes argument as a file name
    # first, so a body like b"/etc/passwd" would be read from the local disk.
    # HTML is reduced to plain text by clean_text and links are resolved here, so feedparser's own
    # sanitizer and relative-URI rewriting (a third of its time on big feeds) are turned off.
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    exc = parsed.get("bozo_exception")
    malformed = bool(parsed.get("bozo")) and isinstance(exc, xml.sax.SAXException)
    entries = list(parsed.get("entries") or [])
    version = parsed.get("version") or ""
    if not version and not entries:
        if malformed:
            raise FeedError(f"malformed XML, not a feed ({_one_line(str(exc), 80)}): {_preview(body)}")
        raise FeedError(f"XML but not an RSS/Atom feed: {_preview(body)}")
    incomplete = 0
    if malformed:
        complete = len(_CLOSING_ITEM.findall(body))
        if complete < len(entries):
            incomplete = len(entries) - complete
            entries = entries[:complete]
        if not entries:
            raise FeedError(f"malformed XML, no complete item recovered ({_one_line(str(exc), 80)}): "
                            f"{_preview(body[-400:])}")
    return _XmlFeed(parsed, entries, incomplete, malformed)


def _run_xml(feed: _XmlFeed, collector: _Collector, convert: Callable[[Any, int], Finding | None],
             window: bool = True) -> None:
    for index, entry in enumerate(feed.entries):
        collector.item(lambda e=entry, i=index: convert(e, i), window=window)
    for _ in range(feed.incomplete):
        collector.total += 1
        collector.skipped.append("incomplete item (truncated feed)")


def _feed_title(feed: _XmlFeed) -> str | None:
    return clean_text(feed.parsed.get("feed", {}).get("title")) or None


def _tag_terms(entry: Any) -> list[str]:
    terms: list[str] = []
    for tag in entry.get("tags") or []:
        term = clean_text(tag.get("term") or tag.get("label"))
        if term and term not in terms:
            terms.append(term)
    return terms


def _authors(entry: Any) -> list[str]:
    names = [clean_text(a.get("name")) for a in entry.get("authors") or [] if isinstance(a, dict)]
    names = [n for n in names if n]
    if not names and entry.get("author"):
        names = [clean_text(entry.get("author"))]
    return names


def _entry_date(entry: Any) -> datetime | None:
    return _struct_to_dt(entry.get("published_parsed")) or _struct_to_dt(entry.get("updated_parsed"))


# --- arXiv API --------------------------------------------------------------------------------
def _arxiv_api(body: bytes, source_name: str, collector: _Collector) -> ParsedFeed:
    feed = _parse_xml(body)
    for entry in feed.entries:
        marker = f"{entry.get('id', '')} {entry.get('link', '')}"
        if "/api/errors" in marker:
            message = clean_text(entry.get("summary")) or clean_text(entry.get("title")) or marker.strip()
            raise FeedError(f"arXiv API error: {_one_line(message, 300)}")

    def convert(entry: Any, _: int) -> Finding:
        parsed_id = parse_arxiv_id(entry.get("id")) or parse_arxiv_id(entry.get("link"))
        if not parsed_id:
            raise _SkipItem("no arXiv id")
        arxiv_id, version = parsed_id
        title = clean_title(entry.get("title"))
        if not title:
            raise _SkipItem("no title")
        primary = clean_text((entry.get("arxiv_primary_category") or {}).get("term"))
        categories = [primary] if primary else []
        categories += [t for t in _tag_terms(entry) if t not in categories]
        comment = entry.get("arxiv_comment")
        summary = entry.get("summary")
        return Finding(
            id=f"arxiv:{arxiv_id}", source=source_name, kind="arxiv_api",
            url=f"https://arxiv.org/abs/{arxiv_id}", title=title,
            summary=bounded_summary(summary), authors=_authors(entry),
            published_at=_entry_date(entry), categories=categories,
            arxiv_id=arxiv_id, arxiv_version=version,
            signals=Signals(venue=_venue(comment), github_url=_github_url(comment, summary)),
        )

    _run_xml(feed, collector, convert)
    total = _int((feed.parsed.get("feed") or {}).get("opensearch_totalresults"))
    return collector.result(_feed_title(feed), total)


# --- arXiv RSS --------------------------------------------------------------------------------
_RSS_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL | re.IGNORECASE)
_LEGACY_RSS_TITLE = re.compile(r"\s*\(arXiv:\S+\s*\[[^\]]*\][^)]*\)\s*$")


def _arxiv_rss(body: bytes, source_name: str, collector: _Collector) -> ParsedFeed:
    feed = _parse_xml(body)

    def convert(entry: Any, _: int) -> Finding:
        description = entry.get("summary") or ""
        m = _RSS_DESCRIPTION.match(clean_text(description))
        parsed_id = ((m and parse_arxiv_id(m.group("id"))) or parse_arxiv_id(entry.get("id"))
                     or parse_arxiv_id(entry.get("link")))
        if not parsed_id:
            raise _SkipItem("no arXiv id")
        arxiv_id, version = parsed_id
        if version is None:                      # the link is versionless; the guid is not
            version = (parse_arxiv_id(entry.get("id")) or (arxiv_id, None))[1]
        announce = clean_text(entry.get("arxiv_announce_type")) or (m.group("type") if m else "")
        title = _LEGACY_RSS_TITLE.sub("", clean_title(entry.get("title")))
        if not title:
            raise _SkipItem("no title")
        creators = clean_text(entry.get("author") or ", ".join(_authors(entry)))
        return Finding(
            id=f"arxiv:{arxiv_id}", source=source_name, kind="arxiv_rss",
            url=f"https://arxiv.org/abs/{arxiv_id}", title=title,
            summary=bounded_summary(m.group("abstract") if m else description),
            authors=[a.strip() for a in creators.split(",") if a.strip()],
            published_at=_entry_date(entry), categories=_tag_terms(entry),
            arxiv_id=arxiv_id, arxiv_version=version, announce_type=announce.lower() or None,
            signals=Signals(github_url=_github_url(description)),
        )

    _run_xml(feed, collector, convert)
    return collector.result(_feed_title(feed))


# --- generic RSS / Atom -----------------------------------------------------------------------
_CONTENT_NS = "{http://purl.org/rss/1.0/modules/content/}encoded"


def _rss2_item_fields(body: bytes, expected: int) -> list[dict[str, str]] | None:
    """Direct-child <title>/<description> of each RSS 2.0 <item>. feedparser lets nested elements
    (media:description, og:description, author/title) overwrite an item's own title/summary, as in
    Google's "The Keyword" feed; these are the values the publisher meant."""
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        return None
    if root.tag != "rss":
        return None
    items = root.findall("./channel/item")
    if len(items) != expected:
        return None
    out = []
    for item in items:
        fields = {}
        for name, tag in (("title", "title"), ("description", "description"), ("content", _CONTENT_NS)):
            element = item.find(tag)
            if element is not None:
                fields[name] = "".join(element.itertext())
        out.append(fields)
    return out


def _rss(body: bytes, source_name: str, collector: _Collector) -> ParsedFeed:
    feed = _parse_xml(body)
    version = feed.parsed.get("version") or ""
    raw_fields = None
    if version.startswith("rss") and version not in ("rss090", "rss10") and not feed.malformed:
        raw_fields = _rss2_item_fields(body, len(feed.entries))
    feed_link = (feed.parsed.get("feed") or {}).get("link")
    known = {t for entry in feed.entries for t in _tag_terms(entry)}
    known_categories = tuple(sorted(known))

    def convert(entry: Any, index: int) -> Finding:
        fields = raw_fields[index] if raw_fields else {}
        raw_title = fields.get("title") or entry.get("title")
        title, teaser = split_scraped_title(raw_title, known_categories)
        link = _http_url(entry.get("link"), feed_link)
        if not link:
            link = next((_http_url(l.get("href"), feed_link) for l in entry.get("links") or []
                         if l.get("rel", "alternate") == "alternate" and _http_url(l.get("href"), feed_link)),
                        None)
        guid = clean_text(entry.get("id"))
        if not link and not guid:
            raise _SkipItem("no link or guid")
        if not title:
            raise _SkipItem("no title")
        if link:
            finding_id = url_finding_id(link)
        else:
            finding_id = "guid:" + hashlib.sha256((source_name + guid).encode()).hexdigest()[:24]
        description = fields.get("description") or entry.get("summary") or ""
        if not clean_text(description):
            contents = entry.get("content") or []
            description = fields.get("content") or (contents[0].get("value") if contents else "")
        if clean_text(description) == clean_text(raw_title):
            summary = bounded_summary(teaser)        # the scraper repeated the title
        else:
            summary = bounded_summary(description)
        return Finding(
            id=finding_id, source=source_name, kind="rss", url=link or _guid_url(guid) or "",
            title=title, summary=summary, authors=_authors(entry),
            published_at=_entry_date(entry), categories=_tag_terms(entry),
            signals=Signals(github_url=_github_url(description)),
        )

    _run_xml(feed, collector, convert)
    return collector.result(_feed_title(feed))


def _guid_url(guid: str) -> str | None:
    return _http_url(guid)


# --- JSON front end ---------------------------------------------------------------------------
def _load_json_list(body: bytes, what: str) -> list[Any]:
    if not body.strip():
        raise FeedError(f"empty body, not a JSON list of {what}")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"body is not valid UTF-8 ({exc.reason} at byte {exc.start}), "
                        f"not a JSON list of {what}") from None
    if _looks_like_html(text):
        raise _html_error(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
                        f"{_preview(text)}") from None
    except RecursionError:
        raise FeedError(f"invalid JSON (nested too deeply): {_preview(text)}") from None
    if isinstance(data, dict):
        error = data.get("error") or data.get("message")
        detail = f" with error {_one_line(str(error), 200)!r}" if error else f": {_preview(text)}"
        raise FeedError(f"expected a JSON list of {what}, got an object{detail}")
    if not isinstance(data, list):
        raise FeedError(f"expected a JSON list of {what}, got {type(data).__name__}: {_preview(text)}")
    return data


# --- Hugging Face models ----------------------------------------------------------------------
_BORING_TAGS = {"region:us", "region:eu", "endpoints_compatible", "text-generation-inference",
                "autotrain_compatible", "eval-results", "safetensors", "custom_code", "has_space",
                "conversational", "transformers", "pytorch", "tf", "jax"}
_BORING_PREFIXES = ("license:", "arxiv:", "base_model:", "region:", "dataset:", "doi:", "deploy:",
                    "template:", "endpoints")
# arxiv:1910.09700 (the CO2-emissions paper) is in the default model card template of many repos
_TEMPLATE_ARXIV = {"1910.09700"}


def _base_of(tags: list[str]) -> tuple[str | None, str | None]:
    """(base repo, kind of derivative) for a quantized / GGUF repo, else (None, None)."""
    quantized = [t.split(":", 2)[2] for t in tags if t.startswith("base_model:quantized:")]
    if quantized and quantized[0]:
        return quantized[0], "GGUF" if "gguf" in tags else "quantized"
    if "gguf" in tags:
        plain = [t.split(":", 1)[1] for t in tags if t.startswith("base_model:") and t.count(":") == 1]
        if plain and plain[0]:
            return plain[0], "GGUF"
    return None, None


def _hf_models(body: bytes, source_name: str, collector: _Collector) -> ParsedFeed:
    data = _load_json_list(body, "models")

    def convert(entry: Any) -> Finding:
        if not isinstance(entry, dict):
            raise _SkipItem("not a JSON object")
        repo = entry.get("id") or entry.get("modelId")
        if not isinstance(repo, str) or not repo.strip():
            raise _SkipItem("no id")
        repo = repo.strip()
        created = _iso_to_dt(entry.get("createdAt"))
        if created is None:
            raise _SkipItem("no createdAt")
        tags = [t for t in entry.get("tags") or [] if isinstance(t, str)]
        base, derivative = _base_of(tags)
        pipeline = entry.get("pipeline_tag") if isinstance(entry.get("pipeline_tag"), str) else None
        library = entry.get("library_name") if isinstance(entry.get("library_name"), str) else None
        arxiv_ids = []
        for tag in tags:
            if tag.startswith("arxiv:"):
                parsed = parse_arxiv_id(tag[len("arxiv:"):])
                if parsed and parsed[0] not in _TEMPLATE_ARXIV and parsed[0] not in arxiv_ids:
                    arxiv_ids.append(parsed[0])
        shown = [t for t in tags if t not in _BORING_TAGS and not t.startswith(_BORING_PREFIXES)
                 and t not in (pipeline, library) and len(t) > 2][:6]
        sentence = f"{pipeline or 'Model'}{' model' if pipeline else ''}"
        if library:
            sentence += f" ({library})"
        author = entry.get("author") if isinstance(entry.get("author"), str) else repo.split("/")[0]
        parts = [f"{sentence} by {author}."]
        if base:
            parts.insert(0, f"{derivative} derivative {repo} of {base}.")
        if shown:
            parts.append("Tags: " + ", ".join(shown) + ".")
        if arxiv_ids:
            parts.append("arXiv: " + ", ".join(arxiv_ids) + ".")
        target = base or repo
        owner = target.split("/")[0] if base else author
        return Finding(
            id=f"hf:{target}", source=source_name, kind="hf_models",
            url=f"https://huggingface.co/{target}", title=target,
            summary=bounded_summary(" ".join(parts)), authors=[owner] if owner else [],
            published_at=created, categories=[c for c in (pipeline, library) if c],
            arxiv_id=arxiv_ids[0] if arxiv_ids else None, base_model=base,
            signals=Signals(likes=_int(entry.get("likes")), downloads=_int(entry.get("downloads")),
                            trending_score=_float(entry.get("trendingScore"))),
        )

    for entry in data:
        collector.item(lambda e=entry: convert(e))
    return collector.result()


# --- Hugging Face daily papers ----------------------------------------------------------------
def _hf_daily_papers(body: bytes, source_name: str, collector: _Collector) -> ParsedFeed:
    data = _load_json_list(body, "daily papers")

    def convert(entry: Any) -> Finding:
        if not isinstance(entry, dict):
            raise _SkipItem("not a JSON object")
        paper = entry.get("paper")
        if not isinstance(paper, dict):
            raise _SkipItem("no paper")
        parsed = parse_arxiv_id(paper.get("id") if isinstance(paper.get("id"), str) else None)
        if not parsed:
            raise _SkipItem("no paper id")
        arxiv_id = parsed[0]
        title = clean_title(paper.get("title") or entry.get("title"))
        if not title:
            raise _SkipItem("no title")
        authors = [clean_text(a.get("name")) for a in paper.get("authors") or []
                   if isinstance(a, dict) and isinstance(a.get("name"), str)]
        github = paper.get("githubRepo")
        return Finding(
            id=f"arxiv:{arxiv_id}", source=source_name, kind="hf_daily_papers",
            url=f"https://huggingface.co/papers/{arxiv_id}", title=title,
            summary=bounded_summary(paper.get("summary") or entry.get("summary")),
            authors=[a for a in authors if a],
            published_at=_iso_to_dt(paper.get("publishedAt")) or _iso_to_dt(entry.get("publishedAt")),
            arxiv_id=arxiv_id,
            signals=Signals(upvotes=_int(paper.get("upvotes")), comments=_int(entry.get("numComments")),
                            github_url=_http_url(github)),
        )

    for entry in data:
        collector.item(lambda e=entry: convert(e), window=False)   # fetched per date: no window
    return collector.result()


# --- entry point ------------------------------------------------------------------------------
_PARSERS: dict[str, Callable[[bytes, str, _Collector], ParsedFeed]] = {
    "arxiv_api": _arxiv_api,
    "arxiv_rss": _arxiv_rss,
    "hf_models": _hf_models,
    "hf_daily_papers": _hf_daily_papers,
    "rss": _rss,
}


def parse_feed(kind: SourceKind, body: bytes, source_name: str,
               window_start: datetime | None = None, window_end: datetime | None = None) -> ParsedFeed:
    """Parse one fetched payload of a source of this kind (see the module docstring for the rules).

    Raises FeedError when the payload is not a usable feed; never another exception for bad input.
    A truncated or malformed XML feed gives its complete items only (each cut item is skipped as
    "incomplete item (truncated feed)"); FeedError when not one complete item can be recovered."""
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {sorted(_PARSERS)}")
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif isinstance(body, (bytearray, memoryview)):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise FeedError(f"body must be bytes, got {type(body).__name__}")
    collector = _Collector(window_start, window_end)
    try:
        return parser(body, source_name, collector)
    except FeedError:
        raise
    except Exception as exc:  # feedparser / expat internals on hostile input (RecursionError, ...)
        raise FeedError(f"cannot parse {kind} payload ({type(exc).__name__}: "
                        f"{_one_line(str(exc), 120)})") from exc
