"""Operator feedback on research findings, and the versioned exemplar sets it trains.

Feedback records (`research_feedback/{finding id}`, kept by shared/research/store.py)
------------------------------------------------------------------------------------------
An operator marks a stored finding `relevant` (optionally under one of the configured topics) or
`dismissed`, with `by` and an optional reason (CLI `research feedback`, api `POST
/research/feedback`). The record keeps a snapshot of the finding's title and summary (so the
example still trains after the finding ages out), the mark's time, and the topic the example
trains: the operator's topic, else the finding's stored topic (`top_topic`); a relevant mark on a
finding without a topic needs one. A new mark on the same finding replaces the old one; the
replaced marks stay in the record's `history` (label, topic, by, reason, at; the last
`HISTORY_MAX`). Hostile input is refused with a clear error (`FeedbackError`): a topic that is not
configured, a topic on a dismissal, a reason over `MAX_REASON` characters, a `by` outside
`A-Z a-z 0-9 _ . @ - space`, text that is not valid Unicode. Finding ids of any shape are
accepted (the store makes them Firestore-safe); an id with no stored finding is `UnknownFinding`.

What a mark does to the blackboard, in the same transaction: `dismissed` sets the finding's status
to "dismissed" and rejects its open proposal (`rejected_by: feedback:<by>`), so the planner (which
reads open proposals only) stops acting on it; `relevant` undoes an earlier dismissal (the status
the finding had before it, and its proposal open again if the dismissal rejected it). A relevant
mark never creates a proposal: proposals come from the scan's impact rules.

Exemplar versions (`research_exemplars/{number}`)
------------------------------------------------------
The examples in force are an immutable, numbered version: every feedback record as an `Example`
(finding id, label, topic, title, and the text the scorer embeds: "title. summary" cleaned as for
items, cut to `EXAMPLE_TEXT_MAX` characters), sorted by finding id, with the sha256 of their
canonical JSON (`content_hash`), the counts, the feedback ids, created_at and who made it.
`ensure_version` makes a new version (number + 1) only when the feedback's content hash differs
from the newest version's; it runs after every mark and at the start of every scan with feedback
on, so a scan always scores with the newest feedback. Two writers racing make one version (the
document is created once; the loser reads the winner's). A version holds at most
`MAX_EXAMPLES` examples and `VERSION_BUDGET_BYTES` of text (a Firestore document holds 1 MiB):
the most recently marked are kept, the others counted in `counts.omitted` and logged.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.research.findings import SUMMARY_MAX_CHARS

Label = Literal["relevant", "dismissed"]
LABELS = ("relevant", "dismissed")
BY_PATTERN = r"^[A-Za-z0-9_.@ -]+$"
MAX_BY = 100
MAX_REASON = 500
MAX_FINDING_ID = 2048
MAX_TOPIC = 200
HISTORY_MAX = 20
TITLE_MAX = 500
EXAMPLE_TEXT_MAX = 1000
EXAMPLE_TITLE_MAX = 300
MAX_EXAMPLES = 1000
VERSION_BUDGET_BYTES = 700_000


class FeedbackError(ValueError):
    """Input the feedback refuses (CLI exit 2, api 400)."""


class UnknownFinding(LookupError):
    """No stored finding has this id (CLI exit 1, api 404)."""


def _unicode(value: str | None) -> str | None:
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (no unpaired surrogates)") from None
    return value


class FeedbackMark(BaseModel):
    """One operator mark, as the CLI and the api receive it (the api's request body)."""
    model_config = ConfigDict(extra="forbid")
    finding_id: str = Field(min_length=1, max_length=MAX_FINDING_ID)
    label: Label
    topic: str | None = Field(None, min_length=1, max_length=MAX_TOPIC)
    by: str = Field(min_length=1, max_length=MAX_BY, pattern=BY_PATTERN)
    reason: str | None = Field(None, max_length=MAX_REASON)

    @field_validator("finding_id", "topic", "reason")
    @classmethod
    def _valid_text(cls, value: str | None) -> str | None:
        return _unicode(value)

    @model_validator(mode="after")
    def _topic_only_when_relevant(self) -> "FeedbackMark":
        if self.topic is not None and self.label != "relevant":
            raise ValueError("a topic goes with a relevant mark only")
        return self


class HistoryEntry(BaseModel):
    label: Label
    topic: str | None = None
    by: str
    reason: str | None = None
    at: datetime


class FeedbackRecord(BaseModel):
    """research_feedback/{finding id}: the finding's current mark, its snapshot and history."""
    finding_id: str
    label: Label
    topic: str | None = None                 # relevant: the topic this example trains
    topic_source: Literal["operator", "finding"] | None = None
    by: str
    reason: str | None = None
    at: datetime
    title: str                               # snapshot of the finding when marked
    summary: str = ""
    url: str | None = None
    finding_topic: str | None = None         # the finding's stored top_topic when marked
    marks: int = 1                           # marks ever made on this finding
    history: list[HistoryEntry] = []         # the replaced marks, oldest first (the last HISTORY_MAX)


def _cut(text: Any, limit: int) -> str:
    return text[:limit] if isinstance(text, str) else ""


def apply_mark(mark: FeedbackMark, finding: dict[str, Any], previous: dict[str, Any] | None,
               proposal: dict[str, Any] | None, now: datetime, topics: list[str]
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """The feedback document, the finding's field updates and the proposal's (None: unchanged)
    for `mark` on `finding` (its stored document), `previous` (the feedback record it replaces)
    and `proposal` (the finding's proposal, if any). Pure: the store calls it in its transaction."""
    topic, source = None, None
    if mark.label == "relevant":
        topic, source = (mark.topic, "operator") if mark.topic else (finding.get("top_topic"), "finding")
        if not topic:
            raise FeedbackError(f"finding {mark.finding_id[:200]!r} has no topic: give the topic it is relevant to "
                                f"(one of: {', '.join(topics)})")
        if topic not in topics:
            raise FeedbackError(f"unknown topic {topic[:200]!r}; configured: {', '.join(topics)}")
    history: list[dict[str, Any]] = []
    marks = 1
    if previous:
        history = list(previous.get("history") or [])
        history.append(HistoryEntry.model_validate(previous).model_dump(mode="python"))
        history = history[-HISTORY_MAX:]
        marks = int(previous.get("marks") or 1) + 1
    record = FeedbackRecord(
        finding_id=mark.finding_id, label=mark.label, topic=topic, topic_source=source, by=mark.by,
        reason=mark.reason, at=now, title=_cut(finding.get("title"), TITLE_MAX),
        summary=_cut(finding.get("summary"), SUMMARY_MAX_CHARS), url=finding.get("url"),
        finding_topic=finding.get("top_topic"), marks=marks, history=history)
    status = finding.get("status")
    finding_update: dict[str, Any] = {"feedback": {"label": mark.label, "topic": topic, "by": mark.by, "at": now}}
    proposal_update: dict[str, Any] | None = None
    if mark.label == "dismissed":
        if status != "dismissed":
            finding_update.update(status="dismissed", status_before_dismissal=status)
        if proposal is not None and proposal.get("status", "open") == "open":
            proposal_update = {"status": "rejected", "rejected_by": f"feedback:{mark.by}", "rejected_at": now,
                               "rejected_reason": mark.reason or "dismissed by operator feedback"}
    else:
        if status == "dismissed":
            before = finding.get("status_before_dismissal")
            finding_update["status"] = before if before and before != "dismissed" else (
                "proposed" if finding.get("proposal_id") else "seen")
        if proposal is not None and proposal.get("status") == "rejected" \
                and str(proposal.get("rejected_by", "")).startswith("feedback:"):
            proposal_update = {"status": "open", "rejected_by": None, "rejected_at": None, "rejected_reason": None,
                               "reopened_by": f"feedback:{mark.by}", "reopened_at": now}
    return record.model_dump(mode="python"), finding_update, proposal_update


def finding_row(f: dict[str, Any]) -> dict[str, Any]:
    """What a findings listing shows of a blackboard document (the CLI's and the api's)."""
    fb = f.get("feedback") or None
    return {"id": f["id"], "title": str(f.get("title") or ""), "url": f.get("url"), "status": f.get("status"),
            "impact": f.get("impact"), "relevance": f.get("relevance"), "topic": f.get("top_topic"),
            "first_seen_at": f.get("first_seen_at"),
            "feedback": {"label": fb.get("label"), "by": fb.get("by"), "at": fb.get("at")} if isinstance(fb, dict)
            else None}


# --- exemplar versions -------------------------------------------------------------------------
class Example(BaseModel):
    id: str                      # the feedback id: the finding's id
    label: Label
    topic: str | None = None     # relevant examples: the topic they train
    title: str
    text: str                    # what the semantic scorer embeds
    at: datetime                 # when the mark was made


class ExemplarVersion(BaseModel):
    """research_exemplars/{number}: immutable once created."""
    number: int = Field(ge=1)
    content_hash: str
    created_at: datetime
    created_by: str
    counts: dict[str, int]       # relevant, dismissed, omitted
    feedback_ids: list[str]
    examples: list[Example]

    def summary(self) -> dict[str, Any]:
        """The version without its examples (what listings show)."""
        return self.model_dump(mode="json", exclude={"examples", "feedback_ids"})


def example_of(record: dict[str, Any]) -> Example:
    from shared.research.semantic import text_of

    title = str(record.get("title") or "")
    return Example(id=record["finding_id"], label=record["label"],
                   topic=record.get("topic") if record["label"] == "relevant" else None,
                   title=title[:EXAMPLE_TITLE_MAX],
                   text=text_of(title, str(record.get("summary") or ""), EXAMPLE_TEXT_MAX), at=record["at"])


def build_examples(records: list[dict[str, Any]]) -> tuple[list[Example], list[str]]:
    """The examples of the feedback records (sorted by id) and the ids omitted by the bounds
    (the most recently marked are kept)."""
    examples = sorted((example_of(r) for r in records), key=lambda e: (e.at, e.id), reverse=True)
    kept, omitted, used = [], [], 0
    for e in examples:
        size = 2 * len(e.id.encode()) + len(e.title.encode()) + len(e.text.encode()) + 200
        if len(kept) >= MAX_EXAMPLES or used + size > VERSION_BUDGET_BYTES:
            omitted.append(e.id)
            continue
        kept.append(e)
        used += size
    return sorted(kept, key=lambda e: e.id), sorted(omitted)


def content_hash(examples: list[Example]) -> str:
    """sha256 of what the scorer uses: id, label, topic and text of each example, by id."""
    canonical = [{"id": e.id, "label": e.label, "topic": e.topic, "text": e.text} for e in examples]
    raw = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def new_version(number: int, examples: list[Example], omitted: list[str], now: datetime,
                created_by: str) -> ExemplarVersion:
    return ExemplarVersion(
        number=number, content_hash=content_hash(examples), created_at=now, created_by=created_by[:200],
        counts={"relevant": sum(e.label == "relevant" for e in examples),
                "dismissed": sum(e.label == "dismissed" for e in examples), "omitted": len(omitted)},
        feedback_ids=[e.id for e in examples], examples=examples)


def ensure_version(store: Any, now: datetime, created_by: str, attempts: int = 5) -> ExemplarVersion | None:
    """The newest exemplar version, made first when the feedback differs from it. None when
    there is no feedback and no version (the scorer then runs exactly as without feedback)."""
    from shared.log import get_logger

    records = store.list_feedback()
    latest = store.latest_exemplar_version()
    if not records and latest is None:
        return None
    examples, omitted = build_examples(records)
    digest = content_hash(examples)
    for _ in range(attempts):
        if latest is not None and latest["content_hash"] == digest:
            return ExemplarVersion.model_validate(latest)
        version = new_version((latest["number"] if latest else 0) + 1, examples, omitted, now, created_by)
        if omitted:
            get_logger(__name__).warning("feedback examples omitted from the exemplar version (size bounds)",
                                         version=version.number, omitted=len(omitted), kept=len(examples))
        if store.create_exemplar_version(version.model_dump(mode="python")):
            return version
        latest = store.latest_exemplar_version()      # another writer made this number: look again
    raise RuntimeError(f"could not create an exemplar version in {attempts} attempts (contended); retry")


def mark(store: Any, topics: list[str], fb: FeedbackMark, now: datetime
         ) -> tuple[dict[str, Any], ExemplarVersion | None]:
    """Record one mark (replacing the finding's earlier one) and bring the exemplar version up to
    date. Raises FeedbackError (bad input), UnknownFinding (no such finding)."""
    if fb.topic is not None and fb.topic not in topics:
        raise FeedbackError(f"unknown topic {fb.topic[:200]!r}; configured: {', '.join(topics)}")

    def build(finding: dict[str, Any], previous: dict[str, Any] | None, proposal: dict[str, Any] | None):
        return apply_mark(fb, finding, previous, proposal, now, topics)
    record = store.update_feedback(fb.finding_id, build)
    if record is None:
        raise UnknownFinding(f"no finding {fb.finding_id[:200]!r} (list them with `research findings`)")
    return record, ensure_version(store, now, f"feedback:{fb.by}")
