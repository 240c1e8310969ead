"""Asking for a drift check (api, CLI, a finished full sync): its own module, so that the
functions importing it are the ones that publish to drift-check-requests (tests/test_manifest.py)."""
from __future__ import annotations

from typing import Any

from shared.messages import DriftCheckRequest
from shared.pipeline import load_manifest
from shared.platform import pubsub


def request_drift_check(check_id: str, requested_by: str) -> dict[str, Any]:
    request = DriftCheckRequest(check_id=check_id, requested_by=requested_by)
    topic = load_manifest().function("drift_check").trigger_topic
    message_id = pubsub.publish(topic, request)
    return {"check_id": check_id, "topic": topic, "message_id": message_id}
