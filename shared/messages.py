"""Pub/Sub message contracts between functions. Unknown fields are rejected so a typo in a
hand-published message fails loudly instead of being ignored."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, model_validator

SyncMode = Literal["full", "quick", "rankings"]
# An OpenRouter-style model id ("openai/gpt-4o", "meta-llama/llama-3.1-8b-instruct:free",
# "~anthropic/claude-latest"): checked where a request enters, so an accepted request can be
# processed (stored as a document id, compared in a query) instead of failing at every retry.
ModelId = Annotated[str, StringConstraints(max_length=200,
                                           pattern=r"^[A-Za-z0-9~][A-Za-z0-9._~-]*/[A-Za-z0-9][A-Za-z0-9._:~+-]*$")]
MAX_MODELS_PER_REQUEST = 50
# The status vocabularies, declared once. A stage's status in the run record ("errored": an
# attempt raised and released its claim; the retry claims it again):
StageStatus = Literal["pending", "running", "errored", "succeeded", "failed", "skipped", "not_implemented"]
# A weekly run: "completed" means it ran to its report (SAFE says how it went); "rejected": a
# trigger that came while another cycle ran (the record names it).
RunStatus = Literal["running", "completed", "failed", "rejected"]
RUN_FINISHED: tuple[str, ...] = ("completed", "failed", "rejected")
# A catalog sync or research scan record ("partial": some parts failed and were isolated;
# "errored": an attempt raised and released its claim; "duplicate": a redelivery's answer).
JobStatus = Literal["running", "succeeded", "partial", "failed", "errored", "duplicate"]
JOB_FINISHED: tuple[str, ...] = ("succeeded", "partial")
# A benchmark run's summary status (its verdict is the policy's: pass, warn, regression, ...).
BenchStatus = Literal["running", "complete", "incomplete", "budget_exhausted", "refused", "failed"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunOptions(_Message):
    """The options of a weekly run: declared once (the request, the api body and the run
    context all use this)."""
    full: bool = True
    dry_run: bool = False
    benchmarks: bool = True
    demo: bool = Field(False, description="A demo run (simulated models): SAFE reads "
                                          "'SAFE=true (DEMO: simulated models)' at best")


class RunContext(_Message):
    """Travels with every weekly-chain message."""
    run_id: str
    options: RunOptions
    started_at: datetime


class WeeklyCycleRequest(RunOptions):
    """Body of a message on weekly-cycle-requests (scheduler payload, CLI, api): the run's
    options plus who asked and, optionally, the run id to follow."""
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,100}$",
                               description="Chosen by the caller to follow the run; else derived "
                                           "from the Pub/Sub message id")
    requested_by: str = "scheduler"

    def options(self) -> RunOptions:
        return RunOptions(**{name: getattr(self, name) for name in RunOptions.model_fields})


class CatalogSyncRequest(_Message):
    """Body of a message on catalog-sync-requests."""
    mode: SyncMode = "quick"
    dry_run: bool = False
    request_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    run: RunContext | None = None  # set when the sync is the weekly chain's first stage
    requested_by: str = "scheduler"


class StageDone(_Message):
    """What a weekly-chain stage publishes when it has finished (successfully or not)."""
    run: RunContext
    stage: str
    status: Literal["succeeded", "failed", "skipped"]
    summary: dict[str, Any] = {}
    error: str | None = None
    skipped_stages: list[str] = []


class ReportPublished(_Message):
    run: RunContext
    markdown_uri: str
    json_uri: str
    safe: bool
    safe_label: str             # e.g. "SAFE=true (DEMO: simulated models)": the flag stands next to safe
    simulated: bool
    demo: bool
    reasons: list[str]


class ResearchScanRequest(_Message):
    """Body of a message on research-scan-requests (the daily scheduler sends {})."""
    scan_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    as_of: date | None = Field(None, description="scan date (default: today, UTC)")
    requested_by: str = "scheduler"


class BenchRequest(_Message):
    """An on-demand benchmark run (api bench.run, topic publish)."""
    bench_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    # empty: each category's primary model in the routing table
    models: list[ModelId] = Field([], max_length=MAX_MODELS_PER_REQUEST)
    suite: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                              description="a built-in suite name (default BENCH_SUITE); folders are "
                                          "for the CLI only: a function's instance has no such folder")
    max_cases_per_category: int | None = Field(None, ge=1)
    phase: Literal["pre", "post", "adhoc"] = "adhoc"
    requested_by: str = "manual"


class BenchShard(_Message):
    """One slice of a benchmark run too large for one invocation (fan-out / fan-in)."""
    bench_id: str
    shard: int = Field(ge=0)


class BenchTarget(_Message):
    """What a benchmark target calls: a model, and optionally the reasoning strategy and the
    prompt template text a route serves it with (none: the suite's cases as they are)."""
    model: ModelId
    strategy: dict[str, Any] | None = None      # shared.serving.models.Strategy as JSON
    template: str | None = Field(None, max_length=20_000)


class PostChangeBench(_Message):
    """A comparison run on benchmark-requests: the targets a change makes a route serve and the
    targets they replace, on the same cases. Either the upgrade's post-change benchmark of a
    candidate (`upgrade_id`; the pre-change run's cases) or the A/B of one gated strategy or
    prompt change (`ab_change_id`, published by the planner), attached to its review item."""
    bench_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,150}$")
    upgrade_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    ab_change_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    targets: dict[str, BenchTarget] = Field(min_length=1, max_length=MAX_MODELS_PER_REQUEST)
    cases_uri: str | None = None                # the pre-change run's planned cases (None: the suite)
    weekly_run_id: str | None = None

    @model_validator(mode="after")
    def _one_purpose(self) -> "PostChangeBench":
        if (self.upgrade_id is None) == (self.ab_change_id is None):
            raise ValueError("exactly one of upgrade_id and ab_change_id")
        return self


class BenchmarkMessage(RootModel[Union[StageDone, BenchShard, PostChangeBench, BenchRequest]]):
    """benchmark-requests carries the weekly hand-over, on-demand requests, post-change runs and shards."""


class PostChangeMeasured(_Message):
    """A post-change benchmark finished (benchmark → upgrade): judge the candidate."""
    upgrade_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    bench_id: str


class ApplyApproved(_Message):
    """An operator applies approved changes now (CLI `changes apply`, api POST /changes/apply)
    instead of waiting for the next weekly cycle."""
    upgrade_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    change_ids: list[str] = Field([], max_length=100, description="empty: every approved change not yet applied")
    by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000)
    demo: bool = Field(False, description="accept a post-change benchmark against simulated models "
                                          "(a demo stack only; elsewhere simulated evidence never promotes)")


class UpgradeMessage(RootModel[Union[StageDone, PostChangeMeasured, ApplyApproved]]):
    """plan-ready carries the planner's hand-over, finished post-change benchmarks and operators'
    apply requests: every promotion happens in the upgrade function."""


class DriftCheckRequest(_Message):
    """Body of a message on drift-check-requests (the daily scheduler sends {}; a finished full
    sync asks with check_id "drift-after-<sync run id>")."""
    check_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    requested_by: str = "scheduler"
