"""Everything the research agent keeps, behind a repository: the blackboard (findings and
proposals), scan records, the HTTP validator cache, the LLM judge's judgements (one per finding
id, shared/research/judge.py), the day's findings file, operator feedback and the exemplar
versions it makes (shared/research/feedback.py has their rules).
`FirestoreResearchStore` in production, `InMemoryResearchStore` in unit tests, one contract
(tests/research/test_research_store_contract.py runs the same tests against both). Collection
and object names live here only.

A scan record is claimed before it is complete, so a record may hold the claim's fields alone
(`scan_id`, `started_at`): readers get it as a typed `ScanClaim` (status "running"), never a
validation error over a record another process is still writing.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from contextlib import contextmanager
from copy import deepcopy
from datetime import date, datetime, timezone
from typing import Any, Callable, ContextManager, Iterable, Iterator, Literal, Protocol

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from shared.messages import JobStatus
from shared.platform import firestore as fs
from shared.platform.leases import LEASE_S, decide_claim

FINDINGS = "research_findings"
SCANS = "research_scans"
PROPOSALS = "research_proposals"
HTTP_CACHE = "research_http_cache"
JUDGEMENTS = "research_judgements"
RECLAIMABLE = ("failed", "released")   # judgement statuses a later claim may replace
FEEDBACK = "research_feedback"     # {finding id}: the operator's current mark and its history
EXEMPLARS = "research_exemplars"   # {number}: immutable exemplar versions
FINDINGS_FILES = "research/findings"
FIRESTORE_IN_MAX = 30            # values one Firestore "in" filter takes
# A query may not filter by a string of about 1,500 bytes (the emulator refuses exactly 1,500):
# a proposal of a longer finding id carries the id's hash to be found by (Firestore only).
QUERY_VALUE_MAX_BYTES = 1024
FINDING_HASH = "finding_id_sha256"
FEEDBACK_ATTEMPTS = 10           # a feedback transaction's tries (two operators marking one finding at once)


class SourceResult(BaseModel):
    name: str
    kind: str
    url: str
    label: str | None = None
    status: Literal["ok", "partial", "empty", "not_modified", "error"]  # partial: a later page failed
    http_statuses: list[int] = []
    requests: int = 0
    bytes: int = 0
    fetched: int = 0          # items in the payloads
    in_window: int = 0        # items turned into findings
    new: int = 0
    duplicate: int = 0
    irrelevant: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    error: str | None = None


class ScanRecord(BaseModel):
    scan_id: str
    status: JobStatus = "running"
    as_of: date
    window_start: datetime
    window_end: datetime
    config: str
    scorer: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    sources: list[SourceResult] = []
    counts: dict[str, int] = {}
    new_findings: list[str] = []
    proposals: list[str] = []
    findings_uri: str | None = None
    error: str | None = None
    # the LLM judge's counts and cost (shared/research/judge.py JudgeStats); absent when it is off,
    # so a scan without the judge is stored exactly as before it existed
    judge: dict[str, Any] | None = None
    exemplar_version: int | None = None   # research_exemplars/{n} the findings were scored with

    @model_serializer(mode="wrap")
    def _no_absent_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a scan without the judge or feedback is recorded exactly as before they existed
        data = handler(self)
        for key in ("judge", "exemplar_version"):
            if isinstance(data, dict) and data.get(key, 0) is None:
                del data[key]
        return data


class ScanClaim(BaseModel):
    """A scan record holding only what its claim wrote: the scan is running, nothing more is known."""
    scan_id: str
    status: Literal["running"] = "running"
    started_at: datetime


ScanState = ScanRecord | ScanClaim
_RECORD_FIELDS = frozenset(name for name, field in ScanRecord.model_fields.items() if field.is_required())


def scan_state(doc: dict[str, Any]) -> ScanState:
    """A stored scan record as its typed state: complete, or still only claimed."""
    return ScanRecord.model_validate(doc) if _RECORD_FIELDS <= doc.keys() else ScanClaim.model_validate(doc)


def _scan_doc(state: ScanState) -> dict[str, Any]:
    doc = state.model_dump(mode="python")
    if isinstance(state, ScanRecord):
        doc["as_of"] = state.as_of.isoformat()   # Firestore stores datetimes, not dates
    return doc


def findings_path(day: date) -> str:
    return f"{FINDINGS_FILES}/{day.isoformat()}.md"


class ResearchStore(Protocol):
    # findings (the blackboard); documents are dicts keyed by their "id" field
    def load_findings(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored findings among `ids`, by id."""
    def save_findings(self, new: list[dict[str, Any]], resighted: dict[str, dict[str, Any]]) -> None:
        """Write `new` findings whole; replace the given top-level fields of re-sighted ones."""
    def findings_first_seen_on(self, day: date) -> list[dict[str, Any]]: ...
    def findings_since(self, since: datetime) -> list[dict[str, Any]]:
        """Findings first seen at or after `since`."""
    def mark_proposed(self, finding_id: str, proposal_id: str) -> None: ...
    # proposals
    def create_proposal(self, doc: dict[str, Any]) -> bool:
        """False when a proposal with this id exists already (it is left as it was)."""
    def proposals_for_findings(self, finding_ids: Iterable[str]) -> list[dict[str, Any]]: ...
    def proposals_since(self, since: datetime) -> list[dict[str, Any]]:
        """Proposals created at or after `since`."""
    # scan records
    def claim_scan(self, initial: ScanState) -> str:
        """Create the record from `initial` or claim it again: "claimed" | "done" | "busy"."""
    def keep_scan_alive(self, scan_id: str) -> ContextManager[None]: ...
    def finish_scan(self, record: ScanRecord) -> None:
        """Write the complete record over the claim (the claim's bookkeeping is kept)."""
    def load_scan(self, scan_id: str) -> ScanState | None: ...
    def scans_since(self, since: datetime) -> list[ScanState]:
        """Scans started at or after `since`, finished or not."""
    # the HTTP validator cache: {url: {"etag": ..., "last_modified": ...}}
    def load_validators(self) -> dict[str, dict[str, str]]: ...
    def save_validators(self, entries: dict[str, dict[str, str]]) -> None: ...
    # the LLM judge's judgements, one document per finding id ({"finding_id", "status", ...})
    def load_judgements(self, finding_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored judgements (and claims) among `finding_ids`, by finding id."""
    def claim_judgement(self, finding_id: str, claim: dict[str, Any]) -> bool:
        """Store `claim` (status "claimed") when there is no judgement for this finding yet, or only
        one whose status is in RECLAIMABLE (the call got no answer, or the claim was given back):
        True then, and to one caller only. False when another caller claimed or judged it (it is
        left as it was)."""
    def save_judgement(self, finding_id: str, doc: dict[str, Any]) -> None:
        """Write the judgement (the outcome of a claim) whole."""
    # the day's findings file
    def write_findings_file(self, bucket: str, day: date, text: str) -> str:
        """Write research/findings/YYYY-MM-DD.md and return its gs:// URI."""
    def read_findings_file(self, bucket: str, day: date) -> str | None: ...
    # operator feedback (research_feedback/{finding id})
    def update_feedback(self, finding_id: str, build: FeedbackBuilder) -> dict[str, Any] | None:
        """In one transaction: read the finding, its feedback record and its proposal (if it has
        one), call build(finding, previous, proposal) -> (record, finding fields, proposal fields
        or None), write the record whole and update the finding and proposal. None (nothing
        written) when no finding has this id. `build` may run more than once (retries)."""
    def load_feedback(self, finding_id: str) -> dict[str, Any] | None: ...
    def list_feedback(self) -> list[dict[str, Any]]:
        """Every feedback record (one per marked finding)."""
    # exemplar versions (research_exemplars/{number}), immutable
    def create_exemplar_version(self, doc: dict[str, Any]) -> bool:
        """Create version doc["number"]; False when that number exists already (unchanged)."""
    def exemplar_version(self, number: int) -> dict[str, Any] | None: ...
    def latest_exemplar_version(self) -> dict[str, Any] | None:
        """The version with the highest number, or None."""
    def exemplar_versions(self, limit: int) -> list[dict[str, Any]]:
        """Versions, highest number first."""


FeedbackBuilder = Callable[[dict[str, Any], "dict[str, Any] | None", "dict[str, Any] | None"],
                           "tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]"]


# --- Firestore and Cloud Storage ----------------------------------------------------------------
def _too_long_to_query(value: str) -> bool:
    return len(value.encode()) > QUERY_VALUE_MAX_BYTES


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _validator_key(url: str) -> str:
    return _sha256(url)[:32]


def _contended_transaction(attempt: Callable[[], Any]) -> Any:
    """Run a read-modify-write transaction that others may race (two operators marking one
    finding): the emulator answers a contended read with ABORTED (lock timeout), the client gives
    up on a commit after its own retries; both wrote nothing, so try again, a bounded number of
    times, with jitter."""
    import random
    import time

    from google.api_core.exceptions import Aborted

    for round_ in range(FEEDBACK_ATTEMPTS):
        try:
            return attempt()
        except (Aborted, ValueError) as exc:
            if isinstance(exc, ValueError) and "Failed to commit transaction" not in str(exc):
                raise
            time.sleep(random.uniform(0.05, 0.2) * (round_ + 1))
    raise RuntimeError(f"a contended transaction did not commit in {FEEDBACK_ATTEMPTS} rounds; retry later")


def _without_finding_hash(proposal: dict[str, Any]) -> dict[str, Any]:
    proposal.pop(FINDING_HASH, None)
    return proposal


class FirestoreResearchStore:
    def _col(self, name: str) -> Any:
        return fs.client().collection(name)

    def _where(self, name: str, field: str, op: str, value: Any) -> list[dict[str, Any]]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        return [s.to_dict() for s in self._col(name).where(filter=FieldFilter(field, op, value)).stream()]

    def _get_many(self, name: str, ids: Iterable[str], key: str) -> dict[str, dict[str, Any]]:
        """The documents of these ids (keyed by their `key` field), read 300 at a time."""
        keys, col, out = sorted(set(ids)), self._col(name), {}
        for i in range(0, len(keys), 300):
            for snap in fs.client().get_all([col.document(fs.doc_id(x)) for x in keys[i:i + 300]]):
                if snap.exists:
                    doc = snap.to_dict()
                    out[doc[key]] = doc
        return out

    def load_findings(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return self._get_many(FINDINGS, ids, "id")

    def save_findings(self, new: list[dict[str, Any]], resighted: dict[str, dict[str, Any]]) -> None:
        col = self._col(FINDINGS)
        fs.commit_in_batches([(col.document(fs.doc_id(d["id"])), d, "set") for d in new]
                             + [(col.document(fs.doc_id(fid)), fields, "update") for fid, fields in resighted.items()])

    def findings_first_seen_on(self, day: date) -> list[dict[str, Any]]:
        return self._where(FINDINGS, "first_seen_day", "==", day.isoformat())

    def findings_since(self, since: datetime) -> list[dict[str, Any]]:
        return self._where(FINDINGS, "first_seen_at", ">=", since)

    def mark_proposed(self, finding_id: str, proposal_id: str) -> None:
        self._col(FINDINGS).document(fs.doc_id(finding_id)).update({"status": "proposed", "proposal_id": proposal_id})

    def create_proposal(self, doc: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        data = {**doc, FINDING_HASH: _sha256(doc["finding_id"])} if _too_long_to_query(doc["finding_id"]) else doc
        try:
            self._col(PROPOSALS).document(fs.doc_id(doc["id"])).create(data)
            return True
        except AlreadyExists:
            return False

    def proposals_for_findings(self, finding_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids, out = sorted(set(finding_ids)), []
        by_field = {"finding_id": [i for i in ids if not _too_long_to_query(i)],
                    FINDING_HASH: [_sha256(i) for i in ids if _too_long_to_query(i)]}
        for field, values in by_field.items():
            for i in range(0, len(values), FIRESTORE_IN_MAX):
                out += self._where(PROPOSALS, field, "in", values[i:i + FIRESTORE_IN_MAX])
        return [_without_finding_hash(d) for d in out]

    def proposals_since(self, since: datetime) -> list[dict[str, Any]]:
        return [_without_finding_hash(d) for d in self._where(PROPOSALS, "created_at", ">=", since)]

    def _scan_ref(self, scan_id: str) -> Any:
        return self._col(SCANS).document(fs.doc_id(scan_id))

    def claim_scan(self, initial: ScanState) -> str:
        return fs.claim(self._scan_ref(initial.scan_id), create_fields=_scan_doc(initial))

    def keep_scan_alive(self, scan_id: str) -> ContextManager[None]:
        return fs.keep_alive(self._scan_ref(scan_id))

    def finish_scan(self, record: ScanRecord) -> None:
        self._scan_ref(record.scan_id).update(_scan_doc(record))

    def load_scan(self, scan_id: str) -> ScanState | None:
        snap = self._scan_ref(scan_id).get()
        return scan_state(snap.to_dict()) if snap.exists else None

    def scans_since(self, since: datetime) -> list[ScanState]:
        return [scan_state(d) for d in self._where(SCANS, "started_at", ">=", since)]

    def load_validators(self) -> dict[str, dict[str, str]]:
        docs = (s.to_dict() or {} for s in self._col(HTTP_CACHE).stream())
        return {d["url"]: {k: v for k, v in d.items() if k != "url"} for d in docs if d.get("url")}

    def save_validators(self, entries: dict[str, dict[str, str]]) -> None:
        col = self._col(HTTP_CACHE)
        fs.commit_in_batches((col.document(_validator_key(url)), {"url": url, **v}, "set")
                             for url, v in entries.items())

    def load_judgements(self, finding_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return self._get_many(JUDGEMENTS, finding_ids, "finding_id")

    def claim_judgement(self, finding_id: str, claim: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound
        from google.cloud import firestore

        ref = self._col(JUDGEMENTS).document(fs.doc_id(finding_id))
        snap = ref.get()
        if not snap.exists:
            try:
                ref.create(claim)
                return True
            except AlreadyExists:
                return False
        old = snap.to_dict() or {}
        if old.get("status") not in RECLAIMABLE:
            return False
        # replace the failed outcome only if nobody wrote it since we read it
        fields = {**claim, **{k: firestore.DELETE_FIELD for k in old if k not in claim}}
        try:
            ref.update(fields, option=fs.client().write_option(last_update_time=snap.update_time))
            return True
        except (FailedPrecondition, NotFound):
            return False

    def save_judgement(self, finding_id: str, doc: dict[str, Any]) -> None:
        self._col(JUDGEMENTS).document(fs.doc_id(finding_id)).set(doc)

    def write_findings_file(self, bucket: str, day: date, text: str) -> str:
        from shared.platform import storage

        return storage.write_bytes(bucket, findings_path(day), text.encode(), "text/markdown; charset=utf-8")

    def read_findings_file(self, bucket: str, day: date) -> str | None:
        from google.api_core.exceptions import NotFound

        from shared.platform import storage

        try:
            return storage.read_bytes(bucket, findings_path(day)).decode()
        except NotFound:
            return None

    def update_feedback(self, finding_id: str, build: FeedbackBuilder) -> dict[str, Any] | None:
        from google.cloud import firestore

        finding_ref = self._col(FINDINGS).document(fs.doc_id(finding_id))
        feedback_ref = self._col(FEEDBACK).document(fs.doc_id(finding_id))

        @firestore.transactional
        def txn(transaction: Any) -> dict[str, Any] | None:
            snap = finding_ref.get(transaction=transaction)
            if not snap.exists:
                return None
            finding = snap.to_dict()
            previous = feedback_ref.get(transaction=transaction)
            proposal_ref = proposal = None
            if finding.get("proposal_id"):
                proposal_ref = self._col(PROPOSALS).document(fs.doc_id(finding["proposal_id"]))
                psnap = proposal_ref.get(transaction=transaction)
                proposal = psnap.to_dict() if psnap.exists else None
            record, finding_fields, proposal_fields = build(finding, previous.to_dict() if previous.exists else None,
                                                            proposal)
            transaction.set(feedback_ref, record)
            transaction.update(finding_ref, finding_fields)
            if proposal_fields and proposal is not None:
                transaction.update(proposal_ref, proposal_fields)
            return record
        return _contended_transaction(lambda: txn(fs.client().transaction()))

    def load_feedback(self, finding_id: str) -> dict[str, Any] | None:
        snap = self._col(FEEDBACK).document(fs.doc_id(finding_id)).get()
        return snap.to_dict() if snap.exists else None

    def list_feedback(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self._col(FEEDBACK).stream()]

    def create_exemplar_version(self, doc: dict[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        try:
            self._col(EXEMPLARS).document(str(int(doc["number"]))).create(doc)
            return True
        except AlreadyExists:
            return False

    def exemplar_version(self, number: int) -> dict[str, Any] | None:
        snap = self._col(EXEMPLARS).document(str(int(number))).get()
        return snap.to_dict() if snap.exists else None

    def latest_exemplar_version(self) -> dict[str, Any] | None:
        newest = self.exemplar_versions(1)
        return newest[0] if newest else None

    def exemplar_versions(self, limit: int) -> list[dict[str, Any]]:
        from google.cloud import firestore

        query = self._col(EXEMPLARS).order_by("number", direction=firestore.Query.DESCENDING).limit(limit)
        return [s.to_dict() for s in query.stream()]


# --- in memory (tests) --------------------------------------------------------------------------
class InMemoryResearchStore:
    """The same contract in dicts, with an injectable clock (for the claim's lease)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.findings: dict[str, dict[str, Any]] = {}
        self.proposals: dict[str, dict[str, Any]] = {}
        self.scans: dict[str, dict[str, Any]] = {}
        self.validators: dict[str, dict[str, str]] = {}
        self.judgements: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, bytes] = {}        # gs:// URI -> content
        self.feedback: dict[str, dict[str, Any]] = {}
        self.exemplars: dict[int, dict[str, Any]] = {}
        self.clock = clock
        self._mutex = threading.Lock()

    def _select(self, docs: dict[str, dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._mutex:
            return [deepcopy(d) for d in docs.values() if keep(d)]

    def load_findings(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self._mutex:
            return {i: deepcopy(self.findings[i]) for i in set(ids) if i in self.findings}

    def save_findings(self, new: list[dict[str, Any]], resighted: dict[str, dict[str, Any]]) -> None:
        with self._mutex:
            missing = set(resighted) - set(self.findings) - {d["id"] for d in new}
            if missing:                # like Firestore's update: a re-sighted finding must exist
                raise KeyError(sorted(missing))
            for doc in new:
                self.findings[doc["id"]] = deepcopy(doc)
            for fid, fields in resighted.items():
                self.findings[fid].update(deepcopy(fields))

    def findings_first_seen_on(self, day: date) -> list[dict[str, Any]]:
        return self._select(self.findings, lambda d: d.get("first_seen_day") == day.isoformat())

    def findings_since(self, since: datetime) -> list[dict[str, Any]]:
        return self._select(self.findings, lambda d: d.get("first_seen_at") is not None and d["first_seen_at"] >= since)

    def mark_proposed(self, finding_id: str, proposal_id: str) -> None:
        with self._mutex:
            self.findings[finding_id].update({"status": "proposed", "proposal_id": proposal_id})

    def create_proposal(self, doc: dict[str, Any]) -> bool:
        with self._mutex:
            if doc["id"] in self.proposals:
                return False
            self.proposals[doc["id"]] = deepcopy(doc)
            return True

    def proposals_for_findings(self, finding_ids: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(finding_ids)
        return self._select(self.proposals, lambda d: d.get("finding_id") in wanted)

    def proposals_since(self, since: datetime) -> list[dict[str, Any]]:
        return self._select(self.proposals, lambda d: d.get("created_at") is not None and d["created_at"] >= since)

    def claim_scan(self, initial: ScanState) -> str:
        with self._mutex:
            now = self.clock()
            doc = self.scans.get(initial.scan_id)
            if doc is None:
                self.scans[initial.scan_id] = {**_scan_doc(initial), "status": "running", "claimed_at": now,
                                               "first_claimed_at": now, "attempts": 1, "takeovers": 0}
                return "claimed"
            outcome, update = decide_claim(doc, now, LEASE_S)
            doc.update(update)
            return outcome

    @contextmanager
    def keep_scan_alive(self, scan_id: str) -> Iterator[None]:
        with self._mutex:
            self.scans[scan_id]["heartbeat_at"] = self.clock()
        yield

    def finish_scan(self, record: ScanRecord) -> None:
        with self._mutex:
            self.scans[record.scan_id].update(_scan_doc(record))   # like Firestore's update: claimed first

    def load_scan(self, scan_id: str) -> ScanState | None:
        with self._mutex:
            doc = self.scans.get(scan_id)
        return scan_state(doc) if doc is not None else None

    def scans_since(self, since: datetime) -> list[ScanState]:
        return [scan_state(d) for d in self._select(self.scans, lambda d: d["started_at"] >= since)]

    def load_validators(self) -> dict[str, dict[str, str]]:
        with self._mutex:
            return deepcopy(self.validators)

    def save_validators(self, entries: dict[str, dict[str, str]]) -> None:
        with self._mutex:
            self.validators.update(deepcopy(entries))

    def load_judgements(self, finding_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self._mutex:
            return {i: deepcopy(self.judgements[i]) for i in set(finding_ids) if i in self.judgements}

    def claim_judgement(self, finding_id: str, claim: dict[str, Any]) -> bool:
        with self._mutex:
            old = self.judgements.get(finding_id)
            if old is not None and old.get("status") not in RECLAIMABLE:
                return False
            self.judgements[finding_id] = deepcopy(claim)
            return True

    def save_judgement(self, finding_id: str, doc: dict[str, Any]) -> None:
        with self._mutex:
            self.judgements[finding_id] = deepcopy(doc)

    def write_findings_file(self, bucket: str, day: date, text: str) -> str:
        uri = f"gs://{bucket}/{findings_path(day)}"
        with self._mutex:
            self.objects[uri] = text.encode()
        return uri

    def read_findings_file(self, bucket: str, day: date) -> str | None:
        with self._mutex:
            data = self.objects.get(f"gs://{bucket}/{findings_path(day)}")
        return data.decode() if data is not None else None

    def update_feedback(self, finding_id: str, build: FeedbackBuilder) -> dict[str, Any] | None:
        with self._mutex:
            finding = self.findings.get(finding_id)
            if finding is None:
                return None
            pid = finding.get("proposal_id")
            proposal = self.proposals.get(pid) if pid else None
            record, finding_fields, proposal_fields = build(deepcopy(finding), deepcopy(self.feedback.get(finding_id)),
                                                            deepcopy(proposal))
            self.feedback[finding_id] = deepcopy(record)
            finding.update(deepcopy(finding_fields))
            if proposal_fields and proposal is not None:
                proposal.update(deepcopy(proposal_fields))
            return deepcopy(record)

    def load_feedback(self, finding_id: str) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.feedback.get(finding_id))

    def list_feedback(self) -> list[dict[str, Any]]:
        return self._select(self.feedback, lambda d: True)

    def create_exemplar_version(self, doc: dict[str, Any]) -> bool:
        with self._mutex:
            number = int(doc["number"])
            if number in self.exemplars:
                return False
            self.exemplars[number] = deepcopy(doc)
            return True

    def exemplar_version(self, number: int) -> dict[str, Any] | None:
        with self._mutex:
            return deepcopy(self.exemplars.get(int(number)))

    def latest_exemplar_version(self) -> dict[str, Any] | None:
        newest = self.exemplar_versions(1)
        return newest[0] if newest else None

    def exemplar_versions(self, limit: int) -> list[dict[str, Any]]:
        with self._mutex:
            return [deepcopy(self.exemplars[n]) for n in sorted(self.exemplars, reverse=True)[:limit]]


@functools.cache
def repository() -> ResearchStore:
    return FirestoreResearchStore()
