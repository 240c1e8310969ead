"""Pub/Sub publishing of pydantic messages (JSON bodies, UTF-8)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from pydantic import BaseModel

from shared.config import get_settings
from shared.log import get_logger

if TYPE_CHECKING:
    from google.cloud import pubsub_v1

log = get_logger(__name__)


@functools.lru_cache(maxsize=1)
def publisher() -> "pubsub_v1.PublisherClient":
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient()


def topic_path(topic: str) -> str:
    return f"projects/{get_settings().require_project()}/topics/{topic}"


def publish(topic: str, message: BaseModel, timeout_s: float = 30.0, **attributes: str) -> str:
    """Publish and wait for the server's message id (so a failure raises here, not later)."""
    data = message.model_dump_json().encode("utf-8")
    future = publisher().publish(topic_path(topic), data, **attributes)
    message_id = future.result(timeout=timeout_s)
    log.info("published", topic=topic, published_message_id=message_id, message_type=type(message).__name__)
    return message_id
