"""code_runner as a function: the benchmark never runs model code itself; the runner's process
holds no secret; its HTTP surface judges batches and answers bad input clearly."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest

from infra.local_stack import Stack
from shared.pipeline import REPO_ROOT, load_manifest
from tests.conftest import PLANTED_SECRET

RUNNER_MODULES = {"shared.sandbox.process", "shared.sandbox.service", "shared.sandbox.seccomp_policy",
                  "shared.sandbox.http", "shared.sandbox.boot"}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_the_benchmark_has_no_way_to_run_model_code_itself():
    files = [*REPO_ROOT.glob("shared/bench/*.py"), REPO_ROOT / "functions/benchmark/main.py"]
    for path in files:
        assert not imports_of(path) & RUNNER_MODULES, f"{path} imports the sandbox runner"


def test_manifest_declares_code_runner_internal_and_isolated():
    fn = load_manifest().function("code_runner")
    assert (fn.signature, fn.ingress, fn.environment, fn.execution_environment) == ("http", "internal", "isolated", "gen2")
    assert fn.invoked_by == ["benchmark"] and fn.outputs == []





def code_runner_pid(cloud) -> int:
    stack = Stack.load(cloud.state_dir)
    return next(p.pid for p in stack.procs if p.name == "code_runner")


@pytest.mark.emulators
@pytest.mark.e2e
def test_code_runner_process_holds_no_secret_and_no_credentials(cloud):
    environ = Path(f"/proc/{code_runner_pid(cloud)}/environ").read_bytes().split(b"\0")
    env = dict(e.decode().split("=", 1) for e in environ if b"=" in e)
    assert PLANTED_SECRET not in json.dumps(env)
    forbidden = [k for k in env if "KEY" in k or "TOKEN" in k or "SECRET" in k or "CREDENTIAL" in k
                 or k.startswith(("GOOGLE_", "CLOUDSDK_", "OPENROUTER_", "LLM_")) or k.endswith("_EMULATOR_HOST")]
    assert forbidden == [], forbidden
    # and the benchmark function, which does hold the key, calls it over HTTP
    bench_env = Path(f"/proc/{next(p.pid for p in Stack.load(cloud.state_dir).procs if p.name == 'benchmark')}"
                     f"/environ").read_bytes()
    assert b"CODE_RUNNER_URL=http://127.0.0.1" in bench_env


@pytest.mark.emulators
@pytest.mark.e2e
def test_code_runner_judges_a_batch_over_http(cloud):
    url = cloud.function_url("code_runner")
    good = {"case_id": "a", "solution": "def f(x):\n    return x * 2\n", "tests": "assert f(2) == 4\n", "entry_point": "f"}
    bad = {**good, "case_id": "b", "solution": "def f(x):\n    return 0\n"}
    leak = {**good, "case_id": "c", "solution": "import os\nprint(open('/proc/%d/environ' % os.getppid()).read())\n"
                                                "def f(x):\n    return 0\n"}
    r = httpx.post(url + "/", json={"cases": [good, bad, leak]}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert PLANTED_SECRET not in r.text
    results = {v["case_id"]: v for v in body["results"]}
    assert results["a"]["status"] == "passed" and results["b"]["status"] == "failed"
    assert results["c"]["status"] == "failed"
    assert {"uid", "seccomp", "landlock"} <= set(body["required"])
    probe = httpx.get(url + "/", timeout=30).json()["probe"]
    assert probe["status"] == "passed" and probe["isolation"]["landlock"] > 0


@pytest.mark.emulators
@pytest.mark.e2e
@pytest.mark.parametrize("method,body,status,words", [
    ("POST", b"not json", 400, "invalid batch"),
    ("POST", json.dumps({"cases": []}).encode(), 400, "cases"),
    ("POST", json.dumps({"cases": [{"case_id": "x", "solution": "", "tests": "t", "entry_point": "1bad"}]}).encode(),
     400, "entry_point"),
    ("DELETE", b"", 405, "not allowed"),
])
def test_code_runner_answers_bad_input_clearly(cloud, method, body, status, words):
    r = httpx.request(method, cloud.function_url("code_runner") + "/", content=body,
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status and words in r.json()["error"], r.text
