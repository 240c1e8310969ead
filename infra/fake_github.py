"""A local fake of the few GitHub REST API endpoints the pipeline calls (refs, contents, pulls,
issues and their comments), in memory, so review pull requests and alert issues are tested over
real HTTP and never against github.com.

    python -m infra.fake_github --repo acme/routing --token t0ken --port 9100

Answers like GitHub does where the pipeline depends on it: 401 without the bearer token, 404 for
unknown repositories / refs / files / pulls, 422 for an existing ref, a pull request whose head
already has an open one, or one with no commits between base and head; 409 when a file's sha is
stale. Files are stored per commit; blob shas are git's. Issues and pull requests share one
number sequence, as on GitHub; GET issues lists both (pull requests with a `pull_request` key).
Control (for tests), under /_fake: POST repos {"repository": "o/r", "files": {...}, "branch": "main"},
POST repos/{o}/{r}/pulls/{n}/merge {"by": "alice"} (the head's files land on the base branch),
POST repos/{o}/{r}/pulls/{n}/close, GET|DELETE requests, POST|DELETE faults. A fault is
{"method": "GET", "path_prefix": "/repos/o/r/pulls/1", "status": 200, "body": <JSON or a raw
string>, "count": 1}; count -1 means every matching request.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from infra.local_http import LocalServer

DOCS = "https://docs.github.com/rest"
_REPO = re.compile(r"^/repos/([^/]+)/([^/]+)(/.*)?$")


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeRepo:
    def __init__(self, name: str, files: dict[str, str], branch: str = "main"):
        self.name = name
        self.commits: dict[str, dict[str, bytes]] = {}
        self.branches: dict[str, str] = {branch: self.commit({k: v.encode() for k, v in files.items()}, "init")}
        self.pulls: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []

    def next_number(self) -> int:
        return len(self.pulls) + len(self.issues) + 1

    def commit(self, files: dict[str, bytes], message: str, parent: str = "") -> str:
        body = json.dumps([parent, message, sorted((k, blob_sha(v)) for k, v in files.items())]).encode()
        sha = hashlib.sha1(body).hexdigest()
        self.commits[sha] = dict(files)
        return sha

    def files(self, branch: str) -> dict[str, bytes] | None:
        sha = self.branches.get(branch)
        return None if sha is None else self.commits[sha]


class FakeGitHubState:
    def __init__(self, token: str, repos: dict[str, dict[str, str]] | None = None, branch: str = "main"):
        self.token = token
        self.lock = threading.Lock()
        self.reset(repos, branch)

    def reset(self, repos: dict[str, dict[str, str]] | None = None, branch: str = "main") -> None:
        """Start over with these repositories ({"o/r": {path: text}}), no requests, no faults."""
        with self.lock:
            self.repos: dict[str, FakeRepo] = {n: FakeRepo(n, f, branch) for n, f in (repos or {}).items()}
            self.requests: list[dict[str, Any]] = []
            self.faults: list[dict[str, Any]] = []

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if (path.startswith(fault.get("path_prefix", "/")) and fault.get("method", method) == method
                        and fault.get("count", -1) != 0):
                    if fault.get("count", -1) > 0:
                        fault["count"] -= 1
                    return dict(fault)
        return None

    def file_text(self, repository: str, branch: str, path: str) -> str | None:
        """For tests: a file's text on a branch (None when the branch or the file is missing)."""
        with self.lock:
            files = self.repos[repository].files(branch) or {}
            return files[path].decode() if path in files else None

    def issues(self, repository: str) -> list[dict[str, Any]]:
        """For tests: a repository's issues (number, title, body, labels, state, comments)."""
        with self.lock:
            return json.loads(json.dumps(self.repos[repository].issues))


def _error(status: int, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"message": message, **extra, "documentation_url": DOCS, "status": str(status)}


def _validation(message: str | None = None, **fields: Any) -> tuple[int, dict[str, Any]]:
    err = {"resource": "PullRequest", "code": "custom", "message": message} if message else \
        {"resource": "PullRequest", "code": "invalid", **fields}
    return _error(422, "Validation Failed", errors=[err])


class _Api:
    """The REST endpoints over the state (called with the state's lock held)."""

    def __init__(self, state: FakeGitHubState, host: str):
        self.state, self.host = state, host

    def route(self, method: str, repo: FakeRepo, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and rest.startswith("/git/ref/heads/"):
            return self.get_ref(repo, unquote(rest[len("/git/ref/heads/"):]))
        if method == "POST" and rest == "/git/refs":
            return self.create_ref(repo, body or {})
        if rest.startswith("/contents/"):
            path = unquote(rest[len("/contents/"):])
            if method == "GET":
                return self.get_file(repo, path, query.get("ref") or "main")
            if method == "PUT":
                return self.put_file(repo, path, body or {})
        if rest == "/pulls" and method == "POST":
            return self.open_pull(repo, body or {})
        if rest == "/pulls" and method == "GET":
            return 200, [self.pull_json(repo, p) for p in repo.pulls
                         if query.get("state", "open") in ("all", p["state"])
                         and (not query.get("head") or query["head"] == f"{repo.name.split('/')[0]}:{p['head']}")]
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m and method == "GET":
            pr = self.find_pull(repo, int(m.group(1)))
            return (200, self.pull_json(repo, pr)) if pr else _error(404, "Not Found")
        if rest == "/issues" or rest.startswith("/issues/"):
            return self.issues(method, repo, rest, query, body)
        return _error(404, "Not Found")

    # --- issues ----------------------------------------------------------------------------------
    def issues(self, method: str, repo: FakeRepo, rest: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        if rest == "/issues" and method == "GET":
            state, wanted = query.get("state", "open"), [w for w in (query.get("labels") or "").split(",") if w]
            listed = [self.issue_json(repo, i) for i in repo.issues
                      if state in ("all", i["state"]) and all(w in i["labels"] for w in wanted)]
            if not wanted:    # pull requests are issues too
                listed += [{**self.pull_json(repo, p), "labels": [], "pull_request": {"url": "…"}}
                           for p in repo.pulls if state in ("all", p["state"])]
            listed.sort(key=lambda i: i["number"], reverse=query.get("direction", "desc") == "desc")
            return 200, listed[:int(query.get("per_page") or 30)]
        if rest == "/issues" and method == "POST":
            if not isinstance(body.get("title"), str) or not body["title"].strip():
                return _error(422, "Validation Failed", errors=[{"resource": "Issue", "code": "missing_field",
                                                                 "field": "title"}])
            issue = {"number": repo.next_number(), "title": body["title"], "body": str(body.get("body") or ""),
                     "labels": [str(x) for x in body.get("labels") or []], "state": "open", "state_reason": None,
                     "comments": []}
            repo.issues.append(issue)
            return 201, self.issue_json(repo, issue)
        m = re.fullmatch(r"/issues/(\d+)(/comments)?", rest)
        issue = next((i for i in repo.issues if m and i["number"] == int(m.group(1))), None)
        if issue is None:
            return _error(404, "Not Found")
        if m.group(2) and method == "POST":
            if not isinstance(body.get("body"), str) or not body["body"]:
                return _error(422, "Validation Failed", errors=[{"resource": "IssueComment",
                                                                 "code": "missing_field", "field": "body"}])
            issue["comments"].append(body["body"])
            n = len(issue["comments"])
            return 201, {"id": issue["number"] * 1000 + n, "body": body["body"],
                         "html_url": f"http://{self.host}/{repo.name}/issues/{issue['number']}#issuecomment-{n}"}
        if m.group(2) and method == "GET":
            return 200, [{"id": issue["number"] * 1000 + k + 1, "body": c} for k, c in enumerate(issue["comments"])]
        if method == "GET":
            return 200, self.issue_json(repo, issue)
        if method == "PATCH":
            if body.get("state") not in (None, "open", "closed"):
                return _error(422, "Validation Failed", errors=[{"resource": "Issue", "code": "invalid",
                                                                 "field": "state"}])
            for key in ("state", "state_reason", "title", "body"):
                if key in body:
                    issue[key] = body[key]
            return 200, self.issue_json(repo, issue)
        return _error(404, "Not Found")

    def issue_json(self, repo: FakeRepo, issue: dict[str, Any]) -> dict[str, Any]:
        return {"number": issue["number"], "state": issue["state"], "state_reason": issue["state_reason"],
                "title": issue["title"], "body": issue["body"], "comments": len(issue["comments"]),
                "labels": [{"name": n, "color": "ededed"} for n in issue["labels"]],
                "html_url": f"http://{self.host}/{repo.name}/issues/{issue['number']}",
                "user": {"login": "pipeline-bot"}}

    def ref_json(self, repo: FakeRepo, branch: str) -> dict[str, Any]:
        base = f"http://{self.host}/repos/{repo.name}"
        return {"ref": f"refs/heads/{branch}", "node_id": "REF_" + branch, "url": f"{base}/git/refs/heads/{branch}",
                "object": {"sha": repo.branches[branch], "type": "commit",
                           "url": f"{base}/git/commits/{repo.branches[branch]}"}}

    def get_ref(self, repo: FakeRepo, branch: str) -> tuple[int, Any]:
        return (200, self.ref_json(repo, branch)) if branch in repo.branches else _error(404, "Not Found")

    def create_ref(self, repo: FakeRepo, body: dict[str, Any]) -> tuple[int, Any]:
        ref, sha = str(body.get("ref") or ""), str(body.get("sha") or "")
        if not ref.startswith("refs/heads/") or ref.count("/") < 2:
            return _error(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if sha not in repo.commits:
            return _error(422, "Object does not exist")
        branch = ref[len("refs/heads/"):]
        if branch in repo.branches:
            return _error(422, "Reference already exists")
        repo.branches[branch] = sha
        return 201, self.ref_json(repo, branch)

    def get_file(self, repo: FakeRepo, path: str, branch: str) -> tuple[int, Any]:
        files = repo.files(branch)
        if files is None:
            return _error(404, f"No commit found for the ref {branch}")
        if path not in files:
            return _error(404, "Not Found")
        data = files[path]
        encoded = base64.b64encode(data).decode()
        return 200, {"type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
                     "path": path, "sha": blob_sha(data),
                     "content": "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n"}

    def put_file(self, repo: FakeRepo, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        branch = body.get("branch") or "main"
        files = repo.files(branch)
        if files is None:
            return _error(404, f"Branch {branch} not found")
        if not isinstance(body.get("message"), str) or not isinstance(body.get("content"), str):
            return _error(422, "Invalid request.\n\n\"message\" and \"content\" are required.")
        try:
            data = base64.b64decode(body["content"], validate=True)
        except binascii.Error:
            return _error(422, "content is not valid Base64")
        if path in files and not body.get("sha"):
            return _error(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
        if path in files and body["sha"] != blob_sha(files[path]):
            return _error(409, f"{path} does not match {body['sha']}")
        existed = path in files
        sha = repo.commit({**files, path: data}, body["message"], repo.branches[branch])
        repo.branches[branch] = sha
        return (200 if existed else 201), {"content": {"path": path, "sha": blob_sha(data)},
                                           "commit": {"sha": sha, "message": body["message"]}}

    def find_pull(self, repo: FakeRepo, number: int) -> dict[str, Any] | None:
        return next((p for p in repo.pulls if p["number"] == number), None)

    def open_pull(self, repo: FakeRepo, body: dict[str, Any]) -> tuple[int, Any]:
        head, base = str(body.get("head") or ""), str(body.get("base") or "")
        head = head.split(":", 1)[1] if ":" in head else head
        if not isinstance(body.get("title"), str) or not body["title"]:
            return _validation(field="title")
        if head not in repo.branches:
            return _validation(field="head")
        if base not in repo.branches:
            return _validation(field="base")
        if any(p["head"] == head and p["base"] == base and p["state"] == "open" for p in repo.pulls):
            return _validation(f"A pull request already exists for {repo.name.split('/')[0]}:{head}.")
        if repo.commits[repo.branches[head]] == repo.commits[repo.branches[base]]:
            return _validation(f"No commits between {base} and {head}")
        pr = {"number": repo.next_number(), "title": body["title"], "body": body.get("body") or "",
              "head": head, "base": base, "state": "open", "merged": False, "merged_by": None, "merged_at": None}
        repo.pulls.append(pr)
        return 201, self.pull_json(repo, pr)

    def pull_json(self, repo: FakeRepo, pr: dict[str, Any]) -> dict[str, Any]:
        return {"number": pr["number"], "state": pr["state"], "title": pr["title"], "body": pr["body"],
                "merged": pr["merged"], "merged_at": pr["merged_at"],
                "merged_by": {"login": pr["merged_by"], "type": "User"} if pr["merged_by"] else None,
                "html_url": f"http://{self.host}/{repo.name}/pull/{pr['number']}",
                "user": {"login": "pipeline-bot"},
                "head": {"ref": pr["head"], "sha": repo.branches.get(pr["head"]),
                         "label": f"{repo.name.split('/')[0]}:{pr['head']}"},
                "base": {"ref": pr["base"], "sha": repo.branches.get(pr["base"])}}

    def settle(self, repo: FakeRepo, number: int, action: str, by: str) -> tuple[int, Any]:
        pr = self.find_pull(repo, number)
        if pr is None:
            return _error(404, "Not Found")
        if pr["state"] != "open":
            return _error(405, "Pull Request is not mergeable" if action == "merge" else "already closed")
        pr["state"] = "closed"
        if action == "merge":
            merged = {**repo.files(pr["base"]), **repo.files(pr["head"])}
            repo.branches[pr["base"]] = repo.commit(merged, f"Merge pull request #{number}", repo.branches[pr["base"]])
            pr.update(merged=True, merged_by=by, merged_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return 200, self.pull_json(repo, pr)


def make_handler(state: FakeGitHubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-github/1"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return ValueError

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") in (f"Bearer {state.token}", f"token {state.token}")

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self._body()
            if path.startswith("/_fake/"):
                return self._send(*self._control(method, path[len("/_fake/"):], body))
            with state.lock:
                state.requests.append({"method": method, "path": path, "query": query,
                                       "authorized": self._authorized(),
                                       "api_version": self.headers.get("X-GitHub-Api-Version"),
                                       "accept": self.headers.get("Accept")})
            if not self._authorized():
                return self._send(*_error(401, "Bad credentials"))
            fault = state.take_fault(method, path)
            if fault:
                raw = fault.get("body", {"message": "injected fault"})
                return self._send(int(fault.get("status", 500)), raw.encode() if isinstance(raw, str) else raw)
            if body is ValueError:
                return self._send(*_error(400, "Problems parsing JSON"))
            m = _REPO.match(path)
            with state.lock:
                repo = state.repos.get(f"{m.group(1)}/{m.group(2)}") if m else None
                if repo is None:
                    return self._send(*_error(404, "Not Found"))
                self._send(*_Api(state, self.headers.get("Host", "")).route(method, repo, m.group(3) or "",
                                                                            query, body))

        def _control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
            body = body if isinstance(body, (dict, list)) else {}
            with state.lock:
                if path == "requests":
                    if method == "DELETE":
                        state.requests.clear()
                    return 200, {"requests": list(state.requests)}
                if path == "faults":
                    if method == "DELETE":
                        state.faults.clear()
                    else:
                        state.faults.extend(body if isinstance(body, list) else [body])
                    return 200, {"faults": len(state.faults)}
                if path == "repos" and method == "POST":
                    name = str(body.get("repository"))
                    state.repos[name] = FakeRepo(name, body.get("files") or {}, body.get("branch") or "main")
                    return 201, {"repository": name}
                m = re.fullmatch(r"repos/([^/]+/[^/]+)/pulls/(\d+)/(merge|close)", path)
                if m and method == "POST" and m.group(1) in state.repos:
                    api = _Api(state, self.headers.get("Host", ""))
                    return api.settle(state.repos[m.group(1)], int(m.group(2)), m.group(3),
                                      str(body.get("by") or "octocat"))
            return _error(404, f"unknown control {method} /_fake/{path}")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler


class FakeGitHub(LocalServer):
    """Run in a thread (tests) or in the foreground (command line); base_url is GITHUB_API_URL."""

    def __init__(self, state: FakeGitHubState, host: str = "127.0.0.1", port: int = 0):
        super().__init__(make_handler(state), host, port)
        self.state = state

    @property
    def base_url(self) -> str:
        return self.root_url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", action="append", default=[], help="owner/name (repeatable); starts empty")
    p.add_argument("--token", required=True, help="the bearer token the fake accepts")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    server = FakeGitHub(FakeGitHubState(args.token, {r: {"README.md": "fake\n"} for r in args.repo}),
                        args.host, args.port)
    print(f"fake GitHub API at {server.base_url} (repositories: {', '.join(args.repo) or 'none'})", flush=True)
    return server.serve()


if __name__ == "__main__":
    sys.exit(main())
