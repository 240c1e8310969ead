"""benchmark's side of code_runner: batches of coding cases go over HTTP to the only function
that executes model code. The benchmark itself never runs a line of it.

In GCP the request carries an OIDC ID token for the runner's URL (the benchmark's service
account holds run.invoker on it); locally (plain http on loopback) it carries none.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from shared.config import Settings
from shared.sandbox.models import BatchResult, CodeCase, CodeVerdict


class CodeRunnerUnavailable(RuntimeError):
    """No verdicts: not configured, unreachable, or it answered something unusable."""


class CodeRunnerClient:
    def __init__(self, settings: Settings):
        self.url = settings.code_runner_url
        self.timeout_s = settings.code_runner_timeout_s
        self._http = httpx.Client(timeout=httpx.Timeout(self.timeout_s, connect=10.0))
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _auth(self) -> dict[str, str]:
        if not self.url or not self.url.startswith("https://"):
            return {}
        with self._lock:
            if self._token is None or self._token[1] < time.monotonic():
                import google.auth.transport.requests
                from google.oauth2 import id_token

                token = id_token.fetch_id_token(google.auth.transport.requests.Request(), self.url)
                self._token = (token, time.monotonic() + 45 * 60)   # ID tokens live one hour
            return {"Authorization": f"Bearer {self._token[0]}"}

    def run(self, cases: list[CodeCase]) -> list[CodeVerdict]:
        if not self.url:
            raise CodeRunnerUnavailable("CODE_RUNNER_URL is not set: coding cases are not run anywhere else")
        body = {"cases": [c.model_dump(mode="json") for c in cases]}
        try:
            r = self._http.post(self.url.rstrip("/") + "/", json=body, headers=self._auth())
        except httpx.HTTPError as exc:
            raise CodeRunnerUnavailable(f"code_runner unreachable: {exc.__class__.__name__}: {exc}") from None
        except Exception as exc:  # token fetch (google.auth) failures
            raise CodeRunnerUnavailable(f"code_runner auth failed: {exc.__class__.__name__}") from None
        if r.status_code != 200:
            raise CodeRunnerUnavailable(f"code_runner answered HTTP {r.status_code}: {r.text[:200]}")
        try:
            result = BatchResult.model_validate_json(r.content)
        except ValueError as exc:
            raise CodeRunnerUnavailable(f"code_runner answered an unreadable batch: {exc}") from None
        by_id = {v.case_id: v for v in result.results}
        missing = [c.case_id for c in cases if c.case_id not in by_id]
        if missing:
            raise CodeRunnerUnavailable(f"code_runner returned no verdict for {missing[:3]}")
        return [by_id[c.case_id] for c in cases]


class CodeBatcher:
    """Collects coding cases while the model calls are still running and sends them in batches
    of `batch_size`, `workers` batches at a time, so judging overlaps with calling."""

    def __init__(self, client: CodeRunnerClient, batch_size: int, workers: int = 2):
        self.client = client
        self.batch_size = batch_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="code-batch")
        self._pending: list[tuple[Any, CodeCase]] = []
        self._futures: list[tuple[list[Any], Future]] = []
        self._lock = threading.Lock()

    def add(self, key: Any, case: CodeCase) -> None:
        with self._lock:
            self._pending.append((key, case))
            if len(self._pending) >= self.batch_size:
                self._send_locked()

    def _send_locked(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            keys = [k for k, _ in batch]
            self._futures.append((keys, self._pool.submit(self.client.run, [c for _, c in batch])))

    def results(self) -> dict[Any, CodeVerdict | str]:
        """Every key's verdict, or the reason it has none (the runner was unavailable)."""
        with self._lock:
            self._send_locked()
        out: dict[Any, CodeVerdict | str] = {}
        for keys, future in self._futures:
            try:
                verdicts = future.result()
            except CodeRunnerUnavailable as exc:
                out.update({k: str(exc) for k in keys})
                continue
            out.update(zip(keys, verdicts))
        self._pool.shutdown(wait=True)
        return out
