"""The local stack's prerequisites check names what is missing and how to install it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra import local_stack
from shared.pipeline import load_manifest
from tests.conftest import wait_until


def test_missing_emulators_are_named_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDSDK_ROOT_DIR", str(tmp_path))  # an SDK folder without emulators
    with pytest.raises(local_stack.StackError) as err:
        local_stack.check_prerequisites()
    msg = str(err.value)
    assert "Pub/Sub emulator missing" in msg and "gcloud components install pubsub-emulator" in msg
    assert "Firestore emulator missing" in msg and "cloud-firestore-emulator" in msg
    assert str(tmp_path) in msg


def test_missing_java_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no gcloud on PATH
    monkeypatch.setenv("CLOUDSDK_ROOT_DIR", str(tmp_path))
    with pytest.raises(local_stack.StackError) as err:
        local_stack.check_prerequisites()
    assert "Java is missing" in str(err.value) and "openjdk" in str(err.value)


def test_down_without_a_stack_is_harmless(tmp_path, capsys):
    assert local_stack.down(tmp_path) == 0
    assert "no local stack recorded" in capsys.readouterr().out


def test_secret_env_names_are_the_secret_settings():
    from shared.config import secret_env_names

    assert {"OPENROUTER_API_KEY", "LLM_API_KEY", "GITHUB_TOKEN"} <= secret_env_names()
    assert "OPENROUTER_BASE_URL" not in secret_env_names()


def test_private_files_are_owner_only_even_when_they_existed(tmp_path):
    path = tmp_path / "stack.env"
    path.write_text("old")
    path.chmod(0o644)
    local_stack.write_private(path, "A=1\n")
    assert path.read_text() == "A=1\n" and path.stat().st_mode & 0o777 == 0o600


@pytest.mark.emulators
def test_no_secret_reaches_any_file_the_stack_writes(cloud):
    """The session's stack was started with a planted LLM_API_KEY (tests/conftest.py): the
    functions got it, no state file or log holds it, the state files are owner-only."""
    from tests.conftest import PLANTED_SECRET

    files = [p for p in cloud.state_dir.rglob("*") if p.is_file()]
    assert {"stack.json", "stack.env"} <= {p.name for p in files}
    holding = [str(p) for p in files if PLANTED_SECRET.encode() in p.read_bytes()]
    assert holding == []
    for name in ("stack.json", "stack.env"):
        assert (cloud.state_dir / name).stat().st_mode & 0o777 == 0o600
    assert "LLM_API_KEY" not in (cloud.state_dir / "stack.env").read_text()
    # ...and the benchmark function did receive it through its environment
    bench = next(p for p in local_stack.Stack.load(cloud.state_dir).procs if p.name == "benchmark")
    environ = (Path(f"/proc/{bench.pid}/environ")).read_bytes().split(b"\0")
    assert f"LLM_API_KEY={PLANTED_SECRET}".encode() in environ
    # ...and only the functions whose manifest entry lists it (as Terraform mounts it)
    manifest = load_manifest()
    holders = {p.name for p in local_stack.Stack.load(cloud.state_dir).procs
               if p.name in manifest.functions
               and f"LLM_API_KEY={PLANTED_SECRET}".encode() in Path(f"/proc/{p.pid}/environ").read_bytes().split(b"\0")}
    assert holders == {f.name for f in manifest.active_functions() if "LLM_API_KEY" in f.secrets} \
        == {"benchmark", "research_scan"}      # research_scan: its optional LLM judge


def test_each_stack_run_starts_its_own_log_files(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "api.log").write_text("first run\n")
    local_stack._start_log_folder(tmp_path)
    assert list(logs.iterdir()) == []
    assert (tmp_path / "logs.previous" / "api.log").read_text() == "first run\n"


@pytest.mark.emulators
def test_up_with_demo_data_wires_the_functions_to_the_replay_server_and_the_simulator(tmp_path):
    """`make up DATA=demo`: two more processes of the stack, the settings pointing at them, and
    `down` stops them with the rest."""
    import httpx

    saved = dict(os.environ)
    try:
        stack = local_stack.up(tmp_path, {}, data="demo", log=lambda m: None)
        names = {p.name for p in stack.procs}
        assert {"replay-server", "model-simulator"} <= names
        models = httpx.get(stack.env["OPENROUTER_BASE_URL"] + "/models", timeout=10).json()["data"]
        assert len(models) == 16 and any(m["id"] == "openai/gpt-demo-5" for m in models)
        reply = httpx.post(stack.env["LLM_BASE_URL"] + "/chat/completions", timeout=10,
                           json={"model": "sim/steady", "messages": [{"role": "user", "content": "2+2?"}]})
        assert reply.headers["x-simulated"] == "true"
        assert stack.env["SIMULATOR_BASE_URLS"] == stack.env["LLM_BASE_URL"]
        assert "{replay}" not in Path(stack.env["RESEARCH_SOURCES"]).read_text()
    finally:
        local_stack.down(tmp_path, log=lambda m: None)
        os.environ.clear()
        os.environ.update(saved)
    wait_until(lambda: not any(running_in_group(p.pid) for p in stack.procs), 30, "every process stopped")


def running_in_group(pgid: int) -> bool:
    """A live (not zombie) process in this process group (an orphan's zombie is not ours to reap)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
