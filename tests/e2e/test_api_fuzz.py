"""Careless and hostile input to the api, generated (Hypothesis): every route and action, any
method, body, content type and query. No answer is a 5xx, every answer is JSON with a request id,
no error shows a server path or a secret, and whatever is accepted publishes a message its
consumer can process.

The api runs in-process as functions-framework serves it (`create_app` on functions/api/main.py)
against the Firestore emulator; only the Pub/Sub publish is recorded instead of sent, so an
accepted fuzz request does not start real cycles in the shared local cloud.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shared import api as api_module
from shared.messages import (BenchRequest, CatalogSyncRequest, DriftCheckRequest, ResearchScanRequest, UpgradeMessage,
                             WeeklyCycleRequest)
from shared.pipeline import REPO_ROOT
from tests.conftest import PLANTED_SECRET

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
EXAMPLES = 400
CONTRACTS = {"weekly-cycle-requests": WeeklyCycleRequest, "catalog-sync-requests": CatalogSyncRequest,
             "research-scan-requests": ResearchScanRequest, "benchmark-requests": BenchRequest,
             "drift-check-requests": DriftCheckRequest, "plan-ready": UpgradeMessage}
FIELDS = ["full", "dry_run", "benchmarks", "demo", "models", "suite", "max_cases_per_category", "as_of",
          "run_id", "id", "action", "requested_by", "mode",
          "finding_id", "label", "topic", "by", "reason", "days"]     # research feedback and findings
PATHS = sorted({p for _, p in api_module.ROUTES} | {"/", "/nowhere", "/weekly", "/../etc/passwd", "/weekly/run/x"})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=300), st.sampled_from(["sim/steady", "/etc", "../..", "builtin-v1",
                                                            "2026-11-22", "x" * 2000, PLANTED_SECRET,
                                                            "relevant", "dismissed", "RAG", "arxiv:2611.15544"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=20), inner, max_size=5), max_leaves=20)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=30), values, max_size=6).map(json.dumps),
    st.builds(lambda a, rest: json.dumps({"action": a, **rest}),
              st.sampled_from(sorted(api_module.ACTIONS) + ["nope", ""]),
              st.dictionaries(st.sampled_from(FIELDS), values, max_size=4)),
    values.map(json.dumps), st.text(max_size=200), st.just(""))
queries = st.dictionaries(st.sampled_from(["id", "run_id", "full", "dry_run", "as_of", "finding_id", "days", "limit"]),
                          st.text(max_size=150) | st.sampled_from(["1", "a/b", "x" * 300]), max_size=3)
content_types = st.sampled_from(["application/json"] * 6 + ["application/json; charset=utf-8", "text/plain", "",
                                 "application/x-www-form-urlencoded", "application/merge-patch+json"])
# mostly the routes as declared (so validation, not routing, is what most requests meet)
routes = st.one_of(st.sampled_from(sorted(api_module.ROUTES) + [("POST", "/")] * 4),
                   st.tuples(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), st.sampled_from(PATHS)))


@pytest.fixture(scope="module")
def client():
    import functions_framework

    app = functions_framework.create_app(target="api", source=str(REPO_ROOT / "functions" / "api" / "main.py"))
    return app.test_client()


@pytest.fixture
def published(cloud, monkeypatch) -> list[tuple[str, Any]]:
    from shared.platform import pubsub

    sent: list[tuple[str, Any]] = []

    def record(topic: str, message: Any, timeout_s: float = 30.0, **attributes: str) -> str:
        sent.append((topic, message))
        return str(len(sent))

    monkeypatch.setattr(pubsub, "publish", record)
    return sent


def test_fuzzed_requests_never_break_the_api(client, published):
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(route=routes, body=bodies, query=queries, content_type=content_types)
    def one(route, body, query, content_type):
        method, path = route
        published.clear()
        headers = {"Content-Type": content_type} if content_type else {}
        r = client.open(path, method=method, data=body.encode(), query_string=query, headers=headers)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        text = r.get_data(as_text=True)
        assert r.status_code < 500, text
        assert r.is_json and r.headers["X-Request-Id"], text[:200]
        doc = r.get_json()
        if r.status_code >= 400:
            assert doc["error"] and doc["request_id"] == r.headers["X-Request-Id"]
        assert str(REPO_ROOT) not in text and "Traceback" not in text and PLANTED_SECRET not in text
        if r.status_code == 202:       # accepted: what was published is a valid message of its topic
            assert published
            for topic, message in published:
                CONTRACTS[topic].model_validate_json(message.model_dump_json())
                assert len(message.model_dump_json()) < 64 * 1024

    one()
    print(f"\napi fuzz: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert sum(seen.values()) >= EXAMPLES and any(s < 300 for s in seen) and any(s >= 400 for s in seen)
