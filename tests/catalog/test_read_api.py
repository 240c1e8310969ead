"""The catalog read API's routes over the in-memory repositories: what is served (the serving
version, else the catalog), filters, paging, ETag / 304, errors, hostile parameters, and model
ids holding '/' and ':'."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import pytest

from shared.catalog import read_api
from shared.catalog.read_api import ReadError, Repos, answer
from shared.catalog.store import InMemoryCatalogStore
from shared.serving.changes import Change, build_candidate, initial_version
from shared.serving.models import ServingVersion
from shared.serving.store import InMemoryServingStore

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
HOSTILE_NAME = '<img src=x onerror="alert(1)"> Evil"; DROP TABLE models;--'


def model(mid: str, prompt: str, completion: str, name: str | None = None, **caps) -> dict:
    pricing = {k: v for k, v in (("prompt", prompt), ("completion", completion)) if v != "0"}
    capabilities = {"tools": False, "vision": False, "reasoning": False, "structured_output": False, "free": False,
                    "input_modalities": ["text"], "output_modalities": ["text"], **caps}
    return {"id": mid, "name": name or mid.split("/")[1], "pricing": pricing, "capabilities": capabilities,
            "active": True}


MODELS = [
    model("openai/gpt-demo-5", "0.00000125", "0.00001", tools=True, vision=True, reasoning=True),
    model("anthropic/claude-demo-sonnet", "0.000003", "0.000015", tools=True, vision=True),
    model("meta-llama/llama-demo-4-70b:free", "0", "0", free=True),
    model("deepseek/deepseek-demo-v4", "0.00000027", "0.0000011", tools=True, reasoning=True),
    model("openrouter/auto", "-1", "-1", dynamic_pricing=True),
    model("evil/model-x", "0.000001", "0.000002", name=HOSTILE_NAME),
    model("openai/embed-demo", "0.0000001", "0", output_modalities=["embeddings"]),
]
CATEGORIES = [{"slug": "programming", "name": "Programming", "parent": None, "active": True},
              {"slug": "marketing", "name": "Marketing", "parent": None, "active": True},
              {"slug": "marketing/seo", "name": "Marketing / Seo", "parent": "marketing", "active": True}]


def catalog_store() -> InMemoryCatalogStore:
    store = InMemoryCatalogStore()
    gone = {**model("mistralai/gone-demo", "0.000001", "0.000001"), "active": False}
    store.write_models((m["id"], m, "set") for m in [*MODELS, gone])
    store.write_categories((c["slug"], c, "set") for c in CATEGORIES)
    entries = [{"rank": i + 1, "model_id": m, "tokens": None} for i, m in enumerate(
        ["anthropic/claude-demo-sonnet", "openai/gpt-demo-5", "deepseek/deepseek-demo-v4",
         *[f"filler/m-{n}" for n in range(9)]])]
    moves = {"first_snapshot": False, "entered": [], "left": [],
             "moved_up": [{"model_id": "anthropic/claude-demo-sonnet", "from": 2, "to": 1}], "moved_down": []}
    store.add_ranking_snapshot("programming", "2026-11-29T03:00:00Z", {"entries": entries},
                               {"category": "programming", "latest_snapshot_id": "2026-11-29T03:00:00Z",
                                "latest_fetched_at": NOW, "latest_entries": entries, "movements": moves})
    seo = [{"rank": 1, "model_id": "meta-llama/llama-demo-4-70b:free", "tokens": 12}]
    store.add_ranking_snapshot("marketing/seo", "s1", {"entries": seo},
                               {"category": "marketing/seo", "latest_entries": seo, "movements": {}})
    store.seed_routing("programming", {"primary_model": "openai/gpt-demo-5", "fallbacks": ["evil/model-x"]})
    store.seed_routing("marketing", {"primary_model": "anthropic/claude-demo-sonnet", "fallbacks": []})
    return store


def served(catalog: InMemoryCatalogStore) -> InMemoryServingStore:
    serving = InMemoryServingStore()
    routing = {s: {"primary_model": r["primary_model"], "fallbacks": r["fallbacks"]}
               for s, r in catalog.routing().items()}
    assert serving.promote(initial_version(list(catalog.models(read_api.CATALOG_MODEL_FIELDS).values()),
                                           list(catalog.categories().values()), routing, {}, {}, "test", NOW)) \
        == "promoted"
    return serving


@pytest.fixture
def repos() -> Repos:
    catalog = catalog_store()
    return Repos(catalog, served(catalog))


@pytest.fixture
def catalog_only() -> Repos:
    return Repos(catalog_store(), InMemoryServingStore())


def get(repos: Repos, target: str, if_none_match: str | None = None, public: bool = True,
        method: str = "GET") -> read_api.Reply:
    path, _, qs = target.partition("?")
    try:
        return answer(method, path, parse_qsl(qs, keep_blank_values=True), if_none_match, repos, public)
    except ReadError as exc:
        return read_api.error_reply(exc.status, str(exc), "req-1", exc.headers)


def body(reply: read_api.Reply) -> dict:
    return json.loads(reply.body)


def ids(reply: read_api.Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [m["id"] for m in body(reply)["items"]]


ACTIVE = sorted(m["id"] for m in MODELS)


# --- /models --------------------------------------------------------------------------------------
def test_models_are_the_serving_versions_active_models(repos):
    reply = get(repos, "/models")
    out = body(reply)
    assert (out["source"], out["serving_version"], out["total"], out["next_cursor"]) == ("serving", 1, 7, None)
    assert ids(reply) == ACTIVE                                  # the inactive model is not served
    gpt = next(m for m in out["items"] if m["id"] == "openai/gpt-demo-5")
    assert gpt["price_per_million"] == {"prompt": "1.25", "completion": "10"} and gpt["chat"] is True
    auto = next(m for m in out["items"] if m["id"] == "openrouter/auto")
    assert auto["price_per_million"] == {"prompt": None, "completion": None}     # dynamic: not a price
    assert next(m for m in out["items"] if m["id"] == "evil/model-x")["name"] == HOSTILE_NAME
    assert next(m for m in out["items"] if m["id"] == "openai/embed-demo")["chat"] is False


def test_the_served_version_wins_over_the_catalog(repos):
    """A model the sync stored after the version was made is not served until a version adds it."""
    repos.catalog.write_models([("x-ai/new-demo", model("x-ai/new-demo", "0.000001", "0.000001"), "set")])
    assert "x-ai/new-demo" not in ids(get(repos, "/models"))
    base = repos.serving.version(1)
    change = Change(kind="catalog_add", target="x-ai/new-demo",
                    after={"name": "new-demo", "pricing": {"prompt": "0.000001"}, "capabilities": {}})
    assert repos.serving.promote(build_candidate(base, [change], "test", "add", NOW)) == "promoted"
    out = body(get(repos, "/models"))
    assert out["serving_version"] == 2 and "x-ai/new-demo" in [m["id"] for m in out["items"]]


def test_a_rollback_serves_the_earlier_version_again(repos):
    before = get(repos, "/models")
    base = repos.serving.version(1)
    change = Change(kind="catalog_deactivate", target="openai/embed-demo")
    assert repos.serving.promote(build_candidate(base, [change], "test", "drop", NOW)) == "promoted"
    assert "openai/embed-demo" not in ids(get(repos, "/models"))
    assert repos.serving.point_to(1, 2, "operator:test", "rollback") == "pointed"
    again = get(repos, "/models")
    assert again.body == before.body and again.headers["ETag"] == before.headers["ETag"]


def test_a_reset_database_with_the_same_numbers_serves_the_new_content(repos):
    """Versions are cached per pointer move, not per number alone: a restored or reset database
    may hold another version 1."""
    assert "openai/embed-demo" in ids(get(repos, "/models"))
    serving = repos.serving
    without = {**serving.version(1).model_dump(), "models": {
        i: m for i, m in serving.version(1).model_dump()["models"].items() if i != "openai/embed-demo"}}
    serving.versions.clear(), serving.log.clear()
    serving.pointer = None
    assert serving.promote(ServingVersion.model_validate(without)) == "promoted"
    assert "openai/embed-demo" not in ids(get(repos, "/models"))


def test_without_a_serving_version_the_catalog_is_served(catalog_only):
    out = body(get(catalog_only, "/models"))
    assert (out["source"], out["serving_version"]) == ("catalog", None)
    assert [m["id"] for m in out["items"]] == ACTIVE
    assert body(get(catalog_only, "/routing"))["routes"]["programming"] == {
        "primary": "openai/gpt-demo-5", "fallbacks": ["evil/model-x"]}


@pytest.mark.parametrize("query, expected", [
    ("category=programming", ["anthropic/claude-demo-sonnet", "deepseek/deepseek-demo-v4", "evil/model-x",
                              "openai/gpt-demo-5"]),        # ranked (fillers are not served) or routed
    ("category=marketing", ["anthropic/claude-demo-sonnet"]),                      # routed only
    ("category=marketing/seo", ["meta-llama/llama-demo-4-70b:free"]),              # ranked only
    ("capability=tools", ["anthropic/claude-demo-sonnet", "deepseek/deepseek-demo-v4", "openai/gpt-demo-5"]),
    ("capability=tools,reasoning", ["deepseek/deepseek-demo-v4", "openai/gpt-demo-5"]),
    ("capability=vision&category=programming", ["anthropic/claude-demo-sonnet", "openai/gpt-demo-5"]),
    ("max_price=1", ["deepseek/deepseek-demo-v4", "evil/model-x", "meta-llama/llama-demo-4-70b:free",
                     "openai/embed-demo"]),                # USD per million prompt tokens; dynamic excluded
    ("max_price=1.25", ["deepseek/deepseek-demo-v4", "evil/model-x", "meta-llama/llama-demo-4-70b:free",
                        "openai/embed-demo", "openai/gpt-demo-5"]),
    ("max_price=0", ["meta-llama/llama-demo-4-70b:free"]),
    ("capability=free&max_price=0.5", ["meta-llama/llama-demo-4-70b:free"]),
])
def test_filters(repos, query, expected):
    assert ids(get(repos, f"/models?{query}")) == expected


def test_paging_walks_every_model_once_and_binds_the_cursor_to_its_filters(repos):
    seen, cursor, pages = [], None, 0
    while True:
        reply = body(get(repos, "/models?limit=3" + (f"&cursor={cursor}" if cursor else "")))
        seen += [m["id"] for m in reply["items"]]
        pages, cursor = pages + 1, reply["next_cursor"]
        assert reply["total"] == 7 and reply["count"] == len(reply["items"]) <= 3
        if cursor is None:
            break
    assert (seen, pages) == (ACTIVE, 3)
    first = body(get(repos, "/models?limit=2"))
    refused = get(repos, f"/models?limit=2&capability=tools&cursor={first['next_cursor']}")
    assert refused.status == 400 and "other filters" in body(refused)["error"]["message"]
    # a model removed meanwhile does not break the walk: the next page starts after the cursor's id
    after = body(get(repos, f"/models?limit=2&cursor={first['next_cursor']}"))
    assert [m["id"] for m in after["items"]] == ACTIVE[2:4]


# --- the other routes -----------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/models/meta-llama/llama-demo-4-70b:free",
                                    "/models/meta-llama%2Fllama-demo-4-70b%3Afree"])
def test_a_model_id_with_slash_and_colon(repos, target):
    from urllib.parse import unquote

    reply = get(repos, unquote(target))      # the WSGI server hands the path decoded
    out = body(reply)["model"]
    assert reply.status == 200 and out["id"] == "meta-llama/llama-demo-4-70b:free"
    assert out["ranked_in"] == [{"category": "marketing/seo", "rank": 1}] and out["routed_in"] == []


def test_a_model_shows_where_it_is_ranked_and_routed(repos):
    out = body(get(repos, "/models/openai/gpt-demo-5"))["model"]
    assert out["ranked_in"] == [{"category": "programming", "rank": 2}]
    assert out["routed_in"] == [{"category": "programming", "role": "primary"}]
    assert body(get(repos, "/models/evil/model-x"))["model"]["routed_in"] == [
        {"category": "programming", "role": "fallback"}]


def test_unknown_and_unserved_models_are_404_and_bad_ids_400(repos):
    for target in ("/models/nobody/nothing", "/models/mistralai/gone-demo"):
        reply = get(repos, target)
        assert reply.status == 404 and body(reply)["error"]["code"] == "not_found"
    for target in ("/models/no-slash", "/models/a/b/c", "/models/a/" + "x" * 300, "/models/a/<script>"):
        assert get(repos, target).status == 400, target


def test_categories_form_a_tree(repos):
    out = body(get(repos, "/categories"))
    assert out["count"] == 3 and [c["slug"] for c in out["items"]] == ["marketing", "programming"]
    marketing = out["items"][0]
    assert [c["slug"] for c in marketing["children"]] == ["marketing/seo"]
    assert marketing["children"][0]["parent"] == "marketing"


def test_rankings_are_the_latest_top_ten_with_movements(repos):
    out = body(get(repos, "/rankings/programming"))
    assert len(out["entries"]) == 10 and out["entries"][0] == {
        "rank": 1, "model_id": "anthropic/claude-demo-sonnet", "tokens": None}
    assert out["movements"]["moved_up"][0]["model_id"] == "anthropic/claude-demo-sonnet"
    assert out["fetched_at"] == NOW.isoformat() and out["snapshot_id"] == "2026-11-29T03:00:00Z"
    assert body(get(repos, "/rankings/marketing/seo"))["entries"][0]["model_id"] == \
        "meta-llama/llama-demo-4-70b:free"
    assert get(repos, "/rankings/finance").status == 404
    assert get(repos, "/rankings/../etc").status == 400


def test_routing_is_the_serving_versions(repos):
    out = body(get(repos, "/routing"))
    assert out["source"] == "serving" and out["routes"] == {
        "marketing": {"primary": "anthropic/claude-demo-sonnet", "fallbacks": []},
        "programming": {"primary": "openai/gpt-demo-5", "fallbacks": ["evil/model-x"]}}


# --- HTTP rules -----------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/", "/models", "/models/openai/gpt-demo-5", "/categories",
                                    "/rankings/programming", "/routing"])
def test_etag_and_304(repos, target):
    first = get(repos, target)
    tag = first.headers["ETag"]
    assert first.status == 200 and tag.startswith('"') and first.headers["Cache-Control"] == "public, max-age=60"
    assert get(repos, target).headers["ETag"] == tag                   # same body, same tag
    again = get(repos, target, if_none_match=tag)
    assert again.status == 304 and again.body == b"" and again.headers["ETag"] == tag
    assert get(repos, target, if_none_match=f'"other", W/{tag}').status == 304
    assert get(repos, target, if_none_match='"stale"').status == 200


def test_a_new_version_changes_the_etag(repos):
    tag = get(repos, "/models").headers["ETag"]
    base = repos.serving.version(1)
    before = dict(base.models["openai/gpt-demo-5"].pricing)
    change = Change(kind="pricing_update", target="openai/gpt-demo-5", before=before,
                    after={"prompt": "0.000001", "completion": "0.00001"})
    repos.serving.promote(build_candidate(base, [change], "test", "price", NOW))
    assert get(repos, "/models", if_none_match=tag).status == 200


def test_private_caching_when_not_public(repos):
    assert get(repos, "/models", public=False).headers["Cache-Control"] == "private, max-age=60"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_read_only_405(repos, method):
    reply = get(repos, "/models", method=method)
    assert reply.status == 405 and reply.headers["Allow"] == "GET, HEAD"
    err = body(reply)["error"]
    assert (err["code"], err["request_id"]) == ("method_not_allowed", "req-1") and "read only" in err["message"]


def test_unknown_route_404(repos):
    for target in ("/nothing", "/models/", "/rankings/", "/routing/x", "/categories/x"):
        reply = get(repos, target)
        assert reply.status == 404 and body(reply)["error"]["code"] == "not_found", target


HOSTILE = [
    "limit=0", "limit=201", "limit=99999999999999999999999", "limit=-1", "limit=1e3", "limit=NaN", "limit=",
    "limit=5&limit=6", "max_price=NaN", "max_price=inf", "max_price=-1", "max_price=1e308", "max_price=1e-3",
    "max_price=99999999999999", "max_price=0x10", "max_price=", "max_price=1,5",
    "capability=teleport", "capability=tools;DROP TABLE models", "capability=", "capability=__proto__",
    "category=programming' OR '1'='1", "category=../../etc/passwd", "category=nope", "category=Programming",
    "category=%3Cscript%3E", "category=" + "a" * 500, "cursor=not-base64!!", "cursor=eyJhIjoxfQ",
    "cursor=" + "A" * 300, "sort=id", "limit=10%00", "category=programming%0Aevil",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_parameters_are_400_with_a_json_error(repos, query):
    reply = get(repos, f"/models?{query}")
    assert reply.status == 400, query
    err = body(reply)["error"]
    assert err["code"] == "bad_request" and err["request_id"] == "req-1" and err["message"]
    assert "<script>" not in err["message"] and "\n" not in err["message"]


@pytest.mark.parametrize("target", ["/categories?x=1", "/routing?limit=5", "/?q=1", "/models/openai/gpt-demo-5?a=b"])
def test_routes_without_parameters_refuse_them(repos, target):
    assert get(repos, target).status == 400


def test_the_page_is_self_contained_and_allows_only_its_own_script(repos):
    reply = get(repos, "/")
    html = reply.body.decode()
    assert reply.status == 200 and reply.content_type.startswith("text/html")
    csp = reply.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "unsafe" not in csp
    assert "http://" not in html and "https://" not in html and "innerHTML" not in html
    assert html.count("<script") == 1 and "textContent" in html


# --- the HTTP edge, through Flask as functions-framework runs it ------------------------------------
@pytest.fixture
def client(repos, monkeypatch):
    import flask

    from shared.config import get_settings

    monkeypatch.setattr(read_api, "repositories", lambda: repos)
    monkeypatch.setenv("CATALOG_API_PUBLIC", "false")
    get_settings.cache_clear()
    app = flask.Flask(__name__)
    app.add_url_rule("/", "root", lambda: read_api.handle(flask.request), methods=["GET", "HEAD", "POST"])
    app.add_url_rule("/<path:rest>", "any", lambda rest: read_api.handle(flask.request),
                     methods=["GET", "HEAD", "POST", "DELETE"])
    yield app.test_client()
    get_settings.cache_clear()


def test_http_edge(client):
    r = client.get("/models/meta-llama%2Fllama-demo-4-70b%3Afree")
    assert r.status_code == 200 and r.json["model"]["id"] == "meta-llama/llama-demo-4-70b:free"
    assert r.headers["Cache-Control"] == "private, max-age=60" and len(r.headers["X-Request-Id"]) == 32
    again = client.get("/models/meta-llama/llama-demo-4-70b:free", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    head = client.head("/models")
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"]
    bad = client.post("/models", json={})
    assert bad.status_code == 405 and bad.headers["Allow"] == "GET, HEAD"
    assert bad.json["error"]["request_id"] == bad.headers["X-Request-Id"]
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html" and "Content-Security-Policy" in page.headers


def test_http_edge_hides_unexpected_failures(client, repos, monkeypatch):
    def boom(*_):
        raise RuntimeError("secret detail sk-123")
    monkeypatch.setattr(repos.serving, "pointer_state", boom)
    r = client.get("/models")
    assert r.status_code == 500 and r.json["error"]["code"] == "internal" and "sk-123" not in r.text
