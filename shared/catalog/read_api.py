"""The catalog read API (the `catalog_api` HTTP function): what the platform serves, read only.

Models, categories and routing come from the current serving version (`serving/current`), the
configuration the UI and the orchestrator consume; where no version exists yet they come from the
catalog, and every body says which (`source`, `serving_version`). Rankings are observed state
(the catalog's latest snapshot). Handlers are pure over the two repositories, so the in-memory
fakes test them; `handle` is the thin HTTP edge: strict query validation, ETag / 304, caching
headers, JSON errors `{error: {code, message, request_id}}`, and the Models page at `/`.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

from shared.catalog.models import MODEL_ID_RE
from shared.catalog.store import CatalogStore
from shared.serving.store import ServingStore

MAX_LIMIT, DEFAULT_LIMIT = 200, 50
MAX_PARAM_CHARS = 200
MAX_PRICE_PER_M = Decimal(1_000_000)
RANKING_TOP = 10
CAPABILITIES = ("tools", "vision", "reasoning", "structured_output", "free")
CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}(/[a-z0-9][a-z0-9-]{0,39}){0,3}$")
PRICE_RE = re.compile(r"^\d{1,7}(\.\d{1,9})?$")          # no sign, exponent, NaN or infinity
LIMIT_RE = re.compile(r"^\d{1,3}$")
PAGE = Path(__file__).with_name("models_page.html")
CATALOG_MODEL_FIELDS = ["name", "pricing", "capabilities", "active"]
ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 500: "internal",
               503: "unavailable"}


class ReadError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class Repos:
    catalog: CatalogStore
    serving: ServingStore


@dataclass
class Served:
    """What one request reads: the served configuration, or the catalog where none is served."""
    source: str                                     # "serving" | "catalog"
    version: int | None
    models: dict[str, dict[str, Any]]               # active models only
    categories: dict[str, dict[str, Any]]           # active categories only
    routing: dict[str, dict[str, Any]] = field(default_factory=dict)   # slug → {primary, fallbacks}

    def meta(self) -> dict[str, Any]:
        return {"source": self.source, "serving_version": self.version}


_VERSIONS: "weakref.WeakKeyDictionary[Any, dict[tuple[int, Any], Any]]" = weakref.WeakKeyDictionary()
_VERSIONS_KEPT = 8
_VERSIONS_LOCK = threading.Lock()


def _version(serving: ServingStore, pointer: dict[str, Any]) -> Any:
    """The version the pointer names, read once per process and pointer move: a version is never
    rewritten, so while the pointer stays put only the pointer is read per request (keyed by its
    `updated_at` too: after a database reset or restore, number 2 may be another version 2)."""
    key = (pointer["number"], pointer.get("updated_at"))
    with _VERSIONS_LOCK:
        found = _VERSIONS.get(serving, {}).get(key)
    if found is not None:
        return found
    version = serving.version(pointer["number"])
    if version is not None:
        with _VERSIONS_LOCK:
            kept = _VERSIONS.setdefault(serving, {})
            if len(kept) >= _VERSIONS_KEPT:
                kept.pop(next(iter(kept)))
            kept[key] = version
    return version


def read_served(repos: Repos) -> Served:
    pointer = repos.serving.pointer_state()
    version = _version(repos.serving, pointer) if pointer is not None else None
    if version is not None:
        return Served("serving", version.number,
                      {i: m.model_dump(mode="json") for i, m in version.models.items() if m.active},
                      {s: c.model_dump(mode="json") for s, c in version.categories.items() if c.active},
                      {s: {"primary": r.primary, "fallbacks": list(r.fallbacks)} for s, r in version.routing.items()})
    models = repos.catalog.models(CATALOG_MODEL_FIELDS, active_only=True)
    categories = {s: c for s, c in repos.catalog.categories().items() if c.get("active", True)}
    routing = {s: {"primary": r.get("primary_model"), "fallbacks": list(r.get("fallbacks") or [])}
               for s, r in repos.catalog.routing().items() if r.get("primary_model")}
    return Served("catalog", None, models, categories, routing)


# --- query parameters: each one checked, nothing unknown accepted ---------------------------------
def _params(query: list[tuple[str, str]], allowed: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in query:
        if key not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise ReadError(400, f"unknown query parameter {key[:40]!r}; this route takes: {known}")
        if key in out:
            raise ReadError(400, f"query parameter {key} given twice")
        if len(value) > MAX_PARAM_CHARS or not value.isprintable():
            raise ReadError(400, f"{key}: at most {MAX_PARAM_CHARS} printable characters")
        out[key] = value
    return out


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not LIMIT_RE.match(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ReadError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _max_price(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    if not PRICE_RE.match(raw) or Decimal(raw) > MAX_PRICE_PER_M:
        raise ReadError(400, f"max_price is USD per million prompt tokens: a plain decimal number from 0 to "
                             f"{MAX_PRICE_PER_M} (e.g. 2.5)")
    return Decimal(raw)


def _capabilities(raw: str | None) -> list[str]:
    wanted = [c.strip() for c in raw.split(",")] if raw is not None else []
    for cap in wanted:
        if cap not in CAPABILITIES:
            raise ReadError(400, f"capability must be one of {', '.join(CAPABILITIES)} (comma-separated: all of them)")
    return wanted


def _slug(raw: str, what: str = "category") -> str:
    if not CATEGORY_RE.match(raw):
        raise ReadError(400, f"{what} must be a category slug such as marketing or marketing/seo")
    return raw


def _model_id(raw: str) -> str:
    if len(raw) > MAX_PARAM_CHARS or not MODEL_ID_RE.match(raw):
        raise ReadError(400, "a model id looks like author/slug (e.g. openai/gpt-4o or meta-llama/x:free)")
    return raw


def _filters_key(params: dict[str, str]) -> str:
    """Binds a cursor to the query it came from: reused with other filters it is refused."""
    filters = {k: params[k] for k in ("category", "capability", "max_price") if k in params}
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:12]


def encode_cursor(after: str, filters: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"a": after, "f": filters}).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, filters: str) -> str | None:
    if raw is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        after, bound = data["a"], data["f"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ReadError(400, "cursor is not one this API gave out: use next_cursor as it came") from None
    if bound != filters or not isinstance(after, str):
        raise ReadError(400, "cursor belongs to a query with other filters: start again without it")
    return after


# --- views of a model -----------------------------------------------------------------------------
def per_million(per_token: str | None) -> str | None:
    """USD per million tokens as a decimal string; None for OpenRouter's dynamic price (-1)."""
    try:
        value = Decimal(per_token or "0")
    except (InvalidOperation, TypeError):
        return None
    if not value.is_finite() or value < 0:
        return None
    text = format((value * 1_000_000).normalize(), "f")
    return "0" if text in ("-0", "") else text


def present(model: dict[str, Any]) -> dict[str, Any]:
    pricing = dict(model.get("pricing") or {})
    caps = dict(model.get("capabilities") or {})
    return {"id": model["id"], "name": model.get("name") or model["id"], "pricing": pricing,
            "price_per_million": {"prompt": per_million(pricing.get("prompt")),
                                  "completion": per_million(pricing.get("completion"))},
            "capabilities": caps,
            "chat": "text" in (caps.get("output_modalities") or ["text"])}


def _in_category(repos: Repos, served: Served, slug: str) -> set[str]:
    ranking = repos.catalog.ranking(slug) or {}
    ids = {e.get("model_id") for e in ranking.get("latest_entries") or []}
    route = served.routing.get(slug) or {}
    return {i for i in ids | {route.get("primary"), *route.get("fallbacks", [])} if i}


def _cheap_enough(model: dict[str, Any], max_price: Decimal) -> bool:
    price = per_million((model.get("pricing") or {}).get("prompt"))
    return price is not None and Decimal(price) <= max_price     # a dynamic price is not known to fit


# --- routes ---------------------------------------------------------------------------------------
def list_models(repos: Repos, query: list[tuple[str, str]]) -> dict[str, Any]:
    params = _params(query, ("category", "capability", "max_price", "limit", "cursor"))
    limit, max_price = _limit(params.get("limit")), _max_price(params.get("max_price"))
    caps = _capabilities(params.get("capability"))
    filters = _filters_key(params)
    after = decode_cursor(params.get("cursor"), filters)
    category = _slug(params["category"]) if "category" in params else None
    served = read_served(repos)
    if category is not None and category not in served.categories:
        raise ReadError(400, "unknown category; GET /categories lists them")
    members = _in_category(repos, served, category) if category else None
    matching = [m for i, m in sorted(served.models.items())
                if (members is None or i in members)
                and all((m.get("capabilities") or {}).get(c) is True for c in caps)
                and (max_price is None or _cheap_enough(m, max_price))]
    # sorted by id, so a page starts after the cursor's id even when that model left meanwhile
    start = next((n for n, m in enumerate(matching) if after is None or m["id"] > after), len(matching))
    page = matching[start:start + limit]
    more = start + limit < len(matching)
    return {**served.meta(), "total": len(matching), "count": len(page), "items": [present(m) for m in page],
            "next_cursor": encode_cursor(page[-1]["id"], filters) if more else None}


def show_model(repos: Repos, query: list[tuple[str, str]], model_id: str) -> dict[str, Any]:
    _params(query, ())
    model_id = _model_id(model_id)
    served = read_served(repos)
    model = served.models.get(model_id)
    if model is None:
        raise ReadError(404, "no such model is served (GET /models lists them)")
    ranked = []
    for slug in sorted(served.categories):
        entry = next((e for e in (repos.catalog.ranking(slug) or {}).get("latest_entries") or []
                      if e.get("model_id") == model_id), None)
        if entry is not None:
            ranked.append({"category": slug, "rank": entry.get("rank")})
    routed = [{"category": s, "role": "primary" if r["primary"] == model_id else "fallback"}
              for s, r in sorted(served.routing.items()) if model_id in (r["primary"], *r["fallbacks"])]
    return {**served.meta(), "model": {**present(model), "ranked_in": ranked, "routed_in": routed}}


def category_tree(repos: Repos, query: list[tuple[str, str]]) -> dict[str, Any]:
    _params(query, ())
    served = read_served(repos)
    nodes = {s: {"slug": s, "name": c.get("name") or s, "parent": c.get("parent"), "children": []}
             for s, c in sorted(served.categories.items())}
    roots = []
    for slug, node in nodes.items():
        parent = nodes.get(node["parent"]) if node["parent"] else None
        (parent["children"] if parent else roots).append(node)   # an orphan shows at the top, not lost
    return {**served.meta(), "count": len(nodes), "items": roots}


def show_ranking(repos: Repos, query: list[tuple[str, str]], category: str) -> dict[str, Any]:
    _params(query, ())
    slug = _slug(category)
    ranking = repos.catalog.ranking(slug)
    if not ranking or not ranking.get("latest_entries"):
        raise ReadError(404, "no ranking stored for this category (GET /categories lists the categories)")
    return {"category": slug, "source": "catalog", "snapshot_id": ranking.get("latest_snapshot_id"),
            "fetched_at": ranking.get("latest_fetched_at"),
            "entries": [{k: e.get(k) for k in ("rank", "model_id", "tokens")}
                        for e in ranking["latest_entries"][:RANKING_TOP]],
            "movements": ranking.get("movements") or {}}


def show_routing(repos: Repos, query: list[tuple[str, str]]) -> dict[str, Any]:
    _params(query, ())
    served = read_served(repos)
    return {**served.meta(), "routes": dict(sorted(served.routing.items()))}


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Repos, list[tuple[str, str]]], dict[str, Any]]
ROUTES = "GET /, /models, /models/{id}, /categories, /rankings/{category}, /routing"


def _route(path: str) -> Route | None:
    """The handler of a path; ids and slugs hold '/', so they are the rest of the path."""
    fixed: dict[str, Route] = {"/models": list_models, "/categories": category_tree, "/routing": show_routing}
    if path in fixed:
        return fixed[path]
    for prefix, handler in (("/models/", show_model), ("/rankings/", show_ranking)):
        if path.startswith(prefix) and len(path) > len(prefix):
            rest = path[len(prefix):]
            return lambda repos, query, h=handler, r=rest: h(repos, query, r)
    return None


def _json(body: dict[str, Any]) -> bytes:
    def default(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return json.dumps(body, default=default, sort_keys=True, separators=(",", ":")).encode()


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or tag in tags


@functools.cache
def page() -> tuple[bytes, str]:
    """The Models page and its Content-Security-Policy: its one inline script and style allowed by hash."""
    html = PAGE.read_text(encoding="utf-8")

    def digest(tag: str) -> str:
        inline = html.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
        return "'sha256-" + base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode() + "'"
    csp = (f"default-src 'none'; script-src {digest('script')}; style-src {digest('style')}; connect-src 'self'; "
           "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html.encode(), csp


def answer(method: str, path: str, query: list[tuple[str, str]], if_none_match: str | None, repos: Repos,
           public: bool) -> Reply:
    """One request, without HTTP plumbing: the unit tests call this with the in-memory repositories."""
    if path != "/" and _route(path) is None:
        raise ReadError(404, f"no route {path[:100]}; routes: {ROUTES}")
    if method not in ("GET", "HEAD"):
        raise ReadError(405, f"this API is read only: {path[:100]} takes GET, HEAD", {"Allow": "GET, HEAD"})
    caching = {"Cache-Control": f"{'public' if public else 'private'}, max-age=60"}
    if path == "/":
        _params(query, ())
        body, csp = page()
        content_type, extra = "text/html; charset=utf-8", {"Content-Security-Policy": csp, "X-Frame-Options": "DENY"}
    else:
        route = _route(path)
        assert route is not None
        body, content_type, extra = _json(route(repos, query)), "application/json", {}
    tag = etag(body)
    headers = {**caching, "ETag": tag, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", **extra}
    if _matches(if_none_match, tag):
        return Reply(304, b"", content_type, headers)
    return Reply(200, body, content_type, headers)


def error_reply(status: int, message: str, request_id: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"error": {"code": ERROR_CODES.get(status, "error"), "message": message, "request_id": request_id}}
    return Reply(status, _json(body), "application/json",
                 {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})})


# --- the HTTP edge --------------------------------------------------------------------------------
def _request_id(request: Any) -> str:
    trace = (request.headers.get("X-Cloud-Trace-Context") or "").split("/")[0]
    return trace if re.fullmatch(r"[0-9a-f]{32}", trace) else uuid.uuid4().hex


def _failure(exc: Exception, request_id: str) -> Reply:
    from shared.log import get_logger
    from shared.platform import backend

    log = get_logger(__name__)
    if isinstance(exc, ReadError):
        return error_reply(exc.status, str(exc), request_id, exc.headers)
    reason = backend.describe(exc)
    if reason is not None:
        log.error("backend unavailable", error=reason)
        return error_reply(503, "the catalog's backend is unavailable; try again later", request_id)
    log.exception("unexpected error in catalog_api")
    return error_reply(500, "internal error; the catalog_api log has the details under this request_id", request_id)


@functools.cache
def repositories() -> Repos:
    from shared.catalog import store as catalog_store
    from shared.serving import store as serving_store

    return Repos(catalog_store.repository(), serving_store.repository())


def handle(request: Any) -> Any:
    import flask

    from shared.config import get_settings
    from shared.log import configure, log_context

    request_id = _request_id(request)
    path = request.path or "/"
    with log_context(function="catalog_api", path=path[:200], request_id=request_id):
        try:
            settings = get_settings()
            configure(settings.log_level)
            reply = answer(request.method, path, list(request.args.items(multi=True)),
                           request.headers.get("If-None-Match"), repositories(), settings.catalog_api_public)
        except Exception as exc:     # every failure is a JSON answer with the request id
            reply = _failure(exc, request_id)
    response = flask.Response(reply.body, status=reply.status, content_type=reply.content_type,
                              headers={**reply.headers, "X-Request-Id": request_id})
    if reply.status == 304:
        response.headers.pop("Content-Type", None)
    return response
