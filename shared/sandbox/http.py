"""The code_runner function's HTTP surface: validate, run the batch, answer JSON."""
from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import ValidationError

from shared.config import get_settings
from shared.log import configure, get_logger
from shared.sandbox.models import RunBatch
from shared.sandbox.service import SandboxConfig, SandboxService

log = get_logger(__name__)
MAX_BODY_BYTES = 32 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def service() -> SandboxService:
    s = get_settings()
    return SandboxService(SandboxConfig(
        required=list(s.sandbox_required_layers), allow_weak=s.sandbox_allow_weak,
        parallelism=s.sandbox_parallelism, uid_base=s.sandbox_uid_base, python=s.sandbox_python,
        work_root=s.sandbox_work_root))


def _respond(status: int, body: dict[str, Any]) -> Any:
    import flask

    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def handle(request: Any) -> Any:
    configure(get_settings().log_level)
    if request.method == "GET":
        probe = service().probe()
        return _respond(200, {"required": service().config.required, "weak_mode": service().config.allow_weak,
                              "probe": probe.model_dump(mode="json")})
    if request.method != "POST":
        return _respond(405, {"error": f"method {request.method} not allowed; POST a batch or GET the probe"})
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _respond(413, {"error": f"batch larger than {MAX_BODY_BYTES} bytes; send smaller batches"})
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
        batch = RunBatch.model_validate(body)
    except ValueError as exc:   # ValidationError is a ValueError
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]) \
            if isinstance(exc, ValidationError) else f"not JSON: {exc}"
        return _respond(400, {"error": f"invalid batch: {detail}"})
    result = service().run_batch(batch.cases)
    counts: dict[str, int] = {}
    for r in result.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    log.info("batch judged", cases=len(batch.cases), **counts)
    return _respond(200, result.model_dump(mode="json"))
