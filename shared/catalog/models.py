"""OpenRouter model entries: tolerant parsing of the feed, and the normalised form we store.

The feed evolves (knowledge_cutoff and links arrived in 2026, reasoning / benchmarks /
alias_target / supported_voices later). Unknown fields are kept in `extra`, every later field
is optional, and the content hash covers only the normalised meaning, so a format-only change
(an omitted zero price, "0.0000150" vs "0.000015", key order) is not an update.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MODEL_ID_RE = re.compile(r"^~?[A-Za-z0-9][\w.\-~]*/[\w.\-~:]+$")  # "~author/x-latest" are aliases
DYNAMIC_PRICE = Decimal("-1")  # OpenRouter's marker for router models priced per routed call
NORMALISER_VERSION = 2


class Architecture(BaseModel):
    model_config = ConfigDict(extra="allow")
    modality: str | None = None
    input_modalities: list[str] = []
    output_modalities: list[str] = []
    tokenizer: str | None = None
    instruct_type: str | None = None


class TopProvider(BaseModel):
    model_config = ConfigDict(extra="allow")
    context_length: int | None = None
    max_completion_tokens: int | None = None
    is_moderated: bool | None = None


class OpenRouterModel(BaseModel):
    """One entry of GET /models as served. Fields the API adds later land in model_extra."""
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    canonical_slug: str | None = None
    hugging_face_id: str | None = None
    created: int | None = None
    description: str | None = None
    context_length: int | None = None
    architecture: Architecture | None = None
    pricing: dict[str, str | int | float] = Field(default_factory=dict)
    top_provider: TopProvider | None = None
    per_request_limits: dict[str, Any] | None = None
    supported_parameters: list[str] = []
    default_parameters: dict[str, Any] | None = None
    knowledge_cutoff: str | None = None
    expiration_date: str | None = None
    links: dict[str, Any] | None = None
    reasoning: Any = None
    benchmarks: Any = None
    alias_target: str | None = None
    supported_voices: list[Any] | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not MODEL_ID_RE.match(value):
            raise ValueError(f"model id {value!r} is not of the form author/slug")
        return value

    @field_validator("supported_parameters", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class Pricing(BaseModel):
    """Prices in USD per unit as decimal strings; zero-valued keys are dropped."""
    model_config = ConfigDict(frozen=True)
    values: dict[str, str]
    dynamic: bool

    def get(self, key: str) -> Decimal:
        return Decimal(self.values.get(key, "0"))


class CatalogModel(BaseModel):
    """The normalised model we store in Firestore (models/{doc_id})."""
    model_config = ConfigDict(frozen=True)

    id: str
    canonical_slug: str | None
    name: str
    description: str | None
    created_at: datetime | None
    context_length: int | None
    modality: str | None
    input_modalities: list[str]
    output_modalities: list[str]
    tokenizer: str | None
    instruct_type: str | None
    pricing: dict[str, str]
    capabilities: dict[str, Any]
    max_completion_tokens: int | None
    top_provider_context_length: int | None
    is_moderated: bool | None
    supported_parameters: list[str]
    knowledge_cutoff: str | None
    expiration_date: str | None
    hugging_face_id: str | None
    alias_target: str | None
    extra: dict[str, Any]

    def content_hash(self) -> str:
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def normalise_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_pricing(raw: dict[str, Any]) -> Pricing:
    values: dict[str, str] = {}
    dynamic = False
    for key, value in raw.items():
        if value is None:
            continue
        try:
            price = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"pricing.{key}: {value!r} is not a number") from None
        if not price.is_finite():
            raise ValueError(f"pricing.{key}: {value!r} is not a finite number")
        if price == DYNAMIC_PRICE:
            dynamic = True
            values[key] = "-1"
            continue
        if price < 0:
            raise ValueError(f"pricing.{key}: negative price {value!r}")
        if price != 0:
            values[key] = normalise_decimal(price)
    return Pricing(values=dict(sorted(values.items())), dynamic=dynamic)


def derive_capabilities(m: OpenRouterModel, pricing: Pricing) -> dict[str, Any]:
    params = set(m.supported_parameters)
    arch = m.architecture or Architecture()
    free = (not pricing.dynamic and pricing.get("prompt") == 0 and pricing.get("completion") == 0) \
        or m.id.endswith(":free")
    return {
        "tools": "tools" in params,
        "structured_output": bool(params & {"structured_outputs", "response_format"}),
        "reasoning": bool(params & {"reasoning", "include_reasoning"}) or bool(m.reasoning),
        "input_modalities": sorted(set(arch.input_modalities)),
        "output_modalities": sorted(set(arch.output_modalities)),
        "vision": "image" in arch.input_modalities,
        "free": free,
        "dynamic_pricing": pricing.dynamic,
    }


def normalise(m: OpenRouterModel) -> CatalogModel:
    pricing = parse_pricing(m.pricing)
    arch = m.architecture or Architecture()
    top = m.top_provider or TopProvider()
    return CatalogModel(
        id=m.id,
        canonical_slug=m.canonical_slug,
        name=m.name.strip(),
        description=m.description,
        created_at=datetime.fromtimestamp(m.created, timezone.utc) if m.created else None,
        context_length=m.context_length,
        modality=arch.modality,
        input_modalities=sorted(set(arch.input_modalities)),
        output_modalities=sorted(set(arch.output_modalities)),
        tokenizer=arch.tokenizer,
        instruct_type=arch.instruct_type,
        pricing=pricing.values,
        capabilities=derive_capabilities(m, pricing),
        max_completion_tokens=top.max_completion_tokens,
        top_provider_context_length=top.context_length,
        is_moderated=top.is_moderated,
        supported_parameters=sorted(set(m.supported_parameters)),
        knowledge_cutoff=m.knowledge_cutoff,
        expiration_date=m.expiration_date,
        hugging_face_id=m.hugging_face_id or None,
        alias_target=m.alias_target,
        # unknown and volatile-free extras are kept (sorted for a stable hash)
        extra=_stable({k: v for k, v in (m.model_extra or {}).items()}
                      | {k: getattr(m, k) for k in ("reasoning", "benchmarks", "supported_voices",
                                                     "per_request_limits", "default_parameters")
                         if getattr(m, k) not in (None, {}, [])}),
    )


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stable(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


class Rejected(BaseModel):
    index: int
    model_id: str | None
    reason: str


def parse_models(entries: list[Any]) -> tuple[list[CatalogModel], list[Rejected]]:
    """Parse every entry; a malformed one is rejected alone with its reason."""
    models: list[CatalogModel] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        model_id = entry.get("id") if isinstance(entry, dict) else None
        model_id = model_id if isinstance(model_id, str) else None
        try:
            if not isinstance(entry, dict):
                raise ValueError(f"entry is a {type(entry).__name__}, not an object")
            parsed = normalise(OpenRouterModel.model_validate(entry))
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            rejected.append(Rejected(index=i, model_id=model_id, reason=reason))
            continue
        except ValueError as exc:
            rejected.append(Rejected(index=i, model_id=model_id, reason=str(exc)))
            continue
        if parsed.id in seen:
            rejected.append(Rejected(index=i, model_id=parsed.id, reason="duplicate model id in feed"))
            continue
        seen.add(parsed.id)
        models.append(parsed)
    return models, rejected
