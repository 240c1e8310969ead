"""The research blackboard's rules: findings (new, seen, proposed, dismissed) and typed
integration proposals the planner can risk-rate. Where they are kept is shared/research/store.py's."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from shared.research.findings import Finding
from shared.research.relevance import Assessment, CombinedAssessment, JudgedAssessment

ProposalType = Literal["evaluate_model", "prompt_change", "strategy_change", "routing_hint"]
PROPOSAL_TYPES = ("evaluate_model", "prompt_change", "strategy_change", "routing_hint")
IMPACT_RANK = {"low": 0, "medium": 1, "high": 2}


class Proposal(BaseModel):
    id: str
    type: ProposalType
    finding_id: str
    title: str
    rationale: str
    evidence: list[str]
    topics: list[str]
    impact: str
    catalog_model_id: str | None = None   # evaluate_model: the OpenRouter id when it exists
    status: Literal["open", "accepted", "rejected"] = "open"
    created_at: datetime
    scan_id: str


def new_finding_doc(f: Finding, a: Assessment, seen_in: list[str], scan_id: str, now: datetime) -> dict[str, Any]:
    """The blackboard document of a new finding. With the semantic scorer (a CombinedAssessment)
    it also carries `borderline` (what the LLM judge reads) and `semantic_similarity`; when the
    LLM judge decided it (a JudgedAssessment), `judge` {model, relevance, topics, reason, at,
    cost_usd, simulated}."""
    doc = {**f.model_dump(mode="python"), "assessment": a.model_dump(mode="python"),
           "relevance": a.relevance, "impact": a.impact,
           "top_topic": a.top_topic,
           "status": "new", "seen_in": seen_in, "first_seen_at": now,
           "first_seen_day": now.date().isoformat(), "last_seen_at": now, "first_scan_id": scan_id,
           "versions": [f.arxiv_version] if f.arxiv_version else []}
    if isinstance(a, CombinedAssessment):
        doc["borderline"] = a.borderline
        doc["semantic_similarity"] = a.semantic.similarity
    if isinstance(a, JudgedAssessment):   # the LLM judge decided (shared/research/judge.py)
        doc["judge"] = a.judge.model_dump(mode="python")
    return doc


def update_for_resighting(existing: dict[str, Any], f: Finding, seen_in: list[str], now: datetime
                          ) -> dict[str, Any] | None:
    """A finding seen before is not new again; a new arXiv version or source is noted on it.
    Returns the fields to update, or None when nothing changed."""
    update: dict[str, Any] = {}
    versions = list(existing.get("versions") or [])
    if f.arxiv_version and f.arxiv_version not in versions:
        update["versions"] = sorted(versions + [f.arxiv_version])
        if f.arxiv_version > max(versions or [0]):
            update["arxiv_version"] = f.arxiv_version
            update["new_version_noted_at"] = now
    sources = list(existing.get("seen_in") or [])
    added = [s for s in seen_in if s not in sources]
    if added:
        update["seen_in"] = sources + added
    if update:
        update["last_seen_at"] = now
        if existing.get("status") == "new":
            update["status"] = "seen"
    return update or None


def hugging_face_repo(f: Finding) -> str | None:
    """The Hugging Face repository a model finding names (what ties it to the OpenRouter catalog)."""
    return f.base_model or (f.id[3:] if f.id.startswith("hf:") else None)


def proposal_for(f: Finding, a: Assessment, type_by_topic: dict[str, str], scan_id: str,
                 now: datetime, catalog_model_id: str | None = None) -> Proposal:
    """`catalog_model_id`: the OpenRouter model of this finding's Hugging Face repository, if any."""
    top = a.top_topic
    ptype = "evaluate_model" if f.kind == "hf_models" else type_by_topic.get(top or "", "strategy_change")
    if ptype not in PROPOSAL_TYPES:
        ptype = "strategy_change"
    catalog_id = catalog_model_id if ptype == "evaluate_model" else None
    matched = "; ".join(f"{t.topic}: {', '.join(t.phrases)}" for t in a.topics if t.score > 0)
    semantic = ""
    if isinstance(a, CombinedAssessment) and a.semantic.topic:
        semantic = (f" Semantic: {a.semantic.topic} {a.semantic.similarity:.2f}, nearest {a.semantic.nearest_kind}"
                    f" \"{a.semantic.nearest}\".")
    if isinstance(a, JudgedAssessment):
        semantic += f" {a.decision}."
    rationale = (f"{a.impact} impact ({'; '.join(a.impact_reasons)}). Matched {matched or 'no topic'}.{semantic}"
                 + (f" Available on OpenRouter as {catalog_id}." if catalog_id else
                    " Not in the OpenRouter catalog yet." if ptype == "evaluate_model" else ""))
    evidence = [f.url] + ([f"https://arxiv.org/abs/{f.arxiv_id}"] if f.arxiv_id and "arxiv.org" not in f.url else []) \
        + ([f.signals.github_url] if f.signals.github_url else [])
    pid = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{ptype}--{f.id}")[:300]
    return Proposal(id=pid, type=ptype, finding_id=f.id, title=f.title, rationale=rationale,
                    evidence=evidence, topics=a.positive_topics, impact=a.impact,
                    catalog_model_id=catalog_id, created_at=now, scan_id=scan_id)
