"""Decoding Pub/Sub CloudEvents into pydantic messages, with the rules every handler shares:
poison messages are logged, counted and acknowledged; stale events are dropped with a log."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError

from shared.config import get_settings
from shared.log import configure, get_logger, log_context

log = get_logger(__name__)
M = TypeVar("M", bound=BaseModel)

OPS_COLLECTION = "ops"
POISON_DOC = "poison_messages"
STALE_DOC = "stale_events"


class PoisonMessage(ValueError):
    """The message can never be processed as sent (its id and raw payload kept for operators)."""

    def __init__(self, reason: str, message_id: str = "", payload: bytes = b""):
        super().__init__(reason)
        self.message_id = message_id
        self.payload = payload


class RetryLater(RuntimeError):
    """Fail this delivery so Pub/Sub retries it with backoff: the work is held by another
    attempt whose lease is live. (Acknowledging it would lose the work if that attempt died.)"""


@dataclass(frozen=True)
class EventMeta:
    message_id: str
    publish_time: datetime
    attributes: dict[str, str]
    delivery_attempt: int | None


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)  # Pub/Sub times are UTC


def decode(cloud_event: Any, message_cls: type[M]) -> tuple[M, EventMeta]:
    """Pub/Sub CloudEvent → (message, metadata). Raises PoisonMessage with the reason."""
    data = cloud_event.data if hasattr(cloud_event, "data") else cloud_event
    msg = data.get("message") if isinstance(data, dict) else None
    message_id = str((msg.get("messageId") or msg.get("message_id") or "") if isinstance(msg, dict) else "")
    raw = b""
    try:
        msg = data["message"]
        raw = base64.b64decode(msg.get("data") or "", validate=True)
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (AttributeError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise PoisonMessage(f"not a JSON Pub/Sub message: {exc.__class__.__name__}: {exc}", message_id,
                            raw or json.dumps(data, default=str).encode()) from None
    if not isinstance(body, dict):
        raise PoisonMessage(f"message body must be a JSON object, got {type(body).__name__}", message_id, raw)
    try:
        message = message_cls.model_validate(body)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['msg']}"
                            for e in exc.errors())
        raise PoisonMessage(f"invalid {message_cls.__name__}: {reasons}", message_id, raw) from None
    try:
        meta = EventMeta(
            message_id=message_id,
            publish_time=_parse_time(msg.get("publishTime") or msg.get("publish_time")),
            attributes=dict(msg.get("attributes") or {}),
            delivery_attempt=data.get("deliveryAttempt"),
        )
    except (TypeError, ValueError) as exc:
        raise PoisonMessage(f"unreadable Pub/Sub envelope: {exc}", message_id, raw) from None
    return message, meta


def handle_pubsub(cloud_event: Any, message_cls: type[M], function_name: str,
                  handler: Callable[[M, EventMeta], None]) -> None:
    """Entry-point body shared by every event-driven function.

    Returning normally acknowledges the message. An exception from `handler` is an
    infrastructure failure: Pub/Sub redelivers with backoff, then dead-letters.
    """
    settings = get_settings()
    configure(settings.log_level)
    with log_context(function=function_name):
        try:
            message, meta = decode(cloud_event, message_cls)
        except PoisonMessage as exc:
            topic = source_topic(cloud_event)
            log.error("poison message acknowledged and dropped", reason=str(exc), message_id=exc.message_id,
                      topic=topic)
            count_dropped(POISON_DOC, function_name)
            _keep_poison(exc, function_name, topic)
            return
        age = (datetime.now(timezone.utc) - meta.publish_time).total_seconds()
        if age > settings.max_event_age_s:
            log.warning("stale event dropped", message_id=meta.message_id, age_s=round(age),
                        max_event_age_s=settings.max_event_age_s)
            count_dropped(STALE_DOC, function_name)
            return
        run = getattr(message, "run", None)
        with log_context(message_id=meta.message_id, run_id=getattr(run, "run_id", None)):
            try:
                handler(message, meta)
            except RetryLater as exc:
                log.warning("delivery refused for a later retry", reason=str(exc),
                            delivery_attempt=meta.delivery_attempt)
                raise


def source_topic(cloud_event: Any) -> str | None:
    """The topic of a Pub/Sub CloudEvent (its source: //pubsub.googleapis.com/projects/P/topics/T)."""
    try:
        source = cloud_event["source"]
    except (KeyError, TypeError):
        return None
    return source.rsplit("/topics/", 1)[-1] if isinstance(source, str) and "/topics/" in source else None


def _keep_poison(exc: PoisonMessage, function_name: str, topic: str | None) -> None:
    from shared.platform import message_log

    try:
        message_log.keep_poison(exc.message_id, function_name, topic, str(exc), exc.payload)
    except Exception:  # keeping it must not turn a poison message into a retry loop
        log.error("could not keep the poison message", exc_info=True, message_id=exc.message_id)


def note_delivery(meta: EventMeta, function_name: str, kind: str, record_id: str) -> None:
    """Index message id → the record it created, for `status <message id>`."""
    from shared.platform import message_log

    try:
        message_log.note_delivery(meta.message_id, function_name, kind, record_id)
    except Exception as exc:
        log.warning("could not index the message's record", record_id=record_id,
                    error=f"{exc.__class__.__name__}: {exc}")


def count_dropped(document: str, function_name: str) -> None:
    """Count a message that was acknowledged without being processed (ops/{document})."""
    from shared.platform.firestore import increment_counter

    try:
        increment_counter(OPS_COLLECTION, document, function_name)
    except Exception:  # counting must not turn a poison message into a retry loop
        log.error("could not count dropped message", exc_info=True, counter=document)
