"""GitHub alerts: one open issue per ISO week while the week's runs are not SAFE.

A SAFE=false run opens `[pipeline] 2026-W48 SAFE=false: benchmark, upgrade` (label
ALERT_GITHUB_LABEL) with the reasons and links, or comments on the week's open issue if there is
one; a later SAFE=true run of the same week comments and closes it. The issue is found by its
label and the week marker at the start of its title, so a retry after an answer that was lost
finds the issue it opened instead of opening another.
"""
from __future__ import annotations

from typing import Any

from shared.alerts.channels import ChannelError, Delivered, http_permanent, one_try, scrub
from shared.alerts.events import Alert, clean, event_lines, week_marker
from shared.config import Settings
from shared.platform.github import GitHubClient, GitHubError

MAX_BODY = 60_000          # GitHub refuses bodies over 65,536 characters


def _md(text: str) -> str:
    """Report text in Markdown: no @mentions that would ping people, no raw HTML."""
    return clean(text).replace("@", "@\u200b").replace("<", "&lt;").replace(">", "&gt;")


def details(alert: Alert) -> str:
    lines = [f"**{_md(alert.safe_label)}**: run `{_md(alert.run_id)}`, week {alert.week}.", "", "### Reasons"]
    lines += [f"- {_md(r)}" for r in alert.reasons] or ["- (none given)"]
    if alert.events:
        lines += ["", "### Events"] + [f"- {_md(line)}" for line in event_lines(alert)]
    lines += ["", "### Report"] + [f"- {name}: {uri}" for name, uri in alert.links().items()]
    return "\n".join(lines)[:MAX_BODY]


def issue_body(alert: Alert) -> str:
    return (f"The weekly pipeline run `{_md(alert.run_id)}` is not SAFE. This issue stays open while the runs of "
            f"{alert.week} are not SAFE; later runs of the week comment here, and a SAFE run closes it.\n\n"
            + details(alert))[:MAX_BODY]


def rerun_comment(alert: Alert) -> str:
    return f"A later run of {alert.week} is still not SAFE.\n\n" + details(alert)


def close_comment(alert: Alert) -> str:
    return (f"Run `{_md(alert.run_id)}` of {alert.week} is **{_md(alert.safe_label)}**: closing.\n\n"
            + "\n".join(f"- {name}: {uri}" for name, uri in alert.links().items()))


class GitHubChannel:
    name = "github"

    def __init__(self, settings: Settings):
        configured = settings.github_review
        if configured is None:
            raise ValueError("GitHub alerts need GITHUB_REPOSITORY and GITHUB_TOKEN")
        self.repository, self._token = configured
        self.label = settings.alert_github_label
        self.settings = one_try(settings)

    def wants(self, alert: Alert) -> bool:
        return True        # SAFE=false opens or comments; SAFE=true closes the week's open issue

    def scrub(self, text: str) -> str:
        return scrub(text, [self._token])

    def send(self, alert: Alert, progress: dict[str, Any]) -> Delivered:
        try:
            with GitHubClient(self.settings, self.repository, self._token) as gh:
                return self._send(gh, alert, progress)
        except GitHubError as exc:
            raise ChannelError(self.scrub(str(exc)), http_permanent(exc.status)) from None

    def _send(self, gh: GitHubClient, alert: Alert, progress: dict[str, Any]) -> Delivered:
        week_issues = gh.open_issues(self.label, week_marker(alert.week) + " ")
        base = {"repository": self.repository, "week": alert.week}
        if not alert.safe:
            if week_issues:
                issue = week_issues[0]
                comment = gh.comment_issue(issue.number, rerun_comment(alert))
                return Delivered("sent", {**base, "action": "commented", "issue": issue.number,
                                          "url": comment.html_url, "title": issue.title})
            issue = gh.create_issue(alert.title, issue_body(alert), [self.label])
            return Delivered("sent", {**base, "action": "opened", "issue": issue.number, "url": issue.html_url,
                                      "title": alert.title})
        if not week_issues:
            return Delivered("skipped", {**base, "action": "none", "why": f"SAFE and no open issue for {alert.week}"})
        commented = progress.setdefault("commented", [])      # a retry does not comment twice
        for issue in week_issues:
            if issue.number not in commented:
                gh.comment_issue(issue.number, close_comment(alert))
                commented.append(issue.number)
            gh.close_issue(issue.number)
        return Delivered("sent", {**base, "action": "closed", "issues": [i.number for i in week_issues],
                                  "url": week_issues[0].html_url})
