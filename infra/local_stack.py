"""The local cloud: emulators + one functions-framework process per active function.

    python -m infra.local_stack up [--state-dir .local] [--env KEY=VALUE ...] [--data demo]
    python -m infra.local_stack down [--state-dir .local]
    python -m infra.local_stack status [--state-dir .local]

`up` starts the gcloud SDK's Pub/Sub and Firestore emulators, gcp-storage-emulator and the
functions, each in its own process group (logs in STATE/logs/); creates the manifest's topics,
push subscriptions (push path /projects/P/topics/T, retry policy, dead-letter topic) and the
buckets; writes STATE/stack.env. `--data demo` also starts the replay server (DEMO DATA) and the
model simulator (SIMULATED) and wires the functions to them. `down` stops every process group it
started.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from shared.config import secret_env_names
from shared.pipeline import REPO_ROOT, FunctionSpec, Manifest, load_manifest

DEFAULT_PROJECT = "local-project"
PASS_THROUGH = ("OPENROUTER_", "LLM_", "BENCH_", "RESEARCH_", "LOG_LEVEL", "HTTP_", "MASS_DEACTIVATION_",
                "RANKINGS_", "ENDPOINT_", "SANDBOX_", "CODE_RUNNER_", "SIMULATOR_",
                "ALERT_", "SLACK_", "SMTP_")
DEFAULT_BUCKET = "local-reports"
HOST = "127.0.0.1"


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def sdk_root() -> Path:
    """Where the gcloud SDK lives (its emulators are under platform/)."""
    if os.environ.get("CLOUDSDK_ROOT_DIR"):
        return Path(os.environ["CLOUDSDK_ROOT_DIR"])
    gcloud = shutil.which("gcloud")
    if not gcloud:
        raise StackError("gcloud is not installed: install the Google Cloud CLI "
                         "(https://cloud.google.com/sdk/docs/install, or apt-get install google-cloud-cli)")
    return Path(os.path.realpath(gcloud)).parent.parent


def check_prerequisites() -> dict[str, Path]:
    root = sdk_root()
    found = {
        "pubsub": root / "platform/pubsub-emulator/bin/cloud-pubsub-emulator",
        "firestore": root / "platform/cloud-firestore-emulator/cloud_firestore_emulator",
    }
    missing = []
    if not found["pubsub"].exists():
        missing.append("Pub/Sub emulator missing: `gcloud components install pubsub-emulator` "
                       "(or apt-get install google-cloud-cli-pubsub-emulator)")
    if not found["firestore"].exists():
        missing.append("Firestore emulator missing: `gcloud components install cloud-firestore-emulator` "
                       "(or apt-get install google-cloud-cli-firestore-emulator)")
    if not shutil.which("java"):
        missing.append("Java is missing (the emulators need Java 11+): apt-get install openjdk-17-jre-headless")
    storage_bin = Path(sys.executable).parent / "gcp-storage-emulator"
    if not storage_bin.exists():
        missing.append("gcp-storage-emulator missing: run `make install` (it is in requirements-dev.txt)")
    if missing:
        raise StackError("cannot start the local stack:\n  - " + "\n  - ".join(missing)
                         + f"\n(gcloud SDK looked for under {root}; set CLOUDSDK_ROOT_DIR to override)")
    found["storage"] = storage_bin
    return found


@dataclass
class Proc:
    name: str
    pid: int
    port: int
    log: str


@dataclass
class Stack:
    state_dir: Path
    project: str = DEFAULT_PROJECT
    bucket: str = DEFAULT_BUCKET
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # handed to the functions through their environment, never saved: a restarted stack (or a
    # `kill_and_restart` from another process) takes them from its own environment again
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "stack.env"

    def save(self) -> None:
        write_private(self.state_file, json.dumps({
            "project": self.project, "bucket": self.bucket, "env": self.env,
            "procs": [p.__dict__ for p in self.procs]}, indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> "Stack | None":
        path = state_dir / "stack.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(state_dir, raw["project"], raw["bucket"], [Proc(**p) for p in raw["procs"]], raw["env"])

    def url(self, name: str) -> str:
        return next(f"http://{HOST}:{p.port}" for p in self.procs if p.name == name)


def write_private(path: Path, text: str) -> None:
    """Owner-only (0600) from the moment the file exists, not chmod-ed after writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)   # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)


ISOLATED_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "PYTHONUNBUFFERED", "LOG_LEVEL")


def isolated_env(env: dict[str, str]) -> dict[str, str]:
    """An `environment: isolated` function (code_runner) gets its own settings and nothing else:
    no project, no emulator hosts, no keys, no credentials."""
    return {k: v for k, v in env.items() if k in ISOLATED_ENV_KEYS or k.startswith("SANDBOX_")}


def _spawn(stack: Stack, name: str, cmd: list[str], port: int, env: dict[str, str]) -> Proc:
    log_path = stack.state_dir / "logs" / f"{name}.log"
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, cwd=REPO_ROOT, start_new_session=True)
    proc = Proc(name, popen.pid, port, str(log_path))
    stack.procs.append(proc)
    stack.save()  # saved at once, so `down` can stop whatever did start
    return proc


def _base_env() -> dict[str, str]:
    """This process's environment without emulator hosts, project and secrets (those go to the
    functions that list them: `_spawn_function`)."""
    secret_names = secret_env_names()
    return {k: v for k, v in os.environ.items()
            if not k.endswith("_EMULATOR_HOST") and k != "GOOGLE_CLOUD_PROJECT" and k not in secret_names}


def _spawn_function(stack: Stack, fn: FunctionSpec, port: int, base_env: dict[str, str]) -> Proc:
    """One function as functions-framework serves it in Cloud Functions gen2."""
    # only the secrets its manifest entry lists, as Terraform mounts them (from this process's
    # environment or the stack's --env; never from a file)
    held = {**{k: v for k, v in os.environ.items() if k in secret_env_names()}, **stack.secrets}
    secrets = {k: v for k, v in held.items() if k in fn.secrets}
    env = {**base_env, **stack.env, **secrets, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    env = isolated_env(env) if fn.environment == "isolated" else env
    return _spawn(stack, fn.name, [
        sys.executable, "-m", "functions_framework", "--source", fn.source, "--target", fn.entry_point,
        "--signature-type", fn.signature, "--host", HOST, "--port", str(port)], port, {**env, "K_SERVICE": fn.name})


def _recorded_proc(state_dir: Path, name: str) -> tuple[Stack, Proc]:
    stack = Stack.load(state_dir)
    if stack is None:
        raise StackError(f"no local stack recorded in {state_dir}")
    return stack, next(p for p in stack.procs if p.name == name)


def freeze(state_dir: Path, name: str, frozen: bool = True) -> None:
    """SIGSTOP (or SIGCONT) a process of the stack: an emulator that stops answering without
    closing its connections, as a dependency that hangs would. For fault tests."""
    _, proc = _recorded_proc(state_dir, name)
    os.killpg(proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def kill_and_restart(state_dir: Path, name: str, before_restart: Callable[[], None] = lambda: None) -> Proc:
    """SIGKILL a function's process (an instance dying mid-request) and start a new one on the
    same port, as Cloud Run would start a new instance behind the same URL. For fault tests."""
    stack, old = _recorded_proc(state_dir, name)
    try:
        os.killpg(old.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _group_gone(old.pid):
        time.sleep(0.05)
    stack.procs.remove(old)
    before_restart()
    base_env = _base_env()
    proc = _spawn_function(stack, load_manifest().function(name), old.port, base_env)
    _wait_http(proc)
    return proc


def _wait_http(proc: Proc, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://{HOST}:{proc.port}/", timeout=1.0)
            return
        except httpx.HTTPError:
            pass
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            tail = Path(proc.log).read_text(errors="replace")[-2000:]
            raise StackError(f"{proc.name} exited during start-up; log {proc.log}:\n{tail}") from None
        time.sleep(0.1)
    raise StackError(f"{proc.name} did not answer on port {proc.port} within {timeout_s:.0f}s; see {proc.log}")


def _create_topology(stack: Stack, manifest: Manifest) -> None:
    from google.cloud import pubsub_v1, storage
    from google.protobuf import duration_pb2

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    for topic in manifest.topics:
        publisher.create_topic(name=publisher.topic_path(stack.project, topic))
    dead_letter = publisher.topic_path(stack.project, manifest.dead_letter_topic)
    for fn in manifest.active_functions():
        if fn.signature != "cloudevent":
            continue
        port = next(p.port for p in stack.procs if p.name == fn.name)
        topic = publisher.topic_path(stack.project, fn.trigger_topic)
        # the dead-letter consumer retries its own messages; they cannot dead-letter into itself
        policy = {} if fn.trigger_topic == manifest.dead_letter_topic else {
            "dead_letter_policy": {"dead_letter_topic": dead_letter,
                                   "max_delivery_attempts": fn.retry.max_delivery_attempts}}
        subscriber.create_subscription(request={
            "name": subscriber.subscription_path(stack.project, f"{fn.name}-push"),
            "topic": topic,
            # the push path makes the CloudEvent source match production's
            "push_config": {"push_endpoint": f"http://{HOST}:{port}/projects/{stack.project}/topics/{fn.trigger_topic}"},
            "ack_deadline_seconds": min(fn.ack_deadline_s, 600),
            "retry_policy": {"minimum_backoff": duration_pb2.Duration(seconds=fn.retry.min_backoff_s),
                             "maximum_backoff": duration_pb2.Duration(seconds=fn.retry.max_backoff_s)},
            **policy,
        })
    # pull subscriptions an operator (or a test) can read: dead letters and published reports
    for topic in (manifest.dead_letter_topic, "report-published"):
        subscriber.create_subscription(request={
            "name": subscriber.subscription_path(stack.project, f"{topic}-inspect"),
            "topic": publisher.topic_path(stack.project, topic)})
    storage.Client(project=stack.project).create_bucket(stack.bucket)


def _start_log_folder(state_dir: Path) -> None:
    """One log file per function per stack run: the previous run's logs move to logs.previous/
    (a restarted instance within a run appends to its function's file)."""
    logs, previous = state_dir / "logs", state_dir / "logs.previous"
    if logs.exists() and any(logs.iterdir()):
        shutil.rmtree(previous, ignore_errors=True)
        logs.rename(previous)
    logs.mkdir(parents=True, exist_ok=True)


def _start_demo_data(stack: Stack, base_env: dict[str, str], log: Callable[[str], None]) -> dict[str, str]:
    """The replay server (OpenRouter week 1 and the research feeds of the DEMO DATA) and the
    model simulator as processes of the stack (`down` stops them); the settings that wire the
    functions to them."""
    from infra.demo import DATASET, DEMO_BENCH_ENV, RESEARCH, SIMULATOR_CONFIG, write_research_sources
    from infra.replay_server import PREFIX

    replay_port, simulator_port = free_port(), free_port()
    procs = [
        _spawn(stack, "replay-server", [sys.executable, "-m", "infra.replay_server", "--dataset", str(DATASET),
                                        "--research-dir", str(RESEARCH), "--host", HOST, "--port", str(replay_port)],
               replay_port, base_env),
        _spawn(stack, "model-simulator", [sys.executable, "-m", "infra.model_simulator", "--config",
                                          str(SIMULATOR_CONFIG), "--host", HOST, "--port", str(simulator_port)],
               simulator_port, base_env),
    ]
    for proc in procs:
        _wait_http(proc)
    root, simulator = f"http://{HOST}:{replay_port}", f"http://{HOST}:{simulator_port}/v1"
    sources = write_research_sources(root, stack.state_dir / "demo-research-sources.yaml")
    log(f"DEMO DATA: replay server {root} (OpenRouter week 1, research feeds), SIMULATED models {simulator}")
    return {"OPENROUTER_BASE_URL": root + PREFIX, "RESEARCH_SOURCES": str(sources), "LLM_BASE_URL": simulator,
            "SIMULATOR_BASE_URLS": simulator, **DEMO_BENCH_ENV}


def up(state_dir: Path, extra_env: dict[str, str], project: str = DEFAULT_PROJECT,
       bucket: str = DEFAULT_BUCKET, log: callable = print, data: str | None = None) -> Stack:
    """`data="demo"`: wired to the replay server and the model simulator (DEMO DATA, SIMULATED)."""
    if Stack.load(state_dir):
        raise StackError(f"a stack is already recorded in {state_dir}; run `make down` first")
    tools = check_prerequisites()
    _start_log_folder(state_dir)
    secret_names = secret_env_names()
    secrets = {k: v for k, v in extra_env.items() if k in secret_names}
    extra_env = {k: v for k, v in extra_env.items() if k not in secret_names}
    stack = Stack(state_dir, project, bucket, secrets=secrets)
    base_env = _base_env()
    try:
        ports = {n: free_port() for n in ("pubsub", "firestore", "storage")}
        started = time.monotonic()
        procs = [
            _spawn(stack, "pubsub-emulator", [str(tools["pubsub"]), f"--host={HOST}",
                                              f"--port={ports['pubsub']}"], ports["pubsub"], base_env),
            _spawn(stack, "firestore-emulator", [str(tools["firestore"]), "start", f"--host={HOST}",
                                                 f"--port={ports['firestore']}"], ports["firestore"], base_env),
            _spawn(stack, "storage-emulator", [str(tools["storage"]), "start", "--host", HOST, "--port",
                                               str(ports["storage"]), "--in-memory", "--quiet"],
                   ports["storage"], base_env),
        ]
        for p in procs:
            _wait_http(p)
        log(f"emulators ready in {time.monotonic() - started:.1f}s "
            f"(pubsub :{ports['pubsub']}, firestore :{ports['firestore']}, storage :{ports['storage']})")
        stack.env = {
            "GOOGLE_CLOUD_PROJECT": project,
            "PUBSUB_EMULATOR_HOST": f"{HOST}:{ports['pubsub']}",
            "FIRESTORE_EMULATOR_HOST": f"{HOST}:{ports['firestore']}",
            "STORAGE_EMULATOR_HOST": f"http://{HOST}:{ports['storage']}",
            "REPORTS_BUCKET": bucket,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{HOST}:{ports['pubsub']}/",
            # gcloud insists on a credential even for an emulator, which ignores it
            "CLOUDSDK_AUTH_ACCESS_TOKEN": "local-emulator-no-auth",
            **(_start_demo_data(stack, base_env, log) if data == "demo" else {}),
            **extra_env,
        }
        os.environ.update(stack.env)  # our own admin clients talk to the emulators too
        manifest = load_manifest()
        ports = {fn.name: free_port() for fn in manifest.active_functions()}
        for name, port in ports.items():
            stack.env[f"FUNCTION_URL_{name.upper()}"] = f"http://{HOST}:{port}"
        if "code_runner" in ports:
            stack.env["CODE_RUNNER_URL"] = stack.env["FUNCTION_URL_CODE_RUNNER"]
        if "catalog_api" in ports:       # the drift check reads it as the platform does
            stack.env["CATALOG_API_URL"] = stack.env["FUNCTION_URL_CATALOG_API"]
        fn_procs = [_spawn_function(stack, fn, ports[fn.name], base_env) for fn in manifest.active_functions()]
        for p in fn_procs:
            _wait_http(p)
        _create_topology(stack, manifest)
        stack.save()
        write_private(stack.env_file, "".join(f"{k}={v}\n" for k, v in sorted(stack.env.items())))
        log(f"local stack up in {time.monotonic() - started:.1f}s: {len(fn_procs)} functions "
            f"({', '.join(p.name for p in fn_procs)}); env in {stack.env_file}")
        return stack
    except BaseException:
        down(state_dir, log=lambda *_: None)
        raise


def _group_gone(pgid: int) -> bool:
    try:  # reap our own child (when `up` ran in this process), else it lingers as a zombie
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
        return False
    except ProcessLookupError:
        return True


def down(state_dir: Path, log: callable = print) -> int:
    stack = Stack.load(state_dir)
    if stack is None:
        log(f"no local stack recorded in {state_dir}")
        return 0
    for p in reversed(stack.procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)  # the whole group: gcloud wrappers leave Java behind
        except ProcessLookupError:
            continue
    for p in stack.procs:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not _group_gone(p.pid):
            time.sleep(0.05)
        else:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    stack.state_file.unlink(missing_ok=True)
    stack.env_file.unlink(missing_ok=True)
    log(f"local stack stopped ({len(stack.procs)} process groups)")
    return len(stack.procs)


def status(state_dir: Path) -> int:
    stack = Stack.load(state_dir)
    if stack is None:
        print(f"no local stack recorded in {state_dir} (start one with `make up`)")
        return 1
    rc = 0
    for p in stack.procs:
        alive = "running"
        if _group_gone(p.pid):
            alive, rc = "DEAD", 1
        print(f"{p.name:20} {alive:8} http://{HOST}:{p.port}  log {p.log}")
    return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="local cloud for the pipeline")
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".local")
    p.add_argument("--project", default=DEFAULT_PROJECT)
    p.add_argument("--bucket", default=DEFAULT_BUCKET)
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the functions (e.g. OPENROUTER_BASE_URL=...)")
    p.add_argument("--data", choices=["demo"], help="demo: serve the DEMO DATA through a replay server and "
                                                    "SIMULATED models (try every command offline)")
    args = p.parse_args(argv)
    try:
        if args.command == "up":
            extra = dict(kv.split("=", 1) for kv in args.env)
            for key, value in os.environ.items():  # the pipeline's own settings pass through
                if key.startswith(PASS_THROUGH) and value and key not in extra:
                    extra[key] = value
            up(args.state_dir, extra, args.project, args.bucket, data=args.data)
            return 0
        if args.command == "down":
            down(args.state_dir)
            return 0
        return status(args.state_dir)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
