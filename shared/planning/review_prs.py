"""Routing changes reviewed as GitHub pull requests. A gated routing change (its review item
pending) gets a branch `pipeline/<change_id>` with the routing table as it would be after the
change, and a pull request whose body says why; merging it approves the review item through the
plan store's decide-once approval (by "github:<login>"), closing it unmerged rejects it.

Only when GITHUB_REPOSITORY and GITHUB_TOKEN are set; otherwise both operations log that and do
nothing. Redeliveries are harmless: the pull request is recorded on the review item once, an
existing branch or pull request is reused, and a decided item is never decided again. The file
is for review only: what the platform serves stays in the serving versions."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from shared.config import Settings
from shared.log import get_logger
from shared.planning.planner import Plan
from shared.planning.plans import PlanStore
from shared.platform.github import GitHubClient, GitHubError, PullRequest
from shared.serving.changes import Change, ChangeConflict
from shared.serving.models import Route, ServingVersion

log = get_logger(__name__)
ROUTE_KINDS = ("routing_primary", "fallback_update")
BRANCH_PREFIX = "pipeline/"


class OpenedPrs(BaseModel):
    """What open_review_prs did, by change id (for logs and the stage summary)."""
    configured: bool = True
    opened: list[str] = []                 # a pull request was opened (or found open) and recorded now
    already: list[str] = []                # one was recorded before: nothing done
    skipped: dict[str, str] = {}           # change id -> why no pull request (decided, stale, no item)
    errors: dict[str, str] = {}            # change id -> what failed (the next call tries again)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("opened", "already", "skipped", "errors")}


class SettledPrs(BaseModel):
    """What approve_merged_prs did, by change id."""
    configured: bool = True
    approved: list[str] = []               # merged: approved now
    rejected: list[str] = []               # closed without merging: rejected now
    still_open: list[str] = []
    already: list[str] = []                # decided by someone else meanwhile
    errors: dict[str, str] = {}            # change id -> what failed (nothing decided)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("approved", "rejected", "still_open", "already", "errors")}


# --- the file and the text (pure) ----------------------------------------------------------------
def branch_for(change_id: str) -> str:
    return BRANCH_PREFIX + change_id


def routing_after(version: ServingVersion, change: Change) -> dict[str, Route]:
    """The version's routing with the change applied to its category; ChangeConflict when the
    change was planned against another route than the one served."""
    current = version.routing.get(change.target)
    if (current.model_dump(mode="json") if current else None) != change.before:
        raise ChangeConflict(f"change {change.id}: the route of {change.target} changed since it was planned")
    return {**version.routing, change.target: Route.model_validate(change.after)}


def render_routing(routing: dict[str, Route], change: Change, version: ServingVersion, path: str) -> str:
    """The whole routing table, deterministic (sorted keys); YAML with a header naming the
    change, or plain JSON when `path` ends in .json (JSON has no comments)."""
    table = {slug: route.model_dump(mode="json") for slug, route in routing.items()}
    if path.endswith(".json"):
        return json.dumps(table, indent=2, sort_keys=True) + "\n"
    header = (f"# The routing table as it would be after change {change.id}\n"
              f"# ({change.kind} {change.target}), planned against serving version {version.number}.\n"
              "# Opened by the weekly improvement pipeline for review: merging the pull request approves\n"
              "# the change and the next upgrade applies it. The platform does not read this file.\n")
    return header + yaml.safe_dump(table, sort_keys=True, default_flow_style=False, allow_unicode=True)


def _route_text(route: Any) -> str:
    if not route:
        return "(no route)"
    fallbacks = ", ".join(route.get("fallbacks") or ()) or "none"
    return f"{route.get('primary')} (fallbacks: {fallbacks})"


def pr_title(change: Change) -> str:
    after = change.after or {}
    what = after.get("primary") if change.kind == "routing_primary" else \
        "fallbacks " + (", ".join(after.get("fallbacks") or ()) or "none")
    return f"Routing {change.target}: {what}"[:200]


def pr_body(change: Change, run_id: str, version: ServingVersion, now: datetime) -> str:
    evidence = "\n".join(f"- {kind}: " + ", ".join(f"`{i}`" for i in ids)
                         for kind, ids in sorted(change.evidence.items()) if ids) or "- none recorded"
    simulated = ("\n> **Simulated evidence**: part of this change's evidence came from simulated models.\n"
                 if change.simulated else "")
    return (f"Change `{change.id}` ({change.kind}, risk {change.risk}) from weekly run `{run_id}`, "
            f"planned against serving version {version.number}; opened {now:%Y-%m-%d %H:%M} UTC.\n\n"
            f"**Why.** {change.rationale or '(no rationale recorded)'}\n\n"
            f"| | route of `{change.target}` |\n|---|---|\n"
            f"| before | {_route_text(change.before)} |\n| after | {_route_text(change.after)} |\n\n"
            f"**Evidence** (record ids)\n{evidence}\n{simulated}\n"
            "Merging this pull request approves the change (recorded as approved by `github:<who merged>`); "
            "closing it without merging rejects it. The next weekly upgrade applies approved changes and "
            "measures them with a post-change benchmark before promotion.\n")


# --- the operations ------------------------------------------------------------------------------
def open_review_prs(plan_or_changes: Plan | Sequence[Change], serving_version: ServingVersion, store: PlanStore,
                    settings: Settings, now: datetime, client: GitHubClient | None = None) -> OpenedPrs:
    """Open one pull request per gated routing change (kind routing_primary / fallback_update)
    whose review item is pending and has none recorded yet, and record {number, url, branch} on
    the item. Per-change failures are collected in `errors` (the rest proceed); a second call or
    a redelivery opens nothing twice. `client` is for tests; by default one is made from settings."""
    changes = plan_or_changes.changes if isinstance(plan_or_changes, Plan) else list(plan_or_changes)
    wanted = [c for c in changes if c.decision == "gated" and c.kind in ROUTE_KINDS]
    gh = client or GitHubClient.from_settings(settings)
    if gh is None:
        log.info("review pull requests are off: GITHUB_REPOSITORY and GITHUB_TOKEN are not both set",
                 routing_changes=len(wanted))
        return OpenedPrs(configured=False)
    out = OpenedPrs()
    try:
        for change in wanted:
            _open_one(gh, change, serving_version, store, settings, now, out)
    finally:
        if client is None:
            gh.close()
    log.info("review pull requests opened", repository=gh.repository, counts=out.counts(),
             opened_ids=out.opened, errors=out.errors or None)
    return out


def _open_one(gh: GitHubClient, change: Change, version: ServingVersion, store: PlanStore, settings: Settings,
              now: datetime, out: OpenedPrs) -> None:
    item = store.review(change.id)
    if item is None:
        out.skipped[change.id] = "no review item (the planner opens one for each gated change)"
        return
    if item.get("pull_request"):
        out.already.append(change.id)
        return
    if item.get("status") != "pending":
        out.skipped[change.id] = f"already {item.get('status')}"
        return
    try:
        text = render_routing(routing_after(version, change), change, version, settings.github_routing_path)
        pr = _publish(gh, change, text, pr_body(change, str(item.get("run_id")), version, now), settings)
    except ChangeConflict as exc:
        out.skipped[change.id] = str(exc)
        return
    except (GitHubError, ValidationError) as exc:
        out.errors[change.id] = _one_line(exc)
        log.warning("review pull request not opened", change_id=change.id, error=out.errors[change.id])
        return
    branch = branch_for(change.id)
    recorded = store.record_pull_request(change.id, {"number": pr.number, "url": pr.html_url, "branch": branch})
    (out.opened if recorded == "recorded" else out.already).append(change.id)


def _publish(gh: GitHubClient, change: Change, text: str, body: str, settings: Settings) -> PullRequest:
    """Branch, file, pull request; each step finds what an earlier attempt left and reuses it."""
    base, branch, path = settings.github_base_branch, branch_for(change.id), settings.github_routing_path
    if gh.branch_sha(branch) is None:
        base_sha = gh.branch_sha(base)
        if base_sha is None:
            raise GitHubError(f"github: base branch {base!r} not found in {gh.repository}", status=404)
        gh.create_branch(branch, base_sha)
    current = gh.file(path, branch)
    if current is None or current.text() != text:
        gh.write_file(path, branch, text, f"Routing {change.target}: {change.kind} ({change.id})",
                      current.sha if current else None)
    return gh.open_pull(pr_title(change), branch, base, body)


def approve_merged_prs(store: PlanStore, settings: Settings, now: datetime | None = None,
                       client: GitHubClient | None = None) -> SettledPrs:
    """Settle the pending review items that have a pull request: merged → approved by
    "github:<merged_by login>" ("pull request #N merged"); closed unmerged → rejected; open →
    left. Decisions go through the store's decide-once, so a second call changes nothing. An
    answer that is not what GitHub promises decides nothing (it is in `errors`)."""
    gh = client or GitHubClient.from_settings(settings)
    if gh is None:
        log.info("review pull requests are off: GITHUB_REPOSITORY and GITHUB_TOKEN are not both set")
        return SettledPrs(configured=False)
    now = now or datetime.now(timezone.utc)
    out = SettledPrs()
    try:
        for item in store.reviews("pending"):
            if item.get("pull_request"):
                _settle_one(gh, item, store, now, out)
    finally:
        if client is None:
            gh.close()
    log.info("review pull requests checked", repository=gh.repository, counts=out.counts(),
             approved_ids=out.approved, rejected_ids=out.rejected, errors=out.errors or None)
    return out


def _settle_one(gh: GitHubClient, item: dict[str, Any], store: PlanStore, now: datetime, out: SettledPrs) -> None:
    change_id = item["change_id"]
    number = item["pull_request"].get("number")
    try:
        if not isinstance(number, int) or isinstance(number, bool):
            raise GitHubError(f"review item {change_id}: recorded pull request number {number!r} is not a number")
        pr = gh.pull(number)
        verdict = _verdict(pr)
    except GitHubError as exc:
        out.errors[change_id] = _one_line(exc)
        log.warning("review pull request not checked", change_id=change_id, error=out.errors[change_id])
        return
    if verdict is None:
        out.still_open.append(change_id)
        return
    decision, by, reason = verdict
    outcome = store.decide(change_id, decision, by, reason, now)
    if outcome == "decided":
        (out.approved if decision == "approved" else out.rejected).append(change_id)
        log.info(f"review item {decision} on GitHub", change_id=change_id, by=by, reason=reason)
    else:
        out.already.append(change_id)


def _verdict(pr: PullRequest) -> tuple[str, str, str] | None:
    """(decision, by, reason), or None while the pull request is open; GitHubError when the
    answer contradicts itself (merged but open, merged by nobody)."""
    if pr.merged:
        if pr.state != "closed" or pr.merged_by is None:
            raise GitHubError(f"github: pull request #{pr.number} says merged but is {pr.state}"
                              + ("" if pr.merged_by else " and names no one who merged it"))
        return "approved", f"github:{pr.merged_by.login}", f"pull request #{pr.number} merged"
    if pr.state == "closed":
        return "rejected", "github", f"pull request #{pr.number} closed without merging"
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:500]
