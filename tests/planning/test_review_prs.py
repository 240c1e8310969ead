"""Routing changes reviewed as GitHub pull requests, over real HTTP against infra/fake_github.py
(never github.com): the pull request carries the routing table as it would be after the change;
merging approves the review item once, closing rejects it; hostile answers decide nothing; the
token appears in no log and no error."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import httpx
import pytest
import yaml

from infra.fake_github import FakeGitHub, FakeGitHubState
from shared.config import settings_from_env
from shared.log import JsonFormatter
from shared.planning import plans, review_prs
from shared.planning.planner import Plan
from shared.serving.changes import Change
from shared.serving.models import Route, ServingVersion
from tests.conftest import TEST_ENV

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
REPO = "acme/routing"
TOKEN = "ghp_" + "PlantedGitHubToken0123456789abcdef"
VERSION = ServingVersion(number=3, created_at=NOW, created_by="planner:r0", reason="week 47",
                         routing={"programming": Route(primary="a/one"),
                                  "math": Route(primary="c/three", fallbacks=("a/one",))})


def routing_change(target: str = "programming", kind: str = "routing_primary", decision: str = "gated",
                   **after: object) -> Change:
    before = VERSION.routing[target].model_dump(mode="json") if target in VERSION.routing else None
    return Change(kind=kind, target=target, before=before,
                  after=after or {"primary": "b/two", "fallbacks": ["a/one"]}, risk="MEDIUM",
                  decision=decision, rationale="b/two leads programming for 3 weeks",
                  evidence={"ranking_snapshots": ["rank-2026-11-28"], "bench_runs": ["bench-w48"]})


@pytest.fixture(scope="module")
def github_server():
    server = FakeGitHub(FakeGitHubState(TOKEN)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def github(github_server):
    """The fake GitHub with one repository holding a README on main, nothing else."""
    github_server.state.reset({REPO: {"README.md": "routing under review\n"}})
    return github_server


def make_settings(github: FakeGitHub, **extra: str):
    return settings_from_env({**TEST_ENV, "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": TOKEN,
                              "GITHUB_API_URL": github.base_url, **extra})


@pytest.fixture
def settings(github):
    return make_settings(github)


def opened(store: plans.PlanStore, *changes: Change, run_id: str = "weekly-2026-W48") -> plans.PlanStore:
    store.open_reviews([plans.review_item(c, run_id, NOW) for c in changes if c.decision == "gated"])
    return store


def control(github: FakeGitHub, path: str, body: object = None) -> dict:
    r = httpx.post(f"{github.root_url}/_fake/{path}", json=body, timeout=5)
    r.raise_for_status()
    return r.json()


def fault(github: FakeGitHub, **spec: object) -> None:
    control(github, "faults", spec)


def pulls(github: FakeGitHub) -> list[dict]:
    return github.state.repos[REPO].pulls


# --- opening --------------------------------------------------------------------------------------
def test_a_gated_routing_change_opens_one_pull_request_with_the_table_after_it(github, settings):
    change = routing_change()
    others = [routing_change("math", "fallback_update", decision="auto_apply", primary="c/three", fallbacks=[]),
              Change(kind="catalog_add", target="d/four", after={"name": "D"}, decision="gated")]
    store = opened(plans.InMemoryPlanStore(), change, *others)
    plan = Plan(run_id="weekly-2026-W48", based_on=3, created_at=NOW, changes=[change, *others], top=[])

    result = review_prs.open_review_prs(plan, VERSION, store, settings, NOW)

    assert (result.configured, result.opened, result.errors) == (True, [change.id], {})
    branch = f"pipeline/{change.id}"
    assert store.review(change.id)["pull_request"] == {
        "number": 1, "url": f"{github.root_url}/{REPO}/pull/1", "branch": branch}
    [pr] = pulls(github)
    assert (pr["head"], pr["base"], pr["state"]) == (branch, "main", "open")
    assert pr["title"] == "Routing programming: b/two"
    for text in (change.id, "b/two leads programming for 3 weeks", "a/one (fallbacks: none)",
                 "b/two (fallbacks: a/one)", "`rank-2026-11-28`", "`bench-w48`", "weekly-2026-W48"):
        assert text in pr["body"]
    text = github.state.file_text(REPO, branch, "routing/routing.yaml")
    assert text.startswith(f"# The routing table as it would be after change {change.id}\n")
    assert yaml.safe_load(text) == {"math": {"primary": "c/three", "fallbacks": ["a/one"]},
                                    "programming": {"primary": "b/two", "fallbacks": ["a/one"]}}
    assert text.index("math:") < text.index("programming:") < text.index("  fallbacks:\n  - a/one\n  primary: b/two")
    assert github.state.file_text(REPO, "main", "routing/routing.yaml") is None      # main untouched
    requests = github.state.requests
    assert all(r["authorized"] and r["api_version"] == "2022-11-28" and r["accept"] == "application/vnd.github+json"
               for r in requests)


def test_calling_twice_opens_one_pull_request(github, settings):
    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change)
    assert review_prs.open_review_prs([change], VERSION, store, settings, NOW).opened == [change.id]
    before = len(github.state.requests)
    again = review_prs.open_review_prs([change], VERSION, store, settings, NOW)
    assert (again.opened, again.already) == ([], [change.id])
    assert len(pulls(github)) == 1 and len(github.state.requests) == before      # not even a GitHub call


def test_a_redelivery_that_lost_its_record_reuses_the_branch_and_the_open_pull_request(github, settings):
    """The pull request was opened but not recorded (the instance died): the next attempt finds
    the branch, leaves the identical file alone, gets GitHub's 422 for the pull request and
    records the open one."""
    change = routing_change()
    review_prs.open_review_prs([change], VERSION, opened(plans.InMemoryPlanStore(), change), settings, NOW)
    commits = len(github.state.repos[REPO].commits)
    fresh = opened(plans.InMemoryPlanStore(), change)
    result = review_prs.open_review_prs([change], VERSION, fresh, settings, NOW)
    assert result.opened == [change.id] and fresh.review(change.id)["pull_request"]["number"] == 1
    assert len(pulls(github)) == 1 and len(github.state.repos[REPO].commits) == commits
    assert any(r["method"] == "POST" and r["path"].endswith("/pulls") for r in github.state.requests[-3:])


def test_a_change_planned_against_another_route_or_already_decided_opens_nothing(github, settings):
    stale = Change(kind="routing_primary", target="programming", before={"primary": "z/old", "fallbacks": []},
                   after={"primary": "b/two", "fallbacks": []}, decision="gated")
    decided = routing_change("math", "fallback_update", primary="c/three", fallbacks=["b/two"])
    missing = routing_change("math", "fallback_update", primary="c/three", fallbacks=[])
    store = opened(plans.InMemoryPlanStore(), stale, decided)
    store.decide(decided.id, "rejected", "ana", "no", NOW)
    result = review_prs.open_review_prs([stale, decided, missing], VERSION, store, settings, NOW)
    assert "route of programming changed" in result.skipped[stale.id]
    assert result.skipped[decided.id] == "already rejected" and "no review item" in result.skipped[missing.id]
    assert pulls(github) == [] and result.opened == []


def test_a_failed_step_is_an_error_for_that_change_and_the_next_call_finishes_it(github, settings):
    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change)
    fault(github, method="POST", path_prefix=f"/repos/{REPO}/pulls", status=503, count=-1)
    result = review_prs.open_review_prs([change], VERSION, store, settings, NOW)
    assert "HTTP 503" in result.errors[change.id] and store.review(change.id)["pull_request"] is None
    httpx.delete(f"{github.root_url}/_fake/faults", timeout=5)
    assert review_prs.open_review_prs([change], VERSION, store, settings, NOW).opened == [change.id]
    assert len(pulls(github)) == 1


def test_json_routing_path(github):
    change = routing_change()
    settings = make_settings(github, GITHUB_ROUTING_PATH="serving/routing.json", GITHUB_BASE_BRANCH="main")
    review_prs.open_review_prs([change], VERSION, opened(plans.InMemoryPlanStore(), change), settings, NOW)
    text = github.state.file_text(REPO, f"pipeline/{change.id}", "serving/routing.json")
    assert text == ('{\n  "math": {\n    "fallbacks": [\n      "a/one"\n    ],\n    "primary": "c/three"\n  },\n'
                    '  "programming": {\n    "fallbacks": [\n      "a/one"\n    ],\n    "primary": "b/two"\n  }\n}\n')


def test_a_missing_base_branch_is_a_clear_error(github):
    change = routing_change()
    settings = make_settings(github, GITHUB_BASE_BRANCH="trunk")
    result = review_prs.open_review_prs([change], VERSION, opened(plans.InMemoryPlanStore(), change), settings, NOW)
    assert result.errors[change.id] == f"github: base branch 'trunk' not found in {REPO}"


# --- settling -------------------------------------------------------------------------------------
def with_pull_request(github, settings) -> tuple[plans.InMemoryPlanStore, Change]:
    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change)
    assert review_prs.open_review_prs([change], VERSION, store, settings, NOW).opened == [change.id]
    return store, change


def test_a_merged_pull_request_approves_the_change_once(github, settings):
    store, change = with_pull_request(github, settings)
    assert review_prs.approve_merged_prs(store, settings, NOW).still_open == [change.id]
    assert store.review(change.id)["status"] == "pending"
    control(github, f"repos/{REPO}/pulls/1/merge", {"by": "alice"})
    first = review_prs.approve_merged_prs(store, settings, NOW)
    second = review_prs.approve_merged_prs(store, settings, NOW)
    assert first.approved == [change.id] and second.counts() == dict.fromkeys(second.counts(), 0)
    item = store.review(change.id)
    assert (item["status"], item["decided_by"], item["reason"]) == ("approved", "github:alice",
                                                                    "pull request #1 merged")
    assert store.decide(change.id, "rejected", "bo", "late", NOW) == "already"
    assert "primary: b/two" in github.state.file_text(REPO, "main", "routing/routing.yaml")


def test_a_pull_request_closed_without_merging_rejects_the_change(github, settings):
    store, change = with_pull_request(github, settings)
    control(github, f"repos/{REPO}/pulls/1/close")
    assert review_prs.approve_merged_prs(store, settings, NOW).rejected == [change.id]
    item = store.review(change.id)
    assert (item["status"], item["decided_by"], item["reason"]) == (
        "rejected", "github", "pull request #1 closed without merging")


def test_an_item_decided_on_the_cli_meanwhile_is_left_as_decided(github, settings):
    store, change = with_pull_request(github, settings)
    store.decide(change.id, "rejected", "ana", "not this week", NOW)
    control(github, f"repos/{REPO}/pulls/1/merge", {"by": "alice"})
    result = review_prs.approve_merged_prs(store, settings, NOW)
    assert result.approved == [] and store.review(change.id)["decided_by"] == "ana"


PR1 = f"/repos/{REPO}/pulls/1"


def answer(**fields: object) -> dict:
    base = {"number": 1, "state": "closed", "merged": True, "merged_at": "2026-11-29T04:00:00Z",
            "merged_by": {"login": "mallory"}, "html_url": "http://x/pull/1", "head": {"ref": "b"}}
    return {**base, **fields}


@pytest.mark.parametrize("status, body, expected", [
    (200, answer(merged="yes"), "merged: Input should be a valid boolean"),
    (200, answer(number="1"), "number: Input should be a valid integer"),
    (200, answer(merged_by={"login": 7}), "merged_by.login: Input should be a valid string"),
    (200, answer(merged_by={"login": "eve\nforged"}), "merged_by.login: String should match pattern"),
    (200, answer(merged_by=None), "says merged but is closed and names no one"),
    (200, answer(state="open"), "says merged but is open"),
    (200, answer(state="merged"), "state: Input should be 'open' or 'closed'"),
    (200, answer(number=2), "pull request #1 answered as #2"),
    (200, [answer()], "Input should be a valid dictionary"),
    (200, "<html>rate limited</html>", "response is not valid JSON"),
    (200, '{"number": 1, "state": "clo', "response is not valid JSON"),
    (500, {"message": "Server Error"}, "failed after 3 attempts: HTTP 500"),
    (404, {"message": "Not Found"}, "answered HTTP 404"),
])
def test_a_hostile_answer_decides_nothing_and_says_why(github, settings, status, body, expected):
    store, change = with_pull_request(github, settings)
    fault(github, method="GET", path_prefix=PR1, status=status, body=body, count=-1)
    result = review_prs.approve_merged_prs(store, settings, NOW)
    assert result.approved == result.rejected == [] and expected in result.errors[change.id]
    assert store.review(change.id)["status"] == "pending"


def test_a_hostile_answer_to_opening_records_nothing(github, settings):
    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change)
    fault(github, method="POST", path_prefix=f"/repos/{REPO}/pulls", status=201, body={"number": True}, count=-1)
    result = review_prs.open_review_prs([change], VERSION, store, settings, NOW)
    assert "number: Input should be a valid integer" in result.errors[change.id]
    assert store.review(change.id)["pull_request"] is None


def test_one_bad_item_does_not_stop_the_others(github, settings):
    first, second = routing_change(), routing_change("math", "fallback_update", primary="c/three", fallbacks=[])
    store = opened(plans.InMemoryPlanStore(), first, second)
    review_prs.open_review_prs([first, second], VERSION, store, settings, NOW)
    control(github, f"repos/{REPO}/pulls/2/merge", {"by": "bob"})
    fault(github, method="GET", path_prefix=PR1, status=200, body=answer(merged="true"), count=-1)
    result = review_prs.approve_merged_prs(store, settings, NOW)
    assert result.approved == [second.id] and list(result.errors) == [first.id]


# --- configuration and secrets --------------------------------------------------------------------
@pytest.mark.parametrize("unset", ["GITHUB_REPOSITORY", "GITHUB_TOKEN"])
def test_not_configured_does_nothing_and_says_so_once(github, caplog, unset):
    settings = make_settings(github, **{unset: ""})
    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change)
    with caplog.at_level(logging.INFO, logger="shared.planning.review_prs"):
        assert review_prs.open_review_prs([change], VERSION, store, settings, NOW).configured is False
        assert review_prs.approve_merged_prs(store, settings, NOW).configured is False
    assert github.state.requests == [] and store.review(change.id)["pull_request"] is None
    messages = [r.getMessage() for r in caplog.records if r.name == "shared.planning.review_prs"]
    assert messages == ["review pull requests are off: GITHUB_REPOSITORY and GITHUB_TOKEN are not both set"] * 2


def test_the_token_is_in_no_log_and_no_error(github, settings, caplog):
    """Even when GitHub echoes the credential back (in an error body), it is scrubbed."""
    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change)
    echoed = {"message": f"Validation Failed: Authorization: Bearer {TOKEN}"}
    caplog.set_level(logging.DEBUG)
    fault(github, method="POST", path_prefix=f"/repos/{REPO}/pulls", status=422, body=echoed, count=1)
    failed = review_prs.open_review_prs([change], VERSION, store, settings, NOW)
    assert "answered HTTP 422" in failed.errors[change.id]
    review_prs.open_review_prs([change], VERSION, store, settings, NOW)
    fault(github, method="GET", path_prefix=PR1, status=404, body=echoed, count=1)
    settled = review_prs.approve_merged_prs(store, settings, NOW)
    wrong = make_settings(github, GITHUB_TOKEN="ghp_" + "WrongToken" * 4)
    unauthorized = review_prs.approve_merged_prs(store, wrong, NOW)
    assert "HTTP 401" in unauthorized.errors[change.id] and "Bad credentials" in unauthorized.errors[change.id]
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "review pull request not checked" in logged
    for text in (logged, failed.model_dump_json(), settled.model_dump_json(), unauthorized.model_dump_json(),
                 repr(settings), str(store.review(change.id))):
        assert TOKEN not in text and "PlantedGitHubToken" not in text


# --- the Firestore plan store ---------------------------------------------------------------------
@pytest.mark.emulators
def test_with_the_firestore_plan_store(github, settings, cloud):
    change = routing_change()
    store = opened(plans.FirestorePlanStore(), change)
    assert review_prs.open_review_prs([change], VERSION, store, settings, NOW).opened == [change.id]
    assert review_prs.open_review_prs([change], VERSION, store, settings, NOW).already == [change.id]
    control(github, f"repos/{REPO}/pulls/1/merge", {"by": "alice"})
    assert review_prs.approve_merged_prs(store, settings, NOW).approved == [change.id]
    assert review_prs.approve_merged_prs(store, settings, NOW).approved == []
    item = store.review(change.id)
    assert (item["status"], item["decided_by"], item["pull_request"]["number"]) == ("approved", "github:alice", 1)
    assert len(pulls(github)) == 1


def test_a_merged_pull_request_lets_the_next_upgrade_measure_and_apply_the_change(github, settings):
    """Wired: the upgrade settles merged pull requests before it reads the approved changes."""
    from shared.bench.records import InMemoryBenchRuns
    from shared.bench.store import InMemoryBenchResults
    from shared.messages import RunContext, RunOptions
    from shared.serving.stage import Deps, upgrade_week
    from shared.serving.store import InMemoryServingStore

    change = routing_change()
    store = opened(plans.InMemoryPlanStore(), change, run_id="r0")
    review_prs.open_review_prs([change], VERSION, store, settings, NOW)
    number = store.review(change.id)["pull_request"]["number"]
    control(github, f"repos/{REPO}/pulls/{number}/merge", {"by": "alice"})
    serving = InMemoryServingStore()
    from shared.serving.models import ServedModel

    serving.promote(VERSION.model_copy(update={"number": 1, "models": {
        m: ServedModel(id=m, name=m) for m in ("a/one", "b/two", "c/three")}}))
    store.create(Plan(run_id="r1", based_on=1, created_at=NOW, changes=[], top=[]))
    requests = []
    deps = Deps(serving=serving, plans=store, bench_runs=InMemoryBenchRuns(), results=InMemoryBenchResults(),
                publish=requests.append, complete_stage=lambda ctx, result: None,
                settle_prs=lambda s, now: review_prs.approve_merged_prs(s, settings, now))
    out = upgrade_week(RunContext(run_id="r1", options=RunOptions(demo=True), started_at=NOW), NOW, deps)
    assert store.review(change.id)["decided_by"] == "github:alice"
    assert out["result"] == "measuring" and out["measured"] == [change.id] and len(requests) == 1
