"""Unit tests for rankings, categories, endpoint status and the default category list.
All payloads here are small synthetic dicts."""
from __future__ import annotations

import pytest

from shared.catalog import categories as cats
from shared.catalog.endpoints import parse_endpoints, status_document
from shared.catalog.rankings import (
    RankEntry,
    attach_tokens,
    movements,
    parse_ranking,
    parse_token_volumes,
)
from shared.config import DEFAULT_CATEGORIES


def ranked(*ids: str) -> list[RankEntry]:
    return [RankEntry(rank=i + 1, model_id=m) for i, m in enumerate(ids)]


# --- parse_ranking ----------------------------------------------------------------------------

def test_parse_ranking_keeps_order_and_cuts_at_top_n():
    """Entries are ranked 1..n in feed order, cut at top_n."""
    payload = {"data": [{"id": f"a/m{i}"} for i in range(15)]}
    entries = parse_ranking(payload, top_n=10)
    assert [(e.rank, e.model_id) for e in entries] == [(i + 1, f"a/m{i}") for i in range(10)]
    assert all(e.tokens is None for e in entries)


def test_parse_ranking_skips_duplicates_and_junk():
    """Duplicate ids, non-dict items and entries without a string id are skipped, not ranked."""
    payload = {"data": [{"id": "a/x"}, {"id": "a/x"}, "junk", {"id": None}, {"name": "no id"},
                        {"id": ""}, {"id": "a/y"}, {"id": "a/z"}]}
    entries = parse_ranking(payload, top_n=10)
    assert [(e.rank, e.model_id) for e in entries] == [(1, "a/x"), (2, "a/y"), (3, "a/z")]


def test_parse_ranking_duplicates_do_not_use_up_top_n():
    """top_n counts distinct models."""
    payload = {"data": [{"id": "a/x"}, {"id": "a/x"}, {"id": "a/y"}, {"id": "a/z"}]}
    assert [e.model_id for e in parse_ranking(payload, top_n=2)] == ["a/x", "a/y"]


@pytest.mark.parametrize("payload", [{}, {"data": None}, {"data": {"a": 1}}, [], None, "x"])
def test_parse_ranking_without_data_list_raises(payload):
    """A response without a 'data' list is a ValueError."""
    with pytest.raises(ValueError, match="no 'data' list"):
        parse_ranking(payload, top_n=10)


# --- movements --------------------------------------------------------------------------------

def test_movements_first_snapshot():
    """Without a previous ranking: first_snapshot and no movement lists."""
    mv = movements(None, ranked("a/x", "a/y"))
    assert mv == {"first_snapshot": True, "entered": [], "left": [], "moved_up": [], "moved_down": []}


def test_movements_exact_contents():
    """entered / left / moved_up / moved_down list exactly the changed models with ranks."""
    previous = ranked("a/a", "a/b", "a/c", "a/d", "a/gone")
    current = ranked("a/c", "a/a", "a/new", "a/b", "a/d")
    mv = movements(previous, current)
    assert mv == {
        "first_snapshot": False,
        "entered": [{"model_id": "a/new", "rank": 3}],
        "left": [{"model_id": "a/gone", "rank": 5}],
        "moved_up": [{"model_id": "a/c", "from": 3, "to": 1}],
        "moved_down": [{"model_id": "a/a", "from": 1, "to": 2}, {"model_id": "a/b", "from": 2, "to": 4},
                       {"model_id": "a/d", "from": 4, "to": 5}],
    }


def test_movements_identical_rankings():
    """The same ranking twice has no movement."""
    mv = movements(ranked("a/x", "a/y"), ranked("a/x", "a/y"))
    assert mv == {"first_snapshot": False, "entered": [], "left": [], "moved_up": [], "moved_down": []}


# --- tokens -----------------------------------------------------------------------------------

def test_attach_tokens_via_canonical_slug_then_id():
    """Volumes are looked up by canonical slug, falling back to the model id, else None."""
    entries = ranked("a/x", "a/y", "a/z")
    volumes = {"a/x-20260101": 100, "a/y": 7}
    out = attach_tokens(entries, volumes, {"a/x": "a/x-20260101", "a/y": "a/y-20250101"})
    assert [(e.model_id, e.tokens) for e in out] == [("a/x", 100), ("a/y", 7), ("a/z", None)]
    assert [e.rank for e in out] == [1, 2, 3]
    assert all(e.tokens is None for e in entries)  # input not mutated


def test_parse_token_volumes_total_tokens_rows():
    """Rows with total_tokens are summed per permaslug."""
    payload = {"data": [
        {"model_permaslug": "a/x-1", "total_tokens": 10},
        {"model_permaslug": "a/x-1", "total_tokens": 5.0},
        {"model": "a/y", "total_tokens": 3},
        {"model_id": "a/z", "total_tokens": 1},
    ]}
    assert parse_token_volumes(payload) == {"a/x-1": 15, "a/y": 3, "a/z": 1}


def test_parse_token_volumes_prompt_completion_rows():
    """Rows with prompt/completion totals add both; None counts as 0; junk rows are skipped."""
    payload = {"data": [
        {"model_permaslug": "a/x-1", "total_prompt_tokens": 90, "total_completion_tokens": 10},
        {"model_permaslug": "a/x-1", "total_prompt_tokens": 9, "total_completion_tokens": None},
        {"model_permaslug": "a/y", "total_completion_tokens": 4},
        "junk", {"model_permaslug": 5, "total_tokens": 1},
    ]}
    assert parse_token_volumes(payload) == {"a/x-1": 109, "a/y": 4}


def test_parse_token_volumes_without_data_raises():
    """A dataset response without a 'data' list is a ValueError."""
    with pytest.raises(ValueError, match="no 'data' list"):
        parse_token_volumes({"rows": []})


# --- categories -------------------------------------------------------------------------------

def test_default_categories_exact():
    """The configured default list is exactly the twelve OpenRouter use cases."""
    assert list(DEFAULT_CATEGORIES) == [
        "programming", "roleplay", "marketing", "marketing/seo", "technology", "science",
        "translation", "legal", "finance", "health", "trivia", "academia"]


def test_parse_default_categories_nested():
    """marketing/seo gets parent marketing and depth 1; top-level ones have depth 0."""
    parsed = {c.slug: c for c in cats.parse_categories(DEFAULT_CATEGORIES)}
    assert len(parsed) == 12
    assert parsed["marketing/seo"] == cats.Category(slug="marketing/seo", parent="marketing", depth=1)
    assert parsed["marketing"] == cats.Category(slug="marketing", parent=None, depth=0)
    assert parsed["marketing/seo"].as_doc() == {"slug": "marketing/seo", "name": "Marketing / Seo",
                                                "parent": "marketing", "depth": 1}
    assert all(c.depth == 0 for s, c in parsed.items() if s != "marketing/seo")


def test_parse_categories_normalises_case_and_slashes():
    """Slugs are trimmed and lower-cased; surrounding slashes removed."""
    parsed = cats.parse_categories([" Marketing ", "/marketing/SEO/", "role-play"])
    assert [c.slug for c in parsed] == ["marketing", "marketing/seo", "role-play"]
    assert parsed[2].name == "Role Play"


def test_nested_category_without_parent_raises():
    """A nested slug whose parent is not configured is refused."""
    with pytest.raises(ValueError, match="'marketing/seo' has parent 'marketing', which is not configured"):
        cats.parse_categories(["programming", "marketing/seo"])


@pytest.mark.parametrize("slug", ["", "  ", "bad slug", "a//b", "emoji✓", "semi;colon", "under_score"])
def test_invalid_category_slugs_raise(slug):
    """Empty slugs, spaces, empty path parts and punctuation are invalid."""
    with pytest.raises(ValueError, match="invalid category slug"):
        cats.parse_categories(["programming", slug])


def test_plan_category_changes():
    """Configured but unstored → added; stored inactive → reactivated; stored active, unconfigured → deactivated."""
    configured = cats.parse_categories(["programming", "marketing", "marketing/seo", "legal"])
    stored = {
        "programming": {"active": True},
        "marketing": {"active": False},
        "roleplay": {"active": True},
        "old-inactive": {"active": False},
        "health": {},  # no active flag: treated as inactive, not deactivated again
    }
    plan = cats.plan_category_changes(stored, configured)
    assert [c.slug for c in plan.added] == ["marketing/seo", "legal"]
    assert [c.slug for c in plan.reactivated] == ["marketing"]
    assert plan.deactivated == ["roleplay"]
    assert plan.unchanged == 1


# --- endpoints --------------------------------------------------------------------------------

def _endpoint(provider: str, status, **extra):
    """A synthetic endpoint entry."""
    return {"provider_name": provider, "tag": provider.lower(), "status": status, "context_length": 8192,
            "quantization": "fp8", "pricing": {"prompt": "0.0000010", "completion": "0", "request": "0"},
            **extra}


def _payload(*endpoints):
    return {"data": {"id": "a/m", "endpoints": list(endpoints)}}


def test_parse_endpoints_integer_status():
    """Integer status 0 is live, negative is down; latency/throughput p50 taken when present."""
    eps = parse_endpoints(_payload(
        _endpoint("Alpha", 0, uptime_last_30m=99.5, latency_last_30m={"p50": 420.0, "p90": 900},
                  throughput_last_30m={"p50": 55.5}),
        _endpoint("Beta", -2),
        _endpoint("Gamma", -1, latency_last_30m=None),
    ))
    assert [(e.provider, e.live) for e in eps] == [("Alpha", True), ("Beta", False), ("Gamma", False)]
    a = eps[0]
    assert a.tag == "alpha" and a.status == 0
    assert a.latency_p50_ms == 420.0 and a.throughput_p50_tps == 55.5 and a.uptime_last_30m == 99.5
    assert a.pricing == {"prompt": "0.000001"}
    assert a.context_length == 8192 and a.quantization == "fp8"
    assert eps[1].latency_p50_ms is None and eps[1].throughput_p50_tps is None


def test_parse_endpoints_bad_pricing_is_empty_not_fatal():
    """An endpoint with a malformed price is kept, with empty pricing."""
    eps = parse_endpoints(_payload(_endpoint("A", 0, pricing={"prompt": "abc"})))
    assert len(eps) == 1 and eps[0].pricing == {} and eps[0].live is True


@pytest.mark.parametrize("payload", [{}, {"data": []}, {"data": {"endpoints": None}}, None])
def test_parse_endpoints_without_list_raises(payload):
    """No data.endpoints list is a ValueError."""
    with pytest.raises(ValueError, match="no data.endpoints list"):
        parse_endpoints(payload)


def test_status_document_available_and_counts():
    """available is True when at least one endpoint is live; counts are exact."""
    doc = status_document("a/m", parse_endpoints(_payload(_endpoint("A", 0), _endpoint("B", -1))))
    assert doc["model_id"] == "a/m"
    assert doc["available"] is True and doc["live_endpoints"] == 1 and doc["total_endpoints"] == 2
    assert [e["provider"] for e in doc["endpoints"]] == ["A", "B"]
    assert len(doc["status_hash"]) == 64


def test_status_document_no_live_endpoint():
    """No live endpoint (all negative, or none at all) → available False."""
    down = status_document("a/m", parse_endpoints(_payload(_endpoint("A", -1), _endpoint("B", -3))))
    assert down["available"] is False and down["live_endpoints"] == 0 and down["total_endpoints"] == 2
    none = status_document("a/m", parse_endpoints(_payload()))
    assert none["available"] is False and none["total_endpoints"] == 0


def test_status_hash_stable_and_sensitive():
    """Same content → same hash; a changed status → different hash."""
    def doc(status_b):
        return status_document("a/m", parse_endpoints(_payload(
            _endpoint("A", 0, latency_last_30m={"p50": 1.0}), _endpoint("B", status_b))))
    assert doc(0)["status_hash"] == doc(0)["status_hash"]
    assert doc(0)["status_hash"] != doc(-1)["status_hash"]
    # the hash covers the model id too
    eps = parse_endpoints(_payload(_endpoint("A", 0)))
    assert status_document("a/m", eps)["status_hash"] != status_document("a/n", eps)["status_hash"]
