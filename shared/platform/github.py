"""A small client for the GitHub REST API (v3), only the calls the pipeline makes: branch, file,
pull request, and issues (the alerts' one open issue per week: list by label, create, comment, close). It goes through HttpSource (timeouts, retries, size caps); every answer is checked
with strict pydantic models, so a field that changes type is a GitHubError naming it, never an
approval made on a guess. The token is sent as a bearer header and scrubbed from every error.
Tests and the demo point GITHUB_API_URL at infra/fake_github.py."""
from __future__ import annotations

import base64
import binascii
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import Settings
from shared.platform.http import HttpSource, SourceError
from shared.redaction import MARK, redact

API_VERSION = "2022-11-28"
SHA = r"^[0-9a-f]{40}$"
LOGIN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$"
M = TypeVar("M", bound=BaseModel)


class GitHubError(SourceError):
    """A GitHub call failed for good, or answered something that is not what the API promises."""


class _Strict(BaseModel):
    # strict: "merged": "yes" or "number": "7" is an error, not a coercion; unknown fields are ignored
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class GitObject(_Strict):
    sha: str = Field(pattern=SHA)


class Ref(_Strict):
    ref: str
    object: GitObject


class ContentFile(_Strict):
    type: Literal["file"]
    sha: str = Field(pattern=SHA)
    content: str = ""
    encoding: str = "base64"

    def text(self) -> str | None:
        """The file's text, or None when GitHub did not inline it (large files)."""
        if self.encoding != "base64" or not self.content:
            return None
        try:
            return base64.b64decode(self.content.replace("\n", ""), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None


class User(_Strict):
    login: str = Field(pattern=LOGIN)


class Branch(_Strict):
    ref: str


class PullRequest(_Strict):
    number: int = Field(ge=1)
    state: Literal["open", "closed"]
    merged: bool = False          # in the single-PR answer; list answers omit it (see merged_at)
    merged_at: str | None = None
    merged_by: User | None = None
    html_url: str
    head: Branch


class Label(_Strict):
    name: str


class Issue(_Strict):
    number: int = Field(ge=1)
    state: Literal["open", "closed"]
    title: str
    html_url: str
    labels: list[Label] = []
    pull_request: dict[str, Any] | None = None   # the issues list also returns pull requests


class Comment(_Strict):
    id: int
    html_url: str


class GitHubClient:
    """One repository ("owner/name") on one GitHub API base URL."""

    def __init__(self, settings: Settings, repository: str, token: str):
        self.repository = repository
        self._token = token
        self.http = HttpSource(settings.github_api_url, settings, api_key=token, name="github",
                               accept="application/vnd.github+json")
        self._headers = {"X-GitHub-Api-Version": API_VERSION}

    @classmethod
    def from_settings(cls, settings: Settings) -> "GitHubClient | None":
        """None when GITHUB_REPOSITORY or GITHUB_TOKEN is unset."""
        configured = settings.github_review
        return cls(settings, *configured) if configured else None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "GitHubClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the calls ---------------------------------------------------------------------------
    def branch_sha(self, branch: str) -> str | None:
        """The head commit of `branch`; None when there is no such branch."""
        ref = self._call(Ref, "GET", f"git/ref/heads/{_path(branch)}", missing_ok=True)
        return ref.object.sha if ref else None

    def create_branch(self, branch: str, sha: str) -> Literal["created", "exists"]:
        """Create `branch` at `sha`; "exists" when it is there already (GitHub answers 422)."""
        try:
            self._call(Ref, "POST", "git/refs", body={"ref": f"refs/heads/{branch}", "sha": sha})
            return "created"
        except GitHubError as exc:
            if exc.status == 422 and self.branch_sha(branch) is not None:
                return "exists"
            raise

    def file(self, path: str, branch: str) -> ContentFile | None:
        """The file at `path` on `branch`; None when it does not exist there."""
        return self._call(ContentFile, "GET", f"contents/{_path(path)}", params={"ref": branch}, missing_ok=True)

    def write_file(self, path: str, branch: str, text: str, message: str, sha: str | None) -> None:
        """Create the file (sha None) or replace the one whose blob sha is `sha`, in one commit."""
        body = {"message": message, "branch": branch,
                "content": base64.b64encode(text.encode("utf-8")).decode("ascii")}
        if sha:
            body["sha"] = sha
        self._call(None, "PUT", f"contents/{_path(path)}", body=body)

    def open_pull(self, title: str, head: str, base: str, body: str) -> PullRequest:
        """Open a pull request from `head`; the open one already there when GitHub says it exists."""
        try:
            return self._call(PullRequest, "POST", "pulls", body={"title": title, "head": head, "base": base,
                                                                  "body": body})
        except GitHubError as exc:
            if exc.status == 422:
                existing = self.open_pull_for(head)
                if existing is not None:
                    return existing
            raise

    def open_pull_for(self, head: str) -> PullRequest | None:
        owner = self.repository.split("/")[0]
        pulls = self._call_list(PullRequest, "pulls", {"head": f"{owner}:{head}", "state": "open"})
        return next((p for p in pulls if p.head.ref == head), None)

    def pull(self, number: int) -> PullRequest:
        pr = self._call(PullRequest, "GET", f"pulls/{int(number)}")
        if pr.number != number:
            raise GitHubError(f"github: pull request #{number} answered as #{pr.number}", status=200)
        return pr

    def open_issues(self, label: str, title_prefix: str = "") -> list[Issue]:
        """Open issues (not pull requests) carrying `label` whose title starts with `title_prefix`,
        oldest first (at most the first 100 of the label: one per week is kept open)."""
        issues = self._call_list(Issue, "issues", {"state": "open", "labels": label, "per_page": 100,
                                                   "sort": "created", "direction": "asc"})
        return [i for i in issues if i.pull_request is None and i.state == "open"
                and i.title.startswith(title_prefix) and any(lb.name == label for lb in i.labels)]

    def create_issue(self, title: str, body: str, labels: list[str]) -> Issue:
        return self._call(Issue, "POST", "issues", body={"title": title, "body": body, "labels": labels})

    def comment_issue(self, number: int, body: str) -> Comment:
        return self._call(Comment, "POST", f"issues/{int(number)}/comments", body={"body": body})

    def close_issue(self, number: int) -> Issue:
        return self._call(Issue, "PATCH", f"issues/{int(number)}", body={"state": "closed",
                                                                          "state_reason": "completed"})

    # --- plumbing ----------------------------------------------------------------------------
    def _call(self, model: type[M] | None, method: str, path: str, params: dict[str, Any] | None = None,
              body: Any = None, missing_ok: bool = False) -> Any:
        fetched = self._request(method, path, params, body, missing_ok)
        if fetched is None or model is None:
            return None
        return self._validate(model, fetched.url, self._json(fetched))

    def _call_list(self, model: type[M], path: str, params: dict[str, Any]) -> list[M]:
        fetched = self._request("GET", path, params, None, False)
        data = self._json(fetched)
        if not isinstance(data, list):
            raise GitHubError(f"github: GET {self._where(path)} answered {type(data).__name__}, not a list",
                              status=fetched.status)
        return [self._validate(model, fetched.url, item) for item in data]

    def _request(self, method: str, path: str, params: dict[str, Any] | None, body: Any, missing_ok: bool) -> Any:
        try:
            return self.http.request(method, f"/repos/{self.repository}/{path}", params=params,
                                     headers=self._headers, json_body=body)
        except SourceError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise GitHubError(self._scrub(str(exc)), exc.url, exc.status) from None

    def _json(self, fetched: Any) -> Any:
        try:
            return fetched.json()
        except SourceError as exc:
            raise GitHubError(self._scrub(str(exc)), exc.url, exc.status) from None

    def _validate(self, model: type[M], url: str, data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            # names and reasons only: the offending values are the server's, not to be echoed
            why = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
            raise GitHubError(f"github: {url} answered an unexpected {model.__name__}: {why}", url, 200) from None

    def _where(self, path: str) -> str:
        return f"{self.http.base_url}/repos/{self.repository}/{path}"

    def _scrub(self, text: str) -> str:
        return redact(text.replace(self._token, MARK) if self._token else text)


def _path(value: str) -> str:
    """A branch name or file path in a URL: each part quoted, the slashes kept (as GitHub wants)."""
    return "/".join(quote(part, safe="") for part in value.split("/"))
