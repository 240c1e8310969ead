"""OpenRouter model entries: tolerant parsing of the feed, and the normalised form we store.

The feed evolves without notice (knowledge_cutoff and links arrived in 2026, reasoning /
benchmarks / alias_target / supported_voices later, then tiered `pricing.overrides` and an
object-valued alias_target). So only the essentials (id, name, the base prompt / completion
prices) can reject an entry; any other field whose shape no longer fits is kept raw in
`unparsed`, recorded once per field path in the sync's schema-drift list, and never takes the
model out of the catalog. Unknown fields are kept in `extra`, and the content hash covers only
the normalised meaning, so a format-only change (an omitted zero price, "0.0000150" vs
"0.000015", key order) is not an update.
"""
from __future__ import annotations

import hashlib
import json
import copy
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MODEL_ID_RE = re.compile(r"^~?[A-Za-z0-9][\w.\-~]*/[\w.\-~:]+$")  # "~author/x-latest" are aliases
DYNAMIC_PRICE = Decimal("-1")  # OpenRouter's marker for router models priced per routed call
NORMALISER_VERSION = 3
ESSENTIAL_PRICES = ("prompt", "completion")
TIERS_KEY = "overrides"          # pricing.overrides: a list of tiered prices (objects)
# price keys a tier may carry; other tier keys are its conditions
PRICE_KEYS = frozenset({"prompt", "completion", "request", "image", "audio", "web_search",
                        "internal_reasoning", "input_cache_read", "input_cache_write",
                        "image_output", "input_audio_cache"})
LATER_FIELDS = ("pricing_tiers", "unparsed")
EXAMPLE_CHARS = 200


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
    # tiered prices (pricing.overrides): [{"prices": {key: decimal string}, "conditions": {...}}]
    pricing_tiers: list[dict[str, Any]] = []
    # fields whose shape no longer fits, raw: [{"path": "alias_target", "json": "{...}"}]
    unparsed: list[dict[str, str]] = []

    def content_hash(self) -> str:
        dump = self.model_dump(mode="json")
        # fields added later leave the hash of a model without them as it was (no mass "update")
        dump = {k: v for k, v in dump.items() if not (k in LATER_FIELDS and v in ([], {}))}
        payload = json.dumps(dump, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Drift(BaseModel):
    """One field path whose shape no longer fits the parser, over one sync's feed."""
    path: str                  # "alias_target", "architecture.input_modalities", "pricing.overrides[].prompt"
    count: int                 # entries where it did not fit
    expected: str              # what the parser expected (the first mismatch)
    example: str               # the first value seen, JSON, redacted, truncated
    example_model: str | None  # the entry it came from


class DriftLog:
    """Collects schema drift across the entries of one feed: one row per field path."""

    def __init__(self) -> None:
        self._rows: dict[str, Drift] = {}

    def note(self, path: str, value: Any, expected: str, model_id: str | None) -> None:
        row = self._rows.get(path)
        if row is None:
            self._rows[path] = Drift(path=path, count=1, expected=expected[:EXAMPLE_CHARS],
                                     example=example_of(value), example_model=model_id)
        else:
            row.count += 1

    def rows(self) -> list[Drift]:
        return [self._rows[k] for k in sorted(self._rows)]


def example_of(value: Any) -> str:
    """A value as short, redacted JSON: a feed is hostile input and the record is shown."""
    from shared.redaction import redact

    text = redact(json.dumps(value, default=str, sort_keys=True))
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…"


def normalise_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_price(key: str, value: Any) -> str | None:
    """One price as a normalised decimal string, "-1" for dynamic, None for zero or null;
    ValueError naming the key otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"pricing.{key}: {value!r} is not a number")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"pricing.{key}: {value!r} is not a number") from None
    if not price.is_finite():
        raise ValueError(f"pricing.{key}: {value!r} is not a finite number")
    if price == DYNAMIC_PRICE:
        return "-1"
    if price < 0:
        raise ValueError(f"pricing.{key}: negative price {value!r}")
    return normalise_decimal(price) if price != 0 else None


def _priced(values: dict[str, str]) -> Pricing:
    return Pricing(values=dict(sorted(values.items())), dynamic="-1" in values.values())


def parse_pricing(raw: dict[str, Any]) -> Pricing:
    """Every key a price (strict: endpoint pricing and tests use it whole)."""
    return _priced({k: p for k, v in raw.items() if (p := parse_price(k, v)) is not None})


def parse_model_pricing(raw: dict[str, Any], model_id: str, drift: DriftLog,
                        unparsed: list[dict[str, str]]) -> tuple[Pricing, list[dict[str, Any]]]:
    """A model's pricing: the essentials strictly (ValueError), every other key tolerantly
    (kept raw in `unparsed` and noted as drift), and the tiers of pricing.overrides."""
    values: dict[str, str] = {}
    tiers: list[dict[str, Any]] = []
    for key, value in raw.items():
        if key == TIERS_KEY and isinstance(value, list):
            tiers = parse_tiers(value, set(raw), model_id, drift, unparsed)
            continue
        try:
            price = parse_price(key, value)
        except ValueError as exc:
            if key in ESSENTIAL_PRICES:
                raise
            _keep_raw(f"pricing.{key}", value, str(exc), model_id, drift, unparsed)
            continue
        if price is not None:
            values[key] = price
    return _priced(values), tiers


def parse_tiers(raw: list[Any], base_keys: set[str], model_id: str, drift: DriftLog,
                unparsed: list[dict[str, str]]) -> list[dict[str, Any]]:
    """pricing.overrides: each tier's prices normalised, its other keys kept as conditions."""
    tiers = []
    for tier in raw:
        if not isinstance(tier, dict):
            _keep_raw(f"pricing.{TIERS_KEY}[]", tier, "an object", model_id, drift, unparsed)
            continue
        prices: dict[str, str] = {}
        conditions: dict[str, Any] = {}
        for key, value in tier.items():
            if key not in PRICE_KEYS and key not in base_keys:
                conditions[key] = value
                continue
            try:
                price = parse_price(key, value)
            except ValueError as exc:
                _keep_raw(f"pricing.{TIERS_KEY}[].{key}", value, str(exc), model_id, drift, unparsed)
                continue
            if price is not None:
                prices[key] = price
        tiers.append({"prices": dict(sorted(prices.items())), "conditions": _storable(_stable(conditions))})
    return tiers


def upper_bound_pricing(pricing: Mapping[str, Any], tiers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Per price key, the most expensive of the base price and every tier's: what bounds a call
    whichever tier it lands in. "-1" (dynamic) wins; a value that is not a number is passed
    through so that a budget check refuses it rather than bounding it at the base price."""
    out: dict[str, Any] = dict(pricing)
    for tier in tiers or []:
        for key, value in (tier.get("prices") or {}).items():
            out[key] = _dearer(out.get(key), value)
    return out


def _dearer(a: Any, b: Any) -> Any:
    if a is None:
        return b
    try:
        da, db = Decimal(str(a)), Decimal(str(b))
    except InvalidOperation:
        return a if not _is_number(a) else b
    if da == DYNAMIC_PRICE or db == DYNAMIC_PRICE:
        return "-1"
    return a if da >= db else b


def _is_number(value: Any) -> bool:
    try:
        return Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False


def bounding_pricing(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The prices that bound a model's calls, from its stored document: the highest tier's
    rates per key, and every pricing key that did not parse, raw (so it cannot be bounded)."""
    out = upper_bound_pricing(doc.get("pricing") or {}, doc.get("pricing_tiers") or [])
    for row in doc.get("unparsed") or []:
        path = row.get("path", "")
        if path.startswith("pricing."):
            out[path.removeprefix("pricing.")] = row.get("json")
    return out


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


def _created_at(m: OpenRouterModel, drift: DriftLog, unparsed: list[dict[str, str]]) -> datetime | None:
    if not m.created:
        return None
    try:
        return datetime.fromtimestamp(m.created, timezone.utc)
    except (OverflowError, OSError, ValueError) as exc:
        _keep_raw("created", m.created, f"a Unix time ({exc})", m.id, drift, unparsed)
        return None


def normalise(m: OpenRouterModel, drift: DriftLog | None = None, unparsed: list[dict[str, str]] | None = None,
              pricing: Pricing | None = None, tiers: list[dict[str, Any]] | None = None) -> CatalogModel:
    drift = drift if drift is not None else DriftLog()
    unparsed = unparsed if unparsed is not None else []
    pricing = pricing if pricing is not None else parse_pricing(m.pricing)
    arch = m.architecture or Architecture()
    top = m.top_provider or TopProvider()
    created_at = _created_at(m, drift, unparsed)
    return CatalogModel(
        id=m.id,
        canonical_slug=m.canonical_slug,
        name=m.name.strip(),
        description=m.description,
        created_at=created_at,
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
        extra=_storable(_stable({k: v for k, v in (m.model_extra or {}).items()}
                                | {k: getattr(m, k) for k in ("reasoning", "benchmarks", "supported_voices",
                                                               "per_request_limits", "default_parameters")
                                   if getattr(m, k) not in (None, {}, [])})),
        pricing_tiers=tiers or [],
        unparsed=sorted(unparsed, key=lambda u: u["path"]),
    )


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _stable(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _storable(value: Any) -> Any:
    """Firestore refuses an array directly inside an array: such an inner list is kept as JSON."""
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json.dumps(v, sort_keys=True, default=str) if isinstance(v, list) else _storable(v)
                for v in value]
    return value


def _keep_raw(path: str, value: Any, expected: str, model_id: str | None, drift: DriftLog,
              unparsed: list[dict[str, str]]) -> None:
    drift.note(path, value, expected, model_id)
    unparsed.append({"path": path, "json": json.dumps(value, sort_keys=True, default=str)})


class Rejected(BaseModel):
    index: int
    model_id: str | None
    reason: str


def _essentials(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(id, raw pricing) when the essentials read; ValueError with the reason otherwise."""
    model_id = entry.get("id")
    if "id" not in entry or model_id is None:
        raise ValueError("id: Field required")
    if not isinstance(model_id, str):
        raise ValueError(f"id: expected a string, got {type(model_id).__name__}")
    if not MODEL_ID_RE.match(model_id):
        raise ValueError(f"id: model id {model_id!r} is not of the form author/slug")
    name = entry.get("name")
    if name is None:
        raise ValueError("name: Field required")
    if not isinstance(name, str):
        raise ValueError(f"name: expected a string, got {type(name).__name__}")
    pricing = entry.get("pricing")
    if pricing is None:
        pricing = {}
    if not isinstance(pricing, dict):
        raise ValueError(f"pricing: expected an object, got {type(pricing).__name__}")
    for key in ESSENTIAL_PRICES:
        parse_price(key, pricing.get(key))
    return model_id, pricing


def _dict_path(data: dict[str, Any], loc: tuple[Any, ...]) -> list[str]:
    """The keys of `loc` that walk through dicts of `data` (a list index or a type tag ends it)."""
    keys: list[str] = []
    cur: Any = data
    for part in loc:
        if not (isinstance(cur, dict) and isinstance(part, str) and part in cur):
            break
        keys.append(part)
        cur = cur[part]
    return keys


def _fit(entry: dict[str, Any], model_id: str, drift: DriftLog,
         unparsed: list[dict[str, str]]) -> OpenRouterModel:
    """Validate, taking out (raw, as drift) each field that does not fit, until the rest does."""
    data = copy.deepcopy({k: v for k, v in entry.items() if k != "pricing"})
    for _ in range(len(json.dumps(data, default=str)) + 1):   # each round removes at least one key
        try:
            return OpenRouterModel.model_validate(data)
        except ValidationError as exc:
            # every path first, on the data as it failed: two errors inside one field remove it once
            misfits: dict[tuple[str, ...], str] = {}
            for err in exc.errors():
                keys = tuple(_dict_path(data, err["loc"]))
                if keys and keys[0] not in ("id", "name"):
                    misfits.setdefault(keys, err["msg"])
            if not misfits:
                raise
            for keys, expected in sorted(misfits.items()):
                if any(keys[:n] in misfits for n in range(1, len(keys))):
                    continue            # inside a field that is taken out whole
                parent = data
                for k in keys[:-1]:
                    parent = parent[k]
                _keep_raw(".".join(keys), parent.pop(keys[-1]), expected, model_id, drift, unparsed)
    raise ValueError("entry does not fit the schema")


def parse_entry(entry: Any, drift: DriftLog) -> CatalogModel:
    """One entry: ValueError / ValidationError only when an essential fails."""
    if not isinstance(entry, dict):
        raise ValueError(f"entry is a {type(entry).__name__}, not an object")
    model_id, raw_pricing = _essentials(entry)
    unparsed: list[dict[str, str]] = []
    pricing, tiers = parse_model_pricing(raw_pricing, model_id, drift, unparsed)
    m = _fit(entry, model_id, drift, unparsed)
    return normalise(m, drift, unparsed, pricing, tiers)


def parse_models(entries: list[Any], drift: DriftLog | None = None) -> tuple[list[CatalogModel], list[Rejected]]:
    """Parse every entry; one whose essentials fail is rejected alone with its reason, and a
    changed shape elsewhere is noted in `drift` (the model is kept)."""
    drift = drift if drift is not None else DriftLog()
    models: list[CatalogModel] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        model_id = entry.get("id") if isinstance(entry, dict) else None
        model_id = model_id if isinstance(model_id, str) else None
        try:
            parsed = parse_entry(entry, drift)
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
