"""Research scan performance over the default sources, served offline (a perf script).

    .venv/bin/python -m perf.research_scan [--window-days 3650]

Data: the recorded real payloads in ../shared/fixtures/research (arXiv legacy Atom and RSS,
HF models and daily papers, OpenAI / DeepMind / Google AI feeds) plus this repo's synthetic
Google Research feed (tests/fixtures/research), mapped onto the DEFAULT configuration's sources
(shared/research/default_config.yaml; Anthropic stays disabled as by default). Each source host
gets its own replay server on its own loopback address (127.0.0.2, .3, ...) so "concurrent across
hosts, polite within one" is exercised as configured (arXiv hosts keep their 3 s interval). The
window is wide (a backfill) so every recorded item is in it. Runs a first scan into an empty
Firestore emulator, then a second one with nothing changed, and prints wall times, requests and
bytes of each, and findings per source.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from infra import local_stack
from infra.replay_server import ReplayServer, ReplayState
from shared.pipeline import REPO_ROOT
from shared.research.config import DEFAULT_CONFIG

FIX = REPO_ROOT.parent / "shared" / "fixtures" / "research"
SYN = REPO_ROOT / "tests" / "fixtures" / "research"
AS_OF = date(2026, 8, 1)
FILES = {  # default source name -> (file, content type)
    "arxiv-api": (FIX / "arxiv-atom-cs.RO-2025-10-17.xml", "application/atom+xml"),
    "arxiv-rss": (FIX / "arxiv-rss-cs.CL-2026-04-27-trimmed.xml", "application/rss+xml"),
    "hf-models": (FIX / "hf-models-2026-08-01-trimmed.json", "application/json"),
    "hf-daily-papers": (FIX / "hf-daily-papers-2026-07-31-trimmed.json", "application/json"),
    "openai-news": (FIX / "openai-news-2025-07-28.xml", "application/rss+xml"),
    "deepmind-blog": (FIX / "deepmind-blog-2025-07-23.xml", "application/rss+xml"),
    "google-ai-keyword": (FIX / "google-ai-blog-keyword-2025-07-24.xml", "application/rss+xml"),
    "google-research-blog": (SYN / "google-research-blog.xml", "application/rss+xml"),
}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--window-days", type=int, default=3650)
    args = p.parse_args()
    missing = [str(f) for f, _ in FILES.values() if not f.exists()]
    if missing:
        print(f"recorded fixtures absent: {missing}")
        return 2
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    work = Path(tempfile.mkdtemp(prefix="bench-research-"))
    hosts = sorted({urlsplit(s["url"]).netloc for s in config["sources"] if s.get("enabled", True)})
    routes = []
    for s in config["sources"]:
        if s["name"] in FILES:
            f, ctype = FILES[s["name"]]
            routes.append({"path": urlsplit(s["url"]).path, "file": str(f), "content_type": ctype})
    (work / "routes.json").write_text(json.dumps(routes))
    state = ReplayState(research_dir=work)
    servers = {h: ReplayServer(state, host=f"127.0.0.{i + 2}").start() for i, h in enumerate(hosts)}
    netloc = {h: servers[h].root_url.split("//")[1] for h in hosts}
    for s in config["sources"]:
        parts = urlsplit(s["url"])
        if parts.netloc in netloc:
            s["url"] = f"http://{netloc[parts.netloc]}{parts.path}"
    config["hosts"] = {netloc[h]: v for h, v in config.get("hosts", {}).items() if h in netloc}
    config["window_days"] = args.window_days
    cfg_path = work / "sources.yaml"
    cfg_path.write_text(yaml.safe_dump(config))

    stack_dir = work / "stack"
    stack = local_stack.up(stack_dir, {}, log=lambda m: None)
    os.environ.update(stack.env)
    try:
        from shared.config import settings_from_env
        from shared.research.scan import run_scan

        settings = settings_from_env()
        t = time.perf_counter()
        first = run_scan(settings, "bench-1", AS_OF, str(cfg_path))
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        second = run_scan(settings, "bench-2", AS_OF, str(cfg_path))
        t2 = time.perf_counter() - t
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"{len(hosts)} hosts on loopback, Firestore emulator; window {args.window_days} days to {AS_OF}")
        print(f"first scan:  {t1:.2f} s wall (scan record {first.duration_s} s); status {first.status}; "
              f"requests {first.counts['requests']}, bytes {first.counts['bytes']:,}")
        print(f"second scan: {t2:.2f} s wall; status {second.status}; requests {second.counts['requests']}, "
              f"bytes {second.counts['bytes']:,}; statuses "
              f"{sorted({c for s in second.sources for c in s.http_statuses})}; new {second.counts['new']}")
        print("findings per source (first scan): fetched / in window / new / duplicate / irrelevant")
        for s in first.sources:
            print(f"  {s.name:22} {s.status:6} {s.fetched:4} / {s.in_window:4} / {s.new:4} / {s.duplicate:3} / "
                  f"{s.irrelevant:4}  ({s.duration_s:.2f} s)")
        print(f"totals: {first.counts}")
    finally:
        local_stack.down(stack_dir, log=lambda m: None)
        for s in servers.values():
            s.stop()
        httpx.Client().close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
