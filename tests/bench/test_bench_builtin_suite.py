"""The built-in suite's self-check: every reference passes its own scorer (coding cases through the
real sandbox), and the simulator's honest wrong answers are scorable and fail."""
from __future__ import annotations

import random

import pytest

from infra.model_simulator import wrong_answer
from shared.bench.cases import CATEGORIES
from shared.bench.scorers import score
from shared.bench.suite import load_suite
from tests.conftest import sandbox

SUITE = load_suite("builtin-v1")


def test_suite_shape():
    assert len(SUITE.cases) == 32 * len(CATEGORIES)
    assert all(c.reference for c in SUITE.cases)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_reference_passes_its_own_scorer(category):
    cases = [c for c in SUITE.cases if c.category == category]
    results = [(c.id, score(c, c.reference, sandbox())) for c in cases]
    failed = [(cid, r.detail) for cid, r in results if not (r.passed and r.score == 1.0)]
    assert len(cases) == 32 and not failed, failed


@pytest.mark.parametrize("category", CATEGORIES)
def test_simulator_wrong_answers_are_scorable_and_fail(category):
    for c in (c for c in SUITE.cases if c.category == category):
        r = score(c, wrong_answer(c, random.Random(f"7|sim/test|{c.id}")), sandbox())
        assert not r.passed and r.score == 0, (c.id, r.detail)
        assert not r.detail.startswith(("misconfigured", "empty", "not judged")), (c.id, r.detail)
