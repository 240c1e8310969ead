"""HttpSource and OpenRouterClient against the real replay server (real HTTP on 127.0.0.1).

Faults are injected through the replay server's control API; nothing is mocked."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from infra.replay_server import ReplayServer, ReplayState
from shared.catalog.openrouter import OpenRouterClient
from shared.config import Settings, settings_from_env
from shared.platform.http import Fetched, HttpSource, SourceError, parse_retry_after
from tests.conftest import DEMO_DATA

WEEK1 = json.loads((DEMO_DATA / "week1.json").read_text(encoding="utf-8"))
SECRET = "sk-test-SECRET123"

FAST = {
    "HTTP_BACKOFF_BASE_S": "0.01",
    "HTTP_BACKOFF_MAX_S": "0.02",
    "HTTP_MAX_ATTEMPTS": "3",
    "HTTP_TIMEOUT_S": "0.5",
}


# One client for the control API; a fresh connection per call is faster here than keep-alive
# (the replay server writes headers and body separately, which meets delayed ACKs).
_control_client = httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture(scope="module")
def replay():
    server = ReplayServer(ReplayState(DEMO_DATA, week=1)).start()
    try:
        yield server
    finally:
        server.stop()


def control(server: ReplayServer, method: str, path: str, body: Any = None) -> Any:
    r = _control_client.request(method, f"{server.root_url}/_replay/{path}", json=body)
    r.raise_for_status()
    return r.json()


def api_requests(server: ReplayServer) -> list[dict[str, Any]]:
    return control(server, "GET", "requests")["requests"]


@pytest.fixture(autouse=True)
def clean_replay(request):
    if "replay" not in request.fixturenames:  # pure tests (parse_retry_after) need no server
        yield
        return
    replay = request.getfixturevalue("replay")
    control(replay, "DELETE", "faults")
    control(replay, "DELETE", "requests")
    yield


def let_slow_handlers_finish() -> None:
    """Delayed replay handlers write to sockets the client already closed; let them finish inside
    the test so their BrokenPipe noise is captured with it rather than printed later."""
    time.sleep(0.25)


def fast_settings(replay: ReplayServer, **extra: str) -> Settings:
    return settings_from_env({**FAST, "OPENROUTER_BASE_URL": replay.base_url, **extra})


@pytest.fixture
def source(replay):
    with HttpSource(replay.base_url, fast_settings(replay), name="openrouter") as src:
        yield src


# --- retries ----------------------------------------------------------------------------------

def test_503_twice_then_success(replay, source):
    """Two 503s are retried; the third attempt succeeds and reports attempts == 3."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 503, "count": 2})
    fetched = source.get("/models")
    assert isinstance(fetched, Fetched)
    assert fetched.status == 200 and fetched.attempts == 3
    assert [m["id"] for m in fetched.json()["data"]] == [m["id"] for m in WEEK1["models"]]
    assert [r["path"] for r in api_requests(replay)] == ["/api/v1/models"] * 3
    assert source.requests_made == 3
    assert source.bytes_received == len(fetched.body)


def test_429_retry_after_is_honoured(replay, source):
    """A 429 with Retry-After: 1 waits about a second (not the tiny backoff) before retrying."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 429, "count": 1,
                                       "retry_after": "1"})
    started = time.monotonic()
    fetched = source.get("/models")
    elapsed = time.monotonic() - started
    assert fetched.status == 200 and fetched.attempts == 2
    assert elapsed >= 0.95
    reqs = api_requests(replay)
    assert len(reqs) == 2
    assert reqs[1]["time"] - reqs[0]["time"] >= 0.95


def test_permanent_500_gives_up_after_max_attempts(replay, source):
    """A 500 on every attempt → SourceError after HTTP_MAX_ATTEMPTS requests."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 500, "count": -1})
    with pytest.raises(SourceError) as exc:
        source.get("/models")
    assert "failed after 3 attempts" in str(exc.value)
    assert "HTTP 500" in str(exc.value)
    assert exc.value.status == 500
    assert exc.value.url == f"{replay.base_url}/models"
    assert len(api_requests(replay)) == 3


def test_404_is_not_retried(replay, source):
    """A 404 fails at once: one request, SourceError naming the status."""
    with pytest.raises(SourceError) as exc:
        source.get("/no-such-path")
    assert "answered HTTP 404" in str(exc.value)
    assert exc.value.status == 404
    assert len(api_requests(replay)) == 1


def test_timeout_is_retried_then_fails(replay, source):
    """A response slower than HTTP_TIMEOUT_S is retried, then fails with a timeout reason."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "delay_s": 0.6, "count": -1})
    started = time.monotonic()
    with pytest.raises(SourceError) as exc:
        source.get("/models")
    elapsed = time.monotonic() - started
    let_slow_handlers_finish()
    msg = str(exc.value)
    assert "failed after 3 attempts" in msg and "timeout" in msg.lower()
    assert exc.value.status is None
    assert len(api_requests(replay)) == 3
    assert elapsed >= 1.4 and elapsed < 120   # three 0.6 s timeouts at least; the upper bound guards a hang


def test_timeout_then_success(replay, source):
    """One slow answer followed by a fast one succeeds on attempt 2."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "delay_s": 0.6, "count": 1})
    fetched = source.get("/models")
    let_slow_handlers_finish()
    assert fetched.attempts == 2 and fetched.status == 200


def test_redirect_to_other_host_not_followed(replay, source):
    """A 302 to another host is a SourceError; the other host receives nothing; no retry."""
    other = ReplayServer(ReplayState(DEMO_DATA, week=1)).start()
    try:
        target = f"{other.base_url}/models"
        control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 302, "count": -1,
                                           "location": target})
        with pytest.raises(SourceError) as exc:
            source.get("/models")
        msg = str(exc.value)
        assert "redirect" in msg and "302" in msg and target in msg
        assert exc.value.status == 302
        assert len(api_requests(replay)) == 1
        assert api_requests(other) == []
    finally:
        other.stop()


def test_response_over_size_cap(replay):
    """A body larger than HTTP_MAX_RESPONSE_BYTES is refused, naming the cap."""
    with HttpSource(replay.base_url, fast_settings(replay, HTTP_MAX_RESPONSE_BYTES="1000")) as src:
        with pytest.raises(SourceError) as exc:
            src.get("/models")
    assert "exceeds 1000 bytes" in str(exc.value)
    assert exc.value.status == 200
    assert len(api_requests(replay)) == 1


def test_response_under_size_cap_passes(replay):
    """A body exactly within the cap is accepted."""
    full = httpx.get(f"{replay.base_url}/models").content
    control(replay, "DELETE", "requests")
    with HttpSource(replay.base_url, fast_settings(replay, HTTP_MAX_RESPONSE_BYTES=str(len(full)))) as src:
        assert src.get("/models").body == full


def test_truncated_json_body(replay, source):
    """A truncated JSON body is fetched, and .json() raises SourceError 'not valid JSON'."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "truncate": True, "count": 1})
    fetched = source.get("/models")
    assert fetched.status == 200
    with pytest.raises(SourceError) as exc:
        fetched.json()
    assert "not valid JSON" in str(exc.value)
    assert f"{len(fetched.body)} bytes" in str(exc.value)
    assert exc.value.url == fetched.url


def test_html_body_with_200(replay, source):
    """An HTML page served with status 200 is not JSON: SourceError from .json()."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 200, "count": 1,
                                       "body": "<html><body>Cloudflare says hi</body></html>",
                                       "content_type": "text/html"})
    fetched = source.get("/models")
    with pytest.raises(SourceError) as exc:
        fetched.json()
    assert "not valid JSON" in str(exc.value)
    assert "<html>" in str(exc.value)


# --- credentials ------------------------------------------------------------------------------

def test_api_key_sent_and_never_in_errors(replay):
    """The bearer key reaches the server but appears in no error message, repr or URL."""
    settings = fast_settings(replay, HTTP_TIMEOUT_S="0.2")
    with HttpSource(replay.base_url, settings, api_key=SECRET, name="openrouter") as src:
        fetched = src.get("/models")
        assert api_requests(replay)[0]["has_auth"] is True
        errors: list[SourceError] = []
        for fault, path in [
            ({"status": 500, "count": -1}, "/models"),
            ({"status": 302, "count": -1, "location": "http://elsewhere.invalid/x"}, "/models"),
            ({"status": 401, "count": -1, "body": "bad key"}, "/models"),
            ({"delay_s": 0.3, "count": -1}, "/models"),
            ({"status": 200, "count": 1, "body": "not json", "content_type": "text/plain"}, "/models"),
        ]:
            control(replay, "DELETE", "faults")
            control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", **fault})
            with pytest.raises(SourceError) as exc:
                src.get(path).json()
            errors.append(exc.value)
        with pytest.raises(SourceError) as exc:
            src.get("/missing")
        errors.append(exc.value)
    let_slow_handlers_finish()
    assert len(errors) == 6
    for err in errors:
        for text in (str(err), repr(err), err.url, repr(err.args)):
            assert "SECRET123" not in text
    assert "SECRET123" not in repr(fetched)
    assert all(r["has_auth"] for r in api_requests(replay))


def test_no_auth_header_without_key(replay, source):
    """Without a key no Authorization header is sent."""
    source.get("/models")
    assert api_requests(replay)[0]["has_auth"] is False


def test_openrouter_client_uses_settings_key(replay):
    """OpenRouterClient sends the SecretStr key from settings (has_key True, has_auth True)."""
    client = OpenRouterClient(fast_settings(replay, OPENROUTER_API_KEY=SECRET))
    try:
        assert client.has_key is True
        client.fetch_models()
    finally:
        client.close()
    assert api_requests(replay)[0]["has_auth"] is True


# --- parse_retry_after ------------------------------------------------------------------------

def test_parse_retry_after_seconds():
    """Delay-seconds form."""
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 120 ") == 120.0


def test_parse_retry_after_http_date():
    """HTTP-date form, relative to `now`; a past date is 0."""
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=10), usegmt=True), now=now) == pytest.approx(10.0)
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:10 GMT", now=now) == pytest.approx(10.0)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "", None, "-5", "1.5", "Someday, 99 Foo"])
def test_parse_retry_after_garbage(value):
    """Anything else is None."""
    assert parse_retry_after(value) is None


# --- OpenRouterClient.fetch_models ------------------------------------------------------------

def test_fetch_models_follows_pages(replay):
    """With paging (5 per page) every model of week 1 comes back, in order, over 4 pages."""
    control(replay, "POST", "load", {"week": 1, "page_size": 5})
    client = OpenRouterClient(fast_settings(replay))
    try:
        entries, pages = client.fetch_models()
    finally:
        client.close()
        control(replay, "POST", "load", {"week": 1, "page_size": 0})
    expected = [m["id"] for m in WEEK1["models"]]
    assert len(expected) == 16
    assert [e["id"] for e in entries] == expected
    assert len(pages) == 4  # 5 + 5 + 5 + 1
    reqs = api_requests(replay)
    assert [(r["path"], r["query"]) for r in reqs] == [
        ("/api/v1/models", {}), ("/api/v1/models", {"offset": "5"}),
        ("/api/v1/models", {"offset": "10"}), ("/api/v1/models", {"offset": "15"})]


def test_fetch_models_single_page(replay):
    """Without paging one request returns every model."""
    client = OpenRouterClient(fast_settings(replay))
    try:
        entries, pages = client.fetch_models()
    finally:
        client.close()
    assert len(entries) == len(WEEK1["models"]) and len(pages) == 1


def test_fetch_models_truncated_total_count(replay):
    """A page listing fewer models than total_count is refused as truncated."""
    three = WEEK1["models"][:3]
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 200, "count": 1,
                                       "body": {"data": three, "total_count": 99}})
    client = OpenRouterClient(fast_settings(replay))
    try:
        with pytest.raises(SourceError) as exc:
            client.fetch_models()
    finally:
        client.close()
    assert "truncated" in str(exc.value)
    assert "received 3 of total_count 99" in str(exc.value)


def test_fetch_models_next_link_to_other_host_refused(replay):
    """links.next pointing to another host is refused before any request goes there."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 200, "count": 1,
                                       "body": {"data": WEEK1["models"][:2],
                                                "links": {"next": "http://elsewhere.invalid/api/v1/models?offset=2"}}})
    client = OpenRouterClient(fast_settings(replay))
    try:
        with pytest.raises(SourceError, match="another host"):
            client.fetch_models()
    finally:
        client.close()
    assert len(api_requests(replay)) == 1


def test_fetch_models_without_data_list(replay):
    """A JSON body without a 'data' list is a SourceError naming the keys."""
    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 200, "count": 1,
                                       "body": {"models": []}})
    client = OpenRouterClient(fast_settings(replay))
    try:
        with pytest.raises(SourceError, match=r"has no 'data' list \(keys: \['models'\]\)"):
            client.fetch_models()
    finally:
        client.close()


def test_fetch_models_endless_paging_is_bounded(replay):
    """A links.next that never ends stops after MAX_PAGES pages with a SourceError."""
    from shared.catalog.openrouter import MAX_PAGES

    control(replay, "POST", "faults", {"path_prefix": "/api/v1/models", "status": 200, "count": -1,
                                       "body": {"data": WEEK1["models"][:1],
                                                "links": {"next": "/api/v1/models?offset=1"}}})
    client = OpenRouterClient(fast_settings(replay))
    try:
        with pytest.raises(SourceError, match=f"still paging after {MAX_PAGES} pages"):
            client.fetch_models()
    finally:
        client.close()
    assert len(api_requests(replay)) == MAX_PAGES
