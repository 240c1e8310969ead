"""Outbound HTTP through httpx: timeouts, retries with backoff and jitter, Retry-After,
size caps, and errors that say what failed without ever carrying a credential."""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any

import httpx
import tenacity

from shared.config import Settings
from shared.log import get_logger

log = get_logger(__name__)

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_REDIRECTS = 3
KEPT_HEADERS = ("etag", "last-modified", "content-type", "content-length", "x-simulated")
MAX_RETRY_AFTER_S = 120.0
USER_AGENT = "weekly-improvement-pipeline/1.0 (+catalog-sync)"


class SourceError(RuntimeError):
    """An outside source failed for good (after retries, or with a non-retryable answer)."""

    def __init__(self, message: str, url: str = "", status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    body: bytes
    attempts: int
    elapsed_s: float
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            preview = self.body[:80].decode("utf-8", "replace").replace("\n", " ")
            raise SourceError(f"{self.url}: response is not valid JSON ({exc.__class__.__name__}: "
                              f"{exc}; {len(self.body)} bytes, starts {preview!r})",
                              self.url, self.status) from None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class _Wait(tenacity.wait.wait_base):
    """Full-jitter exponential backoff; a server's Retry-After takes precedence."""

    def __init__(self, base: float, cap: float):
        self.base, self.cap = base, cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_S)
        ceiling = min(self.cap, self.base * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(0, ceiling)


class HttpSource:
    """A JSON/XML source at one base URL. Thread-safe (httpx.Client is)."""

    def __init__(self, base_url: str, settings: Settings, api_key: str | None = None,
                 name: str = "source", allowed_hosts: set[str] | None = None,
                 max_response_bytes: int | None = None, accept: str = "application/json",
                 max_connections: int | None = None):
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.name = name
        # redirects are followed only to these hosts (and never by default)
        self.allowed_hosts = {h.lower() for h in (allowed_hosts or set())}
        self.max_response_bytes = max_response_bytes or settings.http_max_response_bytes
        headers = {"User-Agent": USER_AGENT, "Accept": accept}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, follow_redirects=False,
            timeout=httpx.Timeout(settings.http_timeout_s, connect=min(10.0, settings.http_timeout_s)),
            limits=httpx.Limits(max_connections=max(settings.endpoint_concurrency, max_connections or 0, 4)),
        )
        self.requests_made = 0
        self.bytes_received = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, path: str, params: dict[str, Any] | None = None) -> str:
        return str(self._client.build_request("GET", path, params=params).url)

    def get(self, path: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Fetched:
        """GET with retries. A 304 (after a conditional request) is returned, not raised."""
        return self.request("GET", path, params=params, headers=headers)

    def post_json(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None,
                  timeout_s: float | None = None) -> Fetched:
        """POST a JSON body with the same retries (for idempotent-enough calls such as chat
        completions at temperature 0)."""
        return self.request("POST", path, json_body=body, headers=headers, timeout_s=timeout_s)

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, json_body: Any = None,
                timeout_s: float | None = None) -> Fetched:
        url = self.url_for(path, params)
        started = time.monotonic()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.http_max_attempts),
            wait=_Wait(self.settings.http_backoff_base_s, self.settings.http_backoff_max_s),
            retry=tenacity.retry_if_exception_type(_Retryable),
            before_sleep=lambda rs: log.warning(
                "retrying request", source=self.name, url=url, attempt=rs.attempt_number,
                reason=str(rs.outcome.exception()) if rs.outcome else None,
                wait_s=round(rs.next_action.sleep, 2) if rs.next_action else None),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    status, body, kept = self._once(method, path, params, url, headers or {},
                                                    json_body, timeout_s)
                    return Fetched(url, status, body, attempt.retry_state.attempt_number,
                                   time.monotonic() - started, kept)
        except _Retryable as exc:
            raise SourceError(
                f"{self.name}: {method} {url} failed after {self.settings.http_max_attempts} attempts: "
                f"{exc.reason}", url, exc.status) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, params: dict[str, Any] | None, url: str,
              headers: dict[str, str], json_body: Any = None,
              timeout_s: float | None = None) -> tuple[int, bytes, dict[str, str]]:
        target: str = path
        timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)) if timeout_s else httpx.USE_CLIENT_DEFAULT
        for _ in range(MAX_REDIRECTS + 1):
            self.requests_made += 1
            try:
                with self._client.stream(method, target, params=params, headers=headers, json=json_body,
                                         timeout=timeout) as response:
                    status = response.status_code
                    kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
                    if status in RETRY_STATUSES:
                        raise _Retryable(f"HTTP {status}",
                                         parse_retry_after(response.headers.get("Retry-After")), status)
                    if status == 304:
                        return status, b"", kept
                    if 300 <= status < 400:
                        location = response.headers.get("Location") or ""
                        nxt = urljoin(str(response.url), location)
                        host = urlsplit(nxt).netloc.lower()  # configured hosts are host[:port]
                        if location and host in self.allowed_hosts:
                            target, params = nxt, None
                            continue
                        raise SourceError(f"{self.name}: {method} {url} answered a redirect ({status}) to "
                                          f"{location!r}; redirects to hosts outside the configuration "
                                          f"are not followed", url, status)
                    body = self._read_capped(response, url)
            except httpx.TimeoutException as exc:
                raise _Retryable(f"timeout ({exc.__class__.__name__})") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"connection error ({exc.__class__.__name__}: {exc})") from None
            if status >= 400:
                preview = body[:200].decode("utf-8", "replace").replace("\n", " ")
                raise SourceError(f"{self.name}: {method} {url} answered HTTP {status}: {preview}", url, status)
            return status, body, kept
        raise SourceError(f"{self.name}: {method} {url}: more than {MAX_REDIRECTS} redirects", url)

    def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        cap = self.max_response_bytes
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise SourceError(f"{self.name}: GET {url} response exceeds {cap} bytes", url,
                                  response.status_code)
            chunks.append(chunk)
        self.bytes_received += size
        return b"".join(chunks)
