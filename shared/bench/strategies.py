"""Reasoning strategies for the benchmark: what to ask the model for one case under a serving
Strategy (shared/serving/models.py), and what of the answers the scorer gets. Pure (no I/O):
`shared.bench.client.run_strategy` makes the calls; the A/B plumbing only passes a Strategy and
the category's system prompt template text in.

Messages. The user message is always the case's prompt, unchanged (the model simulator finds the
case by it, and a benchmark must ask the question it claims to ask). Everything a strategy adds
goes into the one system message: the template text, then the case's own system message, then
the strategy's instruction, separated by blank lines.

direct
    One call at temperature 0 with the benchmark seed. Without a template it is exactly the call
    `ChatClient.complete` makes. The scorer gets the whole response, as today.
chain_of_thought
    As direct, plus an instruction to reason step by step and end with a line
    "Final answer: <answer>" (coding: "Final answer:" then the solution in one ```python block;
    creative writing: "Final answer:" then the complete piece). The scorer gets the *final-answer
    section*: the text from the last "Final answer:" marker to the end. Why that cut:
    - the reasoning before it never reaches the scorer, so candidates a model weighed on the way
      (numbers, names, option letters) cannot be picked up as its answer;
    - the last marker wins, as every scorer's own answer marker does: an earlier "Final answer:"
      is a draft and is never considered, so repeating the marker names no extra candidate;
    - for short-answer scorers (numeric, choice, exact, alias_match, token_f1) the marker stays in
      the section (each reads "Final answer:" as its own answer marker) and so does anything after
      that line: "Final answer: 450\\n\\\\boxed{500}" still shows the scorer two candidates;
    - constraints (creative writing) judge the text literally (word counts, first and last words,
      case, required and forbidden words), so they get the section *without* the marker line's
      label: only the piece. Reasoning that mentions the required words cannot satisfy
      include_words, and a plan cannot break a line count;
    - python_tests gets the section when it contains code, else the whole response: the judge
      runs one program (the last ```python block defining the entry point) against hidden tests,
      which prose cannot fool; a response with its code before the marker still has its code run.
    Without any "Final answer:" line the scorer gets the whole response and decides by its own
    rules (exactly what it would do under direct).
self_consistency
    Params k (default 5, 1..15) and temperature (default 0.7, > 0 when k > 1, at most 2): k
    chain-of-thought calls with seeds seed, seed + 1, ..., then a plurality vote. Each sample's
    vote is `scorers.vote_key`: its final-answer section read the way the case's scorer reads it
    (so "42" and "42.0" vote together, "(B)" and "Answer: B" too). A sample that names no single
    answer (several candidates, a hedge, no number) abstains: enumerating can never win the
    vote. The most votes win; a tie goes to the answer the earliest sample gave; the scorer gets
    the final-answer section of the earliest sample with the winning answer. When no sample gives
    a single answer the first successful sample goes to the scorer (which fails it, or not, by its
    own rules; nothing is invented).
    python_tests: the vote is over the extracted programs with blank lines and trailing spaces
    dropped: identical programs agree, else the tie rule picks the first sample. The k programs
    are not all run: choosing the one that passes would use the hidden tests to pick the answer.
    constraints: the vote is over the pieces with whitespace collapsed and case folded (samples
    that are no attempt at the task abstain); k free texts rarely agree, so this is usually the
    first sample.
    Errors: a case is scored only when a majority of the k samples (k // 2 + 1) succeeded;
    otherwise it is errored, with the count and the errors in the message, never scored from
    too few samples. `client.run_strategy` stops calling once that majority cannot be reached.
Parameters are validated (`parse_strategy`): unknown keys, a non-integer k, k outside 1..15 and
a temperature outside its range are StrategyError (a ValueError) naming the key and the bounds.
"""
from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.bench.cases import Case
from shared.bench.scorers import VoteKey, extract_code, same_vote, vote_key
from shared.serving.models import Strategy, StrategyName

COT_MARKER = "Final answer:"
COT_INSTRUCTION = ("Think the problem through step by step first. Then end your response with one last "
                   "line of the form \"Final answer: <answer>\", where <answer> is only your final answer, "
                   "in the form the user asked for.")
COT_CODE_INSTRUCTION = ("Think the approach through step by step first. Then write a line \"Final answer:\" "
                        "followed by the complete solution in a single ```python code block, as the user asked.")
COT_TEXT_INSTRUCTION = ("Plan your response step by step first. Then write a line \"Final answer:\" followed by "
                        "the complete response exactly as it should be delivered: only the text after that line "
                        "is read, and it must meet every requirement.")

K_DEFAULT, K_MIN, K_MAX = 5, 1, 15
TEMPERATURE_DEFAULT, TEMPERATURE_MAX = 0.7, 2.0
EXCERPT_CHARS = 200          # per-sample answer excerpts in the bookkeeping
KEY_CHARS = 80               # vote keys as shown
_PARAMS: dict[str, set[str]] = {"direct": set(), "chain_of_thought": set(), "self_consistency": {"k", "temperature"}}
# "Final answer:" in any case, bold or not ("**Final answer:**", "Final Answer :")
_MARKER = re.compile(r"(?i)\**final\s+answer\s*\**\s*:\**")


class StrategyError(ValueError):
    """A strategy's name or parameters are not valid; the message says which and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StrategySpec(_Model):
    """A validated strategy: how many calls, at what temperature."""
    name: StrategyName
    k: int = 1
    temperature: float = 0.0


class ChatRequest(_Model):
    """One chat completions call."""
    messages: tuple[dict[str, str], ...]
    temperature: float
    seed: int
    max_tokens: int


class Reply(_Model):
    """One call's outcome as this module needs it (client.Completion has these fields)."""
    ok: bool
    content: str = ""
    error: str | None = None


class SampleRecord(_Model):
    """One call of a strategy, for the result row."""
    index: int
    seed: int
    ok: bool
    answer: str = ""               # excerpt of what this sample would hand the scorer
    vote: str | None = None        # its answer as it voted (shortened); None: abstained or failed
    error: str | None = None


class VoteCount(_Model):
    answer: str                    # the answer as voted (shortened)
    count: int
    first: int                     # index of the earliest sample that gave it


class StrategyOutcome(_Model):
    """What the scorer gets and how it was chosen. Not ok: the case is errored (error says why)."""
    strategy: StrategyName
    k: int
    temperature: float
    ok: bool
    content: str = ""              # what the scorer receives
    response: str = ""             # the chosen sample's whole response (for the excerpt)
    chosen: int | None = None      # index of the chosen sample
    how: str = ""                  # one line: how the content was chosen
    votes: tuple[VoteCount, ...] = ()
    agreement: float | None = None  # votes for the chosen answer / successful samples
    error: str | None = None
    samples: tuple[SampleRecord, ...] = ()


# ---------------------------------------------------------------------------------------------
# parameters and requests
# ---------------------------------------------------------------------------------------------

def parse_strategy(strategy: Strategy) -> StrategySpec:
    """The validated spec of a strategy (StrategyError when its parameters are not valid)."""
    allowed = _PARAMS.get(strategy.name)
    if allowed is None:
        raise StrategyError(f"unknown strategy {strategy.name!r}; known: {', '.join(_PARAMS)}")
    unknown = sorted(set(strategy.params) - allowed)
    if unknown:
        raise StrategyError(f"{strategy.name}: unknown parameter(s) {unknown}; allowed: {sorted(allowed) or 'none'}")
    if strategy.name != "self_consistency":
        return StrategySpec(name=strategy.name)
    k = strategy.params.get("k", K_DEFAULT)
    if isinstance(k, bool) or not isinstance(k, int):
        raise StrategyError(f"self_consistency: k must be an integer from {K_MIN} to {K_MAX}, got {k!r}")
    if not K_MIN <= k <= K_MAX:
        raise StrategyError(f"self_consistency: k must be from {K_MIN} to {K_MAX}, got {k}")
    t = strategy.params.get("temperature", TEMPERATURE_DEFAULT)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= TEMPERATURE_MAX:
        raise StrategyError(f"self_consistency: temperature must be a number from 0 to {TEMPERATURE_MAX:g}, got {t!r}")
    if k > 1 and t == 0:
        raise StrategyError(f"self_consistency: k={k} samples at temperature 0 are one answer {k} times; "
                            "use a temperature above 0 (default 0.7)")
    return StrategySpec(name="self_consistency", k=k, temperature=float(t))


def calls_for(strategy: Strategy) -> int:
    """How many calls the strategy makes per case (for cost bounds: k for self_consistency)."""
    return parse_strategy(strategy).k


def instruction_for(case: Case, name: StrategyName) -> str | None:
    if name == "direct":
        return None
    if case.scorer == "python_tests":
        return COT_CODE_INSTRUCTION
    if case.scorer == "constraints":
        return COT_TEXT_INSTRUCTION
    return COT_INSTRUCTION


def system_message(case: Case, strategy: Strategy, template_text: str | None = None) -> str | None:
    """The system message for the case: template, the case's own, the strategy's instruction."""
    parts = [template_text, case.system, instruction_for(case, parse_strategy(strategy).name)]
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return text or None


def requests_for(case: Case, strategy: Strategy, template_text: str | None = None,
                 seed: int = 0) -> list[ChatRequest]:
    """The calls to make for one case: one for direct and chain_of_thought (temperature 0, the
    seed), k for self_consistency (its temperature, seeds seed .. seed + k - 1)."""
    spec = parse_strategy(strategy)
    system = system_message(case, strategy, template_text)
    messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": case.prompt})
    return [ChatRequest(messages=tuple(messages), temperature=spec.temperature, seed=seed + i,
                        max_tokens=case.max_tokens) for i in range(spec.k)]


# ---------------------------------------------------------------------------------------------
# what the scorer gets
# ---------------------------------------------------------------------------------------------

def final_section(response: str) -> tuple[str, str] | None:
    """(section from the last "Final answer:" marker on, the text after the marker) or None."""
    markers = list(_MARKER.finditer(response))
    if not markers:
        return None
    last = markers[-1]
    return response[last.start():].strip(), response[last.end():].strip()


def scorer_content(case: Case, response: str, name: StrategyName) -> tuple[str, str]:
    """(what the scorer gets, how it was cut) for one response under a strategy (see the module
    docstring for why each scorer gets what it gets)."""
    if name == "direct":
        return response, "whole response (direct)"
    found = final_section(response)
    if found is None:
        return response, "whole response: no 'Final answer:' line"
    section, after = found
    if case.scorer == "constraints":
        return after, "the text after the last 'Final answer:'"
    if case.scorer == "python_tests":
        if extract_code(after, case.entry_point):
            return after, "the code after the last 'Final answer:'"
        return response, "whole response: no code after 'Final answer:'"
    return section, "from the last 'Final answer:' on"


# ---------------------------------------------------------------------------------------------
# combining the replies
# ---------------------------------------------------------------------------------------------

def _shown(key: VoteKey) -> str:
    if isinstance(key, float):
        return str(int(key)) if key.is_integer() and abs(key) < 1e15 else repr(key)
    text = " ".join(key.split())
    return text if len(text) <= KEY_CHARS else text[: KEY_CHARS - 1] + "…"


def majority_vote(keys: list[VoteKey | None]) -> tuple[int | None, list[tuple[VoteKey, int, int]]]:
    """(index of the earliest sample with the winning answer, [(answer, count, first index)] in
    order of first appearance). None votes abstain; the most votes win; a tie goes to the answer
    given first. No votes at all: (None, [])."""
    groups: list[list[Any]] = []          # [key, count, first index]
    for i, key in enumerate(keys):
        if key is None:
            continue
        for g in groups:
            if same_vote(g[0], key):
                g[1] += 1
                break
        else:
            groups.append([key, 1, i])
    if not groups:
        return None, []
    best = max(groups, key=lambda g: (g[1], -g[2]))
    return best[2], [(g[0], g[1], g[2]) for g in groups]


def needed(k: int) -> int:
    """Successful samples needed for a verdict: a majority of k."""
    return k // 2 + 1


def combine(case: Case, strategy: Strategy, replies: list[Reply], seed: int = 0) -> StrategyOutcome:
    """The outcome of a strategy from its replies, in request order. Fewer replies than calls
    (the caller stopped early) count as failed samples."""
    spec = parse_strategy(strategy)
    base = {"strategy": spec.name, "k": spec.k, "temperature": spec.temperature}
    cut = [scorer_content(case, r.content, spec.name) if r.ok else ("", "") for r in replies]
    keys = [vote_key(case, c) if r.ok and spec.name == "self_consistency" else None for r, (c, _h) in zip(replies, cut)]
    samples = tuple(SampleRecord(index=i, seed=seed + i, ok=r.ok, answer=c[:EXCERPT_CHARS],
                                 vote=None if keys[i] is None else _shown(keys[i]), error=r.error)
                    for i, (r, (c, _h)) in enumerate(zip(replies, cut)))
    ok = [i for i, r in enumerate(replies) if r.ok]
    if len(ok) < needed(spec.k):
        errors = "; ".join(dict.fromkeys(r.error or "no reply" for r in replies if not r.ok)) or "no reply"
        if spec.k == 1:
            error = replies[0].error if replies and replies[0].error else errors
        else:
            error = (f"{spec.name}: only {len(ok)} of {spec.k} samples succeeded, {needed(spec.k)} (a majority) "
                     f"needed for a verdict; not scored from fewer: {errors}")
        return StrategyOutcome(**base, ok=False, error=error[:1000], samples=samples)
    if spec.name != "self_consistency":
        content, how = cut[0]
        return StrategyOutcome(**base, ok=True, content=content, response=replies[0].content, chosen=0, how=how,
                               samples=samples)
    winner, groups = majority_vote(keys)
    votes = tuple(VoteCount(answer=_shown(key), count=n, first=first) for key, n, first in groups)
    if winner is None:
        chosen = ok[0]
        how = f"no sample gave a single answer: sample {chosen} ({cut[chosen][1]})"
        agreement = 0.0
    else:
        chosen = winner
        count = next(n for _k, n, first in groups if first == winner)
        tied = sum(1 for _k, n, _f in groups if n == count) > 1
        how = (f"{count} of {len(ok)} samples agree{' (tie: the earliest answer)' if tied else ''}: "
               f"sample {chosen} ({cut[chosen][1]})")
        agreement = round(count / len(ok), 4)
    return StrategyOutcome(**base, ok=True, content=cut[chosen][0], response=replies[chosen].content, chosen=chosen,
                           how=how, votes=votes, agreement=agreement, samples=samples)
