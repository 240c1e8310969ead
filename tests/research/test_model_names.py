"""Catalog model names as release evidence (shared/research/model_names.py): families from the
catalog, the subject rule, hostile catalogs and titles, and how the keyword scorer uses them."""
from __future__ import annotations

import json

import pytest

from shared.research.config import ModelNamesSpec, ResearchConfig, ResearchConfigError, TopicSpec, load_research_config
from shared.research.findings import Finding
from shared.research.model_names import MENTION_PREFIX, ModelFamilies, family_of
from shared.research.relevance import TopicMatcher, topic_matcher
from tests.conftest import fixture_path, missing_fixture

CATALOG = [
    {"id": "openai/gpt-4o", "name": "OpenAI: GPT-4o"},
    {"id": "openai/gpt-4.1-mini", "name": "OpenAI: GPT-4.1 Mini"},
    {"id": "openai/o3-mini", "name": "OpenAI: o3 Mini"},
    {"id": "openai/o1", "name": "OpenAI: o1"},
    {"id": "google/gemini-2.5-pro", "name": "Google: Gemini 2.5 Pro"},
    {"id": "google/gemini-2.0-flash-001", "name": "Google: Gemini 2.0 Flash"},
    {"id": "google/gemma-3-27b-it", "name": "Google: Gemma 3 27B"},
    {"id": "google/gemma-3n-e4b-it", "name": "Google: Gemma 3n 4B"},
    {"id": "qwen/qwen3-32b", "name": "Qwen: Qwen3 32B"},
    {"id": "qwen/qwen-2.5-72b-instruct", "name": "Qwen2.5 72B Instruct"},
    {"id": "deepseek/deepseek-v3", "name": "DeepSeek: DeepSeek V3"},
    {"id": "deepseek/deepseek-v3.2", "name": "DeepSeek: DeepSeek V3.2"},
    {"id": "deepseek/deepseek-r1", "name": "DeepSeek: R1"},
    {"id": "deepseek/deepseek-r1-distill-llama-70b", "name": "DeepSeek: R1 Distill Llama 70B"},
    {"id": "anthropic/claude-3.5-sonnet", "name": "Anthropic: Claude 3.5 Sonnet"},
    {"id": "anthropic/claude-opus-4", "name": "Anthropic: Claude Opus 4"},
    {"id": "someone/one-off-tune", "name": "Someone: Fable Fusion 7B"},   # one model: no family
]
FAMILIES = ModelFamilies.from_catalog(CATALOG)


def test_families_are_the_names_shared_by_two_or_more_catalog_models():
    # "DeepSeek: R1" is family "r" (the name after the provider), not "deepseek"
    assert FAMILIES.counts == {"claude": 2, "deepseek": 2, "gemini": 2, "gemma": 2, "gpt": 2, "o": 2,
                               "qwen": 2, "r": 2}
    assert ModelFamilies.from_catalog(CATALOG, min_models=1).counts["fable"] == 1
    assert "qwen" not in ModelFamilies.from_catalog(CATALOG, ignore=["Qwen "]).counts


@pytest.mark.parametrize("name, model_id, family", [
    ("Google: Gemini 2.5 Pro", None, "gemini"),
    ("Qwen2.5 72B Instruct", None, "qwen"),        # no provider prefix
    ("OpenAI: o3 Mini", None, "o"),
    (None, "openai/o3-mini", "o"),                 # no name: the id's slug
    ("", "mistralai/mistral-large", "mistral"),
    ("Provider: 42 things", None, None),           # no leading letters
    (None, None, None),
    (":", "", None),
])
def test_family_of_one_catalog_model(name, model_id, family):
    assert family_of(name, model_id) == family


@pytest.mark.parametrize("doc", [
    "not a dict", None, 7, ["gpt"],
    {"name": 42, "id": "x/gpt-4"},           # a name that changed type: the id is used
    {"name": ["GPT-4"], "id": None},
    {"name": None, "id": {"slug": "gpt"}},
    {},
])
def test_hostile_catalog_documents_are_ignored_not_fatal(doc):
    families = ModelFamilies.from_catalog([doc, doc, {"name": "A: Kestrel 2"}, {"name": "A: Kestrel 3"}])
    assert families.counts.get("kestrel") == 2
    if isinstance(doc, dict) and doc.get("id") == "x/gpt-4":
        assert families.counts.get("gpt") == 2


def test_an_empty_catalog_has_no_families_and_finds_nothing():
    empty = ModelFamilies.from_catalog([])
    assert len(empty) == 0 and empty.mention("OpenAI o3-mini") is None and empty.mention(None) is None


@pytest.mark.parametrize("title, text, family", [
    ("OpenAI o3-mini", "o3", "o"),
    ("OpenAI o3-mini System Card", "o3", "o"),
    ("Gemini 2.5: Updates to our family of thinking models", "Gemini 2.5", "gemini"),
    ("Our next-generation model: Gemini 1.5", "Gemini 1.5", "gemini"),
    ("Introducing GPT-4.1 in the API", "GPT-4.1", "gpt"),
    ("GPT-4o mini: advancing cost-efficient intelligence", "GPT-4o", "gpt"),
    ("GPT\u20114o System Card", "GPT\u20114o", "gpt"),      # the feeds' non-breaking hyphen
    ("Announcing Gemma 3n preview", "Gemma 3n", "gemma"),
    ("Qwen3.6 is here", "Qwen3.6", "qwen"),
    ("DeepSeek-V4 technical report", "DeepSeek-V4", "deepseek"),
    ("DeepSeek R1 release notes", "R1", "r"),
    ("Introducing computer use, a new Claude 3.5 Sonnet, and Claude 3.5 Haiku", "Claude 3.5", "claude"),
    ("claude 3 haiku", "claude 3", "claude"),             # case-insensitive
])
def test_a_versioned_family_name_as_the_subject_is_a_mention(title, text, family):
    m = FAMILIES.mention(title)
    assert m is not None and (m.text, m.family) == (text, family)
    assert m.phrase() == f"{MENTION_PREFIX}{text} ({family}, {FAMILIES.counts[family]} in the catalog)"


@pytest.mark.parametrize("title", [
    "Fine-tuning now available for GPT-4o",                    # about something done with the model
    "Extracting concepts from GPT-4",
    "Customizable voice agents with GPT-4o",
    "Addendum to GPT-4o System Card: image generation",
    "Driving growth with OpenAI o3, GPT-4.1, and CUA",          # later names follow the same preposition
    "Gemini Robotics brings AI into the physical world",        # no version
    "Introducing Gemini: our largest model",
    "The 2025 Gemini roadmap",
    "Gemini 2024 year in review",                               # a year is no version
    "GPTs and the GPT Store",
    "ISO3 and Foo3 are not o3",                                 # inside a word
    "qwen3x5",                                                  # two letters after the version
    "Llamas 2 go to the zoo",
    "v1.o3 notes",                                              # glued to a dot
    "",
])
def test_not_a_mention(title):
    assert FAMILIES.mention(title) is None


def test_a_huge_hostile_title_is_handled():
    title = ("for " + "GPT-4o " * 20_000)[:100_000]
    assert FAMILIES.mention(title) is None
    assert FAMILIES.mention("GPT-5 " + "x" * 100_000).text == "GPT-5"


def test_families_of_a_recorded_real_catalog():
    models = json.loads(fixture_path("openrouter", "models-2025-12-26.json").read_text())["data"]
    families = ModelFamilies.from_catalog(models)
    assert {"gpt", "claude", "gemini", "gemma", "llama", "qwen", "deepseek", "mistral", "o"} <= set(families.counts)
    assert families.mention("OpenAI o3-mini").family == "o"
    assert families.mention("Hello GPT-4o").family == "gpt"


# --- the keyword scorer ---------------------------------------------------------------------------
RELEASE = TopicSpec(name="new model release", phrases=["system card"], negative=["image generation"])
OTHER = TopicSpec(name="tool use", phrases=["tool calling"])


def finding(title: str, kind: str = "rss", summary: str = "") -> Finding:
    return Finding(id=f"url:{abs(hash(title))}", source="t", kind=kind, url="https://example.org/x",
                   title=title, summary=summary)


def test_a_mention_gives_the_release_topic_its_base_score_with_the_phrase_listed():
    a = TopicMatcher([RELEASE, OTHER], FAMILIES, 2.0).assess(finding("OpenAI o3-mini System Card"))
    top = a.topics[0]
    assert top.topic == "new model release" and top.score == 2.0 + 2.0   # base + "system card" in the title
    assert top.phrases[0] == FAMILIES.mention("OpenAI o3-mini").phrase() and "system card" in top.phrases
    assert a.relevance == 4.0


def test_without_families_or_a_mention_nothing_changes():
    plain = TopicMatcher([RELEASE, OTHER]).assess(finding("OpenAI o3-mini"))
    assert plain.relevance == 0 and plain.topics == []
    with_names = TopicMatcher([RELEASE, OTHER], FAMILIES).assess(finding("Tool calling for GPT-4o"))
    assert [t.topic for t in with_names.topics] == ["tool use"]


def test_negatives_still_zero_a_mention():
    a = TopicMatcher([RELEASE], FAMILIES).assess(finding("GPT-4o image generation"))
    assert a.relevance == 0 and a.topics[0].negatives == ["image generation"]


def test_a_mention_needs_the_release_topic_in_scope():
    a = TopicMatcher([RELEASE, OTHER], FAMILIES).assess(finding("OpenAI o3-mini"), restrict_to=["tool use"])
    assert a.relevance == 0


def test_a_model_repository_is_judged_by_its_pipeline_tag_not_its_name():
    matcher = TopicMatcher([RELEASE], FAMILIES)
    no_tag = matcher.assess(finding("someone/Qwen3.6-27B-Uncensored", kind="hf_models", summary="likes 3"))
    assert no_tag.relevance == 0
    tagged = matcher.assess(finding("someone/Qwen3.6-27B", kind="hf_models", summary="pipeline text-generation"))
    assert tagged.topics[0].phrases == ["pipeline: text-generation"]


def test_topic_matcher_follows_the_configuration():
    config = load_research_config()
    assert config.model_names.enabled
    assert len(topic_matcher(config, CATALOG).model_names) == len(FAMILIES)
    off = config.model_copy(update={"model_names": ModelNamesSpec(enabled=False)})
    assert topic_matcher(off, CATALOG).model_names is None


def test_model_names_need_the_release_topic(tmp_path):
    with pytest.raises(ValueError, match="model_names.enabled needs a topic named 'new model release'"):
        ResearchConfig.model_validate({"sources": [], "topics": [OTHER.model_dump()],
                                       "model_names": {"enabled": True}})


@pytest.mark.parametrize("section", [{"enabled": "yes"}, {"min_models": 0}, {"score": 0}, {"ignore": [""]},
                                     {"unknown": 1}, {"min_models": "2"}])
def test_bad_model_names_settings_are_refused(tmp_path, section):
    path = tmp_path / "sources.yaml"
    path.write_text(json.dumps({"sources": [], "model_names": section}))
    with pytest.raises(ResearchConfigError, match="model_names"):
        load_research_config(path)


def test_a_sources_file_without_topics_inherits_model_names(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(json.dumps({"sources": []}))
    assert load_research_config(path).model_names == load_research_config().model_names
    own = tmp_path / "own.yaml"
    own.write_text(json.dumps({"sources": [], "topics": [OTHER.model_dump()]}))
    assert not load_research_config(own).model_names.enabled


# --- on the blind-labelled real items (perf/relevance_data.py) -------------------------------------
def test_mentions_on_every_blind_labelled_real_item():
    """Measured once on all 1,012 labelled real feed items (tune, heldout, heldout2, heldout3) with
    the earliest recorded catalog: 42 of the 55 titles the rule picks are labelled relevant (0.76);
    most of the rest are fine-tuning offers and credits pages of a named model. Floors, so that
    a broken subject rule (every name counting: about half wrong on the tune split) fails here."""
    from perf.relevance_data import FixturesMissing, labelled_real_items, load_catalog_models

    try:
        families = ModelFamilies.from_catalog(load_catalog_models())
        items = [i for split in ("tune", "heldout", "heldout2", "heldout3") for i in labelled_real_items(split)]
    except FixturesMissing as exc:
        missing_fixture(str(exc))
    assert len(items) == 1012
    picked = [i for i in items if i["kind"] != "hf_models" and families.mention(i["title"])]
    relevant = sum(i["relevant"] for i in picked)
    assert relevant >= 40 and relevant / len(picked) >= 0.7, (relevant, len(picked))


def test_the_recorded_catalog_loader_says_what_is_wrong(tmp_path):
    from perf.relevance_data import FixturesMissing, load_catalog_models

    with pytest.raises(FixturesMissing, match="no recorded catalog"):
        load_catalog_models(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": {"id": "x"}}))
    with pytest.raises(ValueError, match="not an OpenRouter model list"):
        load_catalog_models(bad)
