"""The local stack's prerequisites check names what is missing and how to install it."""
from __future__ import annotations

import pytest

from infra import local_stack


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
