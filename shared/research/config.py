"""Research scan configuration: sources, topics and the semantic scorer's settings from a YAML
file (RESEARCH_SOURCES or --sources; default shared/research/default_config.yaml).

A file without `topics:` uses the default topics; it then also uses the default `semantic:`
section unless it has its own (the semantic thresholds were set for the default topics'
descriptions and exemplars). A file with its own topics and no `semantic:` section scores with
keywords only (`semantic.enabled` defaults to false), exactly as before the semantic scorer.
The `feedback:` section (operator feedback as labelled examples) is inherited with the topics
too, unless the file has its own; it acts only when the semantic scorer is enabled.
A topic without `description` and `exemplars` is compared by the semantic scorer with its name
alone (a weak signal: give topics a description when semantic scoring is on).

The `model_names:` section (catalog model names as release evidence) is inherited with the topics
in the same way.

The optional LLM judge (`judge:`, shared/research/judge.py) is off unless a file's own `judge:`
section enables it (it is never inherited from the default file); it needs `semantic.enabled`,
since it reads only the items the combined scorer marks borderline."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.research.findings import SourceKind

DEFAULT_CONFIG = Path(__file__).with_name("default_config.yaml")
# the topic that hugging face text-generation repositories and catalog model names give evidence to
MODEL_RELEASE_TOPIC = "new model release"


class ResearchConfigError(ValueError):
    pass


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: SourceKind
    url: str
    enabled: bool = True
    topics: list[str] | None = None        # restrict scoring to these topics (default: all)
    label: str | None = None               # e.g. "unofficial feed"
    categories: list[str] = []             # arXiv categories for arxiv_api
    page_size: int = Field(100, ge=1, le=2000)
    max_pages: int = Field(3, ge=1, le=50)  # hf_daily_papers: the number of days fetched
    params: dict[str, Any] = {}            # extra query parameters (hf_models expand[], sort...)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url must be an absolute http(s) URL, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.lower()


class TopicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    weight: float = Field(1.0, gt=0)
    phrases: list[str]
    synonyms: list[str] = []
    negative: list[str] = []
    proposal_type: str = "strategy_change"  # what a high-impact finding on this topic proposes
    # semantic scorer: what the topic is about, in one or two sentences, and short texts that
    # describe typical relevant items (written for the configuration, never copied from a feed)
    description: str | None = Field(None, min_length=1, max_length=1000)
    exemplars: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field([], max_length=20)

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("description must not be blank")
        return value

    @field_validator("exemplars")
    @classmethod
    def _exemplars_not_blank(cls, value: list[str]) -> list[str]:
        blank = [i for i, text in enumerate(value) if not text.strip()]
        if blank:
            raise ValueError(f"exemplars must not be blank (item {blank[0]})")
        return value

    @property
    def semantic_texts(self) -> list[tuple[str, str]]:
        """(kind, text) the semantic scorer compares items with: the description and the
        exemplars, or the topic's name when it has neither."""
        texts = ([("description", self.description)] if self.description else []) \
            + [("exemplar", e) for e in self.exemplars]
        return texts or [("name", self.name)]


class BorderlineSpec(BaseModel):
    """Half-widths of the band around each threshold in which a decision counts as borderline."""
    model_config = ConfigDict(extra="forbid", strict=True)
    semantic_band: float = Field(0.05, ge=0, le=0.5)    # cosine similarity
    keyword_band: float = Field(0.5, ge=0, le=100)      # keyword relevance points


class SemanticSpec(BaseModel):
    """The semantic scorer (shared/research/semantic.py) and how it combines with the keyword
    scorer (shared/research/relevance.py, `combine`)."""
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    threshold: float = Field(0.45, gt=0, lt=1)     # cosine similarity: at or above, relevant
    strong: float = Field(0.60, gt=0, lt=1)        # at or above: 2 impact points (threshold: 1)
    aggregate: Literal["max", "centroid"] = "max"  # per topic: best single text, or their centroid
    max_chars: int = Field(2000, ge=100, le=100_000)  # of title + summary embedded per item
    borderline: BorderlineSpec = BorderlineSpec()

    @model_validator(mode="after")
    def _ordered(self) -> "SemanticSpec":
        if self.strong < self.threshold:
            raise ValueError(f"strong ({self.strong}) must be >= threshold ({self.threshold})")
        return self


class JudgeSpec(BaseModel):
    """The optional LLM judge of borderline items (shared/research/judge.py). Off by default."""
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    model: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
    min_relevance: int = Field(6, ge=1, le=10)          # the judge's relevance at or above: relevant
    budget_usd: float = Field(0.10, gt=0, le=100)       # per scan, on top of the benchmark's day/week caps
    max_items: int = Field(100, ge=1, le=1000)          # calls per scan
    max_tokens: int = Field(300, ge=64, le=4000)        # per answer (part of the cost bound)
    temperature: float = Field(0.0, ge=0, le=2)
    max_seconds: float = Field(240.0, gt=0, le=480)     # no new call after this much time in the judge

    @model_validator(mode="after")
    def _model_when_enabled(self) -> "JudgeSpec":
        if self.enabled and not self.model:
            raise ValueError("judge.enabled needs judge.model (the chat model to ask, e.g. an OpenRouter id)")
        return self


class FeedbackSpec(BaseModel):
    """Operator feedback as labelled examples (shared/research/feedback.py; the rules are in
    shared/research/relevance.py, "Feedback"). Used only with the semantic scorer on."""
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    # cosine similarity with the nearest example marked relevant (item to item similarities run
    # higher than item to description ones: examples have their own threshold)
    example_threshold: float = Field(0.74, gt=0, le=1)
    # a semantic verdict is vetoed when the nearest dismissed example is at least this much more
    # similar than the item's best support (topic texts and relevant examples)
    margin: float = Field(0.04, ge=-1, le=1)
    # a keyword verdict below keyword_veto_below relevance is vetoed the same way, with this margin
    keyword_margin: float = Field(0.04, ge=-1, le=1)
    keyword_veto_below: float = Field(3.0, ge=0, le=100)


class ModelNamesSpec(BaseModel):
    """Catalog model names as release evidence (shared/research/model_names.py): a title whose
    subject is a versioned name of a model family in the platform's catalog gives the topic "new
    model release" a base score. Off unless enabled (the default configuration enables it)."""
    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = False
    min_models: int = Field(2, ge=1, le=1000)        # catalog models a family needs
    score: float = Field(2.0, gt=0, le=100)         # base score of "new model release" on a mention
    ignore: list[Annotated[str, Field(min_length=1, max_length=60)]] = []   # families never matched


class HostPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_interval_s: float = Field(0.0, ge=0)  # pause between two requests to the host


class ResearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_days: int = Field(2, ge=1, le=3650)  # a large window is a backfill
    relevance_threshold: float = Field(1.0, ge=0)
    proposal_min_impact: str = "high"
    findings_per_topic: int = Field(5, ge=1, le=50)
    hosts: dict[str, HostPolicy] = {}
    sources: list[SourceSpec]
    topics: list[TopicSpec]
    semantic: SemanticSpec = SemanticSpec()
    judge: JudgeSpec = JudgeSpec()
    feedback: FeedbackSpec = FeedbackSpec()
    model_names: ModelNamesSpec = ModelNamesSpec()

    @model_validator(mode="after")
    def _unique(self) -> "ResearchConfig":
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source names: {dupes}")
        topic_names = [t.name for t in self.topics]
        dupes = sorted({n for n in topic_names if topic_names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate topic names: {dupes}")
        for s in self.sources:
            unknown = set(s.topics or []) - set(topic_names)
            if unknown:
                raise ValueError(f"source {s.name}: unknown topics {sorted(unknown)}")
        if self.judge.enabled and not self.semantic.enabled:
            raise ValueError("judge.enabled needs semantic.enabled: the judge reads only the borderline items "
                             "that the combined keyword and semantic scorer marks")
        if self.model_names.enabled and MODEL_RELEASE_TOPIC not in topic_names:
            raise ValueError(f"model_names.enabled needs a topic named {MODEL_RELEASE_TOPIC!r}: "
                             "catalog model names are evidence for it")
        if self.judge.enabled and not self.topics:
            raise ValueError("judge.enabled needs topics: the judge answers with configured topic names")
        return self

    @property
    def enabled_sources(self) -> list[SourceSpec]:
        return [s for s in self.sources if s.enabled]

    @property
    def allowed_hosts(self) -> set[str]:
        """Only hosts named in the configuration are ever fetched."""
        return {s.host for s in self.enabled_sources}

    def host_policy(self, host: str) -> HostPolicy:
        return self.hosts.get(host) or self.hosts.get(host.split(":")[0]) or HostPolicy()


def load_research_config(path: str | Path | None = None) -> ResearchConfig:
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResearchConfigError(f"cannot read research configuration {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ResearchConfigError(f"research configuration {path} is not valid YAML: {exc}") from None
    if isinstance(raw, dict) and "topics" not in raw and path != DEFAULT_CONFIG:
        # one source of truth for topics: a sources file without them uses the defaults
        default = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
        raw["topics"] = default["topics"]
        # the semantic thresholds belong to the default topics' descriptions: inherited with them
        if "semantic" not in raw and "semantic" in default:
            raw["semantic"] = default["semantic"]
        # and so do the feedback rules (tuned with those topics)
        if "feedback" not in raw and "feedback" in default:
            raw["feedback"] = default["feedback"]
        # the catalog model names give the default topic "new model release" its evidence
        if "model_names" not in raw and "model_names" in default:
            raw["model_names"] = default["model_names"]
    try:
        return ResearchConfig.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ResearchConfigError(f"invalid research configuration {path}: {reasons}") from None
