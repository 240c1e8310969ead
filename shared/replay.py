"""Replaying and purging dead letters: the CLI's, run with the operator's credentials. No
function imports this module, so no function's service account needs to publish to every
trigger topic (tests/test_manifest.py derives each function's publish rights from its imports).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.operate import NotFound, dead_letter
from shared.pipeline import load_manifest
from shared.platform import message_log, pubsub


class ReplayBody(BaseModel):
    """The dead letter's body as it was (its function validates it on arrival)."""
    model_config = ConfigDict(extra="allow")


class ReplayRefused(ValueError):
    """The dead letter cannot be replayed as kept; the message says why."""


def replay(message_id: str) -> dict[str, Any]:
    """Publish the dead letter's body again to the topic it was first published to."""
    record = dead_letter(message_id)
    function = record.get("function")
    if function not in load_manifest().functions or not load_manifest().function(function).trigger_topic:
        raise ReplayRefused(f"dead letter {message_id} came from {function!r}, which has no trigger topic "
                            f"in the manifest")
    if not record.get("payload_complete", True) or not isinstance(record.get("body"), dict):
        raise ReplayRefused(f"dead letter {message_id} was kept cut at its size cap; it cannot be replayed")
    topic = load_manifest().function(function).trigger_topic
    new_id = pubsub.publish(topic, ReplayBody.model_validate(record["body"]), replay_of=message_id)
    message_log.mark_replayed(message_id, new_id)
    return {"replayed": message_id, "topic": topic, "message_id": new_id}


def purge(message_ids: list[str]) -> list[str]:
    """Delete these dead letters; returns those that existed. NotFound when none did."""
    gone = [m for m in message_ids if message_log.purge_dead_letter(m)]
    if message_ids and not gone:
        raise NotFound(f"no dead letter with message id {', '.join(message_ids)[:200]}")
    return gone


def all_dead_letter_ids(limit: int = 1000) -> list[str]:
    return [d["message_id"] for d in message_log.dead_letters(limit)]

