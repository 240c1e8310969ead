"""The serving-configuration contract: one immutable version, and the changes a version applies.
Pure (pydantic only): the planner, the upgrade stage and the read API share it."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULTS = Path(__file__).with_name("defaults.yaml")
StrategyName = Literal["direct", "chain_of_thought", "self_consistency"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServedModel(_Frozen):
    id: str
    name: str
    pricing: dict[str, str] = {}
    capabilities: dict[str, Any] = {}
    active: bool = True


class ServedCategory(_Frozen):
    slug: str
    name: str
    parent: str | None = None
    active: bool = True


class Route(_Frozen):
    primary: str
    fallbacks: tuple[str, ...] = ()


class PromptTemplate(_Frozen):
    text: str
    version: int = Field(ge=1)


class Strategy(_Frozen):
    name: StrategyName
    params: dict[str, Any] = {}


class AppliedChange(_Frozen):
    """What a version changed relative to its parent, and on what grounds."""
    change_id: str
    kind: str
    target: str
    summary: str


class ServingVersion(_Frozen):
    number: int = Field(ge=1)
    parent: int | None = None
    created_at: datetime
    created_by: str               # "planner:<run_id>", "operator:<name>", "sync:<sync_run_id>"
    reason: str
    changes: tuple[AppliedChange, ...] = ()
    models: dict[str, ServedModel] = {}
    categories: dict[str, ServedCategory] = {}
    routing: dict[str, Route] = {}
    prompts: dict[str, PromptTemplate] = {}
    strategies: dict[str, Strategy] = {}

    def content(self) -> dict[str, Any]:
        """What the platform serves (no bookkeeping): two versions serve the same when equal."""
        return self.model_dump(mode="json", include={"models", "categories", "routing", "prompts", "strategies"})

    def content_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.content(), sort_keys=True).encode()).hexdigest()

    def strategy_for(self, category: str) -> Strategy:
        return self.strategies.get(category) or self.strategies.get("default") or Strategy(name="direct")


def load_defaults(path: Path = DEFAULTS) -> tuple[dict[str, PromptTemplate], dict[str, Strategy]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    prompts = {name: PromptTemplate.model_validate(v) for name, v in (raw.get("prompt_templates") or {}).items()}
    strategies = {cat: Strategy.model_validate(v) for cat, v in (raw.get("strategies") or {}).items()}
    return prompts, strategies
