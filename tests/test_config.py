"""Configuration (shared/config.py): defaults, typed overrides, errors naming the variable, and
the API key kept secret. settings_from_env is always given a dict, so os.environ is not read."""
from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.config import DEFAULT_CATEGORIES, ConfigError, Settings, decimal_setting, settings_from_env

KEY = "sk-or-v1-TOPSECRET987"


def test_defaults():
    """An empty environment gives the documented defaults."""
    s = settings_from_env({})
    assert s.openrouter_base_url == "https://openrouter.ai/api/v1"
    assert s.mass_deactivation_max_share == 0.10
    assert s.rankings_top_n == 10
    assert s.openrouter_categories == DEFAULT_CATEGORIES
    assert s.openrouter_api_key is None
    assert s.project_id is None and s.reports_bucket is None and s.raw_bucket is None
    assert (s.http_timeout_s, s.http_max_attempts, s.http_backoff_base_s, s.http_backoff_max_s) == (30.0, 5, 1.0, 30.0)
    assert s.http_max_response_bytes == 64 * 1024 * 1024
    assert s.endpoint_concurrency == 8 and s.max_event_age_s == 6 * 3600 and s.log_level == "INFO"


def test_overrides_are_typed():
    """String env values become ints / floats / str."""
    s = settings_from_env({
        "GOOGLE_CLOUD_PROJECT": "proj-1", "REPORTS_BUCKET": "reports-b", "RAW_BUCKET": "raw-b",
        "RANKINGS_TOP_N": "25", "MASS_DEACTIVATION_MAX_SHARE": "0.35", "ENDPOINT_CONCURRENCY": "3",
        "HTTP_TIMEOUT_S": "2.5", "HTTP_MAX_ATTEMPTS": "7", "HTTP_BACKOFF_BASE_S": "0.01",
        "HTTP_BACKOFF_MAX_S": "4", "HTTP_MAX_RESPONSE_BYTES": "1048576", "MAX_EVENT_AGE_S": "60",
        "LOG_LEVEL": "DEBUG",
    })
    assert s.project_id == "proj-1" and s.reports_bucket == "reports-b" and s.raw_bucket == "raw-b"
    assert s.rankings_top_n == 25 and isinstance(s.rankings_top_n, int)
    assert s.mass_deactivation_max_share == 0.35 and isinstance(s.mass_deactivation_max_share, float)
    assert s.endpoint_concurrency == 3
    assert s.http_timeout_s == 2.5 and s.http_max_attempts == 7
    assert s.http_backoff_base_s == 0.01 and s.http_backoff_max_s == 4.0
    assert s.http_max_response_bytes == 1048576 and s.max_event_age_s == 60
    assert s.log_level == "DEBUG"


def test_empty_values_mean_default():
    """An empty variable is treated as unset."""
    s = settings_from_env({"RANKINGS_TOP_N": "", "OPENROUTER_BASE_URL": ""})
    assert s.rankings_top_n == 10 and s.openrouter_base_url == "https://openrouter.ai/api/v1"


def test_categories_comma_list():
    """OPENROUTER_CATEGORIES is a comma list; blanks and spaces are dropped."""
    s = settings_from_env({"OPENROUTER_CATEGORIES": " programming, marketing ,marketing/seo,, "})
    assert s.openrouter_categories == ("programming", "marketing", "marketing/seo")


def test_base_url_trailing_slash_stripped():
    """A trailing slash on OPENROUTER_BASE_URL is removed."""
    assert settings_from_env({"OPENROUTER_BASE_URL": "http://127.0.0.1:8999/api/v1/"}).openrouter_base_url \
        == "http://127.0.0.1:8999/api/v1"
    assert settings_from_env({"OPENROUTER_BASE_URL": "http://x/api/v1//"}).openrouter_base_url == "http://x/api/v1"


def test_gcp_project_fallback():
    """GCP_PROJECT is used when GOOGLE_CLOUD_PROJECT is absent; the latter wins when both are set."""
    assert settings_from_env({"GCP_PROJECT": "legacy"}).project_id == "legacy"
    assert settings_from_env({"GCP_PROJECT": "legacy", "GOOGLE_CLOUD_PROJECT": "new"}).project_id == "new"


@pytest.mark.parametrize("var, value", [
    ("RANKINGS_TOP_N", "ten"),
    ("MASS_DEACTIVATION_MAX_SHARE", "lots"),
    ("HTTP_MAX_ATTEMPTS", "2.5"),
    ("HTTP_TIMEOUT_S", "fast"),
    ("HTTP_MAX_RESPONSE_BYTES", "1MB"),
])
def test_invalid_number_names_the_variable(var, value):
    """A malformed number is a ConfigError naming the environment variable."""
    with pytest.raises(ConfigError) as exc:
        settings_from_env({var: value})
    msg = str(exc.value)
    assert msg.startswith("invalid configuration: ")
    assert f"{var}: " in msg


def test_several_invalid_values_all_named():
    """Every bad variable is named in one error."""
    with pytest.raises(ConfigError) as exc:
        settings_from_env({"RANKINGS_TOP_N": "x", "ENDPOINT_CONCURRENCY": "y"})
    assert "RANKINGS_TOP_N: " in str(exc.value) and "ENDPOINT_CONCURRENCY: " in str(exc.value)


def test_require_project():
    """require_project returns the id, or raises a ConfigError saying what to do."""
    assert settings_from_env({"GOOGLE_CLOUD_PROJECT": "p"}).require_project() == "p"
    with pytest.raises(ConfigError) as exc:
        settings_from_env({}).require_project()
    assert "GOOGLE_CLOUD_PROJECT is not set" in str(exc.value)
    assert ".local/stack.env" in str(exc.value)


def test_require_reports_bucket_and_raw_fallback():
    """require_reports_bucket raises when unset; the raw bucket falls back to it."""
    with pytest.raises(ConfigError, match="REPORTS_BUCKET is not set: name the Cloud Storage bucket"):
        settings_from_env({}).require_reports_bucket()
    with pytest.raises(ConfigError, match="REPORTS_BUCKET is not set"):
        settings_from_env({}).require_raw_bucket()
    s = settings_from_env({"REPORTS_BUCKET": "r"})
    assert s.require_reports_bucket() == "r" and s.require_raw_bucket() == "r"
    assert settings_from_env({"REPORTS_BUCKET": "r", "RAW_BUCKET": "raw"}).require_raw_bucket() == "raw"


def test_api_key_is_secret():
    """The key is a SecretStr: readable on purpose, absent from str/repr/dumps."""
    s = settings_from_env({"OPENROUTER_API_KEY": KEY})
    assert isinstance(s.openrouter_api_key, SecretStr)
    assert s.openrouter_api_key.get_secret_value() == KEY
    for text in (str(s), repr(s), s.model_dump_json(), str(s.model_dump()), str(s.openrouter_api_key)):
        assert "TOPSECRET987" not in text


def test_config_error_does_not_echo_key():
    """A config error in another variable does not leak the key."""
    with pytest.raises(ConfigError) as exc:
        settings_from_env({"OPENROUTER_API_KEY": KEY, "RANKINGS_TOP_N": "x"})
    assert "TOPSECRET987" not in str(exc.value)


def test_settings_are_frozen_and_strict():
    """Settings cannot be mutated and refuse unknown fields."""
    s = settings_from_env({})
    with pytest.raises(Exception):
        s.rankings_top_n = 3  # type: ignore[misc]
    assert s.rankings_top_n == 10
    with pytest.raises(Exception, match="extra"):
        Settings(unknown_field=1)  # type: ignore[call-arg]


def test_decimal_setting():
    """decimal_setting keeps the float's shortest decimal form."""
    assert str(decimal_setting(0.1)) == "0.1"


def test_bench_budget_settings():
    """Daily and weekly caps default to $25 and $100; BENCH_ALLOW_UNPRICED is a comma list of patterns."""
    s = settings_from_env({})
    assert (s.bench_budget_usd, s.bench_daily_budget_usd, s.bench_weekly_budget_usd) == (10.0, 25.0, 100.0)
    assert s.bench_allow_unpriced == ()
    s = settings_from_env({"BENCH_DAILY_BUDGET_USD": "2.5", "BENCH_WEEKLY_BUDGET_USD": "7",
                           "BENCH_ALLOW_UNPRICED": " sim/*, openrouter/auto ,,"})
    assert (s.bench_daily_budget_usd, s.bench_weekly_budget_usd) == (2.5, 7.0)
    assert s.bench_allow_unpriced == ("sim/*", "openrouter/auto")
    with pytest.raises(ConfigError, match="BENCH_DAILY_BUDGET_USD"):
        settings_from_env({"BENCH_DAILY_BUDGET_USD": "-1"})


def test_only_the_given_mapping_is_read(monkeypatch):
    """settings_from_env(dict) ignores os.environ; settings_from_env() reads it."""
    monkeypatch.setenv("RANKINGS_TOP_N", "3")
    assert settings_from_env({}).rankings_top_n == 10
    assert settings_from_env().rankings_top_n == 3


def test_no_dotenv_file_is_read(monkeypatch, tmp_path):
    """A .env file in the working directory is never read, by settings_from_env or Settings()."""
    (tmp_path / ".env").write_text(f"RANKINGS_TOP_N=3\nOPENROUTER_API_KEY={KEY}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for var in ("RANKINGS_TOP_N", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for s in (settings_from_env(), Settings(), Settings(_env_file=".env")):
        assert s.rankings_top_n == 10 and s.openrouter_api_key is None


def test_names_are_exact():
    """Only the documented upper-case names count: a field's own name or another case does not."""
    s = settings_from_env({"rankings_top_n": "3", "Rankings_Top_N": "4", "PROJECT_ID": "p", "project_id": "q"})
    assert s.rankings_top_n == 10 and s.project_id is None


def test_empty_google_cloud_project_falls_back_to_gcp_project():
    """An empty GOOGLE_CLOUD_PROJECT is unset, so GCP_PROJECT is used."""
    assert settings_from_env({"GOOGLE_CLOUD_PROJECT": "", "GCP_PROJECT": "legacy"}).project_id == "legacy"


def test_url_settings_and_comma_lists():
    """Every URL setting loses its trailing slash; every list setting is a comma list, never JSON."""
    s = settings_from_env({"LLM_BASE_URL": "http://llm/v1/", "CODE_RUNNER_URL": "http://cr//",
                           "SIMULATOR_BASE_URLS": "http://a/v1, http://b/v1,",
                           "SANDBOX_REQUIRED_LAYERS": "uid, seccomp",
                           "OPENROUTER_CATEGORIES": '["programming"]'})
    assert (s.llm_base_url, s.code_runner_url) == ("http://llm/v1", "http://cr")
    assert s.simulator_base_urls == ("http://a/v1", "http://b/v1")
    assert s.sandbox_required_layers == ("uid", "seccomp")
    assert s.openrouter_categories == ('["programming"]',)


def test_validator_errors_name_the_variable():
    """Field validators name their variable; the cross-field check names both."""
    with pytest.raises(ConfigError, match=r"SANDBOX_REQUIRED_LAYERS: .*unknown layer\(s\) \['bogus'\]"):
        settings_from_env({"SANDBOX_REQUIRED_LAYERS": "uid,bogus"})
    with pytest.raises(ConfigError, match=r"BENCH_ALERT_POINTS \(20\) must not exceed BENCH_CRITICAL_POINTS \(15\)"):
        settings_from_env({"BENCH_ALERT_POINTS": "20"})
    with pytest.raises(ConfigError, match="SANDBOX_ALLOW_WEAK: "):
        settings_from_env({"SANDBOX_ALLOW_WEAK": "maybe"})


def test_risk_policy_file():
    """RISK_POLICY_FILE names the planner's risk policy; unset means the packaged one."""
    assert settings_from_env({}).risk_policy_file is None
    assert settings_from_env({"RISK_POLICY_FILE": "/etc/policy.yaml"}).risk_policy_file == "/etc/policy.yaml"


def test_github_review_settings():
    """Review pull requests need both GITHUB_REPOSITORY and GITHUB_TOKEN; the token is a secret
    (absent from str/repr/dumps and from config errors); a bad repository or path is named."""
    from shared.config import secret_env_names

    s = settings_from_env({})
    assert s.github_review is None and s.github_api_url == "https://api.github.com"
    assert (s.github_base_branch, s.github_routing_path) == ("main", "routing/routing.yaml")
    assert settings_from_env({"GITHUB_REPOSITORY": "acme/routing"}).github_review is None
    assert settings_from_env({"GITHUB_TOKEN": KEY}).github_review is None
    s = settings_from_env({"GITHUB_REPOSITORY": "acme/routing", "GITHUB_TOKEN": KEY,
                           "GITHUB_API_URL": "http://127.0.0.1:9/", "GITHUB_BASE_BRANCH": "release/1",
                           "GITHUB_ROUTING_PATH": "config/routing.json"})
    assert s.github_review == ("acme/routing", KEY) and s.github_api_url == "http://127.0.0.1:9"
    assert (s.github_base_branch, s.github_routing_path) == ("release/1", "config/routing.json")
    for text in (str(s), repr(s), s.model_dump_json(), str(s.model_dump())):
        assert "TOPSECRET987" not in text
    assert "GITHUB_TOKEN" in secret_env_names() and "GITHUB_REPOSITORY" not in secret_env_names()
    for var, value in (("GITHUB_REPOSITORY", "acme"), ("GITHUB_REPOSITORY", "a/b/c"),
                       ("GITHUB_ROUTING_PATH", "/etc/routing.yaml"), ("GITHUB_ROUTING_PATH", "a/../b.yaml")):
        with pytest.raises(ConfigError, match=f"{var}: ") as exc:
            settings_from_env({var: value, "GITHUB_TOKEN": KEY})
        assert "TOPSECRET987" not in str(exc.value)


def test_alert_settings():
    """Every channel is off by default; a channel asked for but half configured is a ConfigError
    naming what is missing; SMTP without STARTTLS only to a loopback host; the webhook URL and the
    SMTP password are secrets."""
    from shared.config import secret_env_names

    s = settings_from_env({})
    assert (s.alert_github, s.slack_webhook_url, s.email_alerts) == (False, None, False)
    assert (s.smtp_port, s.smtp_starttls, s.alert_github_label) == (587, True, "pipeline-safe-false")
    assert {"SLACK_WEBHOOK_URL", "SMTP_PASSWORD"} <= secret_env_names()
    assert "SMTP_USERNAME" not in secret_env_names()
    mail = {"SMTP_HOST": "smtp.example.test", "ALERT_EMAIL_FROM": "p@example.test",
            "ALERT_EMAIL_TO": "a@example.test, b@example.test", "SMTP_USERNAME": "u", "SMTP_PASSWORD": KEY,
            "SLACK_WEBHOOK_URL": f"https://hooks.example.test/services/{KEY}"}
    s = settings_from_env(mail)
    assert s.email_alerts and s.alert_email_to == ("a@example.test", "b@example.test")
    for text in (str(s), repr(s), s.model_dump_json()):
        assert "TOPSECRET987" not in text
    assert settings_from_env({**mail, "SMTP_HOST": "127.0.0.1", "SMTP_STARTTLS": "false"}).smtp_starttls is False
    for env, says in (({"ALERT_GITHUB": "true", "GITHUB_TOKEN": KEY}, "needs GITHUB_REPOSITORY and GITHUB_TOKEN"),
                      ({**mail, "ALERT_EMAIL_FROM": ""}, "ALERT_EMAIL_FROM is needed"),
                      ({**mail, "SMTP_STARTTLS": "false"}, "only for a loopback SMTP_HOST"),
                      ({**mail, "ALERT_EMAIL_TO": "ops"}, "ALERT_EMAIL_TO: .*not an e-mail address"),
                      ({**mail, "SMTP_USERNAME": ""}, "SMTP_PASSWORD is set without SMTP_USERNAME")):
        with pytest.raises(ConfigError, match=says) as exc:
            settings_from_env(env)
        assert "TOPSECRET987" not in str(exc.value)
