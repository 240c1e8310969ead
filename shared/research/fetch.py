"""Fetching research sources: concurrent across hosts, polite within one host, conditional.

Each host gets one worker (one connection) that fetches its sources in order with the host's
minimum interval between requests; hosts run in parallel. Validators (ETag / Last-Modified) are
kept per URL in the research store so an unchanged source costs one 304.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable
from urllib.parse import urlsplit

from shared.config import Settings
from shared.log import get_logger
from shared.platform.http import Fetched, HttpSource, SourceError
from shared.research.config import ResearchConfig, SourceSpec
from shared.research.store import ResearchStore

log = get_logger(__name__)
FEED_ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, application/json;q=0.9, */*;q=0.5"


@dataclass
class Page:
    """One response of a source (a source may need several: arXiv pages, HF papers per day)."""
    url: str
    status: int
    body: bytes
    date: date | None = None  # for per-day requests


@dataclass
class SourceFetch:
    spec: SourceSpec
    pages: list[Page] = field(default_factory=list)
    error: str | None = None
    requests: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    validators_to_save: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def statuses(self) -> list[int]:
        return [p.status for p in self.pages]

    @property
    def not_modified(self) -> bool:
        return bool(self.pages) and all(p.status == 304 for p in self.pages)


class Validators:
    """ETag / Last-Modified per URL, loaded from the store once per scan."""

    def __init__(self, store: ResearchStore) -> None:
        self._lock = threading.Lock()
        self._known = store.load_validators()

    def headers_for(self, url: str) -> dict[str, str]:
        with self._lock:
            d = self._known.get(url) or {}
        out = {}
        if d.get("etag"):
            out["If-None-Match"] = d["etag"]
        if d.get("last_modified"):
            out["If-Modified-Since"] = d["last_modified"]
        return out


class PoliteHost:
    """Sequential requests to one host with a minimum interval between them."""

    def __init__(self, http: HttpSource, min_interval_s: float):
        self.http = http
        self.min_interval_s = min_interval_s
        self._last = 0.0

    def get(self, url: str, params: dict[str, Any] | None, headers: dict[str, str]) -> Fetched:
        wait = self._last + self.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            parts = urlsplit(url)
            return self.http.get(parts.path + (f"?{parts.query}" if parts.query else ""), params, headers)
        finally:
            self._last = time.monotonic()


def _requests_for(spec: SourceSpec, as_of: date, window_days: int) -> list[tuple[dict[str, Any] | None, date | None]]:
    """The first request(s) of a source: params and the day it covers (HF daily papers)."""
    if spec.kind == "hf_daily_papers":
        # one request per day, newest first; max_pages caps the days (a wide backfill window
        # must not become thousands of requests)
        days = min(window_days, spec.max_pages)
        return [({**spec.params, "date": (as_of - timedelta(days=i)).isoformat()}, as_of - timedelta(days=i))
                for i in range(days)]
    if spec.kind == "arxiv_api":
        query = " OR ".join(f"cat:{c}" for c in spec.categories) or "cat:cs.CL"
        return [({"search_query": query, "sortBy": "submittedDate", "sortOrder": "descending",
                  "start": 0, "max_results": spec.page_size, **spec.params}, None)]
    if spec.kind == "hf_models":
        return [({"limit": spec.page_size, **spec.params}, None)]
    return [(spec.params or None, None)]


def fetch_source(host: PoliteHost, spec: SourceSpec, validators: Validators, as_of: date,
                 window_days: int, next_page: Callable[[SourceSpec, Page, dict[str, Any]], dict[str, Any] | None]
                 ) -> SourceFetch:
    """Fetch every page of one source; errors end this source only."""
    out = SourceFetch(spec)
    started = time.monotonic()
    requests_before, bytes_before = host.http.requests_made, host.http.bytes_received
    try:
        for params, day in _requests_for(spec, as_of, window_days):
            pages_done = 0
            while pages_done < spec.max_pages:  # params None = a plain GET of the URL
                url = host.http.url_for(urlsplit(spec.url).path, params)
                fetched = host.get(spec.url, params, validators.headers_for(url))
                page = Page(fetched.url, fetched.status, fetched.body, day)
                out.pages.append(page)
                if fetched.headers.get("etag") or fetched.headers.get("last-modified"):
                    out.validators_to_save[fetched.url] = {
                        "etag": fetched.headers.get("etag", ""),
                        "last_modified": fetched.headers.get("last-modified", "")}
                pages_done += 1
                if fetched.not_modified:
                    break
                params = next_page(spec, page, params or {})
                if params is None:
                    break
    except SourceError as exc:
        out.error = str(exc)
    out.requests = host.http.requests_made - requests_before
    out.bytes = host.http.bytes_received - bytes_before
    out.duration_s = round(time.monotonic() - started, 3)
    return out


def fetch_all(config: ResearchConfig, settings: Settings, as_of: date, store: ResearchStore,
              next_page: Callable[[SourceSpec, Page, dict[str, Any]], dict[str, Any] | None],
              progress: Callable[[SourceFetch], None] = lambda f: None) -> list[SourceFetch]:
    validators = Validators(store)
    by_host: dict[str, list[SourceSpec]] = defaultdict(list)
    for spec in config.enabled_sources:
        by_host[spec.host].append(spec)

    def work(host: str) -> list[SourceFetch]:
        first = by_host[host][0]
        parts = urlsplit(first.url)
        http = HttpSource(f"{parts.scheme}://{parts.netloc}", settings, name=host,
                          allowed_hosts=config.allowed_hosts,
                          max_response_bytes=settings.research_max_response_bytes, accept=FEED_ACCEPT)
        polite = PoliteHost(http, config.host_policy(host).min_interval_s)
        results = []
        try:
            for spec in by_host[host]:
                result = fetch_source(polite, spec, validators, as_of, config.window_days, next_page)
                progress(result)
                results.append(result)
        finally:
            http.close()
        return results

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(by_host)))) as pool:
        per_host = list(pool.map(work, sorted(by_host)))
    order = {s.name: i for i, s in enumerate(config.enabled_sources)}
    return sorted((r for rs in per_host for r in rs), key=lambda r: order[r.spec.name])
