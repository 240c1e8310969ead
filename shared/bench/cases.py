"""Benchmark cases: the data contract between suites (JSONL files), loaders, scorers and the
model simulator. A suite is a folder shared/bench/suites/<name>/ with one JSONL file per category
and a suite.yaml ({name, version, description}); every line is a Case. The cases a run plans and
the result of each case are here too: planning, execution, results and their store share them.
"""
from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Category = Literal["coding", "reasoning", "factual", "math", "multi_hop", "creative_writing"]
CATEGORIES: tuple[str, ...] = ("coding", "reasoning", "factual", "math", "multi_hop", "creative_writing")
ScorerName = Literal["python_tests", "numeric", "alias_match", "token_f1", "choice", "exact", "constraints"]


class Constraint(BaseModel):
    """One verifiable instruction (IFEval style), checked by code."""
    model_config = ConfigDict(extra="forbid")
    type: Literal["word_count", "sentence_count", "paragraph_count", "include_words", "forbidden_words",
                  "starts_with", "ends_with", "bullet_list", "numbered_list", "json_object", "title",
                  "sections", "all_lowercase", "all_uppercase", "no_commas", "line_count", "quotation"]
    min: int | None = None
    max: int | None = None
    words: list[str] = []
    text: str | None = None          # starts_with / ends_with
    marker: str | None = None        # sections: e.g. "Section" → "Section 1", "Section 2", ...
    count: int | None = None         # bullet_list / numbered_list / sections exact count
    keys: list[str] = []             # json_object: keys the object must have
    only_keys: bool = False          # json_object: and no other keys ("exactly these keys")
    allow_fence: bool = True         # json_object: False when the prompt forbids code fences


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9_]+-[A-Za-z0-9_.-]+$")   # "<category>-<n>" or "<dataset>-<id>"
    category: Category
    prompt: str                                    # the user message sent to the model
    system: str | None = None                      # optional system message
    scorer: ScorerName
    # expected answers (which ones are used depends on the scorer)
    answer: str | None = None                      # numeric / choice letter / exact
    aliases: list[str] = []                        # alias_match / token_f1 accepted answers
    choices: list[str] = []                        # choice: option texts, letters A, B, C...
    tests: str | None = None                       # python_tests: hidden test code (asserts)
    entry_point: str | None = None                 # python_tests: function the tests call
    setup_code: str | None = None                  # python_tests: imports / helpers run first
    constraints: list[Constraint] = []             # constraints
    reference: str | None = None                   # a correct response (simulator, self-check)
    source: str = "builtin"                        # builtin | gsm8k | humaneval | mbpp | ifeval | bbh
    max_tokens: int = 1024
    metadata: dict[str, Any] = {}


class ScoreResult(BaseModel):
    """What a scorer concluded about one response. `score` in [0, 1]; `passed` is score == 1
    for binary scorers, F1 >= 0.5 for token_f1, and every constraint met for constraints."""
    score: float
    passed: bool
    detail: str = ""                               # why, in one line (shown in per-case results)
    extracted: str | None = None                   # what was extracted from the response


class PlannedCases(BaseModel):
    """The cases a run scores, stored once under their hash and read by every shard."""
    suite: str
    suite_key: str
    cases: list[Case]

    def sha256(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class CaseResult(BaseModel):
    bench_id: str
    model: str
    case_id: str
    category: str
    scorer: str
    status: Literal["scored", "errored"]
    score: float | None = None
    passed: bool | None = None
    detail: str = ""
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: Literal["usage.cost", "catalog", "unknown"] = "unknown"
    finish_reason: str | None = None
    error: str | None = None
    response_excerpt: str = ""
    simulated: bool = False
    llm_base_url: str | None = None       # where the answer came from (labels every result)
    isolation: str | None = None          # coding cases: the layers code_runner measured
    weak_isolation: list[str] = []        # required layers missing, allowed by SANDBOX_ALLOW_WEAK
