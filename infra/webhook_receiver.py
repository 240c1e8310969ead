"""A local incoming-webhook receiver (Slack's shape): records every POST and answers `ok`, or
fails the next N requests with a given status when told to, so alerts are tested over real HTTP
and never against hooks.slack.com.

    python -m infra.webhook_receiver --port 9200

Control (for tests), under /_hook: GET|DELETE requests, POST fail {"count": 2, "status": 500,
"body": "no_service"}.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from infra.local_http import LocalServer


class ReceiverState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: list[dict[str, Any]] = []
            self.failures: list[tuple[int, str]] = []

    def fail(self, count: int, status: int = 500, body: str = "internal_error") -> None:
        """Answer the next `count` requests with `status` (then `ok` again)."""
        with self.lock:
            self.failures += [(status, body)] * count

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.requests]


def make_handler(state: ReceiverState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "webhook-receiver/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
            raw = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            if self.path == "/_hook/requests":
                return self._send(200, json.dumps({"requests": state.received()}), "application/json")
            self._send(404, "no_service")

        def do_DELETE(self) -> None:
            if self.path == "/_hook/requests":
                state.reset()
                return self._send(200, "{}", "application/json")
            self._send(404, "no_service")

        def do_POST(self) -> None:
            raw = self._body()
            if self.path == "/_hook/fail":
                spec = json.loads(raw or b"{}")
                state.fail(int(spec.get("count", 1)), int(spec.get("status", 500)), str(spec.get("body", "error")))
                return self._send(200, "{}", "application/json")
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = None
            with state.lock:
                failure = state.failures.pop(0) if state.failures else None
                state.requests.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                       "json": body, "raw": raw.decode("utf-8", "replace"),
                                       "answered": failure[0] if failure else 200})
            if failure:
                return self._send(*failure)
            if body is None:
                return self._send(400, "invalid_payload")
            self._send(200, "ok")

    return Handler


class WebhookReceiver(LocalServer):
    def __init__(self, state: ReceiverState | None = None, host: str = "127.0.0.1", port: int = 0):
        self.state = state or ReceiverState()
        super().__init__(make_handler(self.state), host, port)

    def url(self, path: str = "/services/T000/B000/hook") -> str:
        return self.root_url + path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    server = WebhookReceiver(host=args.host, port=args.port)
    print(f"webhook receiver at {server.url()}", flush=True)
    return server.serve()


if __name__ == "__main__":
    sys.exit(main())
