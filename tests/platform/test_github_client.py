"""The GitHub client (shared/platform/github.py) against the local fake (infra/fake_github.py),
over real HTTP: the answers GitHub gives that the pipeline relies on (401, 404, 409, 422)."""
from __future__ import annotations

import httpx
import pytest

from infra.fake_github import FakeGitHub, FakeGitHubState, blob_sha
from shared.config import settings_from_env
from shared.platform.github import GitHubClient, GitHubError
from tests.conftest import TEST_ENV

REPO = "acme/routing"
TOKEN = "fake-token-for-tests"


@pytest.fixture(scope="module")
def server():
    s = FakeGitHub(FakeGitHubState(TOKEN)).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def gh(server):
    server.state.reset({REPO: {"README.md": "hello\n"}})
    settings = settings_from_env({**TEST_ENV, "GITHUB_API_URL": server.base_url})
    with GitHubClient(settings, REPO, TOKEN) as client:
        yield client


def test_branch_file_and_pull_request_round_trip(gh, server):
    main = gh.branch_sha("main")
    assert gh.branch_sha("nope") is None
    assert gh.create_branch("pipeline/x", main) == "created"
    assert gh.create_branch("pipeline/x", main) == "exists"            # GitHub's 422, then the ref is there
    assert gh.file("routing/routing.yaml", "pipeline/x") is None
    gh.write_file("routing/routing.yaml", "pipeline/x", "a: 1\n", "add", None)
    f = gh.file("routing/routing.yaml", "pipeline/x")
    assert (f.text(), f.sha) == ("a: 1\n", blob_sha(b"a: 1\n"))
    gh.write_file("routing/routing.yaml", "pipeline/x", "a: 2\n", "update", f.sha)
    pr = gh.open_pull("title", "pipeline/x", "main", "body")
    assert (pr.number, pr.state, pr.merged, pr.head.ref) == (1, "open", False, "pipeline/x")
    assert gh.open_pull("again", "pipeline/x", "main", "body").number == 1   # 422 "already exists" → that one
    httpx.post(f"{server.root_url}/_fake/repos/{REPO}/pulls/1/merge", json={"by": "alice"}).raise_for_status()
    merged = gh.pull(1)
    assert (merged.state, merged.merged, merged.merged_by.login) == ("closed", True, "alice")
    assert server.state.file_text(REPO, "main", "routing/routing.yaml") == "a: 2\n"


def test_github_answers_that_are_errors(gh, server):
    main = gh.branch_sha("main")
    gh.create_branch("b", main)
    gh.write_file("f.txt", "b", "one\n", "add", None)
    with pytest.raises(GitHubError, match="HTTP 422.*sha.*wasn't supplied") as exc:
        gh.write_file("f.txt", "b", "two\n", "update", None)
    assert exc.value.status == 422
    with pytest.raises(GitHubError, match="HTTP 409") as exc:
        gh.write_file("f.txt", "b", "two\n", "update", blob_sha(b"stale\n"))
    with pytest.raises(GitHubError, match="HTTP 422.*No commits between main and c"):
        gh.create_branch("c", main)
        gh.open_pull("t", "c", "main", "")
    with pytest.raises(GitHubError, match="HTTP 404"):
        gh.pull(9)
    settings = settings_from_env({**TEST_ENV, "GITHUB_API_URL": server.base_url})
    with GitHubClient(settings, "acme/other", TOKEN) as other, pytest.raises(GitHubError, match="HTTP 404"):
        other.pull(1)
    with GitHubClient(settings, REPO, "wrong") as wrong, pytest.raises(GitHubError, match="HTTP 401.*Bad credentials"):
        wrong.branch_sha("main")


def test_issues_list_by_label_and_title_create_comment_close(gh, server):
    assert gh.open_issues("alerts") == []
    one = gh.create_issue("[pipeline] 2026-W48 SAFE=false: benchmark", "body", ["alerts"])
    gh.create_issue("[pipeline] 2026-W49 SAFE=false: upgrade", "body", ["alerts"])
    gh.create_issue("[pipeline] 2026-W48 unrelated", "body", ["other"])
    main = gh.branch_sha("main")
    gh.create_branch("b", main)
    gh.write_file("f.txt", "b", "x\n", "add", None)
    pr = gh.open_pull("[pipeline] 2026-W48 a pull request", "b", "main", "")     # issues and pulls share numbers
    assert (one.number, one.state, pr.number) == (1, "open", 4)
    assert [i.number for i in gh.open_issues("alerts", "[pipeline] 2026-W48 ")] == [1]
    assert [i.number for i in gh.open_issues("alerts")] == [1, 2]
    assert gh.comment_issue(1, "still failing").html_url.endswith("/issues/1#issuecomment-1")
    closed = gh.close_issue(1)
    assert closed.state == "closed" and gh.open_issues("alerts", "[pipeline] 2026-W48 ") == []
    assert server.state.issues(REPO)[0]["comments"] == ["still failing"]
    with pytest.raises(GitHubError, match="HTTP 404"):
        gh.comment_issue(99, "nobody")
    with pytest.raises(GitHubError, match="HTTP 422"):
        gh.create_issue(" ", "no title", [])
