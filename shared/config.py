"""Configuration: the one place environment variables are read.

Every setting is listed in README.md ("Configuration"). Client libraries also read their own
emulator variables (PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST).
"""
from __future__ import annotations

import functools
import os
from decimal import Decimal

from pydantic import (BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator,
                      model_validator)

DEFAULT_CATEGORIES = (
    "programming", "roleplay", "marketing", "marketing/seo", "technology", "science",
    "translation", "legal", "finance", "health", "trivia", "academia",
)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it and says what to do."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: str | None = Field(None, description="GOOGLE_CLOUD_PROJECT")
    reports_bucket: str | None = Field(None, description="REPORTS_BUCKET")
    raw_bucket: str | None = Field(None, description="RAW_BUCKET (defaults to REPORTS_BUCKET)")

    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_api_key: SecretStr | None = None
    openrouter_categories: tuple[str, ...] = DEFAULT_CATEGORIES
    rankings_top_n: int = Field(10, ge=1, le=100)
    mass_deactivation_max_share: float = Field(0.10, ge=0.0, le=1.0)
    endpoint_concurrency: int = Field(8, ge=1, le=64)

    http_timeout_s: float = Field(30.0, gt=0)
    http_max_attempts: int = Field(5, ge=1, le=20)
    http_backoff_base_s: float = Field(1.0, ge=0)
    http_backoff_max_s: float = Field(30.0, ge=0)
    http_max_response_bytes: int = Field(64 * 1024 * 1024, ge=1)

    llm_base_url: str | None = Field(None, description="LLM_BASE_URL (default OPENROUTER_BASE_URL)")
    llm_api_key: SecretStr | None = Field(None, description="LLM_API_KEY (default OPENROUTER_API_KEY)")
    bench_suite: str = "builtin-v1"
    bench_concurrency: int = Field(16, ge=1, le=256)
    bench_call_timeout_s: float = Field(60.0, gt=0)
    bench_max_error_rate: float = Field(0.10, ge=0.0, le=1.0)
    bench_alert_points: float = Field(5.0, gt=0.0, le=100.0)
    bench_critical_points: float = Field(15.0, gt=0.0, le=100.0)
    simulator_base_urls: tuple[str, ...] = Field((), description="SIMULATOR_BASE_URLS: LLM endpoints "
                                                 "whose answers are simulated, whatever they claim")
    bench_budget_usd: float = Field(10.0, ge=0.0)
    bench_daily_budget_usd: float = Field(25.0, ge=0.0)
    bench_weekly_budget_usd: float = Field(100.0, ge=0.0)
    bench_allow_unpriced: tuple[str, ...] = ()   # fnmatch patterns of models run without pricing
    bench_baseline_runs: int = Field(4, ge=1, le=50)
    bench_shard_size: int = Field(200, ge=1)
    bench_max_cases_per_category: int | None = Field(None, ge=1)
    bench_seed: int = 1234

    code_runner_url: str | None = Field(None, description="CODE_RUNNER_URL: the code_runner function")
    code_runner_batch_size: int = Field(8, ge=1, le=500)
    code_runner_timeout_s: float = Field(300.0, gt=0)
    sandbox_required_layers: tuple[str, ...] = ("uid", "seccomp", "landlock")
    sandbox_allow_weak: bool = False
    sandbox_parallelism: int = Field(0, ge=0, le=64)
    sandbox_python: str | None = None
    sandbox_uid_base: int = Field(200_000, ge=1000, le=2**31 - 100_000)
    sandbox_work_root: str | None = None

    research_sources: str | None = Field(None, description="RESEARCH_SOURCES: research YAML path")
    research_max_response_bytes: int = Field(8 * 1024 * 1024, ge=1)

    max_event_age_s: int = Field(6 * 3600, ge=60)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _levels_ordered(self) -> "Settings":
        if self.bench_alert_points > self.bench_critical_points:
            raise ValueError(f"BENCH_ALERT_POINTS ({self.bench_alert_points:g}) must not exceed "
                             f"BENCH_CRITICAL_POINTS ({self.bench_critical_points:g})")
        return self

    def llm_is_simulator(self) -> bool:
        """True when the configured LLM endpoint is listed as a simulator (not relying on the
        server's own X-Simulated header alone)."""
        return self.llm_url.rstrip("/") in {u.rstrip("/") for u in self.simulator_base_urls}

    @field_validator("sandbox_required_layers")
    @classmethod
    def _known_layers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = ("uid", "seccomp", "landlock", "namespaces", "hook")   # shared.sandbox.models.LAYERS
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown layer(s) {unknown}; known: {', '.join(known)}")
        return value

    def require_project(self) -> str:
        if not self.project_id:
            raise ConfigError("GOOGLE_CLOUD_PROJECT is not set: export it, or source "
                              ".local/stack.env after `make up` for the local emulators")
        return self.project_id

    def require_reports_bucket(self) -> str:
        if not self.reports_bucket:
            raise ConfigError("REPORTS_BUCKET is not set: name the Cloud Storage bucket for reports")
        return self.reports_bucket

    @property
    def llm_url(self) -> str:
        """Chat completions go here: any OpenAI-compatible server (OpenRouter by default)."""
        return self.llm_base_url or self.openrouter_base_url

    @property
    def llm_key(self) -> str | None:
        key = self.llm_api_key or (self.openrouter_api_key if not self.llm_base_url else None)
        return key.get_secret_value() if key else None

    def require_raw_bucket(self) -> str:
        return self.raw_bucket or self.require_reports_bucket()


_ENV = {
    "project_id": "GOOGLE_CLOUD_PROJECT",
    "reports_bucket": "REPORTS_BUCKET",
    "raw_bucket": "RAW_BUCKET",
    "openrouter_base_url": "OPENROUTER_BASE_URL",
    "openrouter_api_key": "OPENROUTER_API_KEY",
    "openrouter_categories": "OPENROUTER_CATEGORIES",
    "rankings_top_n": "RANKINGS_TOP_N",
    "mass_deactivation_max_share": "MASS_DEACTIVATION_MAX_SHARE",
    "endpoint_concurrency": "ENDPOINT_CONCURRENCY",
    "http_timeout_s": "HTTP_TIMEOUT_S",
    "http_max_attempts": "HTTP_MAX_ATTEMPTS",
    "http_backoff_base_s": "HTTP_BACKOFF_BASE_S",
    "http_backoff_max_s": "HTTP_BACKOFF_MAX_S",
    "http_max_response_bytes": "HTTP_MAX_RESPONSE_BYTES",
    "llm_base_url": "LLM_BASE_URL",
    "llm_api_key": "LLM_API_KEY",
    "bench_suite": "BENCH_SUITE",
    "bench_concurrency": "BENCH_CONCURRENCY",
    "bench_call_timeout_s": "BENCH_CALL_TIMEOUT_S",
    "bench_max_error_rate": "BENCH_MAX_ERROR_RATE",
    "bench_alert_points": "BENCH_ALERT_POINTS",
    "bench_critical_points": "BENCH_CRITICAL_POINTS",
    "simulator_base_urls": "SIMULATOR_BASE_URLS",
    "bench_budget_usd": "BENCH_BUDGET_USD",
    "bench_daily_budget_usd": "BENCH_DAILY_BUDGET_USD",
    "bench_weekly_budget_usd": "BENCH_WEEKLY_BUDGET_USD",
    "bench_allow_unpriced": "BENCH_ALLOW_UNPRICED",
    "bench_baseline_runs": "BENCH_BASELINE_RUNS",
    "bench_shard_size": "BENCH_SHARD_SIZE",
    "bench_max_cases_per_category": "BENCH_MAX_CASES_PER_CATEGORY",
    "bench_seed": "BENCH_SEED",
    "code_runner_url": "CODE_RUNNER_URL",
    "code_runner_batch_size": "CODE_RUNNER_BATCH_SIZE",
    "code_runner_timeout_s": "CODE_RUNNER_TIMEOUT_S",
    "sandbox_required_layers": "SANDBOX_REQUIRED_LAYERS",
    "sandbox_allow_weak": "SANDBOX_ALLOW_WEAK",
    "sandbox_parallelism": "SANDBOX_PARALLELISM",
    "sandbox_python": "SANDBOX_PYTHON",
    "sandbox_uid_base": "SANDBOX_UID_BASE",
    "sandbox_work_root": "SANDBOX_WORK_ROOT",
    "research_sources": "RESEARCH_SOURCES",
    "research_max_response_bytes": "RESEARCH_MAX_RESPONSE_BYTES",
    "max_event_age_s": "MAX_EVENT_AGE_S",
    "log_level": "LOG_LEVEL",
}


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    for field, var in _ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        if field in ("openrouter_categories", "sandbox_required_layers", "simulator_base_urls",
                     "bench_allow_unpriced"):
            values[field] = tuple(c.strip() for c in raw.split(",") if c.strip())
        elif field in ("openrouter_base_url", "llm_base_url", "code_runner_url"):
            values[field] = raw.rstrip("/")
        else:
            values[field] = raw
    if "project_id" not in values and env.get("GCP_PROJECT"):
        values["project_id"] = env["GCP_PROJECT"]
    try:
        return Settings(**values)
    except ValidationError as exc:
        bad = ", ".join((f"{_ENV.get(str(e['loc'][0]), e['loc'][0])}: " if e["loc"] else "") + e["msg"]
                        for e in exc.errors())
        raise ConfigError(f"invalid configuration: {bad}") from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()


def decimal_setting(value: float) -> Decimal:
    return Decimal(str(value))
