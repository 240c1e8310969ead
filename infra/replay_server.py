"""Local replay server: answers OpenRouter API paths from recorded or demo data, offline.

    python -m infra.replay_server --dataset infra/demo_data/openrouter --week 1 --port 8999
    python -m infra.replay_server --models-file ../shared/fixtures/openrouter/models-2026-05-01.json

Serves (under /api/v1): GET /models (optionally paged), GET /models?category=X&sort=top-weekly,
GET /models/{author}/{slug}/endpoints, GET /datasets/rankings-daily (needs a bearer key).
Static feeds (research sources): with --research-dir DIR (a folder with routes.json: a list of
{"path": "/research/...", "query": {...optional subset...}, "file": "name or absolute path",
"content_type": "..."}), matching GETs answer the file with an ETag and Last-Modified and
honour If-None-Match / If-Modified-Since with 304.
Control (for tests and the demo), under /_replay: POST load {"week": 2} or {"models_file": P}
or {"research_dir": D},
POST faults [{...}], DELETE faults, GET requests, DELETE requests.
A fault is {"path_prefix": "/api/v1/models", "status": 503, "count": 2, "retry_after": "1",
"body": "...", "delay_s": 0, "truncate": false}; count -1 means every request.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlparse

from infra.local_http import LocalServer

PREFIX = "/api/v1"


class ReplayState:
    def __init__(self, dataset: Path | None = None, week: int = 1, models_file: Path | None = None,
                 page_size: int = 0, research_dir: Path | None = None):
        self.lock = threading.Lock()
        self.dataset = dataset
        self.page_size = page_size
        self.faults: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {}
        self.label = ""
        self.routes: list[dict[str, Any]] = []
        self.research_dir: Path | None = None
        if research_dir:
            self.load_research_dir(research_dir)
        if models_file:
            self.load_models_file(models_file)
        elif dataset:
            self.load_week(week)

    def load_week(self, week: int) -> None:
        if self.dataset is None:
            raise ValueError("no --dataset given")
        path = self.dataset / f"week{week}.json"
        self.data = json.loads(path.read_text(encoding="utf-8"))
        self.label = str(path)

    def load_models_file(self, path: Path) -> None:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        self.data = {"models": body["data"], "rankings": {}, "token_volumes": {}, "endpoints": {}}
        self.label = str(path)

    def load_research_dir(self, folder: Path) -> None:
        folder = Path(folder)
        routes = json.loads((folder / "routes.json").read_text(encoding="utf-8"))
        for r in routes:
            r["_file"] = Path(r["file"]) if Path(r["file"]).is_absolute() else folder / r["file"]
        self.routes, self.research_dir = routes, folder

    def static_route(self, path: str, query: dict[str, str]) -> dict[str, Any] | None:
        for r in self.routes:
            if r["path"] == path and all(query.get(k) == str(v) for k, v in (r.get("query") or {}).items()):
                return r
        return None

    def take_fault(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if path.startswith(fault.get("path_prefix", "/")) and fault.get("count", -1) != 0:
                    if fault.get("count", -1) > 0:
                        fault["count"] -= 1
                    return dict(fault)
        return None


def make_handler(state: ReplayState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "replay/1"
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet; requests are in /_replay/requests
            pass

        def _send(self, status: int, body: Any, content_type: str = "application/json",
                  headers: dict[str, str] | None = None, truncate: bool = False) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            if truncate:
                raw = raw[: max(1, len(raw) // 2)]
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"null") if length else None

        # --- control ---------------------------------------------------------------------
        def _control(self, method: str, path: str) -> None:
            if method == "GET" and path == "/_replay/requests":
                with state.lock:
                    return self._send(200, {"requests": list(state.requests)})
            if method == "DELETE" and path == "/_replay/requests":
                with state.lock:
                    state.requests.clear()
                return self._send(200, {"ok": True})
            if method == "POST" and path == "/_replay/load":
                body = self._body() or {}
                try:
                    if "research_dir" in body:
                        state.load_research_dir(Path(body["research_dir"]))
                    elif "models_file" in body:
                        state.load_models_file(Path(body["models_file"]))
                    else:
                        state.load_week(int(body.get("week", 1)))
                    if "page_size" in body:
                        state.page_size = int(body["page_size"])
                except (OSError, ValueError, KeyError) as exc:
                    return self._send(400, {"error": str(exc)})
                return self._send(200, {"loaded": state.label})
            if method == "POST" and path == "/_replay/faults":
                body = self._body()
                with state.lock:
                    state.faults.extend(body if isinstance(body, list) else [body])
                return self._send(200, {"faults": len(state.faults)})
            if method == "DELETE" and path == "/_replay/faults":
                with state.lock:
                    state.faults.clear()
                return self._send(200, {"ok": True})
            return self._send(404, {"error": f"unknown control {method} {path}"})

        def do_POST(self) -> None:
            self._control("POST", urlparse(self.path).path)

        def do_DELETE(self) -> None:
            self._control("DELETE", urlparse(self.path).path)

        # --- API ---------------------------------------------------------------------------
        def do_GET(self) -> None:
            url = urlparse(self.path)
            path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
            if path.startswith("/_replay/"):
                return self._control("GET", path)
            with state.lock:
                state.requests.append({"method": "GET", "path": path, "query": query,
                                       "has_auth": bool(self.headers.get("Authorization")),
                                       "time": time.time()})
            fault = state.take_fault(path)
            if fault:
                time.sleep(float(fault.get("delay_s", 0)))
                if fault.get("status"):
                    headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") else {}
                    if fault.get("location"):
                        headers["Location"] = fault["location"]
                    body = fault.get("body", {"error": {"code": fault["status"], "message": "injected fault"}})
                    return self._send(int(fault["status"]), body.encode() if isinstance(body, str) else body,
                                      fault.get("content_type", "application/json"), headers)
            route = state.static_route(path, query)
            if route is not None:
                return self._static(route, bool(fault and fault.get("truncate")))
            status, body = self._route(path, query)
            self._send(status, body, truncate=bool(fault and fault.get("truncate")))

        def _static(self, route: dict[str, Any], truncate: bool) -> None:
            data = route["_file"].read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
            modified = formatdate(route["_file"].stat().st_mtime, usegmt=True)
            if self.headers.get("If-None-Match") == etag or (
                    not self.headers.get("If-None-Match") and self.headers.get("If-Modified-Since") == modified):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(200, data, route.get("content_type", "application/xml"),
                       {"ETag": etag, "Last-Modified": modified}, truncate=truncate)

        def _route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
            if not path.startswith(PREFIX):
                return 404, {"error": {"code": 404, "message": "not found"}}
            path = path[len(PREFIX):]
            data = state.data
            models = data.get("models", [])
            if path == "/models":
                if "category" in query:
                    ranked = data.get("rankings", {}).get(query["category"], [])
                    by_id = {m["id"]: m for m in models}
                    return 200, {"data": [by_id[i] for i in ranked if i in by_id]}
                if state.page_size:
                    offset = int(query.get("offset", 0))
                    page = models[offset: offset + state.page_size]
                    nxt = offset + state.page_size
                    return 200, {"data": page, "total_count": len(models),
                                 "links": {"next": f"{PREFIX}/models?offset={nxt}" if nxt < len(models) else None}}
                return 200, {"data": models}
            if path.startswith("/models/") and path.endswith("/endpoints"):
                model_id = unquote(path[len("/models/"): -len("/endpoints")])
                eps = data.get("endpoints", {})
                model = next((m for m in models if m["id"] == model_id), None)
                if model is None or model_id not in eps:
                    return 404, {"error": {"code": 404, "message": f"no endpoints for {model_id}"}}
                return 200, {"data": {"id": model_id, "name": model.get("name"),
                                      "created": model.get("created"), "description": model.get("description"),
                                      "architecture": model.get("architecture"), "endpoints": eps[model_id]}}
            if path == "/datasets/rankings-daily":
                if not self.headers.get("Authorization"):
                    return 401, {"error": {"code": 401, "message": "No auth credentials found"}}
                volumes = data.get("token_volumes", {}).get(query.get("category", ""), {})
                rows = [{"date": data.get("as_of"), "model_permaslug": slug, "total_prompt_tokens": t * 9 // 10,
                         "total_completion_tokens": t - t * 9 // 10} for slug, t in volumes.items()]
                return 200, {"data": rows}
            return 404, {"error": {"code": 404, "message": f"not found: {path}"}}

    return Handler


class ReplayServer(LocalServer):
    """Run in a thread (tests, demo) or in the foreground (command line)."""

    def __init__(self, state: ReplayState, host: str = "127.0.0.1", port: int = 0):
        super().__init__(make_handler(state), host, port)
        self.state = state

    @property
    def base_url(self) -> str:
        return self.root_url + PREFIX


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, help="folder with week1.json, week2.json, ...")
    p.add_argument("--week", type=int, default=1)
    p.add_argument("--models-file", type=Path, help="a recorded GET /models body to serve")
    p.add_argument("--page-size", type=int, default=0, help="page /models (0 = one page)")
    p.add_argument("--research-dir", type=Path, help="folder with routes.json and research feed files")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--url-file", type=Path, help="write the base URL here once listening")
    args = p.parse_args(argv)
    if not args.dataset and not args.models_file and not args.research_dir:
        p.error("give --dataset, --models-file or --research-dir")
    server = ReplayServer(ReplayState(args.dataset, args.week, args.models_file, args.page_size,
                                      args.research_dir),
                          args.host, args.port)
    print(f"replay server serving {server.state.label} at {server.base_url}", flush=True)
    if args.url_file:
        args.url_file.write_text(server.base_url + "\n")
    return server.serve()


if __name__ == "__main__":
    sys.exit(main())
