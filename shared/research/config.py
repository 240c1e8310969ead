"""Research scan configuration: sources and topics from a YAML file (RESEARCH_SOURCES or
--sources; default shared/research/default_config.yaml)."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.research.findings import SourceKind

DEFAULT_CONFIG = Path(__file__).with_name("default_config.yaml")


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

    @model_validator(mode="after")
    def _unique(self) -> "ResearchConfig":
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source names: {dupes}")
        topic_names = {t.name for t in self.topics}
        for s in self.sources:
            unknown = set(s.topics or []) - topic_names
            if unknown:
                raise ValueError(f"source {s.name}: unknown topics {sorted(unknown)}")
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
        raw["topics"] = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))["topics"]
    try:
        return ResearchConfig.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ResearchConfigError(f"invalid research configuration {path}: {reasons}") from None
