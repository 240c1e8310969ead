"""Keyword relevance and impact scorer (shared/research/relevance.py)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from perf.relevance_precision import (evaluate,
                                            load_labelled, to_finding)
from shared.research.config import TopicSpec, load_research_config
from shared.research.findings import Finding, Signals
from shared.research.relevance import TopicMatcher, is_acronym

CONFIG = load_research_config()


@pytest.fixture(scope="module")
def matcher() -> TopicMatcher:
    return TopicMatcher(CONFIG.topics)


def finding(title: str, summary: str = "", kind: str = "arxiv_api", **signals) -> Finding:
    return Finding(id="t:1", source="test", kind=kind, url="https://example.invalid/1", title=title,
                   summary=summary, signals=Signals(**signals))


def scores(assessment) -> dict[str, float]:
    return {t.topic: t.score for t in assessment.topics}


def phrases(assessment, topic: str) -> list[str]:
    return next(t.phrases for t in assessment.topics if t.topic == topic)


# --- matching rules ----------------------------------------------------------------------------
def test_is_acronym():
    assert all(map(is_acronym, ["RAG", "CoT", "MCP", "MARL", "LLM"]))
    assert not any(map(is_acronym, ["Rag", "rag", "router", "LLM-as-a-judge", "KV cache", "ABCDEFG", "A"]))


@pytest.mark.parametrize("text", [
    "We leverage sparse storage for ragged arrays",
    "Drag editing of images",
    "Ragnarok Online players",
    "a rag doll",
    "RAGNAROK release notes",
    "RAG2 and XRAG",
])
def test_rag_acronym_needs_a_whole_uppercase_word(matcher, text):
    a = matcher.assess(finding(text, text))
    assert "RAG" not in scores(a)


@pytest.mark.parametrize("text", ["RAG-based question answering", "Comparing RAGs", "naive RAG.", "(RAG)"])
def test_rag_acronym_matches_before_hyphen_plural_and_punctuation(matcher, text):
    a = matcher.assess(finding("x", text))
    assert scores(a)["RAG"] == 1.0 and phrases(a, "RAG") == ["RAG"]


def test_cot_is_case_sensitive(matcher):
    assert "chain-of-thought" not in scores(matcher.assess(finding("x", "a cot in the coterie; COTTAGE")))
    a = matcher.assess(finding("x", "CoT prompting and CoTs, CoT-style"))
    assert scores(a)["chain-of-thought"] == 1.0 and phrases(a, "chain-of-thought") == ["CoT"]


@pytest.mark.parametrize("text", ["chain of thought", "chain-of-thought", "Chain-of-Thought", "CHAIN OF THOUGHT",
                                  "chain - of\nthought", "chain of thoughts"])
def test_space_hyphen_case_and_plural_equivalence(matcher, text):
    a = matcher.assess(finding("x", f"We study {text} here."))
    # "chain of thought" and "chain-of-thought" are one phrase: it counts once, reported as configured first
    assert scores(a) == {"chain-of-thought": 1.0}
    assert phrases(a, "chain-of-thought") == ["chain of thought"]


def test_plural_s_and_es_but_not_other_inflections():
    m = TopicMatcher([TopicSpec(name="t", phrases=["reranker", "patch", "benchmark"])])
    a = m.assess(finding("x", "rerankers and patches"))
    assert phrases(a, "t") == ["reranker", "patch"]
    assert m.assess(finding("x", "benchmarking rerankerss patchy")).topics == []


def test_whole_words_only():
    m = TopicMatcher([TopicSpec(name="t", phrases=["router", "tool use"])])
    assert m.assess(finding("x", "routers_v2 subrouter tool user")).topics[0].phrases == ["router"]
    assert m.assess(finding("x", "subrouter; tool user; routerless")).topics == []


# --- scoring -------------------------------------------------------------------------------------
def test_title_counts_double_and_synonyms_half(matcher):
    assert scores(matcher.assess(finding("x", "a reranker")))["RAG"] == 0.5
    assert scores(matcher.assess(finding("A reranker", "x")))["RAG"] == 1.0
    assert scores(matcher.assess(finding("RAG", "x")))["RAG"] == 2.0
    assert scores(matcher.assess(finding("RAG with a reranker", "RAG with a reranker")))["RAG"] == 4.5


def test_each_phrase_counts_once_per_field(matcher):
    assert scores(matcher.assess(finding("x", "RAG, RAG and more RAG")))["RAG"] == 1.0


def test_topic_weight(matcher):
    assert scores(matcher.assess(finding("x", "a learned router")))["routing"] == 1.2
    assert scores(matcher.assess(finding("x", "the KV cache")))["long context"] == 0.4


def test_occurrence_inside_a_longer_phrase_counts_once(matcher):
    # "model cascade" (synonym) contains "cascade" (synonym): 0.5 x 1.2, not 1.0 x 1.2
    assert scores(matcher.assess(finding("x", "a model cascade")))["routing"] == 0.6
    assert scores(matcher.assess(finding("x", "a model cascade; a cascade")))["routing"] == 1.2


def test_negative_zeroes_the_topic_and_is_recorded(matcher):
    a = matcher.assess(finding("Chain-of-Thought Planning for Supply Chain Resilience", ""))
    cot = next(t for t in a.topics if t.topic == "chain-of-thought")
    assert (cot.score, cot.phrases, cot.negatives) == (0.0, ["chain of thought"], ["supply chain"])
    assert a.relevance == 0 and a.impact == "low"
    # a negative with no positive evidence does not list the topic
    assert matcher.assess(finding("Supply chain optimisation", "")).topics == []
    # negatives are per topic: MARL zeroes multi-agent orchestration only
    a = matcher.assess(finding("Multi-agent RL (MARL) for RAG", ""))
    assert scores(a) == {"RAG": 2.0, "multi-agent orchestration": 0.0}
    assert [t.topic for t in a.topics] == ["RAG", "multi-agent orchestration"]
    assert a.relevance == 2.0


def test_restrict_to(matcher):
    f = finding("RAG with chain-of-thought", "")
    assert set(scores(matcher.assess(f))) == {"RAG", "chain-of-thought"}
    a = matcher.assess(f, restrict_to=["RAG"])
    assert scores(a) == {"RAG": 2.0} and a.relevance == 2.0
    assert matcher.assess(f, restrict_to=[]).topics == []
    with pytest.raises(ValueError, match="unknown topics"):
        matcher.assess(f, restrict_to=["rag"])


def test_hf_models_pipeline_rule(matcher):
    summary = "text-generation model by acme (library: transformers); tags: transformers, conversational."
    a = matcher.assess(finding("acme/Acme-7B-Instruct", summary, kind="hf_models"))
    assert scores(a) == {"new model release": 2.0}
    assert phrases(a, "new model release") == ["pipeline: text-generation"]
    vlm = matcher.assess(finding("acme/Acme-VL", "image-text-to-text model; tags: vision", kind="hf_models"))
    assert phrases(vlm, "new model release") == ["pipeline: image-text-to-text"]
    # only for model repositories, only LLM pipelines, only when the topic is in scope
    assert matcher.assess(finding("acme/Acme-7B-Instruct", summary, kind="arxiv_api")).topics == []
    assert matcher.assess(finding("acme/flux", "text-to-image model; tags: diffusers", kind="hf_models")).topics == []
    assert matcher.assess(finding("acme/x", "tags: text-generation-inference", kind="hf_models")).topics == []
    assert matcher.assess(finding("acme/Acme-7B", summary, kind="hf_models"), restrict_to=["RAG"]).topics == []


def test_hf_pipeline_base_is_added_to_weighted_phrase_hits():
    m = TopicMatcher([TopicSpec(name="new model release", weight=0.5, phrases=["model card"])])
    a = m.assess(finding("acme/x", "text-generation model; see the model card", kind="hf_models"))
    assert a.topics[0].score == 2.5 and a.topics[0].phrases == ["pipeline: text-generation", "model card"]
    assert TopicMatcher([TopicSpec(name="other", phrases=["y"])]).assess(
        finding("acme/x", "text-generation model", kind="hf_models")).topics == []


def test_relevance_formula_worked_example(matcher):
    """chain-of-thought: title phrase 2 x 1.0 + summary synonym 0.5 = 2.5 (weight 1.0);
    inference efficiency: title phrase 2 + summary phrase 1 = 3 x 0.8 = 2.4;
    routing: summary phrase 1 x 1.2 = 1.2;
    relevance = 2.5 + 0.25 x (2.4 + 1.2) = 3.4."""
    a = matcher.assess(finding("Chain-of-Thought Prompting for Speculative Decoding",
                               "We add self-consistency and quantization; a router picks the drafter."))
    assert [(t.topic, t.score, t.phrases) for t in a.topics] == [
        ("chain-of-thought", 2.5, ["chain of thought", "self-consistency"]),
        ("inference efficiency", 2.4, ["speculative decoding", "quantization"]),
        ("routing", 1.2, ["router"]),
    ]
    assert a.relevance == 3.4
    assert a.impact == "medium" and a.impact_reasons == ["relevance 3.4 (chain-of-thought)"]
    assert a.scorer == "keywords-v1"


# --- impact --------------------------------------------------------------------------------------
def test_impact_high_with_exact_reasons(matcher):
    a = matcher.assess(finding("Retrieval-Augmented Generation at scale", "RAG", kind="hf_daily_papers",
                               upvotes=120, github_url="https://github.com/a/b", venue="Accepted at ICLR 2026"))
    assert a.relevance == 3.0
    assert a.impact == "high"
    assert a.impact_reasons == ["relevance 3.0 (RAG)", "120 HF upvotes", "code released", "venue: ICLR 2026"]
    # exactly 4 points is high, 3 is medium
    four = matcher.assess(finding("RAG", "RAG", github_url="https://github.com/a/b", venue="NeurIPS 2026"))
    assert (four.impact, four.impact_reasons) == ("high", ["relevance 3.0 (RAG)", "code released", "venue: NeurIPS 2026"])
    three = matcher.assess(finding("RAG", "RAG", github_url="https://github.com/a/b"))
    assert (three.impact, three.impact_reasons) == ("medium", ["relevance 3.0 (RAG)", "code released"])


def test_impact_medium_for_a_popular_model_repo(matcher):
    a = matcher.assess(finding("acme/Acme-7B", "text-generation model", kind="hf_models",
                               likes=1205, downloads=99_999, trending_score=581.0))
    assert a.impact == "medium"
    assert a.impact_reasons == ["relevance 2.0 (new model release)", "1,205 likes, trending score 581"]


def test_impact_lab_announcement_and_thresholds(matcher):
    a = matcher.assess(finding("Acme 2 System Card", "", kind="rss"))
    assert (a.impact, a.impact_reasons) == ("medium", ["relevance 2.0 (new model release)", "lab announcement"])
    low = matcher.assess(finding("x", "a learned router", upvotes=49, likes=999, downloads=99_999,
                                 trending_score=499.9))
    assert (low.relevance, low.impact, low.impact_reasons) == (1.2, "low", [])
    a = matcher.assess(finding("x", "a learned router", kind="hf_daily_papers", upvotes=150, downloads=100_000))
    assert (a.impact, a.impact_reasons) == ("medium", ["150 HF upvotes", "100,000 downloads"])
    a = matcher.assess(finding("x", "a learned router", upvotes=50, trending_score=500))
    assert (a.impact, a.impact_reasons) == ("medium", ["50 HF upvotes", "trending score 500"])
    a = matcher.assess(finding("Speculative decoding", "", upvotes=50))   # 1.6 relevance
    assert (a.impact, a.impact_reasons) == ("medium", ["relevance 1.6 (inference efficiency)", "50 HF upvotes"])


def test_irrelevant_findings_are_always_low(matcher):
    a = matcher.assess(finding("black-forest-labs/FLUX.1-dev", "text-to-image model", kind="hf_models",
                               likes=13_881, downloads=537_643, trending_score=900, upvotes=400,
                               github_url="https://github.com/x/y", venue="CVPR 2026"))
    assert a.relevance == 0 and a.topics == [] and a.impact == "low"
    assert a.impact_reasons == ["400 HF upvotes", "13,881 likes, trending score 900", "537,643 downloads",
                                "code released", "venue: CVPR 2026", "no configured topic matched: impact low"]


# --- labelled set and performance -----------------------------------------------------------------
def test_labelled_set_is_synthetic_and_balanced():
    items = load_labelled()
    assert len(items) == 40 and all(i["synthetic"] is True for i in items)
    assert len({i["id"] for i in items}) == 40
    relevant = [i for i in items if i["relevant"]]
    assert 15 <= len(relevant) <= 25
    names = {t.name for t in CONFIG.topics}
    assert all(i["topics"] and set(i["topics"]) <= names for i in relevant)
    assert all(not i["topics"] for i in items if not i["relevant"])


def test_labelled_precision_and_recall_default_config():
    """Measured on the hand-labelled set; the default topics were revised once after a first
    run on this same set (generic words removed, negatives added), so see also the held-out set."""
    r = evaluate(load_labelled(), TopicMatcher(CONFIG.topics), CONFIG.relevance_threshold)
    assert r["precision"] >= 0.85 and r["recall"] >= 0.7, r
    assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == 40


def test_evaluate_counts_and_errors():
    items = [
        {"id": "a", "kind": "arxiv_api", "title": "RAG", "summary": "", "relevant": True, "topics": ["RAG"]},
        {"id": "b", "kind": "arxiv_api", "title": "Router", "summary": "", "relevant": False, "topics": []},
        {"id": "c", "kind": "arxiv_api", "title": "Debate", "summary": "", "relevant": True,
         "topics": ["multi-agent orchestration"]},
        {"id": "d", "kind": "arxiv_api", "title": "Proteins", "summary": "", "relevant": False, "topics": []},
    ]
    r = evaluate(items, TopicMatcher(CONFIG.topics), 1.0)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (1, 1, 1, 1)
    assert (r["precision"], r["recall"], r["f1"]) == (0.5, 0.5, 0.5)
    assert r["topic_precision"] == {"RAG": (1, 1, 1.0), "routing": (0, 1, 0.0)}
    assert [(e["id"], e["type"]) for e in r["errors"]] == [("b", "FP"), ("c", "FN")]
    assert "routing 2.4 ['router']" in r["errors"][0]["matched"]


def test_five_thousand_findings_are_scored():
    """Correctness at volume; the time is perf/relevance_precision.py's (the bound only guards a hang)."""
    items = load_labelled()
    findings = []
    for i in range(5000):
        f = to_finding(items[i % len(items)])
        findings.append(f.model_copy(update={"summary": (f.summary + " ") * 3}))  # ~1,200 characters
    start = time.perf_counter()
    m = TopicMatcher(CONFIG.topics)
    results = [m.assess(f) for f in findings]
    elapsed = time.perf_counter() - start
    assert len(results) == 5000 and all(r.impact for r in results) and elapsed < 300, elapsed


def test_heldout_precision_floor():
    """The held-out set (tests/fixtures/research/relevance_heldout.jsonl) was written by someone who
    never saw the keyword lists. Measured: precision 0.857, recall 0.30 (the keyword scorer misses
    papers that avoid the usual vocabulary). Guard the precision and the recall we have."""
    heldout = Path(__file__).parent.parent / "fixtures" / "research" / "relevance_heldout.jsonl"
    r = evaluate(load_labelled(heldout), TopicMatcher(CONFIG.topics), CONFIG.relevance_threshold)
    assert r["tp"] + r["fp"] + r["fn"] + r["tn"] == 40
    assert r["precision"] >= 0.8 and r["recall"] >= 0.25, r
