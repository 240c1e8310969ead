"""Gathering the planner's evidence from this run's records, and making sure a serving version
exists to plan against (version 1 from the catalog the first sync stored)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from shared.catalog.store import CatalogStore
from shared.catalog.sync import load_record
from shared.log import get_logger
from shared.planning.planner import ModelFacts, PlanningFacts, ProposalFacts, RankingFacts
from shared.policy import ModelVerdict
from shared.research.store import ResearchStore
from shared.serving.bootstrap import MODEL_FIELDS, ensure_version_one
from shared.serving.models import ServingVersion
from shared.serving.store import ServingStore

log = get_logger(__name__)
ROUTING_KINDS = ("routing_primary", "fallback_update")
# the proposals a week's plan reads: created in the last 7 days (the report's research digest
# covers the same days); older ones were planned by an earlier week
PROPOSAL_WINDOW = timedelta(days=7)
# where each proposal type names its target, first found wins
TARGET_FIELDS = {"strategy_change": ("target", "category"), "prompt_change": ("target", "template"),
                 "evaluate_model": ("catalog_model_id", "target"), "routing_hint": ()}


def current_serving(catalog: CatalogStore, serving: ServingStore, now: datetime, run_id: str) -> ServingVersion:
    """The version to plan against (version 1 from the catalog if no sync has made it yet)."""
    return ensure_version_one(catalog, serving, now, f"planner:{run_id}")


def gather(run: dict[str, Any], catalog: CatalogStore, serving: ServingStore, now: datetime,
           research: ResearchStore | None = None) -> PlanningFacts:
    """`research`: the blackboard whose open proposals the plan reads (None: the stage's
    repository)."""
    if research is None:
        from shared.research.store import repository

        research = repository()
    stages = run.get("stages") or {}
    sync_id = ((stages.get("catalog_sync") or {}).get("summary") or {}).get("sync_run_id")
    sync = load_record(sync_id, catalog) if sync_id else None
    bench = (stages.get("benchmark") or {}).get("summary") or {}
    unavailable = set((sync.endpoints or {}).get("unavailable") or []) if sync else set()
    models = {mid: ModelFacts(**{**doc, "id": mid}, endpoints_down=mid in unavailable)
              for mid, doc in catalog.models(MODEL_FIELDS).items()}
    verdicts = {m: ModelVerdict.model_validate(info["regression"])
                for m, info in (bench.get("models") or {}).items() if isinstance(info.get("regression"), dict)}
    categories = catalog.categories()
    return PlanningFacts(
        run_id=run["run_id"], now=now, demo=bool((run.get("options") or {}).get("demo")),
        sync_run_id=sync_id,
        added=sync.added if sync else [], deactivated=sync.deactivated if sync else [],
        reactivated=sync.reactivated if sync else [],
        price_changes=[{"model": p["model_id"], "new": (models.get(p["model_id"]) or ModelFacts(id="")).pricing}
                       for p in (sync.price_changes if sync else [])],
        new_categories=[categories[s] for s in ((sync.categories or {}).get("added") or []) if s in categories]
        if sync else [],
        models=models,
        rankings={slug: RankingFacts(ranked=info.get("top") or [], snapshot_id=info.get("snapshot_id") or "")
                  for slug, info in ((sync.rankings if sync else {}) or {}).items()},
        bench_id=bench.get("bench_id"), bench_simulated=bool(bench.get("simulated")), verdicts=verdicts,
        routing_changes_this_week=routing_changes_since(serving, now - timedelta(days=7)),
        proposals=open_proposals(research, now - PROPOSAL_WINDOW))


def open_proposals(research: ResearchStore, since: datetime) -> list[ProposalFacts]:
    """The open proposals created since `since`, typed. A document is untrusted: one that does
    not fit is skipped with a warning naming it and why; planning goes on without it."""
    out: list[ProposalFacts] = []
    for doc in research.proposals_since(since):
        pid = str(doc.get("id"))[:200] if isinstance(doc, dict) else None
        try:
            if not isinstance(doc, dict):
                raise TypeError(f"a {type(doc).__name__}, not a document")
            if doc.get("status", "open") != "open":
                continue
            out.append(proposal_facts(doc))
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<doc>'}: {e['msg']}" for e in exc.errors())
            log.warning("research proposal skipped: malformed", proposal_id=pid, error=reasons[:1000])
        except (TypeError, ValueError) as exc:
            log.warning("research proposal skipped: malformed", proposal_id=pid, error=str(exc)[:1000])
    scores = _relevance(research, {f for p in out for f in p.finding_ids})
    return sorted((p if p.score else p.model_copy(update={"score": max((scores.get(f, 0.0) for f in p.finding_ids),
                                                                           default=0.0)})
                   for p in out), key=lambda p: p.id)


def proposal_facts(doc: dict[str, Any]) -> ProposalFacts:
    """The planner's facts of one blackboard document (shared/research/blackboard.py's Proposal,
    and what a proposal may carry beyond it: target / category / template, strategy, text, score)."""
    ptype = doc.get("type")
    fields = TARGET_FIELDS.get(ptype, ()) if isinstance(ptype, str) else ()
    target = next((doc[k] for k in fields if doc.get(k) is not None), None)
    finding = doc.get("finding_id")
    return ProposalFacts.model_validate({
        "id": doc.get("id"), "type": ptype, "title": doc.get("title") or "",
        "finding_ids": [finding] if finding is not None else [], "urls": doc.get("evidence") or [],
        "score": doc.get("score") or 0.0, "target": target,
        "strategy": doc.get("strategy"), "text": doc.get("text")})


def _relevance(research: ResearchStore, finding_ids: set[str]) -> dict[str, float]:
    """The findings' relevance scores; a missing or non-numeric one counts 0."""
    out: dict[str, float] = {}
    for fid, doc in (research.load_findings(finding_ids) if finding_ids else {}).items():
        value = doc.get("relevance") if isinstance(doc, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < float("inf"):
            out[fid] = float(value)
    return out


def routing_changes_since(serving: ServingStore, since: datetime) -> dict[str, int]:
    """Routing changes per category in the versions created since `since`."""
    counts: dict[str, int] = {}
    for version in serving.history(20):
        if version.created_at < since:
            break
        for change in version.changes:
            if change.kind in ROUTING_KINDS:
                counts[change.target] = counts.get(change.target, 0) + 1
    return counts
