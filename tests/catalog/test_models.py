"""Unit tests for shared/catalog/models.py: pricing, normalisation, content hash, capabilities,
and per-entry rejection. All model entries here are small synthetic dicts written inline."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from shared.catalog.models import (
    CatalogModel,
    OpenRouterModel,
    Pricing,
    normalise,
    parse_models,
    parse_pricing,
)


# --- synthetic data ---------------------------------------------------------------------------

def synthetic_entry(**overrides: Any) -> dict[str, Any]:
    """A synthetic /models entry in the 2025 style (explicit zero price keys)."""
    entry: dict[str, Any] = {
        "id": "acme/widget-1",
        "canonical_slug": "acme/widget-1-20260101",
        "hugging_face_id": "",
        "name": "Acme: Widget 1",
        "created": 1767225600,  # 2026-01-01T00:00:00Z
        "description": "A synthetic model.",
        "context_length": 128000,
        "architecture": {
            "modality": "text+image->text",
            "input_modalities": ["text", "image"],
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": "0.0000030",
            "completion": "0.000015",
            "request": "0",
            "image": "0",
            "internal_reasoning": "0.0",
        },
        "top_provider": {"context_length": 128000, "max_completion_tokens": 8192, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": ["max_tokens", "temperature", "tools", "tool_choice"],
    }
    entry.update(overrides)
    return entry


def catalog(entry: dict[str, Any]) -> CatalogModel:
    return normalise(OpenRouterModel.model_validate(entry))


def content_hash(entry: dict[str, Any]) -> str:
    return catalog(entry).content_hash()


# --- parse_pricing ----------------------------------------------------------------------------

def test_parse_pricing_normalises_decimal_strings_and_sorts_keys():
    """Prices become normalised decimal strings (no trailing zeros, no exponent), keys sorted."""
    p = parse_pricing({"prompt": "0.0000030", "completion": "0.000015", "image": "0.001"})
    assert p == Pricing(values={"completion": "0.000015", "image": "0.001", "prompt": "0.000003"},
                        dynamic=False)
    assert list(p.values) == ["completion", "image", "prompt"]


def test_parse_pricing_drops_zero_keys():
    """'0', '0.0', 0 and '0E-10' are all zero and are dropped."""
    p = parse_pricing({"prompt": "0.000001", "request": "0", "image": "0.0", "web_search": 0,
                       "audio": "0E-10"})
    assert p.values == {"prompt": "0.000001"}
    assert p.dynamic is False
    assert p.get("request") == 0


def test_parse_pricing_dynamic_minus_one_is_kept():
    """'-1' marks router pricing: kept as '-1' and sets dynamic=True."""
    p = parse_pricing({"prompt": "-1", "completion": "-1", "request": "0"})
    assert p.values == {"completion": "-1", "prompt": "-1"}
    assert p.dynamic is True


@pytest.mark.parametrize("value, why", [
    ("abc", "is not a number"),
    ("NaN", "is not a finite number"),
    ("Infinity", "is not a finite number"),
    ("-0.5", "negative price"),
])
def test_parse_pricing_rejects_bad_values_naming_the_key(value, why):
    """Non-numbers, non-finite and negative (other than -1) prices are refused; the reason names the key."""
    with pytest.raises(ValueError) as exc:
        parse_pricing({"prompt": "0.000001", "completion": value})
    assert "pricing.completion" in str(exc.value)
    assert why in str(exc.value)
    assert repr(value) in str(exc.value)


def test_parse_pricing_equal_spellings_normalise_equal():
    """'0.0000150', '0.000015' and '1.5e-5' are the same price."""
    spellings = ["0.0000150", "0.000015", "1.5e-5", "1.5E-05", 0.000015]
    values = [parse_pricing({"prompt": s}).values for s in spellings]
    assert values == [{"prompt": "0.000015"}] * len(spellings)


def test_parse_pricing_large_values_have_no_exponent():
    """A normalised price is written out in full (no '1E+1')."""
    assert parse_pricing({"image": "10.00", "request": "100"}).values == {"image": "10", "request": "100"}


# --- normalise / content_hash -----------------------------------------------------------------

def test_normalise_fields():
    """The stored form: pricing normalised, lists sorted, created as UTC datetime, empty HF id None."""
    m = catalog(synthetic_entry())
    assert m.id == "acme/widget-1"
    assert m.name == "Acme: Widget 1"
    assert m.pricing == {"completion": "0.000015", "prompt": "0.000003"}
    assert m.input_modalities == ["image", "text"]
    assert m.output_modalities == ["text"]
    assert m.supported_parameters == ["max_tokens", "temperature", "tool_choice", "tools"]
    assert m.created_at is not None and m.created_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert m.context_length == 128000
    assert m.max_completion_tokens == 8192
    assert m.is_moderated is False
    assert m.hugging_face_id is None
    assert m.modality == "text+image->text"
    assert m.tokenizer == "Other"
    assert m.extra == {}


def _format_only_variant() -> dict[str, Any]:
    """Same meaning as synthetic_entry(), written the 2026 way: zero keys omitted, other spelling,
    other key order, other list orders."""
    e = synthetic_entry()
    e["pricing"] = {"completion": "1.5e-5", "prompt": "0.000003"}  # zero keys omitted
    e["supported_parameters"] = ["tools", "tool_choice", "temperature", "max_tokens"]
    e["architecture"] = {**e["architecture"], "input_modalities": ["image", "text"]}
    return dict(reversed(list(e.items())))  # top-level key order reversed


def test_content_hash_ignores_format_only_changes():
    """Zero keys present/omitted, trailing zeros, key order and list order do not change the hash."""
    assert content_hash(_format_only_variant()) == content_hash(synthetic_entry())


@pytest.mark.parametrize("name, change", [
    ("trailing zeros", lambda e: e["pricing"].update(prompt="0.00000300")),
    ("zero key dropped", lambda e: e["pricing"].pop("request")),
    ("key order", lambda e: e.__setitem__("pricing", dict(reversed(list(e["pricing"].items()))))),
    ("supported_parameters order", lambda e: e["supported_parameters"].reverse()),
    ("input_modalities order", lambda e: e["architecture"]["input_modalities"].reverse()),
    ("duplicate in params", lambda e: e["supported_parameters"].append("tools")),
])
def test_content_hash_each_format_only_change_alone(name, change):
    """Each format-only difference on its own keeps the hash."""
    base = synthetic_entry()
    variant = copy.deepcopy(base)
    change(variant)
    assert json.dumps(variant) != json.dumps(base), name  # the raw entry really differs
    assert content_hash(variant) == content_hash(base), name


@pytest.mark.parametrize("name, change", [
    ("price", lambda e: e["pricing"].update(prompt="0.000004")),
    ("new non-zero price key", lambda e: e["pricing"].update(web_search="0.01")),
    ("context_length", lambda e: e.__setitem__("context_length", 200000)),
    ("new unknown field", lambda e: e.__setitem__("future_field", {"a": 1})),
    ("name", lambda e: e.__setitem__("name", "Acme: Widget One")),
    ("new supported parameter", lambda e: e["supported_parameters"].append("reasoning")),
    ("max_completion_tokens", lambda e: e["top_provider"].update(max_completion_tokens=4096)),
])
def test_content_hash_changes_on_real_change(name, change):
    """A change of meaning gives a different hash."""
    base = synthetic_entry()
    variant = copy.deepcopy(base)
    change(variant)
    assert content_hash(variant) != content_hash(base), name


def test_content_hash_changes_when_unknown_field_value_changes():
    """Two different values of the same unknown field hash differently."""
    a = content_hash(synthetic_entry(future_field={"tier": "a"}))
    b = content_hash(synthetic_entry(future_field={"tier": "b"}))
    assert a != b


def test_content_hash_is_sha256_hex_and_deterministic():
    """The hash is a 64-char hex digest, stable across calls."""
    h1, h2 = content_hash(synthetic_entry()), content_hash(synthetic_entry())
    assert h1 == h2
    assert len(h1) == 64 and int(h1, 16) >= 0


def test_unknown_fields_kept_in_extra_sorted():
    """Unknown top-level fields land in CatalogModel.extra, with nested dict keys sorted."""
    m = catalog(synthetic_entry(future_field={"b": 2, "a": [{"z": 1, "y": 2}]}, another="x"))
    assert m.extra == {"another": "x", "future_field": {"a": [{"y": 2, "z": 1}], "b": 2}}
    assert list(m.extra) == ["another", "future_field"]
    assert list(m.extra["future_field"]) == ["a", "b"]
    assert list(m.extra["future_field"]["a"][0]) == ["y", "z"]


def test_later_optional_fields_absent_parse():
    """A 2025-style entry without knowledge_cutoff/reasoning/benchmarks/alias_target/links/voices parses."""
    models, rejected = parse_models([synthetic_entry()])
    assert rejected == []
    m = models[0]
    assert m.knowledge_cutoff is None and m.alias_target is None and m.expiration_date is None
    assert m.extra == {}


def test_later_optional_fields_present_parse():
    """The later fields parse; reasoning/benchmarks/supported_voices are kept in extra."""
    entry = synthetic_entry(
        knowledge_cutoff="2025-06-30",
        expiration_date="2026-12-31",
        reasoning={"supported": True, "effort": ["low", "high"]},
        benchmarks={"mmlu": 0.9},
        alias_target="acme/widget-1-20260101",
        links={"details": "/api/v1/models/acme/widget-1/endpoints"},
        supported_voices=["alloy", "verse"],
        default_parameters={"temperature": 0.7},
    )
    models, rejected = parse_models([entry])
    assert rejected == []
    m = models[0]
    assert m.knowledge_cutoff == "2025-06-30"
    assert m.expiration_date == "2026-12-31"
    assert m.alias_target == "acme/widget-1-20260101"
    assert m.extra == {
        "benchmarks": {"mmlu": 0.9},
        "default_parameters": {"temperature": 0.7},
        "reasoning": {"effort": ["low", "high"], "supported": True},
        "supported_voices": ["alloy", "verse"],
    }
    assert m.capabilities["reasoning"] is True
    # a later field changes the meaning, so the hash too
    assert m.content_hash() != content_hash(synthetic_entry())


def test_null_supported_parameters_is_empty():
    """supported_parameters: null parses as an empty list."""
    m = catalog(synthetic_entry(supported_parameters=None))
    assert m.supported_parameters == []
    assert m.capabilities["tools"] is False


# --- capabilities -----------------------------------------------------------------------------

def test_capabilities_of_paid_tool_vision_model():
    """tools / vision from params and modalities; not free, not dynamic, no reasoning."""
    caps = catalog(synthetic_entry()).capabilities
    assert caps == {
        "tools": True,
        "structured_output": False,
        "reasoning": False,
        "input_modalities": ["image", "text"],
        "output_modalities": ["text"],
        "vision": True,
        "free": False,
        "dynamic_pricing": False,
    }


@pytest.mark.parametrize("param", ["structured_outputs", "response_format"])
def test_structured_output_from_either_parameter(param):
    """structured_output is set by structured_outputs or by response_format."""
    caps = catalog(synthetic_entry(supported_parameters=["max_tokens", param])).capabilities
    assert caps["structured_output"] is True
    assert caps["tools"] is False


@pytest.mark.parametrize("param", ["reasoning", "include_reasoning"])
def test_reasoning_from_parameter(param):
    """reasoning is set by the reasoning or include_reasoning parameter."""
    assert catalog(synthetic_entry(supported_parameters=[param])).capabilities["reasoning"] is True


def test_text_only_model_has_no_vision():
    """vision needs 'image' among the input modalities."""
    arch = {"modality": "text->text", "input_modalities": ["text"], "output_modalities": ["text"]}
    assert catalog(synthetic_entry(architecture=arch)).capabilities["vision"] is False


def test_free_for_free_suffix_even_with_prices():
    """An id ending ':free' is free."""
    caps = catalog(synthetic_entry(id="x/y:free")).capabilities
    assert caps["free"] is True


def test_free_for_zero_prices():
    """Zero prompt and completion prices make a model free (zeros omitted or explicit)."""
    assert catalog(synthetic_entry(pricing={"prompt": "0", "completion": "0.0"})).capabilities["free"] is True
    assert catalog(synthetic_entry(pricing={})).capabilities["free"] is True
    assert catalog(synthetic_entry(pricing={"prompt": "0", "completion": "0.000001"})).capabilities["free"] is False


def test_dynamic_pricing_router_not_free():
    """A '-1' router is dynamic_pricing and not free."""
    m = catalog(synthetic_entry(id="openrouter/auto", pricing={"prompt": "-1", "completion": "-1"}))
    assert m.capabilities["dynamic_pricing"] is True
    assert m.capabilities["free"] is False
    assert m.pricing == {"completion": "-1", "prompt": "-1"}


# --- parse_models -----------------------------------------------------------------------------

def test_parse_models_rejects_bad_entries_alone():
    """Every malformed entry is rejected with its reason; the good ones still parse."""
    no_id = synthetic_entry()
    del no_id["id"]
    no_name = synthetic_entry(id="acme/no-name")
    del no_name["name"]
    entries = [
        synthetic_entry(id="acme/good-1"),                                   # 0 ok
        no_id,                                                               # 1 missing id
        synthetic_entry(id="noslash"),                                       # 2 id without '/'
        no_name,                                                             # 3 missing name
        "acme/not-an-object",                                                # 4 non-dict
        synthetic_entry(id="acme/bad-price", pricing={"prompt": "abc"}),     # 5 bad price
        synthetic_entry(id="acme/good-1", name="dup"),                       # 6 duplicate
        synthetic_entry(id="~anthropic/claude-haiku-latest"),                # 7 ok alias
        synthetic_entry(id="x/y:free"),                                      # 8 ok
        None,                                                                # 9 non-dict
    ]
    models, rejected = parse_models(entries)
    assert [m.id for m in models] == ["acme/good-1", "~anthropic/claude-haiku-latest", "x/y:free"]
    assert models[0].name == "Acme: Widget 1"  # the first of the duplicates wins
    by_index = {r.index: r for r in rejected}
    assert sorted(by_index) == [1, 2, 3, 4, 5, 6, 9]

    assert by_index[1].model_id is None
    assert by_index[1].reason.startswith("id:") and "required" in by_index[1].reason.lower()

    assert by_index[2].model_id == "noslash"
    assert "id:" in by_index[2].reason and "author/slug" in by_index[2].reason

    assert by_index[3].model_id == "acme/no-name"
    assert by_index[3].reason.startswith("name:") and "required" in by_index[3].reason.lower()

    assert by_index[4].model_id is None
    assert by_index[4].reason == "entry is a str, not an object"
    assert by_index[9].reason == "entry is a NoneType, not an object"

    assert by_index[5].model_id == "acme/bad-price"
    assert by_index[5].reason == "pricing.prompt: 'abc' is not a number"

    assert by_index[6].model_id == "acme/good-1"
    assert by_index[6].reason == "duplicate model id in feed"


@pytest.mark.parametrize("model_id", ["~anthropic/claude-haiku-latest", "x/y:free",
                                      "meta-llama/llama-3.1-8b-instruct", "a.b/c~d"])
def test_valid_id_shapes_accepted(model_id):
    """Alias ids ('~author/x'), ':free' variants and dotted ids are valid."""
    models, rejected = parse_models([synthetic_entry(id=model_id)])
    assert rejected == [] and [m.id for m in models] == [model_id]


@pytest.mark.parametrize("model_id", ["noslash", "/leading", "trailing/", "a/b c", "a//b"])
def test_invalid_id_shapes_rejected(model_id):
    """Ids that are not author/slug are rejected."""
    models, rejected = parse_models([synthetic_entry(id=model_id)])
    assert models == [] and len(rejected) == 1 and rejected[0].model_id == model_id
