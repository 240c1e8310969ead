"""The pipeline manifest (infra/pipeline.yaml) as typed objects.

Everything that needs the topology (functions, CLI, local stack, tests) asks this module;
Terraform reads the same YAML file with yamldecode.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = REPO_ROOT / "infra" / "pipeline.yaml"


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_backoff_s: int
    max_backoff_s: int
    max_delivery_attempts: int


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    status: Literal["active", "planned"]
    source: str
    entry_point: str
    signature: Literal["cloudevent", "http"]
    trigger_topic: str | None = None
    outputs: list[str] = []
    runtime: str
    timeout_s: int
    memory: str
    max_instances: int
    retry: RetryPolicy
    ack_deadline_s: int
    # How the function is exposed and what it may hold (Terraform and the local stack read these)
    ingress: Literal["all", "internal"] = "all"
    environment: Literal["pipeline", "isolated"] = "pipeline"  # isolated: no settings but its own, no secrets
    execution_environment: Literal["gen1", "gen2"] = "gen2"
    concurrency: int = 1
    invoked_by: list[str] = []       # functions that call an HTTP function (IAM run.invoker)
    # The secret settings (shared.config.secret_env_names()) its code reads: Terraform mounts only
    # these (and grants secretAccessor on them only); the local stack hands it only these.
    secrets: list[str] = []

    @property
    def active(self) -> bool:
        return self.status == "active"


class SchedulerJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    schedule: str
    time_zone: str
    topic: str
    payload: dict[str, Any]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    dead_letter_topic: str
    topics: dict[str, str]
    functions: dict[str, FunctionSpec]
    weekly_chain: list[str]
    scheduler_jobs: dict[str, SchedulerJob]

    @model_validator(mode="after")
    def _check_references(self) -> "Manifest":
        problems = []
        if self.dead_letter_topic not in self.topics:
            problems.append(f"dead_letter_topic {self.dead_letter_topic!r} is not a declared topic")
        for fn in self.functions.values():
            if fn.signature == "cloudevent" and not fn.trigger_topic:
                problems.append(f"function {fn.name}: cloudevent function needs trigger_topic")
            for topic in [fn.trigger_topic, *fn.outputs]:
                if topic and topic not in self.topics:
                    problems.append(f"function {fn.name}: unknown topic {topic!r}")
        for fn in self.functions.values():
            for caller in fn.invoked_by:
                if caller not in self.functions:
                    problems.append(f"function {fn.name}: invoked_by unknown function {caller!r}")
        from shared.config import secret_env_names   # here: the manifest loads without settings otherwise
        known_secrets = secret_env_names()
        for fn in self.functions.values():
            unknown = sorted(set(fn.secrets) - known_secrets)
            if unknown:
                problems.append(f"function {fn.name}: secrets {unknown} are no secret settings "
                                f"(known: {sorted(known_secrets)})")
            if fn.secrets and fn.environment == "isolated":
                problems.append(f"function {fn.name}: an isolated function holds no secrets")
        for stage in self.weekly_chain:
            if stage not in self.functions:
                problems.append(f"weekly_chain: unknown function {stage!r}")
        for a, b in zip(self.weekly_chain, self.weekly_chain[1:]):
            fa, fb = self.functions.get(a), self.functions.get(b)
            if fa and fb and fb.trigger_topic not in fa.outputs:
                problems.append(f"weekly_chain: {b} is triggered by {fb.trigger_topic!r}, "
                                f"which {a} does not publish")
        for job in self.scheduler_jobs.values():
            if job.topic not in self.topics:
                problems.append(f"scheduler job {job.name}: unknown topic {job.topic!r}")
        if problems:
            raise ValueError("invalid pipeline manifest: " + "; ".join(problems))
        return self

    # --- queries -------------------------------------------------------------------------
    def function(self, name: str) -> FunctionSpec:
        return self.functions[name]

    def active_functions(self) -> list[FunctionSpec]:
        return [f for f in self.functions.values() if f.active]

    def output_topic(self, function: str) -> str:
        outputs = self.functions[function].outputs
        if not outputs:
            raise ValueError(f"function {function} declares no output topic")
        return outputs[0]

    def route_after(self, stage: str) -> tuple[str | None, list[str]]:
        """Where a weekly-chain stage hands over: (topic to publish to, planned stages skipped).

        The topic is the trigger of the next *active* stage; None when `stage` is the last.
        """
        chain = self.weekly_chain
        skipped: list[str] = []
        for nxt in chain[chain.index(stage) + 1:]:
            spec = self.functions[nxt]
            if spec.active:
                return spec.trigger_topic, skipped
            skipped.append(nxt)
        return None, skipped


def _parse(raw: dict[str, Any]) -> Manifest:
    defaults = raw.get("function_defaults", {})
    functions = {}
    for name, spec in (raw.get("functions") or {}).items():
        merged = {**defaults, **spec, "name": name}
        merged["retry"] = {**defaults.get("retry", {}), **spec.get("retry", {})}
        functions[name] = merged
    jobs = {name: {**job, "name": name} for name, job in (raw.get("scheduler_jobs") or {}).items()}
    return Manifest(
        version=raw["version"],
        dead_letter_topic=raw["dead_letter_topic"],
        topics=raw["topics"],
        functions=functions,
        weekly_chain=raw["weekly_chain"],
        scheduler_jobs=jobs,
    )


@functools.lru_cache(maxsize=None)
def load_manifest(path: str | None = None) -> Manifest:
    with open(path or MANIFEST_PATH, encoding="utf-8") as fh:
        return _parse(yaml.safe_load(fh))
