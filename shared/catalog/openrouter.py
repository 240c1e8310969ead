"""OpenRouter API client (catalog endpoints only)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, urljoin, urlparse

from shared.config import Settings
from shared.platform.http import Fetched, HttpSource, SourceError

MAX_PAGES = 50


class OpenRouterClient:
    def __init__(self, settings: Settings):
        key = settings.openrouter_api_key.get_secret_value() if settings.openrouter_api_key else None
        self.has_key = bool(key)
        self.http = HttpSource(settings.openrouter_base_url, settings, api_key=key, name="openrouter")

    def close(self) -> None:
        self.http.close()

    def fetch_models(self) -> tuple[list[Any], list[Fetched]]:
        """All entries of GET /models, following links.next; checks total_count when given."""
        entries: list[Any] = []
        pages: list[Fetched] = []
        path: str | None = "/models"
        total_count: int | None = None
        while path:
            if len(pages) >= MAX_PAGES:
                raise SourceError(f"openrouter: /models still paging after {MAX_PAGES} pages")
            fetched = self.http.get(path)
            pages.append(fetched)
            body = fetched.json()
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise SourceError(f"openrouter: {fetched.url} has no 'data' list "
                                  f"(keys: {sorted(body)[:8] if isinstance(body, dict) else type(body).__name__})",
                                  fetched.url, fetched.status)
            entries.extend(body["data"])
            if isinstance(body.get("total_count"), int):
                total_count = body["total_count"]
            path = self._next_path(body, fetched.url)
        if total_count is not None and len(entries) < total_count:
            raise SourceError(f"openrouter: /models is truncated: received {len(entries)} of "
                              f"total_count {total_count}")
        return entries, pages

    def _next_path(self, body: dict[str, Any], current_url: str) -> str | None:
        links = body.get("links")
        nxt = links.get("next") if isinstance(links, dict) else None
        if not nxt:
            return None
        absolute = urljoin(current_url, nxt)
        base = urlparse(self.http.base_url)
        target = urlparse(absolute)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise SourceError(f"openrouter: links.next points to another host ({target.netloc})")
        path = target.path
        if path.startswith(base.path):
            path = path[len(base.path):] or "/"
        return path + (f"?{target.query}" if target.query else "")

    def fetch_category_ranking(self, slug: str) -> Fetched:
        return self.http.get("/models", params={"category": slug, "sort": "top-weekly"})

    def fetch_token_volumes(self, slug: str) -> Fetched:
        return self.http.get("/datasets/rankings-daily", params={"category": slug, "period": "week"})

    def fetch_endpoints(self, model_id: str) -> Fetched:
        author, _, slug = model_id.partition("/")
        return self.http.get(f"/models/{quote(author, safe='~')}/{quote(slug, safe='~:')}/endpoints")
