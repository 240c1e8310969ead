"""OpenAI-compatible chat completions (OpenRouter by default; Ollama, vLLM or the local model
simulator by base URL): temperature 0, a seed, bounded concurrency, retries on 429/5xx with
Retry-After, a per-call timeout. Failures become errored results, never answers."""
from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from shared.bench.cases import Case
from shared.config import Settings
from shared.platform.http import HttpSource, SourceError


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
        body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0,
                                "seed": self.settings.bench_seed, "max_tokens": case.max_tokens,
                                "usage": {"include": True}}  # OpenRouter: report usage.cost
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
