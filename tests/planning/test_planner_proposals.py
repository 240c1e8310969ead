"""Research proposals become plan changes (pure rules on hand-made facts), and the planner's facts
of the blackboard's untrusted proposal documents (in-memory research store, no emulator)."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.planning.facts import PROPOSAL_WINDOW, open_proposals
from shared.planning.planner import MEASURED_NEXT, ProposalFacts, RankingFacts, make_plan, models_to_evaluate
from shared.research import blackboard as bb
from shared.research.store import InMemoryResearchStore
from shared.serving.changes import ChangeConflict, build_candidate
from shared.serving.upgrade import decide
from tests.planning.test_planner import NOW, POLICY, facts, serving


def proposal(pid: str, ptype: str, **kw) -> ProposalFacts:
    return ProposalFacts(id=pid, type=ptype, title=kw.pop("title", f"paper {pid}"),
                         finding_ids=kw.pop("finding_ids", [f"arxiv:{pid}"]),
                         urls=kw.pop("urls", [f"https://arxiv.org/abs/{pid}"]), **kw)


def plan_of(*proposals: ProposalFacts, **kw):
    return make_plan(facts(proposals=list(proposals), **kw), serving(), POLICY)


# --- strategy_change --------------------------------------------------------------------------
def test_a_strategy_proposal_for_a_routed_category_is_a_gated_strategy_change():
    p = proposal("p1", "strategy_change", target="programming", score=3.5,
                 strategy={"name": "self-consistency", "params": {"samples": 5}})
    [c] = plan_of(p).changes
    assert (c.kind, c.target, c.risk, c.decision) == ("strategy_change", "programming", "HIGH", "gated")
    assert c.before == {"name": "direct", "params": {}}
    assert c.after == {"name": "self_consistency", "params": {"samples": 5}}
    assert c.evidence == {"findings": ["arxiv:p1"], "finding_urls": ["https://arxiv.org/abs/p1"], "proposals": ["p1"]}
    assert c.priority_parts == {"kind": 25.0, "proposal_score": 3.5} and c.priority == 28.5
    assert c.needs_post_benchmark and "research proposal p1 (paper p1)" in c.rationale
    cand = build_candidate(serving(), [c], "operator:ana", "approved", NOW)   # it applies to its base
    assert cand.strategies["programming"].name == "self_consistency"


def test_a_strategy_proposal_without_a_category_goes_to_the_default_strategy():
    [c] = plan_of(proposal("p1", "strategy_change", strategy="CoT")).changes
    assert (c.target, c.decision, c.after) == ("default", "gated", {"name": "chain_of_thought", "params": {}})
    assert c.before == {"name": "direct", "params": {}}
    assert "names no category; rule:" in c.rationale


@pytest.mark.parametrize("kw, why", [
    ({}, "names no concrete strategy"),
    ({"strategy": "tree of thoughts"}, "'tree of thoughts' is not one the platform serves"),
    ({"strategy": "chain_of_thought", "target": "legal"}, "names category legal, which has no route"),
])
def test_a_strategy_proposal_that_cannot_be_made_concrete_is_deferred_saying_why(kw, why):
    [c] = plan_of(proposal("p1", "strategy_change", **kw)).changes
    assert c.kind == "strategy_change" and c.decision == "deferred" and why in c.decision_rule


def test_a_strategy_already_served_proposes_nothing():
    assert plan_of(proposal("p1", "strategy_change", target="programming", strategy="direct")).changes == []


# --- prompt_change ----------------------------------------------------------------------------
def test_a_prompt_proposal_with_text_is_a_new_template_version():
    [c] = plan_of(proposal("p1", "prompt_change", target="code", text="  Think, then write the code.  ")).changes
    assert (c.kind, c.target, c.risk, c.decision) == ("prompt_template_update", "code", "HIGH", "gated")
    assert c.before == serving().prompts["code"].model_dump()
    assert c.after == {"text": "Think, then write the code.", "version": 2}
    assert build_candidate(serving(), [c], "operator:ana", "approved", NOW).prompts["code"].version == 2


def test_prompt_proposals_without_text_or_template_are_deferred_and_the_default_template_is_system():
    plan = plan_of(proposal("p1", "prompt_change"),
                   proposal("p2", "prompt_change", target="legal", text="Be exact."))
    by_target = {c.target: c for c in plan.changes}
    assert by_target["system"].decision == "deferred"
    assert "carries no template text" in by_target["system"].decision_rule
    assert "names no template; rule: the general one" in by_target["system"].rationale
    assert by_target["legal"].decision == "deferred" and "template legal, which is not served" in \
        by_target["legal"].decision_rule
    assert plan_of(proposal("p3", "prompt_change", text=serving().prompts["system"].text)).changes == []


# --- evaluate_model ---------------------------------------------------------------------------
def test_evaluate_model_asks_the_next_benchmark_and_is_never_part_of_a_candidate():
    plan = plan_of(proposal("p1", "evaluate_model", target="d/four"),
                   proposal("p2", "evaluate_model", target="z/unknown"),
                   proposal("p3", "evaluate_model", finding_ids=["hf:lab/new-model"]))
    by_target = {c.target: c for c in plan.changes}
    ok = by_target["d/four"]
    assert (ok.kind, ok.risk, ok.decision, ok.decision_rule) == ("evaluate_model", "LOW", "deferred", MEASURED_NEXT)
    assert not ok.needs_post_benchmark
    assert by_target["z/unknown"].decision == "rejected" and "not in the OpenRouter catalog" in \
        by_target["z/unknown"].decision_rule
    assert by_target["hf:lab/new-model"].decision == "rejected"
    assert models_to_evaluate(plan) == ["d/four"]
    with pytest.raises(ChangeConflict, match="changes nothing served"):
        build_candidate(serving(), [ok.model_copy(update={"decision": "auto_apply"})], "x", "y", NOW)
    forced = decide([ok.model_copy(update={"decision": "auto_apply"})], serving(), "x", "y", NOW)
    assert forced.candidate is None and "changes nothing served" in forced.waiting[ok.id]


def test_an_inactive_model_is_not_evaluated():
    f = facts(proposals=[proposal("p1", "evaluate_model", target="d/four")])
    f.models["d/four"] = f.models["d/four"].model_copy(update={"active": False})
    [c] = make_plan(f, serving(), POLICY).changes
    assert c.decision == "rejected" and "inactive" in c.decision_rule and models_to_evaluate(make_plan(
        f, serving(), POLICY)) == []


# --- routing hints, duplicates, an unchanged week ----------------------------------------------
def test_a_routing_hint_changes_nothing_by_itself():
    assert plan_of(proposal("p1", "routing_hint", target="programming")).changes == []


def test_two_proposals_saying_the_same_thing_make_one_change_with_both_as_evidence():
    a = proposal("p1", "strategy_change", target="science", strategy="self_consistency", score=1.0)
    b = proposal("p2", "strategy_change", target="science", strategy="Self Consistency", score=4.0)
    e1 = proposal("p3", "evaluate_model", target="d/four", score=2.0)
    e2 = proposal("p4", "evaluate_model", target="d/four", score=1.0)
    science = facts(proposals=[b, a, e1, e2]).model_copy(deep=True)
    s = serving()
    s = s.model_copy(update={"routing": {**s.routing, "science": s.routing["programming"]}})
    plan = make_plan(science, s, POLICY)
    assert len(plan.changes) == 2 and len({c.id for c in plan.changes}) == 2
    strategy = next(c for c in plan.changes if c.kind == "strategy_change")
    assert strategy.evidence["proposals"] == ["p1", "p2"] and strategy.evidence["findings"] == ["arxiv:p1", "arxiv:p2"]
    assert strategy.priority_parts["proposal_score"] == 4.0 and "Also proposed by p2" in strategy.rationale
    assert models_to_evaluate(plan) == ["d/four"]


def test_an_unchanged_week_without_proposals_or_with_only_hints_plans_nothing():
    ranked = {"programming": RankingFacts(ranked=["a/one", "b/two"], snapshot_id="s")}
    assert plan_of(rankings=ranked).changes == []
    assert plan_of(proposal("p1", "routing_hint"), rankings=ranked).changes == []


def test_re_planning_proposals_gives_the_same_ids_in_the_same_order():
    ps = [proposal("p1", "strategy_change", strategy="cot"), proposal("p2", "prompt_change", text="Be brief."),
          proposal("p3", "evaluate_model", target="d/four")]
    assert [c.id for c in plan_of(*ps).changes] == [c.id for c in plan_of(*reversed(ps)).changes]


# --- the facts: the blackboard's documents are untrusted -------------------------------------------
def blackboard_doc(pid: str, ptype: str, created_at=NOW, **kw) -> dict:
    doc = bb.Proposal(id=pid, type=ptype, finding_id=f"arxiv:{pid}", title=f"paper {pid}", rationale="r",
                      evidence=[f"https://arxiv.org/abs/{pid}"], topics=["RAG"], impact="high",
                      created_at=created_at, scan_id="scan-1").model_dump(mode="python")
    return {**doc, **kw}


def test_open_proposals_are_typed_with_their_target_and_score():
    store = InMemoryResearchStore()
    for doc in [blackboard_doc("s", "strategy_change", category="programming", strategy={"name": "cot"}),
                blackboard_doc("p", "prompt_change", template="code", text="Be brief.", score=7),
                blackboard_doc("e", "evaluate_model", catalog_model_id="d/four"),
                blackboard_doc("old", "strategy_change", created_at=NOW - PROPOSAL_WINDOW - timedelta(hours=1)),
                blackboard_doc("done", "strategy_change", status="accepted")]:
        store.create_proposal(doc)
    store.save_findings([{"id": "arxiv:s", "relevance": 2.5}, {"id": "arxiv:e", "relevance": float("nan")}], {})
    got = {p.id: p for p in open_proposals(store, NOW - PROPOSAL_WINDOW)}
    assert sorted(got) == ["e", "p", "s"]
    assert (got["s"].target, got["s"].strategy.name, got["s"].score) == ("programming", "cot", 2.5)
    assert (got["p"].target, got["p"].text, got["p"].score) == ("code", "Be brief.", 7.0)
    assert (got["e"].target, got["e"].score) == ("d/four", 0.0)
    assert got["s"].finding_ids == ["arxiv:s"] and got["s"].urls == ["https://arxiv.org/abs/s"]


@pytest.mark.parametrize("bad", [
    {"type": "rewrite_everything"},
    {"id": None},
    {"id": ""},
    {"evidence": "https://not-a-list"},
    {"strategy": {"name": "cot", "params": {"nested": {"a": 1}}}},
    {"strategy": {"name": "cot", "shell": "rm -rf /"}},
    {"score": -1},
    {"score": float("inf")},
    {"text": "x" * 20_001},
    {"title": ["not", "text"]},
])
def test_a_malformed_proposal_is_skipped_with_a_warning_and_the_rest_proceed(bad, caplog):
    store = InMemoryResearchStore()
    store.create_proposal(blackboard_doc("good", "strategy_change", strategy="cot"))
    store.proposals["bad"] = {**blackboard_doc("bad", "strategy_change"), **bad}
    with caplog.at_level(logging.WARNING):
        got = open_proposals(store, NOW - PROPOSAL_WINDOW)
    assert [p.id for p in got] == ["good"]
    [record] = [r for r in caplog.records if r.getMessage() == "research proposal skipped: malformed"]
    assert record.fields["error"]


def test_a_document_that_is_not_a_mapping_is_skipped(caplog):
    class Odd(InMemoryResearchStore):
        def proposals_since(self, since):
            return ["not a document", blackboard_doc("good", "routing_hint")]
    with caplog.at_level(logging.WARNING):
        assert [p.id for p in open_proposals(Odd(), NOW)] == ["good"]
    assert any("not a document" in str(r.fields.get("error")) for r in caplog.records if hasattr(r, "fields"))
