"""Endpoint status from GET /models/{author}/{slug}/endpoints."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

from shared.catalog.models import parse_pricing

LIVE_STATUS_STRINGS = {"default", "ok", "online", "active"}


class EndpointStatus(BaseModel):
    provider: str | None
    tag: str | None
    status: int | str | None
    live: bool
    uptime_last_30m: float | None = None
    latency_p50_ms: float | None = None
    throughput_p50_tps: float | None = None
    context_length: int | None = None
    quantization: str | None = None
    pricing: dict[str, str] = {}


def _is_live(status: Any, uptime: Any) -> bool:
    # OpenRouter reports an integer status: 0 is normal, negative values are degraded or down.
    if isinstance(status, bool):
        return status
    if isinstance(status, (int, float)):
        return status >= 0
    if isinstance(status, str):
        return status.strip().lower() in LIVE_STATUS_STRINGS
    return not (isinstance(uptime, (int, float)) and uptime <= 0)


def parse_endpoints(payload: Any) -> list[EndpointStatus]:
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), list):
        raise ValueError("endpoints response has no data.endpoints list")
    out = []
    for ep in data["endpoints"]:
        if not isinstance(ep, dict):
            continue
        latency = ep.get("latency_last_30m") if isinstance(ep.get("latency_last_30m"), dict) else {}
        throughput = ep.get("throughput_last_30m") if isinstance(ep.get("throughput_last_30m"), dict) else {}
        try:
            pricing = parse_pricing(ep.get("pricing") or {}).values
        except ValueError:
            pricing = {}
        out.append(EndpointStatus(
            provider=ep.get("provider_name"), tag=ep.get("tag"), status=ep.get("status"),
            live=_is_live(ep.get("status"), ep.get("uptime_last_30m")),
            uptime_last_30m=ep.get("uptime_last_30m"),
            latency_p50_ms=latency.get("p50"), throughput_p50_tps=throughput.get("p50"),
            context_length=ep.get("context_length"), quantization=ep.get("quantization"),
            pricing=pricing,
        ))
    return out


def status_document(model_id: str, endpoints: list[EndpointStatus]) -> dict[str, Any]:
    eps = [e.model_dump(mode="json") for e in endpoints]
    live = sum(1 for e in endpoints if e.live)
    body = {"model_id": model_id, "available": live > 0, "live_endpoints": live,
            "total_endpoints": len(endpoints), "endpoints": eps}
    body["status_hash"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return body
