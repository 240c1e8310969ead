"""Benchmark money: catalog prices → rates, the upper bound of a run before any call, the
actual cost of a finished call, and the planning check against the caps. Pure (no cloud
imports): the Firestore ledger that enforces the caps during a run is shared/bench/spend.py.

All money is Decimal (USD). Catalog prices are strings of USD per unit (OpenRouter /models).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

BUDGET_EXHAUSTED = "budget_exhausted"  # prefix of CaseResult.error for units never called
ZERO = Decimal(0)
MESSAGE_OVERHEAD_TOKENS = 16  # chat-template tokens per message, generously

# Every price key we know how to bound. An unknown non-zero key makes the model unpriced.
INPUT_TOKEN_KEYS = ("prompt", "input_cache_read", "input_cache_write")
OUTPUT_TOKEN_KEYS = ("completion", "internal_reasoning")
# Billed only for inputs the suites never send (text prompts only): known, never counted.
MEDIA_INPUT_KEYS = ("image", "audio")
KNOWN_KEYS = (*INPUT_TOKEN_KEYS, *OUTPUT_TOKEN_KEYS, "request", "web_search", *MEDIA_INPUT_KEYS)


class BudgetRefused(RuntimeError):
    """The run was refused before any call (a cap, or a model whose cost cannot be bounded)."""


class Unpriced(ValueError):
    """The catalog pricing of a model cannot bound its cost; the message says why."""


@dataclass(frozen=True)
class Rates:
    """USD per unit, already reduced to what can bound a benchmark call."""
    input: Decimal       # per prompt token: the highest input rate (a prompt may be written to cache)
    output: Decimal      # per completion token: reasoning tokens are completion tokens billed apart
    per_call: Decimal    # request fee (+ web_search for :online models, which search on every call)
    prompt: Decimal      # the plain rates, for the actual cost
    completion: Decimal


def price(value: Any) -> Decimal:
    """A catalog price as Decimal; Unpriced for "-1" (dynamic routers), negative, NaN, infinite or
    non-numeric values: none of them can bound a cost."""
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Unpriced(f"non-numeric price {value!r}") from None
    if not d.is_finite():
        raise Unpriced(f"price {value!r} is not a finite number")
    if d < 0:
        raise Unpriced(f"negative price {value!r} (\"-1\" marks a router priced per routed model)")
    return d


def rates_of(model: str, pricing: Mapping[str, Any] | None) -> Rates:
    """Rates for one model, or Unpriced (message names the model and the key)."""
    if pricing is None:
        raise Unpriced(f"{model}: not in the catalog (no pricing)")
    p: dict[str, Decimal] = {}
    for key, value in pricing.items():
        try:
            p[key] = price(value)
        except Unpriced as exc:
            raise Unpriced(f"{model}: {key} {exc}") from None
    unknown = sorted(k for k, v in p.items() if k not in KNOWN_KEYS and v != 0)
    if unknown:
        raise Unpriced(f"{model}: unknown price key(s) {', '.join(unknown)} (cannot bound them)")
    get = lambda k: p.get(k, ZERO)  # noqa: E731 - 2026 catalogs omit zero-valued keys
    # web_search is billed per search; our calls request none, but an ":online" model searches on
    # every call (one search per call is what OpenRouter bills for the web plugin per request).
    web = get("web_search") if model.endswith(":online") else ZERO
    return Rates(input=max(get(k) for k in INPUT_TOKEN_KEYS), output=max(get(k) for k in OUTPUT_TOKEN_KEYS),
                 per_call=get("request") + web, prompt=get("prompt"), completion=get("completion"))


def rates_or_none(model: str, pricing: Mapping[str, Any] | None) -> Rates | None:
    """Rates, or None for a model planning let through unpriced (BENCH_ALLOW_UNPRICED)."""
    try:
        return rates_of(model, pricing)
    except Unpriced:
        return None


def allowed_unpriced(model: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, p) for p in patterns)


def prompt_token_bound(prompt: str, system: str | None) -> int:
    """Tokens never outnumber UTF-8 bytes (byte-level tokenizers emit at least one byte per
    token), so bytes + a per-message overhead bound the prompt whatever the tokenizer."""
    messages = [prompt] + ([system] if system else [])
    return sum(len(m.encode()) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def attempt_bound(rates: Rates, prompt_tokens: int, max_tokens: int) -> Decimal:
    """One attempt of one call at most: every prompt token at the highest input rate, max_tokens
    at the highest output rate (reasoning tokens count against max_tokens), plus per-call fees."""
    return rates.input * prompt_tokens + rates.output * max_tokens + rates.per_call


def call_bound(rates: Rates, prompt_tokens: int, max_tokens: int, attempts: int) -> Decimal:
    """Every attempt of a call may be billed: a timed-out attempt can still be charged upstream
    and is retried, so the bound is HTTP_MAX_ATTEMPTS × one attempt."""
    return attempts * attempt_bound(rates, prompt_tokens, max_tokens)


def actual_cost(rates: Rates | None, usage_cost: float | None, prompt_tokens: int | None,
                completion_tokens: int | None) -> tuple[Decimal | None, str]:
    """(cost, source) of a completed call. usage.cost when the server reports it; else the
    catalog: reported tokens at the plain prompt rate and the higher of completion and reasoning
    rates (reasoning tokens are inside completion_tokens and cannot be told apart), plus the
    per-call fees, counted once: retried attempts ended in an error status or a timeout, neither
    of which returned a billable response we could see (the bound covers them)."""
    if usage_cost is not None:
        return Decimal(str(usage_cost)), "usage.cost"
    if rates is None or prompt_tokens is None or completion_tokens is None:
        return None, "unknown"
    return rates.prompt * prompt_tokens + rates.output * completion_tokens + rates.per_call, "catalog"


def ledger_charge(cost: Decimal | None, attempt_bound: Decimal, responded: bool) -> Decimal:
    """What the spend ledger records for a finished call: its cost when known; one attempt's
    bound when a response came back but could not be priced (it may have been billed); nothing
    when no response came back (errors are not billed; a timed-out attempt might be, but nothing
    tells us: the reservation covered it while the run went on)."""
    if cost is not None:
        return cost
    return attempt_bound if responded else ZERO


def usd(amount: Decimal, places: int = 6) -> float:
    """A Decimal as a float for summaries, rounded up so a shown bound never understates."""
    return float(amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_CEILING))


def estimate_cost(cases: list[Any], models: list[str], pricing: Mapping[str, Mapping[str, Any] | None],
                  attempts: int, allow_unpriced: Iterable[str] = (),
                  samples: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Upper bound of a run before any call. Unpriced models the operator allowed are listed in
    `unpriced_models` and bound at $0; the others in `refused_models` with the reason."""
    allow = tuple(allow_unpriced)
    per_call = [(prompt_token_bound(c.prompt, c.system), c.max_tokens) for c in cases]
    per_model: dict[str, Decimal] = {}
    unpriced: list[str] = []
    refused: dict[str, str] = {}
    for m in models:
        try:
            rates = rates_of(m, pricing.get(m))
        except Unpriced as exc:
            if allowed_unpriced(m, allow):
                unpriced.append(m)
            else:
                refused[m] = str(exc)
            continue
        # a self-consistency target makes `samples` calls per case
        per_model[m] = sum((call_bound(rates, pt, mt, attempts) for pt, mt in per_call), ZERO) * (samples or {}).get(m, 1)
    total = sum(per_model.values(), ZERO)
    calls = sum(len(cases) * (samples or {}).get(m, 1) for m in models)
    return {"calls": calls, "attempts_per_call": attempts,
            "prompt_tokens_per_model": sum(pt for pt, _ in per_call),
            "max_completion_tokens_per_model": sum(mt for _, mt in per_call),
            "usd_upper_bound": usd(total), "usd_upper_bound_exact": str(total),
            "per_model_usd": {m: usd(v) for m, v in per_model.items()},
            "unpriced_models": unpriced, "refused_models": refused}


def check_budget(estimate: Mapping[str, Any], caps: Mapping[str, tuple[Decimal, Decimal]]) -> None:
    """Refuse a run (nothing called) with a model that cannot be bounded, or whose bound does
    not fit what is left of a cap. caps: setting name → (cap, already spent or reserved)."""
    if estimate["refused_models"]:
        reasons = "; ".join(estimate["refused_models"].values())
        raise BudgetRefused(f"cannot bound the cost of {sorted(estimate['refused_models'])} ({reasons}); "
                            f"nothing was called. Sync the catalog, drop the model, or allow it with "
                            f"BENCH_ALLOW_UNPRICED (fnmatch patterns)")
    bound = Decimal(estimate["usd_upper_bound_exact"])
    for name, (cap, used) in caps.items():
        if bound > cap - used:
            left = max(cap - used, ZERO)
            spent = f" (${usd(used, 2):.2f} already spent or reserved, ${usd(left, 2):.2f} left)" if used else ""
            raise BudgetRefused(
                f"estimated cost up to ${usd(bound, 2):.2f} for {estimate['calls']} calls "
                f"× {estimate['attempts_per_call']} attempts exceeds {name}=${cap:.2f}{spent}; "
                f"nothing was called. Lower BENCH_MAX_CASES_PER_CATEGORY, name fewer models, or raise the cap")
