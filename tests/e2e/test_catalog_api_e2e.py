"""The catalog read API through the local stack: the catalog_api process answers from Firestore
after a catalog sync; a model a second sync stores a moment later is observed at once and served
once a version adds it (only the upgrade path changes what is served); and the Models page, opened
in headless Chromium, shows exactly the served models, with a silent console and no request
outside its own origin.

The browser test needs the Debian package `chromium` (.ci/run installs it); it skips where it is
absent and fails when CI is set."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

import httpx
import pytest

from shared.catalog import store as catalog_store
from shared.catalog.sync import load_record
from shared.cycle.trigger import request_sync
from shared.messages import JOB_FINISHED
from shared.serving import store as serving_store
from shared.serving.changes import Change, build_candidate
from tests.conftest import wait_until
from tests.browser import open_page, require_chromium

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
NEW_MODELS = ("anthropic/claude-demo-opus", "x-ai/grok-demo-4-fast")      # week 2 adds them
# SYNTHETIC: a served model whose name is script, to see the page keep it text
HOSTILE_ID, HOSTILE_NAME = "evil/xss-demo", '<img src=x onerror="console.error(\'xss\')"><script>alert(1)</script>'


def synced(mode: str = "full") -> str:
    out = request_sync(mode, requested_by="test")
    rec = wait_until(lambda: (r := load_record(out["sync_run_id"])) and r.status not in ("running",) and r,
                     120, f"sync {out['sync_run_id']}")
    assert rec.status in JOB_FINISHED, rec
    return out["sync_run_id"]


def all_models(api: str, **filters: str) -> list[str]:
    ids, cursor = [], None
    while True:
        params = {**filters, "limit": "5", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{api}/models", params=params, timeout=30)
        assert page.status_code == 200, page.text
        ids += [m["id"] for m in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids


def served_ids(chat_only: bool = False) -> list[str]:
    version = serving_store.current(serving_store.repository())
    return sorted(i for i, m in version.models.items() if m.active and (
        not chat_only or "text" in (m.capabilities.get("output_modalities") or ["text"])))


def serve_week_two(extra: list[Change] = ()) -> int:
    """After week 2's sync: a version that adds its new models, promoted in the pointer transaction
    as the upgrade stage promotes its candidates."""
    catalog = catalog_store.repository().models_by_id(list(NEW_MODELS), ["name", "pricing", "capabilities"])
    assert sorted(catalog) == sorted(NEW_MODELS)
    store = serving_store.repository()
    base = serving_store.current(store)
    changes = [Change(kind="catalog_add", target=i, after={k: m[k] for k in ("name", "pricing", "capabilities")})
               for i, m in sorted(catalog.items())] + list(extra)
    candidate = build_candidate(base, changes, "operator:test", "week 2's new models", datetime.now(timezone.utc))
    assert store.promote(candidate) == "promoted"
    return candidate.number


def test_the_api_answers_from_firestore_and_follows_a_second_sync(cloud):
    api = cloud.function_url("catalog_api")
    first = synced()
    wait_until(lambda: serving_store.repository().current_number() == 1, 60, "serving version 1 from the sync")
    catalog_active = sorted(catalog_store.repository().models([], active_only=True))
    assert all_models(api) == served_ids() == catalog_active and len(catalog_active) >= 10
    meta = httpx.get(f"{api}/models", params={"limit": "1"}, timeout=30).json()
    assert (meta["source"], meta["serving_version"]) == ("serving", 1)
    assert serving_store.repository().version(1).created_by == f"sync:{first}"

    routing = httpx.get(f"{api}/routing", timeout=30).json()["routes"]
    version = serving_store.current(serving_store.repository())
    assert routing == {s: {"primary": r.primary, "fallbacks": list(r.fallbacks)} for s, r in version.routing.items()}
    tree = httpx.get(f"{api}/categories", timeout=30).json()
    marketing = next(c for c in tree["items"] if c["slug"] == "marketing")
    assert "marketing/seo" in [c["slug"] for c in marketing["children"]]
    ranking = httpx.get(f"{api}/rankings/programming", timeout=30).json()
    stored = catalog_store.repository().ranking("programming")
    assert [e["model_id"] for e in ranking["entries"]] == [e["model_id"] for e in stored["latest_entries"][:10]]
    one = httpx.get(f"{api}/models/meta-llama/llama-demo-4-70b:free", timeout=30)
    assert one.status_code == 200 and one.json()["model"]["id"] == "meta-llama/llama-demo-4-70b:free"
    tag = httpx.get(f"{api}/models", timeout=30).headers["ETag"]
    assert httpx.get(f"{api}/models", headers={"If-None-Match": tag}, timeout=30).status_code == 304

    cloud.replay_control("POST", "load", {"week": 2})
    synced()
    observed = catalog_store.repository().models([], active_only=True)
    assert set(NEW_MODELS) <= set(observed)
    assert not set(NEW_MODELS) & set(all_models(api))   # observed, not served: only a version serves it
    number = serve_week_two()
    listed = all_models(api)
    assert set(NEW_MODELS) <= set(listed) and listed == served_ids()
    assert httpx.get(f"{api}/models", headers={"If-None-Match": tag}, timeout=30).status_code == 200
    assert httpx.get(f"{api}/models", params={"limit": "1"}, timeout=30).json()["serving_version"] == number
    err = httpx.get(f"{api}/models", params={"max_price": "NaN"}, timeout=30)
    assert err.status_code == 400 and err.json()["error"]["request_id"] == err.headers["X-Request-Id"]
    assert httpx.post(f"{api}/models", timeout=30).status_code == 405


# --- the Models page in a real browser ------------------------------------------------------------
WHAT = "the Models page served by catalog_api"


def open_models_page(url: str, tmp: Path) -> tuple[str, list[str], list[str]]:
    """The page once its fetches settled (a virtual-time budget for them)."""
    return open_page(url, tmp, WHAT, ("--virtual-time-budget=15000",))


def shown(dom: str) -> tuple[str | None, set[str], list[str]]:
    state = re.search(r'<body[^>]*data-state="([^"]*)"', dom)
    rows = {unescape(i) for i in re.findall(r'<tr data-model-id="([^"]*)"', dom)}
    select = re.search(r'<select id="chat-model"[^>]*>(.*?)</select>', dom, re.S)
    options = [unescape(v) for v in re.findall(r'<option value="([^"]*)"', select.group(1))] if select else []
    return (state.group(1) if state else None), rows, options


def test_the_models_page_shows_what_firestore_serves(cloud, tmp_path: Path):
    require_chromium(WHAT)
    api = cloud.function_url("catalog_api")
    synced()
    wait_until(lambda: serving_store.repository().current_number() == 1, 60, "serving version 1 from the sync")
    cloud.replay_control("POST", "load", {"week": 2})
    synced()
    hostile = Change(kind="catalog_add", target=HOSTILE_ID,
                     after={"name": HOSTILE_NAME, "pricing": {"prompt": "0.000001"}, "capabilities": {"tools": True}})
    serve_week_two([hostile])

    dom, console, requested = open_models_page(f"{api}/", tmp_path)
    state, rows, options = shown(dom)
    expected = served_ids()
    assert state == "ready", dom[:3000]
    assert console == [], console
    assert sorted(rows) == expected and sorted(options) == served_ids(chat_only=True)
    assert set(NEW_MODELS) | {HOSTILE_ID} <= rows
    assert "<script>alert(1)</script>" not in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert all(u.startswith(f"{api}/") for u in requested) and any("/models?" in u for u in requested), requested
    section = re.search(r'<section class="top" data-category="programming">(.*?)</section>', dom, re.S)
    assert section, dom[:3000]
    ranked = catalog_store.repository().ranking("programming")["latest_entries"]
    routed = serving_store.current(serving_store.repository()).routing.get("programming")
    members = {e["model_id"] for e in ranked} | ({routed.primary, *routed.fallbacks} if routed else set())
    assert set(re.findall(r'data-model-id="([^"]*)"', section.group(1))) == members & set(expected)
