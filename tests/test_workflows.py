""".github/workflows/ checked offline: actionlint and zizmor (from .venv-tools, `make tools`) find
nothing, and each is shown to find a deliberately bad workflow; every action is pinned to a commit;
the weekly workflow's schedule, inputs, permissions and concurrency; no expression in a run: script;
and the weekly-cycle message is built exactly as the workflow builds it (its GitHub expression
evaluated here) and validated against shared.messages.WeeklyCycleRequest for every input, so a
contract change that the workflow does not follow fails here."""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from shared.cycle.runs import run_id_for
from shared.messages import RunOptions, WeeklyCycleRequest
from shared.pipeline import REPO_ROOT, load_manifest

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WEEKLY = WORKFLOWS / "weekly-improvement.yml"
TOOLS_BIN = REPO_ROOT / ".venv-tools" / "bin"

# A job may hold these and no other scope; id-token only where it authenticates to Google Cloud.
ALLOWED_PERMISSIONS = {"contents": "read", "id-token": "write"}
AUTH_ACTION = "google-github-actions/auth"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+)\s*(?:#\s*(\S+))?\s*$")


# --- the workflows --------------------------------------------------------------------------------
def workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:   # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(wf: dict):
    for job_id, job in wf["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


@pytest.fixture(scope="module")
def weekly() -> dict:
    return load(WEEKLY)


def test_the_workflows_exist():
    assert {"ci.yml", "weekly-improvement.yml"} <= {p.name for p in workflow_files()}


# --- the tools ------------------------------------------------------------------------------------
def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} missing: CI must run {name} (make tools builds .venv-tools)")
        pytest.skip(f"{path} missing: run `make tools` to build .venv-tools ({name} not run)")
    return path


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    shellcheck = TOOLS_BIN / "shellcheck"
    cmd = [str(tool("actionlint")), "-no-color", "-oneline",
           f"-shellcheck={shellcheck if shellcheck.exists() else ''}", "-pyflakes=", *map(str, files)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def zizmor(*inputs: Path) -> subprocess.CompletedProcess:
    # --offline: no GitHub API (the online audits need a token and the network); the default
    # persona (regular) and config discovery (none in the repository today); the exit code is 0
    # only without findings (10 + the highest severity with; --no-exit-codes is not given).
    cmd = [str(tool("zizmor")), "--offline", "--no-progress", "--color", "never",
           *map(str, inputs)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})


def test_actionlint_finds_nothing():
    done = actionlint(*workflow_files())
    assert done.returncode == 0, f"actionlint:\n{done.stdout}{done.stderr}"


def test_zizmor_offline_finds_nothing():
    done = zizmor(WORKFLOWS)
    assert done.returncode == 0, f"zizmor:\n{done.stdout}{done.stderr}"
    assert "No findings to report" in done.stdout + done.stderr


# Well-formed (zizmor audits only what matches the workflow schema), and wrong: an action by a tag,
# an input pasted into the shell, an undeclared input, a checkout that keeps its token, the
# default token permissions.
BAD_WORKFLOW = """\
name: bad
on:
  workflow_dispatch:
    inputs:
      who:
        type: string
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "hello ${{ inputs.who }} from ${{ inputs.undeclared }}"
"""


@pytest.fixture()
def bad_workflow(tmp_path) -> Path:
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(BAD_WORKFLOW, encoding="utf-8")
    return path


def test_actionlint_reports_a_bad_workflow(bad_workflow):
    done = actionlint(bad_workflow)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'property "undeclared" is not defined' in done.stdout, done.stdout


def test_zizmor_reports_a_bad_workflow(bad_workflow):
    done = zizmor(bad_workflow)
    out = done.stdout + done.stderr
    assert done.returncode >= 10, out                 # 10 + the highest severity found
    for audit in ("template-injection", "unpinned-uses", "artipacked", "excessive-permissions"):
        assert audit in out, f"zizmor did not report {audit}:\n{out}"


# --- pinned actions -------------------------------------------------------------------------------
def test_every_action_is_pinned_to_a_commit_with_its_version():
    for path in workflow_files():
        used = [step["uses"] for _, step in steps(load(path)) if "uses" in step]
        lines = [m for line in path.read_text(encoding="utf-8").splitlines() if (m := USES_LINE.match(line))]
        assert [m.group(1) for m in lines] == used, path.name
        for m in lines:
            assert PINNED.match(m.group(1)), f"{path.name}: {m.group(1)} is not pinned to a 40-hex commit"
            assert m.group(2) and re.fullmatch(r"v\d+\.\d+\.\d+", m.group(2)), \
                f"{path.name}: {m.group(1)} has no `# vX.Y.Z` comment naming its tag"


def test_the_same_action_is_pinned_to_the_same_commit_everywhere():
    pins: dict[str, set[str]] = {}
    for path in workflow_files():
        for _, step in steps(load(path)):
            if "uses" in step:
                action, sha = step["uses"].split("@")
                pins.setdefault(action, set()).add(sha)
    assert {a: s for a, s in pins.items() if len(s) > 1} == {}


# --- permissions, checkout, scripts, time limits -------------------------------------------------------
def test_permissions_are_minimal():
    for path in workflow_files():
        wf = load(path)
        assert "permissions" in wf, f"{path.name}: no top-level permissions (the default token is broad)"
        top = wf["permissions"] or {}
        assert top.items() <= {"contents": "read"}.items(), f"{path.name}: top-level permissions {top}"
        for job_id, job in wf["jobs"].items():
            perms = job.get("permissions", top) or {}
            assert isinstance(perms, dict), f"{path.name}:{job_id}: permissions {perms!r}"
            assert perms.items() <= ALLOWED_PERMISSIONS.items(), f"{path.name}:{job_id}: {perms}"
            authenticates = any(s.get("uses", "").startswith(AUTH_ACTION + "@") for s in job.get("steps", []))
            assert ("id-token" in perms) == authenticates, \
                f"{path.name}:{job_id}: id-token: write belongs exactly to the jobs that authenticate to Google Cloud"


def test_checkouts_keep_no_credentials():
    for path in workflow_files():
        for job_id, step in steps(load(path)):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, f"{path.name}:{job_id}"


def test_no_expression_in_a_run_script():
    """Values reach scripts through env: (a ${{ }} in run: is pasted into the shell: injection)."""
    for path in workflow_files():
        for job_id, step in steps(load(path)):
            assert "${{" not in step.get("run", ""), f"{path.name}:{job_id}: {step.get('name')}"


def test_every_job_has_a_timeout():
    for path in workflow_files():
        for job_id, job in load(path)["jobs"].items():
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}:{job_id}"


# --- the weekly workflow --------------------------------------------------------------------------
def test_weekly_schedule_and_inputs(weekly):
    job = load_manifest().scheduler_jobs["weekly-full-cycle"]
    assert set(weekly["on"]) == {"schedule", "workflow_dispatch"}
    assert weekly["on"]["schedule"] == [{"cron": "0 3 * * 0"}]
    # GitHub's cron is UTC: the same instant as the scheduler job's
    assert (job.schedule, job.time_zone) == ("0 3 * * 0", "Etc/UTC")
    inputs = weekly["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"dry_run", "no_benchmarks"}
    for name in inputs:
        assert (inputs[name]["type"], inputs[name]["default"]) == ("boolean", False), name
    assert weekly["concurrency"]["group"] == "weekly-improvement"
    assert weekly["concurrency"]["cancel-in-progress"] is False


def test_weekly_authenticates_with_workload_identity_federation(weekly):
    [auth] = [s for _, s in steps(weekly) if s.get("uses", "").startswith(AUTH_ACTION + "@")]
    assert auth["with"] == {"workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
                            "service_account": "${{ vars.GCP_PUBLISHER_SERVICE_ACCOUNT }}",
                            "project_id": "${{ vars.GCP_PROJECT_ID }}"}
    text = WEEKLY.read_text(encoding="utf-8")
    assert "credentials_json" not in text and "secrets." not in text   # no key, no secret


def test_weekly_refuses_a_dispatch_off_the_default_branch_only(weekly):
    """The guard must not fire on a schedule: a scheduled event carries no repository (its
    default_branch would read as null and every scheduled run would fail)."""
    [guard] = [s for _, s in steps(weekly) if s.get("name") == "Only from the default branch"]
    assert guard["if"].startswith("github.event_name == 'workflow_dispatch' && ")
    assert "exit 1" in guard["run"]
    names = [s.get("name") for _, s in steps(weekly)]
    assert names.index("Only from the default branch") < names.index(
        "Authenticate to Google Cloud (Workload Identity Federation)")


# GitHub expressions in the publish steps, and what this test evaluates them to
def publish_steps(weekly: dict) -> dict[str, dict]:
    """{event name: the step publishing for it}, from each step's `if: github.event_name == '...'`."""
    out = {}
    for _, step in steps(weekly):
        if "gcloud pubsub topics publish" in step.get("run", ""):
            m = re.fullmatch(r"github\.event_name == '(\w+)'", step.get("if", ""))
            assert m, f"publish step without an event condition: {step.get('name')}"
            out[m.group(1)] = step
    return out


def _literal(text: str, start: int) -> tuple[str, int]:
    """A GitHub expression string literal at text[start] ('...' with '' for a quote)."""
    assert text[start] == "'"
    i, out = start + 1, []
    while True:
        j = text.index("'", i)
        out.append(text[i:j])
        if text[j + 1:j + 2] == "'":
            out.append("'")
            i = j + 2
        else:
            return "".join(out), j + 1


def _value(arg: str, context: dict):
    """The argument forms the workflow uses: a context path, `path == true`, `path != true`, `!path`."""
    m = re.fullmatch(r"(!?)([a-z_]+(?:\.[a-z_]+)+)(?:\s*(==|!=)\s*(true|false))?", arg.strip())
    if not m or m.group(2) not in context:
        raise ValueError(f"this test does not know the expression {arg!r}: teach it, or keep the workflow simple")
    value = context[m.group(2)]
    if m.group(3):
        value = (value == (m.group(4) == "true")) == (m.group(3) == "==")
    return (not value) if m.group(1) else value


def _string(value) -> str:
    """GitHub's format(): booleans print as true/false, null as the empty string."""
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def evaluate(expression: str, context: dict) -> str:
    """A step's env value: plain text, or ${{ format('template', args...) }} (the only function the
    weekly workflow uses to build its message)."""
    expression = expression.strip()
    if not expression.startswith("${{"):
        assert "${{" not in expression
        return expression
    body = expression.removeprefix("${{").removesuffix("}}").strip()
    assert body.startswith("format(") and body.endswith(")"), body
    template, end = _literal(body, len("format("))
    rest = body[end:-1].strip()
    args = [_string(_value(a, context)) for a in rest.lstrip(",").split(",")] if rest else []

    def fill(m: re.Match) -> str:
        return {"{{": "{", "}}": "}"}.get(m.group(0)) or args[int(m.group(1))]
    return re.sub(r"\{\{|\}\}|\{(\d+)\}", fill, template)


def github_context(event: str, dry_run=None, no_benchmarks=None, actor="octocat") -> dict:
    # on a schedule there are no inputs: the expressions see null
    return {"github.event_name": event, "github.run_id": "16012345678", "github.run_attempt": "2",
            "github.triggering_actor": actor, "inputs.dry_run": dry_run, "inputs.no_benchmarks": no_benchmarks}


def message(step: dict, context: dict) -> WeeklyCycleRequest:
    payload = json.loads(evaluate(step["env"]["PAYLOAD"], context))
    return WeeklyCycleRequest.model_validate(payload)


def test_both_triggers_publish_the_message_on_the_weekly_topic(weekly):
    job = load_manifest().scheduler_jobs["weekly-full-cycle"]
    assert weekly["env"]["TOPIC"] == job.topic == "weekly-cycle-requests"
    publish = publish_steps(weekly)
    assert set(publish) == set(weekly["on"])     # every trigger of the workflow publishes
    for step in publish.values():
        assert step["run"].strip() == \
            'gcloud pubsub topics publish "$TOPIC" --project="$PROJECT_ID" --message="$PAYLOAD"'
        assert step["env"]["PROJECT_ID"] == "${{ vars.GCP_PROJECT_ID }}"


@pytest.mark.parametrize("dry_run,no_benchmarks", list(itertools.product([False, True], repeat=2)))
def test_dispatched_message_validates_for_every_input(weekly, dry_run, no_benchmarks):
    step = publish_steps(weekly)["workflow_dispatch"]
    request = message(step, github_context("workflow_dispatch", dry_run, no_benchmarks))
    assert request.options() == RunOptions(full=True, dry_run=dry_run, benchmarks=not no_benchmarks)
    assert request.run_id == "gha-16012345678-2"          # follow it: GET /weekly/status?run_id=...
    assert request.requested_by == "github-actions:octocat"


def test_dispatched_message_stays_json_for_any_login(weekly):
    step = publish_steps(weekly)["workflow_dispatch"]
    for actor in ["dependabot[bot]", "a-b-c", "x" * 39]:
        assert message(step, github_context("workflow_dispatch", False, False, actor)).requested_by == \
            f"github-actions:{actor}"


def test_scheduled_message_is_the_scheduler_jobs_and_the_same_run(weekly):
    """The scheduled run publishes what Cloud Scheduler publishes: both map to the week's run id,
    so the week gets one cycle whichever publishes first."""
    job = load_manifest().scheduler_jobs["weekly-full-cycle"]
    step = publish_steps(weekly)["schedule"]
    request = message(step, github_context("schedule"))
    assert json.loads(evaluate(step["env"]["PAYLOAD"], github_context("schedule"))) == job.payload
    scheduler = WeeklyCycleRequest.model_validate(job.payload)
    assert request == scheduler and request.options() == RunOptions(full=True, dry_run=False, benchmarks=True)
    sunday = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
    later = datetime(2026, 11, 29, 3, 47, tzinfo=timezone.utc)     # GitHub's schedules run late
    assert run_id_for(request, "gha-message", later) == run_id_for(scheduler, "scheduler-message", sunday) \
        == "weekly-2026-W48"


def test_the_evaluator_refuses_what_it_does_not_know():
    with pytest.raises(ValueError):
        evaluate("${{ format('{0}', github.event.inputs.dry_run) }}", github_context("workflow_dispatch"))
    assert evaluate("${{ format('{{\"a\": {0}, \"b\": {1}}}', inputs.dry_run == true, !inputs.no_benchmarks) }}",
                    github_context("schedule")) == '{"a": false, "b": true}'

