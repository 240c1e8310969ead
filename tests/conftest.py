"""Shared fixtures. The local cloud (emulators + functions) is started once per session, only
when a test asks for it, and Firestore is reset between tests."""
from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

# The sandbox forks and execs model-written code from this process, which also holds gRPC
# channels (the emulator clients). grpcio >= 1.81 may restart its poller in the forked child and
# fail there with "epoll_wait error: Bad file descriptor" before exec (grpc/grpc#43055), so a
# coding case is sometimes "sandbox unavailable". Deployed, code_runner never loads gRPC. Set
# before any gRPC import.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import httpx  # noqa: E402
import pytest  # noqa: E402

from infra.replay_server import ReplayServer, ReplayState
from shared.pipeline import REPO_ROOT

FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
DEMO_DATA = REPO_ROOT / "infra" / "demo_data" / "openrouter"
DEMO_RESEARCH = REPO_ROOT / "infra" / "demo_data" / "research"
PLANTED_SECRET = "sk-planted-" + "c0ffee" * 6
TEST_ENV = {
    # fast, bounded retries so failure tests finish quickly
    "HTTP_MAX_ATTEMPTS": "3",
    "HTTP_BACKOFF_BASE_S": "0.05",
    "HTTP_BACKOFF_MAX_S": "0.2",
    "HTTP_TIMEOUT_S": "2",
    "LOG_LEVEL": "INFO",
}


@functools.lru_cache(maxsize=1)
def sandbox():
    """The real sandbox, in-process: the service code_runner runs (for scoring coding cases in
    tests without the local cloud)."""
    from shared.sandbox.service import SandboxConfig, SandboxService

    return SandboxService(SandboxConfig(["uid", "seccomp", "landlock"]))


def missing_fixture(what: str) -> None:
    """Skip a test whose recorded fixture is absent; with CI set, fail instead: a CI run that
    silently skipped every real-payload test would be green without testing anything real."""
    message = (f"recorded fixture {what} is absent (../shared/fixtures is provided beside the "
               f"repository, never committed); this test needs it")
    if os.environ.get("CI"):
        pytest.fail(message + " [CI is set: missing fixtures fail]", pytrace=False)
    pytest.skip(message)


def fixture_path(*parts: str) -> Path:
    """A recorded real payload from ../shared/fixtures; skips the test when absent (fails in CI)."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        missing_fixture(str(path))
    return path


def load_fixture_json(*parts: str) -> Any:
    return json.loads(fixture_path(*parts).read_text(encoding="utf-8"))


def reset_caches() -> None:
    from shared.config import get_settings
    from shared.platform import firestore as fs
    from shared.platform import pubsub, storage

    get_settings.cache_clear()
    fs.client.cache_clear()
    storage.client.cache_clear()
    pubsub.publisher.cache_clear()


@dataclass
class LocalCloud:
    env: dict[str, str]
    replay: ReplayServer
    state_dir: Path
    simulator: Any = None

    @property
    def project(self) -> str:
        return self.env["GOOGLE_CLOUD_PROJECT"]

    @property
    def research_sources(self) -> str:
        return self.env["RESEARCH_SOURCES"]

    @property
    def bucket(self) -> str:
        return self.env["REPORTS_BUCKET"]

    def function_url(self, name: str) -> str:
        return self.env[f"FUNCTION_URL_{name.upper()}"]

    def log(self, name: str) -> str:
        return (self.state_dir / "logs" / f"{name}.log").read_text(errors="replace")

    def reset_firestore(self) -> None:
        host = self.env["FIRESTORE_EMULATOR_HOST"]
        # a busy 2-core machine can take longer than httpx's 5 s default to empty the emulator
        r = httpx.delete(f"http://{host}/emulator/v1/projects/{self.project}/databases/(default)/documents",
                         timeout=60)
        r.raise_for_status()

    def reset_reports(self) -> None:
        """Empty reports/: a report is written once per run id, and run ids repeat once Firestore
        is reset (the scheduled run's `weekly-<ISO week>`), so a test would read an earlier
        test's report."""
        from google.cloud import storage

        bucket = storage.Client(project=self.project).bucket(self.bucket)
        for blob in list(bucket.list_blobs(prefix="reports/")):
            blob.delete()

    def dead_letter(self, function: str, body: bytes, message_id: str, attempts: int = 5) -> httpx.Response:
        """Deliver `body` to the dead-letter consumer the way Pub/Sub forwards a message after
        `function`'s subscription gave up on it."""
        import base64
        from datetime import datetime, timezone

        envelope = {"message": {"data": base64.b64encode(body).decode(), "messageId": message_id,
                                "publishTime": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                                "attributes": {"CloudPubSubDeadLetterSourceSubscription":
                                               f"projects/{self.project}/subscriptions/{function}-push",
                                               "CloudPubSubDeadLetterSourceDeliveryCount": str(attempts)}},
                    "subscription": f"projects/{self.project}/subscriptions/dead_letters-push"}
        return httpx.post(f"{self.function_url('dead_letters')}/projects/{self.project}/topics/pipeline-dead-letter",
                          json=envelope, timeout=60)

    def replay_control(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.replay.root_url}/_replay/{path}", json=body, timeout=5)
        r.raise_for_status()
        return r.json()

    def replay_requests(self) -> list[dict[str, Any]]:
        return self.replay_control("GET", "requests")["requests"]


def wait_until(predicate: Callable[[], Any], timeout_s: float = 30, what: str = "condition",
               interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory):
    from infra import local_stack

    if not DEMO_DATA.exists():
        pytest.fail(f"demo dataset missing at {DEMO_DATA}")
    import yaml

    from infra.demo import DEMO_RISK_POLICY, SIMULATOR_CONFIG, write_research_sources
    from infra.model_simulator import SimulatorServer

    replay = ReplayServer(ReplayState(DEMO_DATA, week=1, research_dir=DEMO_RESEARCH)).start()
    simulator = SimulatorServer(yaml.safe_load(SIMULATOR_CONFIG.read_text())).start()
    state_dir = tmp_path_factory.mktemp("local-cloud")
    sources = write_research_sources(replay.root_url, state_dir / "research_sources.yaml")
    saved_env = dict(os.environ)
    try:
        stack = local_stack.up(state_dir, {**TEST_ENV, "OPENROUTER_BASE_URL": replay.base_url,
                                           "RESEARCH_SOURCES": str(sources), "LLM_BASE_URL": simulator.base_url,
                                           "SIMULATOR_BASE_URLS": simulator.base_url,
                                           "BENCH_BUDGET_USD": "200", "BENCH_MAX_CASES_PER_CATEGORY": "4",
                                           # the simulator's test models are in no catalog
                                           "BENCH_ALLOW_UNPRICED": "sim/*",
                                           "BENCH_DAILY_BUDGET_USD": "1000", "BENCH_WEEKLY_BUDGET_USD": "5000",
                                           "BENCH_CALL_TIMEOUT_S": "2", "BENCH_SHARD_SIZE": "50",
                                           # as the demo: every model was first seen minutes ago
                                           "RISK_POLICY_FILE": str(DEMO_RISK_POLICY),
                                           # planted: must never reach code_runner or any output
                                           "LLM_API_KEY": PLANTED_SECRET},
                               log=lambda m: print(f"[local cloud] {m}"))
    except local_stack.StackError as exc:
        replay.stop()
        simulator.stop()
        pytest.fail(f"cannot start the local cloud: {exc}")
    os.environ.update(stack.env)
    reset_caches()
    try:
        yield LocalCloud(dict(stack.env), replay, state_dir, simulator)
    finally:
        local_stack.down(state_dir, log=lambda m: print(f"[local cloud] {m}"))
        replay.stop()
        simulator.stop()
        os.environ.clear()
        os.environ.update(saved_env)
        reset_caches()


@pytest.fixture
def cloud(local_cloud: LocalCloud) -> LocalCloud:
    """The local cloud with an empty Firestore and a fresh replay server (week 1, no faults)."""
    local_cloud.reset_firestore()
    local_cloud.reset_reports()
    local_cloud.replay_control("DELETE", "faults")
    local_cloud.replay_control("DELETE", "requests")
    local_cloud.replay_control("POST", "load", {"week": 1, "page_size": 0})
    local_cloud.replay_control("POST", "load", {"research_dir": str(DEMO_RESEARCH)})
    httpx.delete(f"{local_cloud.simulator.root_url}/_sim/quality", timeout=5).raise_for_status()
    reset_caches()
    return local_cloud


@pytest.fixture(scope="module")
def demo_replay():
    """The replay server on the demo dataset (OpenRouter week 1 until a test loads another week),
    without the emulators."""
    server = ReplayServer(ReplayState(DEMO_DATA)).start()
    try:
        yield server
    finally:
        server.stop()


# A repository's contract suite runs against both implementations: params=BOTH_BACKENDS, then
# `return either(request, InMemoryX, CloudX)`.
BOTH_BACKENDS = ["memory", pytest.param("cloud", marks=pytest.mark.emulators)]


def either(request: pytest.FixtureRequest, in_memory: Callable[[], Any], cloud_backed: Callable[[], Any]) -> Any:
    if request.param == "memory":
        return in_memory()
    request.getfixturevalue("cloud")     # emulators up, Firestore empty
    return cloud_backed()


@pytest.fixture
def settings(cloud: LocalCloud):
    from shared.config import settings_from_env

    return settings_from_env()
