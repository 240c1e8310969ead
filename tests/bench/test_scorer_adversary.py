"""The scorers' adversary (model simulator behaviour "hedge", model sim/hedger): it knows no answer
and hedges or enumerates from the prompt alone. It must score no more than 5 points in any
category of builtin-v1. In-process, no emulators; coding cases through the real sandbox."""
from __future__ import annotations

import inspect
from collections import defaultdict

import pytest
import yaml

from infra.model_simulator import Simulator, hedge_answer, hedge_tricks
from shared.bench.cases import CATEGORIES
from shared.bench.scorers import score
from shared.bench.suite import load_suite
from shared.pipeline import REPO_ROOT
from tests.conftest import sandbox

MAX_MEAN = 0.05         # 5 points out of 100
CONFIG = yaml.safe_load((REPO_ROOT / "infra" / "simulator.yaml").read_text())
CASES = load_suite("builtin-v1").cases


def _means(scores: dict[str, list[float]]) -> dict[str, float]:
    return {cat: round(sum(v) / len(v), 4) for cat, v in sorted(scores.items())}


def test_hedger_is_configured_and_reads_only_the_prompt():
    assert CONFIG["models"]["sim/hedger"]["behaviour"] == "hedge"
    assert list(inspect.signature(hedge_answer).parameters) == ["prompt", "seed"]
    assert list(inspect.signature(hedge_tricks).parameters) == ["prompt"]
    sim = Simulator(CONFIG)
    c = CASES[0]
    # the case found by prompt is bookkeeping only: a different answer/reference changes nothing
    sim.by_prompt[c.prompt] = c.model_copy(update={"reference": "LEAK", "answer": "LEAK", "aliases": ["LEAK"]})
    text, _case = sim.answer("sim/hedger", c.prompt)
    assert text == hedge_answer(c.prompt, CONFIG["seed"])[1] and "LEAK" not in text


def test_hedger_scores_at_most_5_points_in_every_category():
    sim = Simulator(CONFIG)
    scores: dict[str, list[float]] = defaultdict(list)
    tricks: dict[str, set[str]] = defaultdict(set)
    for c in CASES:
        text, _case = sim.answer("sim/hedger", c.prompt)
        scores[c.category].append(score(c, text, sandbox()).score)
        tricks[c.category].add(hedge_answer(c.prompt, CONFIG["seed"])[0])
    means = _means(scores)
    assert set(means) == set(CATEGORIES)
    assert all(m <= MAX_MEAN for m in means.values()), f"sim/hedger mean score per category: {means}"
    # every trick the adversary has for a category's prompts was used on at least one case
    for cat in CATEGORIES:
        available = set().union(*(hedge_tricks(c.prompt) for c in CASES if c.category == cat))
        assert tricks[cat] == available, (cat, sorted(available - tricks[cat]))


def test_every_hedging_trick_on_every_case_scores_at_most_5_points():
    scores: dict[str, list[float]] = defaultdict(list)
    passed = []
    for c in CASES:
        for trick, text in hedge_tricks(c.prompt).items():
            r = score(c, text, sandbox())
            scores[c.category].append(r.score)
            if r.passed:
                passed.append((c.id, trick, r.detail))
    means = _means(scores)
    assert all(m <= MAX_MEAN for m in means.values()), f"all tricks, mean score per category: {means}"
    assert len(passed) <= 0.05 * sum(len(v) for v in scores.values()), passed


@pytest.mark.parametrize("category,tricks", [
    ("coding", {"eq_object", "eq_str", "eq_int", "identity", "dont_know"}),
    ("math", {"listed", "hash_or", "boxed_or", "answer_actually", "two_markers", "bare_list"}),
    ("creative_writing", {"dont_know", "bang", "one_key_json", "quoted_words", "echo"}),
])
def test_hedger_has_the_reviewed_tricks(category, tricks):
    c = next(c for c in CASES if c.category == category)
    assert set(hedge_tricks(c.prompt)) == tricks
