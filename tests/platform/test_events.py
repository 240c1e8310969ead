"""Decoding Pub/Sub CloudEvents into messages (shared/platform/events.decode). No Firestore:
handle_pubsub is not called here."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from shared.messages import CatalogSyncRequest, StageDone, WeeklyCycleRequest
from shared.platform.events import EventMeta, PoisonMessage, decode

PUBLISH_TIME = "2026-03-01T03:00:05.123Z"


def envelope(data_b64: str | None, **message_extra: Any) -> dict[str, Any]:
    """A Pub/Sub push envelope as functions-framework hands it over (synthetic)."""
    message: dict[str, Any] = {"messageId": "1", "publishTime": PUBLISH_TIME, "attributes": {}}
    if data_b64 is not None:
        message["data"] = data_b64
    message.update(message_extra)
    return {"message": message, "subscription": "projects/p/subscriptions/weekly-cycle-requests-sub"}


def event_for(body: Any = None, raw: bytes | None = None, **message_extra: Any) -> SimpleNamespace:
    if raw is None:
        raw = json.dumps(body).encode("utf-8")
    return SimpleNamespace(data=envelope(base64.b64encode(raw).decode("ascii"), **message_extra))


def test_valid_weekly_request_decodes_with_meta():
    """A valid body decodes; message id, publish time and attributes are in the metadata."""
    ev = event_for({"full": False, "dry_run": True, "benchmarks": False, "run_id": "wk-2026-09",
                    "requested_by": "cli"}, attributes={"origin": "test"}, messageId="12345")
    msg, meta = decode(ev, WeeklyCycleRequest)
    assert msg == WeeklyCycleRequest(full=False, dry_run=True, benchmarks=False, run_id="wk-2026-09",
                                     requested_by="cli")
    assert meta == EventMeta(message_id="12345",
                             publish_time=datetime(2026, 3, 1, 3, 0, 5, 123000, tzinfo=timezone.utc),
                             attributes={"origin": "test"}, delivery_attempt=None)


def test_real_cloudevent_object_decodes():
    """A cloudevents.http.CloudEvent (what functions-framework passes) decodes the same way."""
    data = envelope(base64.b64encode(b'{"mode": "full"}').decode())
    data["deliveryAttempt"] = 3
    ev = CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished",
                     "source": "//pubsub.googleapis.com/projects/p/topics/catalog-sync-requests"}, data)
    msg, meta = decode(ev, CatalogSyncRequest)
    assert msg.mode == "full" and msg.dry_run is False and msg.run is None
    assert meta.message_id == "1" and meta.delivery_attempt == 3


def test_plain_dict_and_snake_case_keys():
    """A bare envelope dict and message_id/publish_time spellings are accepted."""
    raw = envelope(None, data=base64.b64encode(b"{}").decode())
    raw["message"] = {"data": raw["message"]["data"], "message_id": "m-7",
                      "publish_time": "2026-01-02T00:00:00+00:00"}
    msg, meta = decode(raw, WeeklyCycleRequest)
    assert msg == WeeklyCycleRequest()
    assert meta.message_id == "m-7"
    assert meta.publish_time == datetime(2026, 1, 2, tzinfo=timezone.utc)


@pytest.mark.parametrize("data", [None, "", base64.b64encode(b"   ").decode()])
def test_empty_data_gives_defaults(data):
    """No data, empty data or whitespace decode to the message defaults."""
    msg, _ = decode(SimpleNamespace(data=envelope(data)), WeeklyCycleRequest)
    assert msg == WeeklyCycleRequest(full=True, dry_run=False, benchmarks=True, run_id=None,
                                     requested_by="scheduler")


def test_invalid_base64_is_poison():
    """Data that is not base64 is a poison message naming the decoding error."""
    with pytest.raises(PoisonMessage) as exc:
        decode(SimpleNamespace(data=envelope("not base64 !!!")), WeeklyCycleRequest)
    assert str(exc.value) == "not a JSON Pub/Sub message: Error: Only base64 data is allowed"
    with pytest.raises(PoisonMessage, match="Incorrect padding"):
        decode(SimpleNamespace(data=envelope("abc")), WeeklyCycleRequest)


def test_non_utf8_is_poison():
    """Bytes that are not UTF-8 are poison, naming UnicodeDecodeError."""
    with pytest.raises(PoisonMessage, match="not a JSON Pub/Sub message: UnicodeDecodeError"):
        decode(event_for(raw=b"\xff\xfe{}"), WeeklyCycleRequest)


def test_invalid_json_is_poison():
    """Malformed JSON is poison, naming JSONDecodeError."""
    with pytest.raises(PoisonMessage, match="not a JSON Pub/Sub message: JSONDecodeError"):
        decode(event_for(raw=b'{"full": tru'), WeeklyCycleRequest)


def test_json_array_is_poison():
    """A JSON array is not a message object."""
    with pytest.raises(PoisonMessage, match="message body must be a JSON object, got list"):
        decode(event_for([{"full": True}]), WeeklyCycleRequest)


def test_json_scalar_is_poison():
    """A JSON string is not a message object."""
    with pytest.raises(PoisonMessage, match="got str"):
        decode(event_for("full"), WeeklyCycleRequest)


def test_unknown_field_is_poison():
    """A typo'd field ('ful') is refused and named."""
    with pytest.raises(PoisonMessage) as exc:
        decode(event_for({"ful": True}), WeeklyCycleRequest)
    msg = str(exc.value)
    assert msg.startswith("invalid WeeklyCycleRequest: ")
    assert "ful: Extra inputs are not permitted" in msg


def test_wrong_type_is_poison():
    """A wrong type is refused, naming the field."""
    with pytest.raises(PoisonMessage) as exc:
        decode(event_for({"dry_run": "maybe"}), WeeklyCycleRequest)
    assert str(exc.value).startswith("invalid WeeklyCycleRequest: dry_run: Input should be a valid boolean")


def test_bad_run_id_pattern_is_poison():
    """run_id must match its pattern."""
    with pytest.raises(PoisonMessage, match="invalid WeeklyCycleRequest: run_id: "):
        decode(event_for({"run_id": "has space"}), WeeklyCycleRequest)


def test_bad_sync_mode_is_poison():
    """CatalogSyncRequest.mode is one of full/quick/rankings."""
    with pytest.raises(PoisonMessage, match="invalid CatalogSyncRequest: mode: "):
        decode(event_for({"mode": "slow"}), CatalogSyncRequest)


def test_missing_required_nested_field_is_poison():
    """StageDone needs run; a missing nested field is named with its path."""
    body = {"run": {"run_id": "r1", "options": {}}, "stage": "catalog_sync", "status": "succeeded"}
    with pytest.raises(PoisonMessage) as exc:
        decode(event_for(body), StageDone)
    assert "run.started_at: Field required" in str(exc.value)


def test_envelope_without_message_is_poison():
    """An envelope without 'message' is poison."""
    with pytest.raises(PoisonMessage, match="not a JSON Pub/Sub message: KeyError"):
        decode(SimpleNamespace(data={"subscription": "s"}), WeeklyCycleRequest)


def test_poison_message_is_value_error():
    """PoisonMessage is a ValueError (callers may catch either)."""
    assert issubclass(PoisonMessage, ValueError)


def test_nanosecond_publish_time():
    """Pub/Sub may send nine fractional digits; they parse (truncated to microseconds)."""
    _, meta = decode(event_for({}, publishTime="2026-03-01T03:00:05.123456789Z"), WeeklyCycleRequest)
    assert meta.publish_time == datetime(2026, 3, 1, 3, 0, 5, 123456, tzinfo=timezone.utc)


def test_missing_publish_time_is_now():
    """Without publishTime the event counts as published now (never stale)."""
    before = datetime.now(timezone.utc)
    _, meta = decode(SimpleNamespace(data={"message": {"data": ""}}), WeeklyCycleRequest)
    assert before <= meta.publish_time <= datetime.now(timezone.utc)
    assert meta.message_id == "" and meta.attributes == {}


def test_malformed_publish_time_is_poison():
    """decode promises PoisonMessage for an envelope it cannot read; a malformed publishTime is one.
    (Otherwise handle_pubsub lets a bare ValueError escape and the message is redelivered.)"""
    with pytest.raises(PoisonMessage):
        decode(event_for({}, publishTime="yesterday"), WeeklyCycleRequest)
