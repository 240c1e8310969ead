"""OpenAI-compatible chat completions (OpenRouter by default; Ollama, vLLM or the local model
simulator by base URL): temperature 0, a seed, bounded concurrency, retries on 429/5xx with
Retry-After, a per-call timeout. Failures become errored results, never answers.

`complete(model, case)` is the benchmark's plain call; `chat` makes a call from explicit messages,
seed and temperature; `run_strategy` makes the calls of a reasoning strategy for one case
(shared/bench/strategies.py decides what to ask and what the scorer gets) and sums them up."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from shared.bench import strategies
from shared.bench.cases import Case
from shared.config import Settings
from shared.platform.http import HttpSource, SourceError
from shared.serving.models import Strategy


class Completion(BaseModel):
    ok: bool
    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None          # usage.cost when the server reports it
    latency_s: float = 0.0
    attempts: int = 0
    error: str | None = None
    simulated: bool = False


class StrategyCompletion(Completion):
    """A strategy's calls for one case summed up, usable where a Completion is: `content` is what
    the scorer gets, tokens and cost are sums over the calls that responded (None when any of
    them did not report the figure), latency and attempts are totals, simulated when any call
    was. `outcome` has the per-sample bookkeeping (answers, votes, agreement)."""
    outcome: strategies.StrategyOutcome


class ChatClient:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.http = HttpSource(settings.llm_url, settings, api_key=settings.llm_key, name="llm",
                               max_connections=settings.bench_concurrency)

    def close(self) -> None:
        self.http.close()

    def complete(self, model: str, case: Case) -> Completion:
        messages: list[dict[str, str]] = []
        if case.system:
            messages.append({"role": "system", "content": case.system})
        messages.append({"role": "user", "content": case.prompt})
        return self.chat(model, messages, seed=self.settings.bench_seed, temperature=0, max_tokens=case.max_tokens)

    def chat(self, model: str, messages: Sequence[Mapping[str, str]], *, seed: int, temperature: float,
             max_tokens: int, response_format: Mapping[str, Any] | None = None) -> Completion:
        """One call from explicit messages (a strategy's system message, a sample's seed).
        `response_format` (e.g. a JSON schema, for the research judge) is sent when given; the
        benchmark never sends one. A server may ignore it: the caller validates the answer."""
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages], "temperature": temperature,
                                "seed": seed, "max_tokens": max_tokens,
                                "usage": {"include": True}}  # OpenRouter: report usage.cost
        if response_format is not None:
            body["response_format"] = dict(response_format)
        started = time.monotonic()
        try:
            fetched = self.http.post_json("/chat/completions", body, timeout_s=self.settings.bench_call_timeout_s)
        except SourceError as exc:
            return Completion(ok=False, error=str(exc), latency_s=time.monotonic() - started)
        latency = time.monotonic() - started
        simulated = fetched.headers.get("x-simulated") == "true" if fetched.headers else False
        try:
            data = fetched.json()
            choice = data["choices"][0]
            content = choice["message"].get("content")
        except (SourceError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return Completion(ok=False, error=f"malformed completion: {exc}", latency_s=latency,
                              attempts=fetched.attempts, simulated=simulated)
        if not isinstance(content, str) or not content.strip():
            return Completion(ok=False, error="empty completion (no content)", latency_s=latency,
                              finish_reason=choice.get("finish_reason"), attempts=fetched.attempts,
                              simulated=simulated)
        usage = data.get("usage") or {}
        return Completion(ok=True, content=content, finish_reason=choice.get("finish_reason"),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                          cost_usd=usage.get("cost") if isinstance(usage.get("cost"), (int, float)) else None,
                          latency_s=latency, attempts=fetched.attempts, simulated=simulated)


class Chat(Protocol):
    """What run_strategy needs of a client (ChatClient; a scripted one in tests)."""
    settings: Settings

    def chat(self, model: str, messages: Sequence[Mapping[str, str]], *, seed: int, temperature: float,
             max_tokens: int) -> Completion: ...


def _total(values: list[float | int | None]) -> Any:
    return None if not values or any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def run_strategy(client: Chat, model: str, case: Case, strategy: Strategy,
                 template_text: str | None = None, seed: int | None = None) -> StrategyCompletion:
    """Make a strategy's calls for one case (one after another: the benchmark's thread pool is
    the concurrency) and combine them. The seed defaults to the client's BENCH_SEED. Calls stop
    once a majority of successful samples can no longer be reached: the case is errored anyway.
    An invalid strategy raises StrategyError before any call."""
    base_seed = client.settings.bench_seed if seed is None else seed
    requests = strategies.requests_for(case, strategy, template_text, base_seed)
    allowed_failures = len(requests) - strategies.needed(len(requests))
    done: list[Completion] = []
    for req in requests:
        done.append(client.chat(model, req.messages, seed=req.seed, temperature=req.temperature,
                                max_tokens=req.max_tokens))
        if sum(not d.ok for d in done) > allowed_failures:
            break
    replies = [strategies.Reply(ok=d.ok, content=d.content, error=d.error) for d in done]
    replies += [strategies.Reply(ok=False, error="not called: a majority could no longer succeed")
                for _ in range(len(requests) - len(done))]
    outcome = strategies.combine(case, strategy, replies, base_seed)
    responded = [d for d in done if d.attempts > 0]
    chosen = done[outcome.chosen] if outcome.chosen is not None else None
    return StrategyCompletion(
        ok=outcome.ok, content=outcome.content if outcome.ok else "", error=outcome.error,
        finish_reason=chosen.finish_reason if chosen else (done[-1].finish_reason if done else None),
        prompt_tokens=_total([d.prompt_tokens for d in responded]),
        completion_tokens=_total([d.completion_tokens for d in responded]),
        cost_usd=_total([d.cost_usd for d in responded]),
        latency_s=sum(d.latency_s for d in done), attempts=sum(d.attempts for d in done),
        simulated=any(d.simulated for d in done), outcome=outcome)
