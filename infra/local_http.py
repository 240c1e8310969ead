"""The small HTTP server base shared by the replay server and the model simulator."""
from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen() backlog: must be set before the socket listens


class LocalServer:
    """A threaded stdlib HTTP server on loopback: start() in a thread (tests, demo) or
    serve() in the foreground (command line)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0):
        self.httpd = _Server((host, port), handler)
        original = self.httpd.handle_error

        def quiet(request: Any, client_address: Any) -> None:
            # a client that gave up (timeout, size cap) closes the socket: not a server fault
            if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                return
            original(request, client_address)
        self.httpd.handle_error = quiet

    @property
    def root_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def serve(self) -> int:
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
