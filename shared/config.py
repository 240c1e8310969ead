"""Configuration: the one place environment variables are read.

Every setting is listed in README.md ("Configuration"). Client libraries also read their own
emulator variables (PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST).
"""
from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (AliasChoices, AliasGenerator, BeforeValidator, Field, SecretStr, ValidationError,
                      field_validator, model_validator)
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

DEFAULT_CATEGORIES = (
    "programming", "roleplay", "marketing", "marketing/seo", "technology", "science",
    "translation", "legal", "finance", "health", "trivia", "academia",
)


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(c.strip() for c in value.split(",") if c.strip())
    return value


def _strip_slash(value: Any) -> Any:
    return value.rstrip("/") if isinstance(value, str) else value


# "a, b,,c" -> ("a", "b", "c"); NoDecode: the env value is a comma list, not JSON
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_comma_list)]
Url = Annotated[str, BeforeValidator(_strip_slash)]


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it and says what to do."""


class Settings(BaseSettings):
    """Each field is read from the environment variable of its name in upper case
    (rankings_top_n <- RANKINGS_TOP_N); an empty variable counts as unset."""
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid",
        case_sensitive=True,                     # exactly the documented names
        alias_generator=AliasGenerator(validation_alias=str.upper),
        env_ignore_empty=True,
        env_file=None, secrets_dir=None,         # never read settings or secrets from disk
    )

    # GCP_PROJECT: the older runtimes' name, used when GOOGLE_CLOUD_PROJECT is unset
    project_id: str | None = Field(None, validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "GCP_PROJECT"))
    reports_bucket: str | None = None
    raw_bucket: str | None = Field(None, description="defaults to REPORTS_BUCKET")

    openrouter_base_url: Url = "https://openrouter.ai/api/v1"
    openrouter_api_key: SecretStr | None = None
    openrouter_categories: CommaList = DEFAULT_CATEGORIES
    rankings_top_n: int = Field(10, ge=1, le=100)
    mass_deactivation_max_share: float = Field(0.10, ge=0.0, le=1.0)
    endpoint_concurrency: int = Field(8, ge=1, le=64)

    http_timeout_s: float = Field(30.0, gt=0)
    http_max_attempts: int = Field(5, ge=1, le=20)
    http_backoff_base_s: float = Field(1.0, ge=0)
    http_backoff_max_s: float = Field(30.0, ge=0)
    http_max_response_bytes: int = Field(64 * 1024 * 1024, ge=1)

    llm_base_url: Url | None = Field(None, description="default OPENROUTER_BASE_URL")
    llm_api_key: SecretStr | None = Field(None, description="default OPENROUTER_API_KEY")
    bench_suite: str = "builtin-v1"
    bench_concurrency: int = Field(16, ge=1, le=256)
    bench_call_timeout_s: float = Field(60.0, gt=0)
    bench_max_error_rate: float = Field(0.10, ge=0.0, le=1.0)
    bench_alert_points: float = Field(5.0, gt=0.0, le=100.0)
    bench_critical_points: float = Field(15.0, gt=0.0, le=100.0)
    simulator_base_urls: CommaList = Field((), description="LLM endpoints whose answers are simulated, "
                                           "whatever they claim")
    bench_budget_usd: float = Field(10.0, ge=0.0)
    bench_daily_budget_usd: float = Field(25.0, ge=0.0)
    bench_weekly_budget_usd: float = Field(100.0, ge=0.0)
    bench_allow_unpriced: CommaList = ()   # fnmatch patterns of models run without pricing
    bench_baseline_runs: int = Field(4, ge=1, le=50)
    bench_shard_size: int = Field(200, ge=1)
    bench_max_cases_per_category: int | None = Field(None, ge=1)
    bench_seed: int = 1234

    code_runner_url: Url | None = Field(None, description="the code_runner function")
    catalog_api_url: Url | None = Field(None, description="the catalog_api function: the drift check compares its "
                                                          "answers with the database (unset: not compared)")
    code_runner_batch_size: int = Field(8, ge=1, le=500)
    code_runner_timeout_s: float = Field(300.0, gt=0)
    sandbox_required_layers: CommaList = ("uid", "seccomp", "landlock")
    sandbox_allow_weak: bool = False
    sandbox_parallelism: int = Field(0, ge=0, le=64)
    sandbox_python: str | None = None
    sandbox_uid_base: int = Field(200_000, ge=1000, le=2**31 - 100_000)
    sandbox_work_root: str | None = None

    catalog_api_public: bool = Field(False, description="catalog_api answers anyone (allUsers invoker, "
                                     "Cache-Control public); false: IAM-protected, private caching")

    research_sources: str | None = Field(None, description="research YAML path")
    research_max_response_bytes: int = Field(8 * 1024 * 1024, ge=1)

    risk_policy_file: str | None = Field(None, description="planner risk policy YAML path "
                                         "(default the packaged shared/planning/risk_policy.yaml)")
    github_repository: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
                                          description="owner/name: routing changes open pull requests there")
    github_token: SecretStr | None = None
    github_api_url: Url = "https://api.github.com"
    github_base_branch: str = Field("main", pattern=r"^[A-Za-z0-9_./-]+$")
    github_routing_path: str = Field("routing/routing.yaml", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")

    # Alerts (shared/alerts/): each channel is optional; a channel with no settings sends nothing
    alert_github: bool = Field(False, description="open/comment/close a week's SAFE=false issue in "
                                                  "GITHUB_REPOSITORY")
    alert_github_label: str = Field("pipeline-safe-false", pattern=r"^[A-Za-z0-9_.: -]{1,50}$")
    slack_webhook_url: SecretStr | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ca_file: str | None = Field(None, description="extra CA bundle the SMTP server's certificate "
                                                       "is checked against (a private relay)")
    smtp_timeout_s: float = Field(30.0, gt=0)
    alert_email_from: str | None = Field(None, pattern=r"^[^\s@<>,]+@[^\s@<>,]+$")
    alert_email_to: CommaList = ()
    alert_max_attempts: int = Field(4, ge=1, le=10)
    alert_backoff_base_s: float = Field(2.0, ge=0)
    alert_backoff_max_s: float = Field(30.0, ge=0)

    # Drift check (shared/catalog/drift.py): when stored state counts as stale
    drift_stale_days: int = Field(7, ge=1, le=365, description="an active model not seen by a sync for this long")
    drift_ranking_max_age_days: int = Field(8, ge=1, le=365, description="a routed category's latest ranking "
                                                                       "older than this")
    drift_ranking_top: int = Field(10, ge=1, le=100, description="a routing primary outside its category's "
                                                                 "top N")

    max_event_age_s: int = Field(6 * 3600, ge=60)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, env_settings)     # no .env file, no secrets directory

    @model_validator(mode="after")
    def _levels_ordered(self) -> "Settings":
        if self.bench_alert_points > self.bench_critical_points:
            raise ValueError(f"BENCH_ALERT_POINTS ({self.bench_alert_points:g}) must not exceed "
                             f"BENCH_CRITICAL_POINTS ({self.bench_critical_points:g})")
        return self

    @model_validator(mode="after")
    def _alert_channels_complete(self) -> "Settings":
        """A channel asked for but half configured is an error at start, not a silent no-alert."""
        if self.alert_github and not (self.github_repository and self.github_token):
            raise ValueError("ALERT_GITHUB=true needs GITHUB_REPOSITORY and GITHUB_TOKEN")
        if self.smtp_host and self.alert_email_to and not self.alert_email_from:
            raise ValueError("SMTP_HOST and ALERT_EMAIL_TO are set: ALERT_EMAIL_FROM is needed too")
        if self.smtp_host and not self.smtp_starttls and not _loopback(self.smtp_host):
            raise ValueError(f"SMTP_STARTTLS=false is allowed only for a loopback SMTP_HOST, not "
                             f"{self.smtp_host!r}: mail and its credentials would cross the network in clear")
        if self.smtp_password and not self.smtp_username:
            raise ValueError("SMTP_PASSWORD is set without SMTP_USERNAME")
        return self

    @field_validator("alert_email_to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if not re.fullmatch(r"[^\s@<>,]+@[^\s@<>,]+", a)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(map(repr, bad))}")
        return value

    @property
    def email_alerts(self) -> bool:
        return bool(self.smtp_host and self.alert_email_to)

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

    @field_validator("github_routing_path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError("must be a path inside the repository (no '.' or '..' parts)")
        return value

    @property
    def github_review(self) -> tuple[str, str] | None:
        """(repository, token) when routing changes open pull requests; None when either is unset."""
        if not self.github_repository or not self.github_token:
            return None
        return self.github_repository, self.github_token.get_secret_value()

    def require_raw_bucket(self) -> str:
        return self.raw_bucket or self.require_reports_bucket()


class _MappingEnvSource(EnvSettingsSource):
    """The environment source reading a given mapping instead of os.environ (tests pass a dict)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `env` (default os.environ); a bad value is a ConfigError naming its variable."""
    try:
        # _build_sources: this one source replaces the defaults, so `env` is all that is read
        source = _MappingEnvSource(Settings, os.environ if env is None else env)
        return Settings(_build_sources=((source,), {}))
    except ValidationError as exc:
        # loc[0] is the alias the value came in under, i.e. the env variable's name
        bad = ", ".join((f"{e['loc'][0]}: " if e["loc"] else "") + e["msg"] for e in exc.errors())
        raise ConfigError(f"invalid configuration: {bad}") from None


def secret_env_names() -> frozenset[str]:
    """The environment variables that hold secrets (the SecretStr settings): the local stack
    hands them to its processes and never writes them to a file."""
    def is_secret(annotation: Any) -> bool:
        return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())

    return frozenset(name.upper() for name, info in Settings.model_fields.items() if is_secret(info.annotation))


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()


def decimal_setting(value: float) -> Decimal:
    return Decimal(str(value))
