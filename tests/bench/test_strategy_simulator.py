"""Reasoning strategies against the model simulator: over HTTP with the real client (a model with
a SIMULATED strategy bonus scores at least as well with self-consistency as with direct on the
same cases), the simulator's strategy behaviour (unchanged at temperature 0 without the
instruction, samples that differ by seed), and the scorers' adversary under chain of thought and
self-consistency (in-process; coding cases through the real sandbox). Deterministic: the
simulator's answers depend on (seed, model, case, request seed) only."""
from __future__ import annotations

import copy
from collections import defaultdict

import pytest
import yaml

from infra.model_simulator import SIMULATED_REASONING, Simulator, SimulatorServer
from shared.bench import strategies as S
from shared.bench.client import ChatClient, Completion, run_strategy
from shared.bench.scorers import score
from shared.bench.suite import load_suite
from shared.config import settings_from_env
from shared.pipeline import REPO_ROOT
from shared.serving.models import Strategy
from tests.conftest import TEST_ENV, sandbox

CONFIG = yaml.safe_load((REPO_ROOT / "infra" / "simulator.yaml").read_text())
CASES = load_suite("builtin-v1").cases
MODEL = "google/gemini-demo-pro"
SC = Strategy(name="self_consistency", params={"k": 5})


def _fast(config: dict) -> dict:
    """The same models with 1 ms latency (latency never changes an answer)."""
    config = copy.deepcopy(config)
    for spec in config["models"].values():
        spec["latency_ms"], spec["jitter_ms"] = 1, 0
    return config


@pytest.fixture(scope="module")
def client():
    server = SimulatorServer(_fast(CONFIG)).start()
    settings = settings_from_env({**TEST_ENV, "LLM_BASE_URL": server.base_url,
                                  "SIMULATOR_BASE_URLS": server.base_url, "BENCH_CONCURRENCY": "4"})
    chat = ChatClient(settings)
    try:
        yield chat
    finally:
        chat.close()
        server.stop()


def _sample(per_category: int) -> list:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for c in CASES:
        if c.scorer != "python_tests" and seen[c.category] < per_category:   # coding: see the adversary test
            seen[c.category] += 1
            out.append(c)
    return out


def test_the_demo_model_has_a_simulated_strategy_bonus():
    assert CONFIG["models"][MODEL]["strategy_quality"] == {"chain_of_thought": 0.05, "self_consistency": 0.08}


def test_self_consistency_scores_at_least_as_well_as_direct_on_the_same_cases(client):
    cases = _sample(10)
    means: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        direct = run_strategy(client, MODEL, case, Strategy(name="direct"), "You are a helpful assistant.")
        voted = run_strategy(client, MODEL, case, SC, "You are a helpful assistant.")
        assert direct.ok and voted.ok and direct.simulated and voted.simulated
        assert voted.attempts == 5 and voted.outcome.k == 5 and len(voted.outcome.samples) == 5
        assert voted.prompt_tokens is not None and voted.prompt_tokens > direct.prompt_tokens
        means[case.category]["direct"].append(score(case, direct.content).score)
        means[case.category]["self_consistency"].append(score(case, voted.content).score)
    table = {cat: {k: sum(v) / len(v) for k, v in d.items()} for cat, d in means.items()}
    assert all(t["self_consistency"] >= t["direct"] for t in table.values()), table
    assert any(t["self_consistency"] > t["direct"] for t in table.values()), table


def test_direct_without_a_template_is_exactly_the_plain_call(client):
    for case in _sample(2):
        plain = client.complete(MODEL, case)
        direct = run_strategy(client, MODEL, case, Strategy(name="direct"))
        assert direct.content == plain.content and direct.outcome.how == "whole response (direct)"


def test_chain_of_thought_over_http_shows_its_reasoning_but_scores_only_the_final_answer(client):
    case = next(c for c in CASES if c.scorer == "numeric")
    done = run_strategy(client, MODEL, case, Strategy(name="chain_of_thought"))
    response = done.outcome.response
    assert SIMULATED_REASONING in response and S.COT_MARKER in response
    assert done.content.startswith(S.COT_MARKER) and SIMULATED_REASONING not in done.content


def test_the_simulator_is_unchanged_at_temperature_0_without_the_instruction():
    sim = Simulator(CONFIG)
    for case in CASES[::7]:
        before = sim.answer(MODEL, case.prompt)
        assert sim.answer(MODEL, case.prompt, "You are a helpful assistant.", 0, 1234) == before
        assert sim.answer(MODEL, case.prompt, None, 0.0, 99) == before


def test_samples_at_temperature_differ_by_seed():
    sim = Simulator(CONFIG)
    system = S.COT_INSTRUCTION
    differing = [c.id for c in CASES if c.scorer == "numeric"
                 and len({sim.answer("sim/steady", c.prompt, system, 0.7, s)[0] for s in range(5)}) > 1]
    assert differing
    case = CASES[0]
    assert sim.answer(MODEL, case.prompt, system, 0.7, 3) == sim.answer(MODEL, case.prompt, system, 0.7, 3)


class InProcess:
    """The simulator without HTTP (the adversary test makes thousands of calls)."""

    class settings:
        bench_seed = 1234

    def __init__(self, sim: Simulator):
        self.sim = sim

    def chat(self, model, messages, *, seed, temperature, max_tokens):
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
        text, _case = self.sim.answer(model, messages[-1]["content"], system, temperature, seed)
        return Completion(ok=True, content=text, attempts=1, simulated=True)


@pytest.mark.parametrize("strategy", [Strategy(name="chain_of_thought"), SC], ids=["chain_of_thought", "self_consistency"])
def test_the_hedger_scores_at_most_5_points_under_a_strategy(strategy):
    client = InProcess(Simulator(CONFIG))
    scores: dict[str, list[float]] = defaultdict(list)
    for case in CASES:
        done = run_strategy(client, "sim/hedger", case, strategy)
        assert done.ok
        scores[case.category].append(score(case, done.content, sandbox()).score)
    means = {cat: sum(v) / len(v) for cat, v in scores.items()}
    assert all(m <= 0.05 for m in means.values()), means
