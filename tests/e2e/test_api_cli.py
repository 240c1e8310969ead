"""Manual triggers: the `api` HTTP function and the operator CLI, on the local cloud."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from typing import Any

import httpx
import pytest

from shared.pipeline import REPO_ROOT
from tests.conftest import DEMO_DATA, reset_caches, wait_until

pytestmark = [pytest.mark.emulators, pytest.mark.e2e]
WEEK1 = json.loads((DEMO_DATA / "week1.json").read_text())


def api(cloud, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, cloud.function_url("api") + path, timeout=30, **kw)


def follow(cloud, path: str, done=lambda b: b.get("status") in ("succeeded", "completed", "failed", "partial")) -> dict:
    def poll():
        r = api(cloud, "GET", path)
        return r.status_code == 200 and done(r.json()) and r.json()
    return wait_until(poll, 60, path)


def test_weekly_run_and_status_over_http(cloud):
    r = api(cloud, "POST", "/weekly/run", json={"full": True, "dry_run": True, "benchmarks": False})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    run = follow(cloud, r.json()["status_url"])
    assert run["run_id"] == run_id and run["options"] == {"full": True, "dry_run": True, "benchmarks": False, "demo": False}
    assert run["safe"] is False
    assert any("benchmarks were disabled" in x for x in run["reasons"])
    assert any("dry run" in x for x in run["reasons"])
    latest = api(cloud, "GET", "/weekly/status").json()
    assert latest["run_id"] == run_id
    via_action = api(cloud, "POST", "/", json={"action": "weekly.status", "run_id": run_id})
    assert via_action.status_code == 200 and via_action.json()["status"] == "completed"


def test_sync_triggers_over_http(cloud):
    r = api(cloud, "POST", "/openrouter/sync")
    assert r.status_code == 202 and r.json()["mode"] == "quick"
    rec = follow(cloud, r.json()["status_url"])
    assert rec["mode"] == "quick" and rec["counts"]["added"] == len(WEEK1["models"])
    r = api(cloud, "POST", "/openrouter/rankings/sync?full=1")
    assert r.json()["mode"] == "full"
    assert follow(cloud, r.json()["status_url"])["rankings"]["programming"]["top"][0] == \
        WEEK1["rankings"]["programming"][0]
    r = api(cloud, "POST", "/openrouter/rankings/sync")
    assert r.json()["mode"] == "rankings"
    r = api(cloud, "POST", "/", json={"action": "openrouter.sync"})
    assert r.status_code == 202 and r.json()["sync_run_id"].startswith("sync-quick-")


@pytest.mark.parametrize("method, path, kwargs, status, text", [
    ("POST", "/", {"content": b"{oops", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ("POST", "/", {"json": [1, 2]}, 400, "JSON object"),
    ("POST", "/", {"json": {"action": "weekly.explode"}}, 400, "unknown action"),
    ("POST", "/", {"json": {"action": ["weekly.run"]}}, 400, "unknown action"),   # found by the fuzz test
    ("POST", "/", {"json": {"action": {"weekly": "run"}}}, 400, "unknown action"),
    ("POST", "/", {"json": {"full": True}}, 400, "action"),
    ("GET", "/nowhere", {}, 404, "routes:"),
    ("POST", "/weekly/run", {"json": {"full": "banana"}}, 400, "full"),
    ("POST", "/weekly/run", {"json": {"fulll": True}}, 400, "fulll"),
    ("GET", "/weekly/status?run_id=missing", {}, 404, "no weekly run"),
    ("GET", "/openrouter/sync/status", {}, 400, "?id="),
    ("GET", "/weekly/run", {}, 405, "takes POST"),
    ("POST", "/weekly/status", {}, 405, "takes GET"),
    ("POST", "/weekly/run", {"content": b'{"full": true}'}, 415, "Content-Type: application/json"),
    ("POST", "/weekly/run", {"content": b'{"full": true}', "headers": {"Content-Type": "text/plain"}}, 415,
     "text/plain"),
    ("POST", "/bench/run", {"json": {"models": ["x" * 1600]}}, 400, "models.0"),
    ("POST", "/bench/run", {"json": {"models": ["no-slash"]}}, 400, "models.0"),
    ("POST", "/bench/run", {"json": {"models": [f"m/{i}" for i in range(51)]}}, 400, "models"),
    ("POST", "/bench/run", {"json": {"suite": "/etc"}}, 400, "suite"),
    ("POST", "/bench/run", {"json": {"suite": "../../etc"}}, 400, "suite"),
    ("GET", "/bench/status?id=a/b", {}, 400, "invalid benchmark run id"),
    ("GET", "/weekly/status?run_id=" + "r" * 200, {}, 400, "invalid run id"),
    ("POST", "/weekly/run", {"json": {"models": ["m/x"] * 200_000}}, 413, "64 KiB"),
])
def test_bad_requests_get_clear_errors(cloud, method, path, kwargs, status, text):
    r = api(cloud, method, path, **kwargs)
    assert r.status_code == status and text in r.json()["error"], r.text
    assert r.headers["content-type"] == "application/json" and r.json()["request_id"] == r.headers["x-request-id"]
    assert "/work" not in r.text and str(REPO_ROOT) not in r.text
    if status == 405:
        assert r.headers["allow"] in ("GET", "POST")


def test_the_api_without_a_project_answers_json(cloud, monkeypatch):
    """Misconfigured: a JSON 500 naming the setting, not an HTML traceback."""
    import functions_framework

    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    reset_caches()
    try:
        app = functions_framework.create_app(target="api", source=str(REPO_ROOT / "functions/api/main.py"))
        r = app.test_client().post("/weekly/run", json={"benchmarks": False})
    finally:
        monkeypatch.undo()
        reset_caches()
    assert r.status_code == 500 and r.is_json, r.data[:300]
    assert "GOOGLE_CLOUD_PROJECT is not set" in r.get_json()["error"] and r.get_json()["request_id"]


def cli(cloud, *args: str, env_extra: dict | None = None, with_stack: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_EMULATOR_HOST") and k not in ("GOOGLE_CLOUD_PROJECT", "REPORTS_BUCKET")}
    if with_stack:
        env.update(cloud.env)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", "/nonexistent/no-stack.env", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)


def test_cli_sync_prints_the_record(cloud):
    p = cli(cloud, "sync", "--mode", "quick", "--json")
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)
    assert rec["status"] == "succeeded" and rec["counts"]["added"] == len(WEEK1["models"])


def test_cli_sync_failure_exits_non_zero_with_the_reason(cloud):
    cloud.replay_control("POST", "faults", {"path_prefix": "/api/v1/models", "count": -1, "status": 502})
    p = cli(cloud, "sync", "--mode", "quick")
    assert p.returncode == 1
    assert "FAILED: model feed unavailable, nothing changed" in p.stdout and "HTTP 502" in p.stdout


def test_cli_weekly_run_follows_to_the_end_and_status(cloud, tmp_path):
    p = cli(cloud, "weekly", "run", "--timeout", "90", "--download", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SAFE=false (simulated models)" in p.stdout and "report: gs://" in p.stdout
    assert "catalog_sync:succeeded" in p.stdout
    md = next(tmp_path.rglob("report.md")).read_text()       # the bucket's layout: day/run_id/report.md
    assert "`SAFE=false (simulated models)`" in md
    p = cli(cloud, "weekly", "run", "--timeout", "90", "--require-safe")
    assert p.returncode == 4
    p = cli(cloud, "weekly", "status", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "completed"


def test_cli_without_backend_says_what_to_set(cloud):
    p = cli(cloud, "weekly", "status", with_stack=False)
    assert p.returncode == 2 and "GOOGLE_CLOUD_PROJECT is not set" in p.stderr


def test_research_scan_over_http_and_cli(cloud):
    r = api(cloud, "POST", "/research/scan", json={"as_of": "2026-11-22"})
    assert r.status_code == 202 and r.json()["scan_id"].startswith("scan-")
    rec = follow(cloud, r.json()["status_url"])
    assert rec["status"] == "succeeded" and rec["counts"]["new"] > 0
    p = cli(cloud, "research", "scan", "--as-of", "2026-11-22", "--sources", cloud.research_sources, "--json")
    assert p.returncode == 0, p.stderr
    again = json.loads(p.stdout)
    assert again["counts"]["new"] == 0  # everything was already on the blackboard
    p = cli(cloud, "research", "scan", "--sources", "/nonexistent.yaml")
    assert p.returncode == 2 and "cannot read research configuration" in p.stderr


def test_research_feedback_over_http_and_cli(cloud):
    """Issue 15: an operator lists the findings, marks them relevant or dismissed (CLI and api); each
    mark makes an exemplar version; the next scan (the research_scan function) scores with it."""
    p = cli(cloud, "research", "scan", "--as-of", "2026-11-22", "--sources", cloud.research_sources, "--json")
    assert p.returncode == 0, p.stderr
    p = cli(cloud, "research", "findings", "--json")
    assert p.returncode == 0, p.stderr
    listed = json.loads(p.stdout)
    ids = {f["id"]: f for f in listed["items"]}
    assert listed["count"] == len(ids) > 3 and {f["status"] for f in ids.values()} <= {"new", "proposed"}
    weak = next(i for i, f in ids.items() if i.startswith("hf:"))
    strong = "arxiv:2611.15544"
    p = cli(cloud, "research", "findings")
    assert p.returncode == 0 and weak in p.stdout and p.stdout.rstrip().endswith("first seen in the last 7 day(s)")

    p = cli(cloud, "research", "feedback", weak, "--dismissed", "--by", "ana", "--reason", "a vision model", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["feedback"]["label"] == "dismissed" and out["feedback"]["finding_id"] == weak
    assert out["exemplar_version"]["number"] == 1 and out["exemplar_version"]["counts"]["dismissed"] == 1
    p = cli(cloud, "research", "feedback", strong, "--relevant", "--topic", "RAG", "--by", "ana")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (f"finding {strong} marked relevant under RAG by ana; exemplar version 2: "
                                f"1 relevant, 1 dismissed example(s)")
    for args, code, message in [
        (("arxiv:404", "--dismissed", "--by", "ana"), 1, "no finding 'arxiv:404'"),
        ((strong, "--relevant", "--topic", "cooking", "--by", "ana"), 2, "unknown topic 'cooking'"),
        ((strong, "--dismissed", "--by", "ana", "--reason", "x" * 501), 2, "reason: String should have at most 500"),
        ((strong, "--dismissed", "--by", "ana;rm"), 2, "by: String should match pattern"),
        ((strong, "--by", "ana"), 2, "exactly one of --relevant or --dismissed"),
        ((strong, "--relevant"), 2, "--by NAME is required"),
    ]:
        p = cli(cloud, "research", "feedback", *args, "--json")
        assert p.returncode == code and message in p.stderr and p.stdout == "", (args, p.returncode, p.stderr)

    r = api(cloud, "POST", "/research/feedback", json={"finding_id": weak, "label": "relevant",
                                                        "topic": "new model release", "by": "bo"})
    assert r.status_code == 200, r.text
    assert r.json()["feedback"]["history"][0]["label"] == "dismissed" and r.json()["exemplar_version"]["number"] == 3
    r = api(cloud, "POST", "/research/feedback", json={"finding_id": weak, "label": "dismissed", "by": "bo"})
    assert r.status_code == 200 and r.json()["exemplar_version"]["number"] == 4
    for body, status, text in [
        ({"finding_id": "arxiv:404", "label": "dismissed", "by": "bo"}, 404, "no finding"),
        ({"finding_id": strong, "label": "relevant", "topic": "cooking", "by": "bo"}, 400, "unknown topic"),
        ({"finding_id": strong, "label": "dismissed", "topic": "RAG", "by": "bo"}, 400, "topic goes with a relevant"),
        ({"finding_id": strong, "label": "dismissed", "by": "bo", "reason": "x" * 501}, 400, "reason"),
        ({"finding_id": strong, "label": "meh", "by": "bo"}, 400, "label"),
        ({"finding_id": strong, "label": "dismissed"}, 400, "by"),
        ({"finding_id": "x" * 3000, "label": "dismissed", "by": "bo"}, 400, "finding_id"),
    ]:
        r = api(cloud, "POST", "/research/feedback", json=body)
        assert r.status_code == status and text in r.json()["error"], (body, r.text)
    r = api(cloud, "POST", "/", json={"action": "research.feedback.list"})
    assert r.status_code == 200 and r.json()["count"] == 2 and r.json()["exemplar_version"]["number"] == 4
    assert [f["finding_id"] for f in r.json()["items"]] == [weak, strong]          # newest mark first
    r = api(cloud, "GET", "/research/feedback", params={"finding_id": weak})
    assert r.status_code == 200 and r.json()["marks"] == 3 and len(r.json()["history"]) == 2
    assert api(cloud, "GET", "/research/feedback", params={"finding_id": "nope"}).status_code == 404
    r = api(cloud, "GET", "/research/findings", params={"days": "1"})
    assert r.status_code == 200 and {f["id"]: f["status"] for f in r.json()["items"]}[weak] == "dismissed"
    assert api(cloud, "GET", "/research/findings", params={"days": "-1"}).status_code == 400
    p = cli(cloud, "research", "feedback", "list")
    assert p.returncode == 0 and p.stdout.rstrip().splitlines()[-1].startswith(
        "2 feedback record(s); exemplar version 4 (1 relevant, 1 dismissed, hash ")

    p = cli(cloud, "research", "exemplars")
    assert p.returncode == 0 and p.stdout.rstrip().splitlines()[-1].startswith(
        "exemplar version 4: 1 relevant, 1 dismissed example(s), 0 omitted; hash ")
    assert sum(f"  {weak}  " in line or f"  {strong}  " in line for line in p.stdout.splitlines()) == 2
    p = cli(cloud, "research", "exemplars", "2", "--json")
    two = json.loads(p.stdout)
    assert p.returncode == 0 and two["number"] == 2 and {e["id"] for e in two["examples"]} == {strong, weak}
    for args, code, message in [(("99",), 1, "no exemplar version 99"), (("0",), 2, "1 or more")]:
        p = cli(cloud, "research", "exemplars", *args)
        assert p.returncode == code and message in p.stderr and p.stdout == "", (args, p.stderr)

    r = api(cloud, "POST", "/research/scan", json={"as_of": "2026-11-22"})      # the function scores with it
    rec = follow(cloud, r.json()["status_url"])
    assert rec["status"] == "succeeded" and rec["exemplar_version"] == 4, rec


def test_bench_over_http_and_cli(cloud):
    r = api(cloud, "POST", "/bench/run", json={"models": ["sim/steady"], "max_cases_per_category": 1})
    assert r.status_code == 202, r.text
    doc = follow(cloud, r.json()["status_url"], done=lambda b: b.get("status") in ("complete", "incomplete", "refused"))
    assert doc["status"] == "complete" and doc["summary"]["models"]["sim/steady"]["cases"] == 6
    p = cli(cloud, "bench", "run", "--model", "sim/steady", "--max-cases", "1",
            "--base-url", cloud.simulator.base_url)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "[SIMULATED]" in p.stdout and "sim/steady: score" in p.stdout and "no baseline yet" not in p.stdout
    p = cli(cloud, "bench", "run", "--suite", "no-such-suite")
    assert p.returncode == 2 and "no suite at" in p.stderr
    r = api(cloud, "POST", "/bench/run", json={"models": "sim/steady"})
    assert r.status_code == 400 and "models" in r.json()["error"]


def test_a_frozen_backend_is_a_503_within_seconds_not_a_hung_request(cloud):
    from infra import local_stack

    local_stack.freeze(cloud.state_dir, "firestore-emulator")
    try:
        r = api(cloud, "GET", "/weekly/status")
    finally:
        local_stack.freeze(cloud.state_dir, "firestore-emulator", frozen=False)
    assert r.status_code == 503 and r.json()["error"] == "the pipeline's backend is unavailable; try again later"
    assert "127.0.0.1" not in r.text


def json_commands(cloud, sync_id: str) -> list[tuple[str, ...]]:
    """Every subcommand that takes --json, with arguments that reach its success or its error path."""
    return [
        ("research", "scan", "--as-of", "2026-11-22", "--sources", cloud.research_sources),
        ("research", "findings"), ("research", "feedback", "list"), ("research", "exemplars"),
        ("research", "exemplars", "99"),
        ("research", "feedback", "arxiv:404", "--dismissed", "--by", "test"),
        ("bench", "run", "--model", "sim/steady", "--max-cases", "1", "--base-url", cloud.simulator.base_url),
        ("weekly", "status"), ("reports", "list"), ("reports", "show"),
        ("deadletters", "list"), ("deadletters", "show", "dl-json-1"),
        ("deadletters", "replay", "dl-json-1"), ("deadletters", "purge", "dl-json-1"),
        ("ops", "poison"), ("status", sync_id),
        ("serving", "history"), ("serving", "show"),
        ("serving", "rollback", "--to", "1", "--reason", "json test", "--by", "test"),
        ("changes", "list"), ("changes", "show", "no-such-change"),
        ("changes", "approve", "no-such-change", "--by", "test", "--reason", "json test"),
        ("changes", "reject", "no-such-change", "--by", "test", "--reason", "json test"),
        ("changes", "apply", "--by", "test", "--reason", "json test", "--timeout", "5"),
    ]


def one_document_or_nothing(p: subprocess.CompletedProcess, args: tuple[str, ...]) -> Any:
    """--json: stdout is exactly one JSON document when the command succeeds, and empty (the reason
    on stderr) when it does not; logs never reach stdout."""
    if p.returncode != 0:
        assert p.stdout == "" and p.stderr.strip(), (args, p.returncode, p.stdout[:500], p.stderr[-500:])
        return None
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{' '.join(args)}: stdout is not one JSON document ({exc}): {p.stdout[:500]!r}")


def test_every_json_command_prints_one_json_document(cloud, tmp_path):
    """Issue 13: `sync --json` printed a WARNING log line before the document. Every command with
    --json prints exactly one JSON document on stdout (or nothing on failure); logs go to stderr."""
    p = cli(cloud, "sync", "--mode", "full", "--json")
    sync_id = one_document_or_nothing(p, ("sync",))["sync_run_id"]
    # a feed that makes the sync log warnings: one entry rejected, one with a changed field
    drifted = [dict(m) for m in WEEK1["models"]]
    drifted[0] = {**drifted[0], "alias_target": {"id": drifted[0]["id"]}}
    drifted[1] = {**drifted[1], "pricing": {**drifted[1]["pricing"], "prompt": {"tiers": []}}}
    feed = tmp_path / "models.json"
    feed.write_text(json.dumps({"data": drifted}))
    cloud.replay_control("POST", "load", {"models_file": str(feed)})
    p = cli(cloud, "sync", "--mode", "quick", "--json")
    rec = one_document_or_nothing(p, ("sync", "quick"))
    assert rec["status"] == "partial" and rec["deactivated"] == [] and len(rec["rejected"]) == 1
    assert [d["path"] for d in rec["schema_drift"]] == ["alias_target"]
    assert '"severity": "WARNING"' in p.stderr and "model entries rejected" in p.stderr
    assert cloud.dead_letter("catalog_sync", b'{"not": "a message"}', "dl-json-1").status_code < 300
    outcomes = {}
    for args in json_commands(cloud, sync_id):
        p = cli(cloud, *args, "--json")
        outcomes[" ".join(args[:2])] = (p.returncode, one_document_or_nothing(p, args) is not None)
    # the commands that have something to show did show it
    for name in ("research scan", "research findings", "bench run", "reports list", "deadletters list", "deadletters show",
                 "ops poison", f"status {sync_id}", "serving history", "changes list"):
        assert outcomes[name] == (0, True), (name, outcomes)
