"""The research scan: fetch every configured source, parse, deduplicate, score, post to the
blackboard, write the day's findings file and a scan record (all kept by shared/research/store.py)."""
from __future__ import annotations

import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any

from shared.catalog import store as catalog_store
from shared.catalog.store import CatalogStore
from shared.config import Settings
from shared.log import get_logger
from shared.platform.events import RetryLater
from shared.research import blackboard as bb
from shared.research.config import ResearchConfig, SourceSpec, load_research_config
from shared.research.fetch import Page, SourceFetch, fetch_all
from shared.research.findings import Finding
from shared.research.model_names import MENTION_PREFIX
from shared.research.parsers import FeedError, ParsedFeed, merge_findings, parse_feed
from shared.research.relevance import (COMBINED_SCORER, JUDGED_SCORER, Assessment, CombinedAssessment,
                                      JudgeVerdict, TopicMatcher, combine, judged, topic_matcher)
from shared.research.semantic import FeedbackMatch, SemanticMatch
from shared.research.store import ResearchStore, ScanRecord, SourceResult, repository
from shared.text import markdown_templates

log = get_logger(__name__)
LLM_NOTE = "keyword scorer only; no LLM judge (it needs the semantic scorer's borderline band)"
SEMANTIC_NOTE = "wordllama l2_supercat 256; LLM judge off"
MODEL_NAMES_NOTE = "catalog model names as release evidence"


def scorer_name(config: ResearchConfig) -> str:
    """What the scan record says scored the findings."""
    names = f"; {MODEL_NAMES_NOTE}" if config.model_names.enabled else ""
    if config.semantic.enabled and config.judge.enabled:
        return (f"{JUDGED_SCORER} (wordllama l2_supercat 256; LLM judge {config.judge.model} on borderline "
                f"items only, relevant at >= {config.judge.min_relevance}/10{names})")
    if config.semantic.enabled:
        return f"{COMBINED_SCORER} ({SEMANTIC_NOTE}{names})"
    return f"keywords-v1 ({LLM_NOTE}{names})"


def window_for(as_of: date, days: int) -> tuple[datetime, datetime]:
    end = datetime.combine(as_of, dtime.max, tzinfo=timezone.utc)
    start = datetime.combine(as_of - timedelta(days=days - 1), dtime.min, tzinfo=timezone.utc)
    return start, end


def arxiv_next_page(window_start: datetime):
    """arXiv API paging: go on while pages are full and still inside the window."""
    def next_page(spec: SourceSpec, page: Page, params: dict[str, Any]) -> dict[str, Any] | None:
        if spec.kind != "arxiv_api" or page.status != 200:
            return None
        try:
            parsed = parse_feed("arxiv_api", page.body, spec.name, window_start, None)
        except FeedError:
            return None
        if parsed.total_items < spec.page_size or any(s == "outside window" for s in parsed.skipped):
            return None
        start = int(params.get("start", 0)) + spec.page_size
        if parsed.total_results is not None and start >= parsed.total_results:
            return None
        return {**params, "start": start}
    return next_page


class ResearchScan:
    def __init__(self, settings: Settings, config: ResearchConfig, record: ScanRecord, store: ResearchStore,
                 catalog: CatalogStore | None = None):
        self.settings = settings
        self.config = config
        self.rec = record
        self.store = store
        self.catalog = catalog   # where model findings are looked up (None: the catalog repository)
        self.matcher = None       # built in run(): it reads the catalog's model families
        self.now = record.started_at
        self.exemplars = None     # the ExemplarVersion in force (feedback on and some feedback given)
        self._ignored_examples = 0

    def run(self) -> None:
        if self.config.semantic.enabled and self.config.feedback.enabled:
            from shared.research.feedback import ensure_version

            self.exemplars = ensure_version(self.store, self.now, f"scan:{self.rec.scan_id}")
            self.rec.exemplar_version = self.exemplars.number if self.exemplars else None
        self.matcher = self._matcher()
        fetches = fetch_all(self.config, self.settings, self.rec.as_of, self.store,
                            arxiv_next_page(self.rec.window_start),
                            progress=log_fetched)
        results: dict[str, SourceResult] = {}
        merged: dict[str, Finding] = {}
        seen_in: dict[str, list[str]] = {}
        first_source: dict[str, str] = {}
        validators: dict[str, dict[str, str]] = {}
        for f in fetches:
            res, findings = self._parse_source(f)
            results[f.spec.name] = res
            if res.status in ("ok", "empty", "not_modified"):
                validators.update(f.validators_to_save)
            for finding in findings:
                if finding.id in merged:
                    merged[finding.id] = merge_findings(merged[finding.id], finding)
                    if f.spec.name not in seen_in[finding.id]:
                        seen_in[finding.id].append(f.spec.name)
                else:
                    merged[finding.id] = finding
                    seen_in[finding.id] = [f.spec.name]
                    first_source[finding.id] = f.spec.name

        restrict = {s.name: s.topics for s in self.config.sources}
        semantic, feedback = self._semantic(merged, {fid: restrict.get(src) for fid, src in first_source.items()})
        scored: dict[str, Assessment] = {}
        for fid, finding in merged.items():
            a = self.matcher.assess(finding, restrict.get(first_source[fid]))
            if semantic is not None:
                a = combine(finding, a, semantic[fid], self.config.semantic, self.config.relevance_threshold,
                            feedback.get(fid), self.config.feedback)
            scored[fid] = a
        verdicts = self._judge(merged, scored, {fid: restrict.get(src) for fid, src in first_source.items()}) \
            if semantic is not None and self.config.judge.enabled else {}
        assessed: dict[str, Assessment] = {}
        borderline = borderline_irrelevant = semantic_only = vetoed = by_example = 0
        for fid, a in scored.items():
            if isinstance(a, CombinedAssessment):
                if fid in verdicts:
                    a = judged(a, verdicts[fid], self.config.judge.min_relevance)
                relevant = a.relevant
                borderline += a.borderline and relevant
                borderline_irrelevant += a.borderline and not relevant
                semantic_only += relevant and a.semantic_relevant and not a.keyword_relevant
                if a.feedback is not None:
                    vetoed += not relevant and (a.feedback.keyword_vetoed or a.feedback.semantic_vetoed)
                    by_example += relevant and not a.keyword_relevant and a.feedback.by_example
            else:
                relevant = a.relevance >= self.config.relevance_threshold
            if not relevant:
                for src in seen_in[fid]:
                    results[src].irrelevant += 1
                continue
            assessed[fid] = a
        existing = self.store.load_findings(assessed)
        new_docs: list[dict[str, Any]] = []
        resighted: dict[str, dict[str, Any]] = {}
        new_ids, updated_versions = [], 0
        for fid, a in assessed.items():
            finding = merged[fid]
            if fid in existing:
                for src in seen_in[fid]:
                    results[src].duplicate += 1
                update = bb.update_for_resighting(existing[fid], finding, seen_in[fid], self.now)
                if update:
                    updated_versions += int("new_version_noted_at" in update)
                    resighted[fid] = update
                continue
            new_ids.append(fid)
            for src in seen_in[fid]:
                if src == first_source[fid]:
                    results[src].new += 1
                else:
                    results[src].duplicate += 1  # the same item from another source this scan
            new_docs.append(bb.new_finding_doc(finding, a, seen_in[fid], self.rec.scan_id, self.now))
        self.store.save_findings(new_docs, resighted)
        self._propose(new_ids, merged, assessed)
        # saved only after the scan stored what it parsed, so a crash refetches in full
        self.store.save_validators(validators)
        self.rec.sources = list(results.values())
        self.rec.new_findings = sorted(new_ids)
        self.rec.counts = {
            "sources": len(results), "source_errors": sum(r.status == "error" for r in results.values()),
            "not_modified": sum(r.status == "not_modified" for r in results.values()),
            "fetched": sum(r.fetched for r in results.values()),
            "in_window": sum(r.in_window for r in results.values()),
            "new": len(new_ids), "duplicate": sum(r.duplicate for r in results.values()),
            "irrelevant": len(merged) - len(assessed), "new_versions": updated_versions,
            "proposals": len(self.rec.proposals),
            "requests": sum(r.requests for r in results.values()),
            "bytes": sum(r.bytes for r in results.values()),
        }
        if semantic is not None:
            self.rec.counts.update({"semantic_only": semantic_only, "borderline": borderline,
                                    "borderline_irrelevant": borderline_irrelevant})
        if self.config.model_names.enabled:
            # relevant findings whose release evidence is a catalog model named in their title
            self.rec.counts.update({"catalog_model_families": len(self.matcher.model_names or ()), "catalog_model_mentions": sum(
                any(p.startswith(MENTION_PREFIX) for t in a.topics for p in t.phrases) for a in assessed.values())})
        if self.exemplars is not None:
            # irrelevant only because of a dismissed example; relevant only through a relevant one
            self.rec.counts.update({"feedback_vetoed": vetoed, "feedback_only": by_example,
                                    "feedback_examples_ignored": self._ignored_examples})
        self.rec.findings_uri = write_findings_file(self.settings, self.config, self.now.date(),
                                                    self.rec.scorer, self.store)

    def _matcher(self) -> TopicMatcher:
        """The topics' matcher, with the catalog's model families when model_names is enabled."""
        if not self.config.model_names.enabled:
            return topic_matcher(self.config)
        models = (self.catalog or catalog_store.repository()).models(["name"])
        matcher = topic_matcher(self.config, models.values())
        if not matcher.model_names:
            log.warning("the catalog has no model family yet: titles naming a model are not release evidence "
                        "in this scan (run the catalog sync)", catalog_models=len(models))
        return matcher

    def _judge(self, merged: dict[str, Finding], scored: dict[str, Assessment],
               restrict: dict[str, list[str] | None]) -> dict[str, JudgeVerdict]:
        """The LLM judge's valid judgements of the borderline items (shared/research/judge.py); the
        scan record's `judge` says what it did. A judge that fails leaves every combined decision
        standing and says so in the record and an ERROR log: the scan goes on."""
        from shared.research.judge import Borderline, Judge, JudgeStats

        by_name = {t.name: t for t in self.config.topics}
        items = [Borderline(merged[fid], a, [by_name[n] for n in restrict[fid]] if restrict[fid] is not None
                            else list(self.config.topics))
                 for fid, a in scored.items() if isinstance(a, CombinedAssessment) and a.borderline]
        judge = Judge(self.settings, self.config, self.store, self.rec.scan_id, pricing_of=self._judge_pricing)
        try:
            verdicts = judge.judge(items)
        except Exception as exc:   # noqa: BLE001 - reported in the record and the log, never silent
            from shared.redaction import redact

            log.error("research judge failed: the combined decisions stand", scan_id=self.rec.scan_id,
                      error=redact(str(exc))[:300], exc_info=True)
            stats: JudgeStats = judge.stats
            stats.stopped = f"judge failed: {type(exc).__name__}: {redact(str(exc))[:300]}"
            stats.decided = stats.flipped = 0
            verdicts = {}
        finally:
            judge.close()
        self.rec.judge = judge.stats.model_dump(mode="python")
        return verdicts

    def _judge_pricing(self, model: str) -> dict[str, Any] | None:
        """The judge model's bounding catalog prices (None: not in the catalog)."""
        from shared.catalog.models import bounding_pricing
        from shared.catalog.sync import model_details

        found = model_details([model], self.catalog)
        return bounding_pricing(found[model]) if model in found else None

    def _semantic(self, merged: dict[str, Finding], restrict: dict[str, list[str] | None]
                  ) -> tuple[dict[str, SemanticMatch] | None, dict[str, FeedbackMatch]]:
        """The semantic scorer's verdict on every merged finding (None when it is disabled), and
        each finding's nearest feedback examples (empty without an exemplar version).
        The model is imported and loaded here, on the first scan of a process that needs it."""
        self._ignored_examples = 0
        if not self.config.semantic.enabled:
            return None, {}
        if not merged:
            return {}, {}
        from shared.research.semantic import ExampleScorer, SemanticScorer

        started = time.monotonic()
        spec = self.config.semantic
        scorer = SemanticScorer(self.config.topics, spec.aggregate, spec.max_chars)
        ids = list(merged)
        findings = [merged[i] for i in ids]
        restricts = [restrict[i] for i in ids]
        vetoes = [self.matcher.negated(merged[i], restrict[i]) for i in ids]
        vectors = scorer.embed_items(findings)
        matches = scorer.score(findings, restricts, vetoes, vectors=vectors)
        feedback: dict[str, FeedbackMatch] = {}
        if self.exemplars is not None:
            examples = ExampleScorer(self.exemplars, scorer.topic_names)
            self._ignored_examples = len(examples.ignored)
            if examples.ignored:
                log.warning("feedback examples of topics no longer configured are ignored",
                            version=self.exemplars.number, ignored=examples.ignored[:20])
            feedback = dict(zip(ids, examples.score(ids, vectors, restricts, vetoes)))
        log.info("semantic scoring done", items=len(ids), duration_s=round(time.monotonic() - started, 3),
                 exemplar_version=self.exemplars.number if self.exemplars else None)
        return dict(zip(ids, matches)), feedback

    def _parse_source(self, f: SourceFetch) -> tuple[SourceResult, list[Finding]]:
        spec = f.spec
        res = SourceResult(name=spec.name, kind=spec.kind, url=spec.url, label=spec.label, status="ok",
                           http_statuses=f.statuses, requests=f.requests, bytes=f.bytes,
                           duration_s=f.duration_s)
        if f.error and not any(p.status == 200 for p in f.pages):
            res.status, res.error = "error", f.error
            return res, []
        if f.not_modified:
            res.status = "not_modified"
            return res, []
        findings: list[Finding] = []
        for page in f.pages:
            if page.status == 304:
                continue
            try:
                window = (None, None) if spec.kind == "hf_daily_papers" else (self.rec.window_start, self.rec.window_end)
                parsed: ParsedFeed = parse_feed(spec.kind, page.body, spec.name, *window)
            except FeedError as exc:
                res.status, res.error = "error", f"{page.url}: {exc}"
                return res, []
            res.fetched += parsed.total_items
            res.skipped += len(parsed.skipped)
            findings += parsed.findings
        res.in_window = len(findings)
        if f.error:  # earlier pages were fine: keep what they gave, say what failed
            res.status, res.error = "partial", f.error
        elif not res.fetched:
            res.status = "empty"
        return res, findings

    def _propose(self, new_ids: list[str], merged: dict[str, Finding], assessed: dict[str, Assessment]) -> None:
        floor = bb.IMPACT_RANK.get(self.config.proposal_min_impact, 2)
        type_by_topic = {t.name: t.proposal_type for t in self.config.topics}
        for fid in new_ids:
            a = assessed[fid]
            if bb.IMPACT_RANK[a.impact] < floor:
                continue
            repo = bb.hugging_face_repo(merged[fid]) if merged[fid].kind == "hf_models" else None
            catalog_id = catalog_store.model_id_for_hugging_face(repo, self.catalog) if repo else None
            p = bb.proposal_for(merged[fid], a, type_by_topic, self.rec.scan_id, self.now, catalog_id)
            if not self.store.create_proposal(p.model_dump(mode="python")):
                continue
            self.store.mark_proposed(fid, p.id)
            self.rec.proposals.append(p.id)


_env = markdown_templates("shared.research")


def findings_markdown(config: ResearchConfig, day: date, findings: list[dict[str, Any]],
                      proposals: list[dict[str, Any]], scorer: str) -> str:
    by_topic: dict[str, list[dict[str, Any]]] = {t.name: [] for t in config.topics}
    # a finding only the semantic scorer found (relevance 0) comes after the keyword ones
    for f in sorted(findings, key=lambda d: (-d.get("relevance", 0), -d.get("semantic_similarity", 0), d["id"])):
        top = f.get("top_topic")
        if top in by_topic:
            by_topic[top].append(f)
    return _env.get_template("findings.md.j2").render(
        day=day.isoformat(), by_topic={k: v[:config.findings_per_topic] for k, v in by_topic.items() if v},
        total=len(findings), proposals=sorted(proposals, key=lambda p: p["id"]), scorer=scorer,
        per_topic=config.findings_per_topic)


def write_findings_file(settings: Settings, config: ResearchConfig, day: date, scorer: str,
                        store: ResearchStore) -> str:
    """The day's findings file: every finding first seen that day (all scans of the day)."""
    findings = store.findings_first_seen_on(day)
    proposals = store.proposals_for_findings(f["id"] for f in findings)
    text = findings_markdown(config, day, findings, proposals, scorer)
    return store.write_findings_file(settings.require_reports_bucket(), day, text)


def run_scan(settings: Settings, scan_id: str, as_of: date | None = None,
             config_path: str | None = None, store: ResearchStore | None = None,
             catalog: CatalogStore | None = None) -> ScanRecord:
    """Run one scan, exactly once per scan_id (a redelivery returns status 'duplicate')."""
    store = store or repository()
    now = datetime.now(timezone.utc)
    path = config_path or settings.research_sources
    config = load_research_config(path)
    as_of = as_of or now.date()
    start, end = window_for(as_of, config.window_days)
    rec = ScanRecord(scan_id=scan_id, as_of=as_of, window_start=start, window_end=end,
                     config=str(path or "default (shared/research/default_config.yaml)"),
                     scorer=scorer_name(config), started_at=now)
    # The claim creates the whole initial record (status "running"), so a reader polling the
    # scan while it runs finds the window and configuration already.
    claim = store.claim_scan(rec)
    if claim == "busy":
        raise RetryLater(f"scan {scan_id} is running in another attempt with a live lease")
    if claim != "claimed":
        log.warning("scan already handled", scan_id=scan_id, claim=claim)
        return rec.model_copy(update={"status": "duplicate"})
    started = time.monotonic()
    try:
        with store.keep_scan_alive(scan_id):
            ResearchScan(settings, config, rec, store, catalog).run()
        errors = [s for s in rec.sources if s.status in ("error", "partial")]
        failed = [s for s in rec.sources if s.status == "error"]
        rec.status = "failed" if failed and len(failed) == len(rec.sources) else "partial" if errors else "succeeded"
        if rec.status == "failed":
            rec.error = "every source failed"
    finally:
        rec.finished_at = datetime.now(timezone.utc)
        rec.duration_s = round(time.monotonic() - started, 3)
        if rec.status == "running":
            rec.status, rec.error = "errored", "internal error (see logs); will be retried"
        store.finish_scan(rec)
    # severities an alert can trust: a scan whose every source failed is an ERROR, one with
    # isolated failures a WARNING
    level = {"failed": log.error, "partial": log.warning}.get(rec.status, log.info)
    level("research scan finished", scan_id=scan_id, status=rec.status, counts=rec.counts,
          duration_s=rec.duration_s, error=rec.error,
          failed_sources=[s.name for s in rec.sources if s.status in ("error", "partial")])
    return rec


def log_fetched(f: SourceFetch) -> None:
    """A source that failed is a WARNING (the scan goes on without it); a fetched one INFO."""
    (log.warning if f.error else log.info)("source fetched" if not f.error else "source failed",
                                           source=f.spec.name, statuses=f.statuses, error=f.error)

