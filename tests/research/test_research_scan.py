"""The research scan over the demo research feeds, served over HTTP by the replay server
(conditional GET included), writing into the in-memory research store; the tests marked
`both` run again against the emulators to prove the Firestore and Cloud Storage path."""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from infra.demo import write_research_sources
from infra.replay_server import ReplayServer, ReplayState
from shared.catalog.store import CatalogStore, InMemoryCatalogStore
from shared.config import Settings, settings_from_env
from shared.research import blackboard as bb
from shared.research import store as research_store
from shared.research.scan import run_scan
from shared.research.store import ResearchStore, ScanRecord
from tests.conftest import DEMO_RESEARCH, TEST_ENV, LocalCloud

AS_OF = date(2026, 11, 22)
EVER = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass
class Scanner:
    feeds: LocalCloud          # the replay server with the demo feeds, and the sources file for it
    store: ResearchStore
    settings: Settings
    catalog: CatalogStore | None = None      # None: the catalog in Firestore

    def scan(self, scan_id: str, sources: str | None = None) -> ScanRecord:
        return run_scan(self.settings, scan_id, AS_OF, sources or self.feeds.research_sources, self.store,
                        self.catalog)

    def findings(self) -> dict[str, dict]:
        return {d["id"]: d for d in self.store.findings_since(EVER)}


@pytest.fixture(scope="module")
def demo_feeds(tmp_path_factory):
    """The replay half of a local cloud, without the emulators."""
    replay = ReplayServer(ReplayState(research_dir=DEMO_RESEARCH)).start()
    folder = tmp_path_factory.mktemp("research-feeds")
    sources = write_research_sources(replay.root_url, folder / "research_sources.yaml")
    try:
        yield LocalCloud({**TEST_ENV, "RESEARCH_SOURCES": str(sources), "REPORTS_BUCKET": "reports"},
                         replay, folder)
    finally:
        replay.stop()


@pytest.fixture
def memory(demo_feeds) -> Scanner:
    """A scan into the in-memory store, with the demo feeds as they are and no faults."""
    demo_feeds.replay_control("DELETE", "faults")
    demo_feeds.replay_control("DELETE", "requests")
    demo_feeds.replay_control("POST", "load", {"research_dir": str(DEMO_RESEARCH)})
    return Scanner(demo_feeds, research_store.InMemoryResearchStore(), settings_from_env(demo_feeds.env),
                   InMemoryCatalogStore())


@pytest.fixture(params=["memory", pytest.param("firestore", marks=pytest.mark.emulators)])
def both(request) -> Scanner:
    if request.param == "memory":
        return request.getfixturevalue("memory")
    cloud = request.getfixturevalue("cloud")     # emulators up, Firestore empty, feeds reset
    return Scanner(cloud, research_store.FirestoreResearchStore(), settings_from_env())


def by_name(rec) -> dict:
    return {s.name: s for s in rec.sources}


def test_scan_posts_deduplicated_scored_findings_and_proposals(both):
    rec = both.scan("rs-1")
    assert rec.status == "succeeded", [(s.name, s.error) for s in rec.sources if s.error]
    assert all(s.status == "ok" for s in rec.sources), [(s.name, s.status) for s in rec.sources]
    stored = both.findings()
    assert rec.counts["new"] == len(stored) > 0 and sorted(stored) == rec.new_findings
    assert rec.counts["irrelevant"] > 0  # the demo feeds hold off-topic papers
    # every stored finding says why it matched: the phrases, and the semantic scorer's nearest
    # exemplar (the demo sources inherit the default semantic section)
    assert rec.scorer.startswith("keywords-v1+semantic-v1")
    for f in stored.values():
        a = f["assessment"]
        assert a["relevant"] and a["semantic"]["nearest"] and "borderline" in f, f["id"]
        if a["keyword_relevant"]:
            assert f["relevance"] >= 1.0 and a["topics"][0]["phrases"], f["id"]
        else:
            assert a["semantic"]["similarity"] >= 0.45 and f["top_topic"] == a["semantic"]["topic"], f["id"]
        assert f["status"] in ("new", "proposed") and f["first_scan_id"] == "rs-1"
    # one arXiv paper seen through the API, the RSS feed and HF daily papers is one finding
    multi = [f for f in stored.values() if f["id"].startswith("arxiv:") and len(f["seen_in"]) >= 2]
    assert multi, "expected a paper announced by several sources"
    # HF derivatives are folded into their base model
    assert not any("gguf" in f["id"].lower() for f in stored.values())
    # blog posts are deduplicated by canonical URL (tracking parameters dropped)
    urls = [f["url"].split("?")[0].rstrip("/") for f in stored.values() if f["kind"] == "rss"]
    assert len(urls) == len(set(urls))
    proposals = both.store.proposals_for_findings(stored)
    assert proposals and sorted(p["id"] for p in proposals) == sorted(rec.proposals)
    for p in proposals:
        assert p["type"] in bb.PROPOSAL_TYPES and p["evidence"] and p["rationale"]
        assert stored[p["finding_id"]]["status"] == "proposed"
    md = both.store.read_findings_file(both.settings.require_reports_bucket(), rec.started_at.date())
    assert "# Research findings" in md and "why:" in md and "## Integration proposals" in md
    assert rec.findings_uri.endswith(f"/{rec.started_at.date().isoformat()}.md")
    saved = both.store.load_scan("rs-1")
    assert saved == rec and saved.sources[0].http_statuses == [200]


def test_second_scan_of_unchanged_sources_costs_only_304s_and_adds_nothing(both):
    first = both.scan("rs-a")
    before = both.findings()
    bucket, day = both.settings.require_reports_bucket(), first.started_at.date()
    md_before = both.store.read_findings_file(bucket, day)
    second = both.scan("rs-b")
    assert second.counts["new"] == 0 and both.findings() == before
    assert all(s.status == "not_modified" for s in second.sources), [(s.name, s.http_statuses) for s in second.sources]
    assert second.counts["bytes"] == 0
    assert second.counts["requests"] == sum(len(s.http_statuses) for s in second.sources)
    assert both.store.read_findings_file(bucket, day) == md_before


def test_a_redelivered_scan_does_nothing_twice(memory):
    first = memory.scan("rs-once")
    again = memory.scan("rs-once")
    assert again.status == "duplicate" and memory.store.load_scan("rs-once") == first


def test_rescan_after_validators_lost_sees_duplicates_not_new(memory):
    memory.scan("rs-x")
    before = memory.findings()
    memory.store.validators.clear()
    again = memory.scan("rs-y")
    assert again.counts["new"] == 0 and again.counts["duplicate"] > 0
    assert memory.findings().keys() == before.keys()
    assert all(f["first_scan_id"] == "rs-x" for f in memory.findings().values())


def test_new_arxiv_version_is_noted_on_the_existing_finding(both, tmp_path):
    both.scan("rs-v1")
    folder = tmp_path / "research"
    shutil.copytree(DEMO_RESEARCH, folder)
    api = folder / "arxiv-api.xml"
    text = api.read_text()
    paper = "2611.15544"  # a relevant RAG paper in the demo feeds (infra/demo_data/research/README.md)
    found = re.search(rf"<id>https?://arxiv\.org/abs/{paper}v(\d+)</id>", text)
    assert found, f"demo arXiv feed has {paper}"
    version = int(found.group(1))
    api.write_text(text.replace(f"abs/{paper}v{version}</id>", f"abs/{paper}v{version + 5}</id>", 1))
    both.feeds.replay_control("POST", "load", {"research_dir": str(folder)})
    rec = both.scan("rs-v2")
    doc = both.findings()[f"arxiv:{paper}"]
    assert version + 5 in doc["versions"] and doc["arxiv_version"] == version + 5
    assert doc["new_version_noted_at"] is not None and rec.counts["new"] == 0
    assert rec.counts["new_versions"] >= 1


def test_each_bad_source_is_isolated_with_a_clear_status(memory):
    memory.scan("rs-good")
    before = memory.findings()
    memory.store.validators.clear()
    faults = [
        {"path_prefix": "/research/arxiv/rss/", "status": 503, "count": -1},
        {"path_prefix": "/research/hf/api/models", "status": 200, "count": -1, "content_type": "text/html",
         "body": "<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>"},
        {"path_prefix": "/research/openai/", "status": 429, "retry_after": "1", "count": 1},
        {"path_prefix": "/research/deepmind/", "delay_s": 3, "count": -1},
        {"path_prefix": "/research/google/technology/", "status": 302, "count": -1,
         "location": "http://elsewhere.invalid/feed.xml"},
        {"path_prefix": "/research/google-research/", "status": 200, "count": -1, "content_type": "application/rss+xml",
         "body": "<rss><channel>" + "<item><title>x</title></item>" * 400_000 + "</channel></rss>"},
        {"path_prefix": "/research/anthropic/", "truncate": True, "count": -1},
    ]
    for f in faults:
        memory.feeds.replay_control("POST", "faults", f)
    started = time.monotonic()
    rec = memory.scan("rs-bad")
    elapsed = time.monotonic() - started
    src = by_name(rec)
    assert rec.status == "partial"
    assert src["arxiv-rss"].status == "error" and "HTTP 503" in src["arxiv-rss"].error
    assert src["hf-models"].status == "error" and "HTML page" in src["hf-models"].error
    assert src["openai-news"].status == "ok"  # 429 + Retry-After honoured, then served
    assert src["deepmind-blog"].status == "error" and "timeout" in src["deepmind-blog"].error
    assert src["google-ai-keyword"].status == "error" and "outside the configuration" in src["google-ai-keyword"].error
    assert src["google-research-blog"].status == "error" and "exceeds" in src["google-research-blog"].error
    assert src["anthropic-news"].status == "error"
    assert src["arxiv-api"].status == "ok" and src["hf-daily-papers"].status == "ok"
    after = memory.findings()
    assert set(before) <= set(after)  # nothing on the blackboard lost
    assert all(after[k]["first_scan_id"] == "rs-good" for k in before)  # nor duplicated / re-created
    assert elapsed < 60
    assert not any("elsewhere.invalid" in r.get("path", "") for r in memory.feeds.replay_requests())


def test_redirect_within_configured_hosts_is_followed(memory):
    root = memory.feeds.replay.root_url
    memory.feeds.replay_control("POST", "faults", {
        "path_prefix": "/research/openai/news/rss.xml", "status": 301, "count": 1,
        "location": f"{root}/research/openai/news/rss.xml?moved=1"})
    rec = memory.scan("rs-redirect")
    assert by_name(rec)["openai-news"].status == "ok", by_name(rec)["openai-news"].error


def test_requests_to_one_host_are_spaced_by_its_policy(memory, tmp_path):
    config = yaml.safe_load(Path(memory.feeds.research_sources).read_text())
    host = memory.feeds.replay.root_url.split("//")[1]
    config["hosts"] = {host: {"min_interval_s": 0.4}}
    config["sources"] = [s for s in config["sources"] if s["kind"] == "rss"][:3]
    path = tmp_path / "polite.yaml"
    path.write_text(yaml.safe_dump(config))
    memory.feeds.replay_control("DELETE", "requests")
    rec = memory.scan("rs-polite", str(path))
    assert rec.status == "succeeded"
    times = sorted(r["time"] for r in memory.feeds.replay_requests() if r["path"].startswith("/research/"))
    assert len(times) == 3 and min(b - a for a, b in zip(times, times[1:])) >= 0.38


def test_invalid_sources_file_is_a_clear_error(memory, tmp_path):
    from shared.research.config import ResearchConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {name: x, kind: gopher, url: 'ftp://a'}\ntopics: []\n")
    with pytest.raises(ResearchConfigError) as err:
        memory.scan("rs-invalid", str(bad))
    assert "kind" in str(err.value) and "url" in str(err.value)


def test_evaluate_model_proposal_names_the_catalog_model():
    from shared.research.config import load_research_config
    from shared.research.findings import Finding
    from shared.research.relevance import TopicMatcher

    repo = "acme/acme-7b-instruct"
    finding = Finding(id=f"hf:{repo}", source="hf-models", kind="hf_models", url=f"https://huggingface.co/{repo}",
                      title=repo, summary=f"Model repository {repo}; pipeline text-generation.", base_model=None)
    config = load_research_config(None)
    a = TopicMatcher(config.topics).assess(finding)
    assert bb.hugging_face_repo(finding) == repo
    p = bb.proposal_for(finding, a, {}, "rs-x", datetime.now(timezone.utc), "acme/acme-7b")
    assert p.type == "evaluate_model" and p.catalog_model_id == "acme/acme-7b"
    assert "Available on OpenRouter as acme/acme-7b" in p.rationale
    q = bb.proposal_for(finding, a, {}, "rs-x", datetime.now(timezone.utc))
    assert q.catalog_model_id is None and "Not in the OpenRouter catalog yet" in q.rationale


def test_a_scan_looks_model_findings_up_in_the_catalog(memory, tmp_path):
    """First scan with an empty catalog: the model proposals name no catalog model. A fresh scan
    whose catalog holds those Hugging Face repositories names them."""
    sources = tmp_path / "every-impact.yaml"       # every relevant finding gets a proposal
    text = Path(memory.feeds.research_sources).read_text()
    assert "proposal_min_impact: high" in text
    sources.write_text(text.replace("proposal_min_impact: high", "proposal_min_impact: low"))
    memory.scan("rs-no-catalog", str(sources))
    model_proposals = [p for p in memory.store.proposals_since(EVER)
                       if p["type"] == "evaluate_model" and p["finding_id"].startswith("hf:")]
    assert model_proposals and all(p["catalog_model_id"] is None for p in model_proposals)
    catalog = InMemoryCatalogStore()
    repos = {p["finding_id"][3:] for p in model_proposals}
    catalog.write_models((f"or/{i}", {"id": f"or/{i}", "hugging_face_id": repo, "active": True}, "set")
                         for i, repo in enumerate(sorted(repos)))
    fresh = Scanner(memory.feeds, research_store.InMemoryResearchStore(), memory.settings, catalog)
    fresh.scan("rs-catalog", str(sources))
    linked = {p["finding_id"][3:]: p["catalog_model_id"] for p in fresh.store.proposals_since(EVER)
              if p["type"] == "evaluate_model" and p["finding_id"].startswith("hf:")}
    assert linked.keys() == repos
    assert all(cid is not None and catalog.model_id_for_hugging_face(r) == cid for r, cid in linked.items())


def test_a_running_scan_reads_as_a_valid_running_record(both, monkeypatch):
    """A reader polling the scan mid-run (the demo, the api) finds a valid record with the
    scan's window, not the claim's fields alone."""
    from shared.research import scan as scan_module

    seen = []
    real_run = scan_module.ResearchScan.run

    def run_and_peek(self):
        seen.append(both.store.load_scan(self.rec.scan_id))
        real_run(self)

    monkeypatch.setattr(scan_module.ResearchScan, "run", run_and_peek)
    rec = both.scan("rs-peek")
    assert isinstance(seen[0], ScanRecord) and seen[0].status == "running"
    assert seen[0].window_start == rec.window_start and seen[0].as_of == AS_OF
    assert both.store.load_scan("rs-peek").status == rec.status == "succeeded"


def test_catalog_model_names_are_release_evidence_and_counted(memory, caplog):
    """The scan reads the catalog's model families first: a title naming a versioned model of a
    catalog family gets the mention among its release phrases, and the record counts both. An
    empty catalog means no such evidence, said in a warning, never invented."""
    rec = memory.scan("rs-empty-catalog")
    assert rec.counts["catalog_model_families"] == 0 and rec.counts["catalog_model_mentions"] == 0
    warned = [r for r in caplog.records if "the catalog has no model family yet" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    catalog = InMemoryCatalogStore()
    catalog.write_models((m, {"id": m, "name": name, "active": True}, "set")
                         for m, name in [("demolab/demo-5", "DemoLab: Demo 5"), ("demolab/demo-6-mini", "DemoLab: Demo 6 Mini"),
                                         ("other/solo-1", "Other: Solo 1")])
    fresh = Scanner(memory.feeds, research_store.InMemoryResearchStore(), memory.settings, catalog)
    rec = fresh.scan("rs-model-names")
    assert rec.counts["catalog_model_families"] == 1 and rec.counts["catalog_model_mentions"] == 1
    assert rec.scorer.endswith("catalog model names as release evidence)")
    [launch] = [f for f in fresh.findings().values() if f["title"] == "Introducing GPT Demo 6"]
    release = next(t for t in launch["assessment"]["topics"] if t["topic"] == "new model release")
    assert release["phrases"][0] == "catalog model: Demo 6 (demo, 2 in the catalog)"
