"""Feed parsers (shared/research/parsers.py) against the recorded real payloads in
../shared/fixtures/research (skipped when absent) and the synthetic ones in
tests/fixtures/research, plus bad input and the text-cleaning helpers."""
from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.research.findings import (
    bounded_summary,
    canonical_url,
    clean_text,
    clean_title,
    split_scraped_title,
    url_finding_id,
)
from shared.research.parsers import FeedError, ParsedFeed, parse_feed
from tests.conftest import FIXTURES, fixture_path, load_fixture_json

UTC = timezone.utc
SYNTHETIC = Path(__file__).parent.parent / "fixtures" / "research"
KINDS = ("arxiv_api", "arxiv_rss", "hf_models", "hf_daily_papers", "rss")
XML_KINDS = ("arxiv_api", "arxiv_rss", "rss")
JSON_KINDS = ("hf_models", "hf_daily_papers")

# file → (kind, items in the payload, findings after in-payload dedup)
REAL = {
    "arxiv-atom-cs.RO-2025-10-17.xml": ("arxiv_api", 2, 2),
    "arxiv-rss-cs.CL-2026-04-27-trimmed.xml": ("arxiv_rss", 3, 3),
    "arxiv-rss-cs.AI-2026-04-27-trimmed.xml": ("arxiv_rss", 3, 3),
    "hf-daily-papers-2026-07-31-trimmed.json": ("hf_daily_papers", 5, 5),
    "hf-models-2026-08-01-trimmed.json": ("hf_models", 6, 5),       # base + its GGUF → one
    "openai-news-2025-07-28.xml": ("rss", 599, 599),
    "openai-news-2026-04-27-trimmed.xml": ("rss", 3, 3),
    "deepmind-blog-2025-07-23.xml": ("rss", 100, 100),
    "google-ai-blog-keyword-2025-07-24.xml": ("rss", 20, 20),
    "anthropic-news-unofficial-2026-08-22.xml": ("rss", 255, 255),
    "anthropic-research-unofficial-2026-08-22.xml": ("rss", 17, 17),
}


def real(name: str) -> bytes:
    return fixture_path("research", name).read_bytes()


def synthetic(name: str) -> bytes:
    return (SYNTHETIC / name).read_bytes()


def parse(kind: str, body: bytes, **kw) -> ParsedFeed:
    result = parse_feed(kind, body, "test-source", **kw)
    # every item is either a finding or has exactly one reason
    assert result.total_items == len(result.findings) + len(result.skipped), result.skipped
    ids = [f.id for f in result.findings]
    assert len(ids) == len(set(ids)), "duplicate ids survived parse_feed"
    for f in result.findings:
        assert f.source == "test-source" and f.kind == kind and f.title
        assert f.published_at is None or f.published_at.utcoffset() == timedelta(0)
    return result


def by_id(result: ParsedFeed) -> dict:
    return {f.id: f for f in result.findings}


# --- every recorded real payload -----------------------------------------------------------
def test_every_recorded_fixture_is_covered_with_the_counts_of_sources_md():
    directory = fixture_path("research", "SOURCES.md").parent
    present = {p.name for p in directory.iterdir() if p.name != "SOURCES.md"}
    assert present == set(REAL), "a recorded fixture was added or removed: update REAL"
    sources = (directory / "SOURCES.md").read_text(encoding="utf-8")
    for name, (_, items, _) in REAL.items():
        row = re.search(rf"^\| {re.escape(name)} \| \d+ \| (\d+)", sources, re.MULTILINE)
        assert row, f"{name} missing from SOURCES.md"
        assert int(row.group(1)) == items, name


@pytest.mark.parametrize("name", sorted(REAL))
def test_recorded_fixture_parses(name):
    kind, items, findings = REAL[name]
    result = parse(kind, real(name))
    assert result.total_items == items
    assert len(result.findings) == findings
    assert all(f.url.startswith("https://") for f in result.findings)


# --- arXiv API ------------------------------------------------------------------------------
def test_legacy_arxiv_atom():
    result = parse("arxiv_api", real("arxiv-atom-cs.RO-2025-10-17.xml"))
    assert [f.id for f in result.findings] == ["arxiv:2510.14968", "arxiv:2510.14827"]
    assert result.total_results == 5619
    assert result.feed_title.startswith("ArXiv Query: search_query=cat:cs.RO AND (neural)&id_list=")
    rdd, flow = result.findings
    assert rdd.url == "https://arxiv.org/abs/2510.14968"        # http in the feed
    assert (rdd.arxiv_id, rdd.arxiv_version) == ("2510.14968", 1)
    assert rdd.title == ("RDD: Retrieval-Based Demonstration Decomposer for Planner Alignment in "
                         "Long-Horizon Tasks")
    assert rdd.categories == ["cs.RO", "cs.AI", "cs.CV", "cs.LG", "cs.SY", "eess.SY"]
    assert rdd.authors == ["Mingxuan Yan", "Yuping Wang", "Zechun Liu", "Jiachen Li"]
    assert rdd.published_at == datetime(2025, 10, 16, 17, 59, 37, tzinfo=UTC)
    assert rdd.summary.startswith("To tackle long-horizon tasks, recent hierarchical")
    assert "\n" not in rdd.summary and "  " not in rdd.summary
    assert rdd.signals.venue.startswith("39th Conference on Neural Information Processing Systems "
                                        "(NeurIPS 2025)")
    assert rdd.signals.github_url is None                      # rdd-neurips.github.io is no repo
    assert flow.categories == ["cs.RO"] and flow.signals.venue is None
    assert len(flow.authors) == 6


def test_arxiv_atom_2026_format_has_the_structure_of_the_legacy_one():
    new = parse("arxiv_api", synthetic("arxiv-atom-2026-format.xml"))
    old = parse("arxiv_api", real("arxiv-atom-cs.RO-2025-10-17.xml"))
    for f in new.findings + old.findings:
        assert re.fullmatch(r"arxiv:\d{4}\.\d{4,5}", f.id)
        assert f.id == f"arxiv:{f.arxiv_id}" and f.url == f"https://arxiv.org/abs/{f.arxiv_id}"
        assert isinstance(f.arxiv_version, int) and f.published_at and f.authors and f.summary
        assert f.categories and "\n" not in f.title
    populated = lambda f: {k for k, v in f.model_dump().items() if v not in (None, [], "")}
    assert populated(new.findings[0]) == populated(old.findings[0])   # both have a venue comment
    assert new.total_results == 48213
    assert new.feed_title.startswith("arXiv Query: search_query=cat:cs.CL OR cat:cs.AI")
    f = by_id(new)
    routing = f["arxiv:2601.08811"]
    assert routing.title == "Learned Cost-Quality Estimates for Routing Queries Across Model Cascades"
    assert routing.signals.venue == "Accepted at ICLR 2026"  # the venue sentence only, not the code link
    assert routing.signals.github_url == "https://github.com/example/repo"
    assert routing.categories == ["cs.CL", "cs.AI", "cs.LG"]
    assert routing.authors == ["Ines Moreau", "Tomás Okafor"]
    cot = f["arxiv:2601.07654"]
    assert cot.arxiv_version == 2 and cot.url == "https://arxiv.org/abs/2601.07654"
    assert cot.categories == ["cs.CL", "cs.AI"]                 # primary first
    assert cot.signals.venue is None                            # "12 pages, 5 figures"
    kv = f["arxiv:2601.06002"]
    assert kv.signals.github_url == "https://github.com/example-lab/kv-evict"   # from the abstract
    assert kv.categories == ["cs.LG", "stat.ML"] and kv.signals.venue is None
    assert f["arxiv:2601.05999"].signals.venue is None          # "Submitted to ACL 2026"


def test_arxiv_api_window_uses_published():
    result = parse("arxiv_api", synthetic("arxiv-atom-2026-format.xml"),
                   window_start=datetime(2026, 1, 13, tzinfo=UTC),
                   window_end=datetime(2026, 1, 15, tzinfo=UTC))
    assert [f.id for f in result.findings] == ["arxiv:2601.08811", "arxiv:2601.06002", "arxiv:2601.05999"]
    assert result.skipped == ["outside window"]                 # the v2 paper, first published 01-12


def test_arxiv_api_error_entry_raises():
    with pytest.raises(FeedError, match=r"arXiv API error: incorrect id format for 1234\.12345"):
        parse_feed("arxiv_api", synthetic("arxiv-atom-error.xml"), "arxiv-api")
    new_style = (b"<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns:opensearch=\"http://a9.com/-/spec/"
                 b"opensearch/1.1/\" xmlns=\"http://www.w3.org/2005/Atom\"><title>arXiv Search Results"
                 b"</title><opensearch:totalResults>1</opensearch:totalResults><entry><id>https://arxiv.org/"
                 b"api/errors#incorrect_id_format_for_abc</id><title>Error</title><summary>incorrect id "
                 b"format for abc</summary></entry></feed>")
    with pytest.raises(FeedError, match="incorrect id format for abc"):
        parse_feed("arxiv_api", new_style, "arxiv-api")


def test_arxiv_api_empty_result_is_not_an_error():
    body = (b"<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns:opensearch=\"http://a9.com/-/spec/"
            b"opensearch/1.1/\" xmlns=\"http://www.w3.org/2005/Atom\"><id>https://arxiv.org/api/x</id>"
            b"<title>arXiv Query: search_query=cat:cs.CL</title>"
            b"<opensearch:totalResults>0</opensearch:totalResults></feed>")
    result = parse("arxiv_api", body)
    assert (result.findings, result.total_items, result.total_results) == ([], 0, 0)


# --- arXiv RSS ------------------------------------------------------------------------------
def _abs_ids(raw: bytes) -> list[str]:
    return re.findall(r"<link>https?://arxiv\.org/abs/([^<\s]+)</link>", raw.decode("utf-8"))


def test_arxiv_rss_ids_across_two_category_feeds():
    cl_raw, ai_raw = real("arxiv-rss-cs.CL-2026-04-27-trimmed.xml"), real("arxiv-rss-cs.AI-2026-04-27-trimmed.xml")
    cl_ids, ai_ids = _abs_ids(cl_raw), _abs_ids(ai_raw)
    assert len(cl_ids) == 3 and len(ai_ids) == 3
    shared = set(cl_ids) & set(ai_ids)
    cl, ai = parse("arxiv_rss", cl_raw), parse("arxiv_rss", ai_raw)
    found = {f.id for f in cl.findings} | {f.id for f in ai.findings}
    assert found == {f"arxiv:{i}" for i in set(cl_ids) | set(ai_ids)}
    assert len(found) == len(cl.findings) + len(ai.findings) - len(shared)


def test_arxiv_rss_fields():
    result = parse("arxiv_rss", real("arxiv-rss-cs.CL-2026-04-27-trimmed.xml"))
    assert result.feed_title == "cs.CL updates on arXiv.org"
    f = by_id(result)
    cow = f["arxiv:2604.22002"]
    assert cow.url == "https://arxiv.org/abs/2604.22002"
    assert (cow.arxiv_id, cow.arxiv_version, cow.announce_type) == ("2604.22002", 1, "new")
    assert cow.authors == ["Anamta Khan", "Ratna Kandala", "Deepti", "Sheza Munir", "Joyojeet Pal"]
    assert cow.summary.startswith("Social media platforms have become primary channels")
    assert "Announce Type" not in cow.summary and "arXiv:" not in cow.summary
    assert cow.published_at == datetime(2026, 4, 27, 4, 0, tzinfo=UTC)
    assert f["arxiv:2604.22027"].categories == ["cs.CL", "cs.AI", "cs.LG"]


def test_arxiv_rss_cross_replace_and_duplicate():
    result = parse("arxiv_rss", synthetic("arxiv-rss-cross-replace.xml"))
    assert result.total_items == 6 and len(result.findings) == 5
    assert result.skipped == ["duplicate of arxiv:2604.21950"]
    assert {f.id: f.announce_type for f in result.findings} == {
        "arxiv:2604.23001": "new", "arxiv:2604.23017": "new", "arxiv:2604.21950": "cross",
        "arxiv:2403.11111": "replace", "arxiv:2312.09999": "replace-cross"}
    f = by_id(result)
    assert f["arxiv:2403.11111"].arxiv_version == 3
    assert f["arxiv:2403.11111"].url == "https://arxiv.org/abs/2403.11111"
    assert f["arxiv:2604.21950"].authors == ["Lucia Ferreira", "Wen Zhou"]
    assert f["arxiv:2604.21950"].categories == ["cs.CV", "cs.CL", "cs.LG"]
    assert f["arxiv:2312.09999"].summary.startswith("A 400M-parameter reranker")


def test_arxiv_rss_weekend_empty_is_not_an_error():
    result = parse("arxiv_rss", synthetic("arxiv-rss-weekend-empty.xml"))
    assert (result.findings, result.total_items, result.skipped) == ([], 0, [])
    assert result.feed_title == "cs.CL, cs.AI, cs.LG updates on arXiv.org"


def test_arxiv_rss_truncated_keeps_complete_items_only():
    raw = synthetic("arxiv-rss-cross-replace.xml")
    cut = raw[: raw.index(b"arXiv:2403.11111v3")]               # inside the 5th item
    result = parse("arxiv_rss", cut)
    assert result.total_items == 5
    assert result.skipped == ["duplicate of arxiv:2604.21950", "incomplete item (truncated feed)"]
    assert [f.id for f in result.findings] == ["arxiv:2604.23001", "arxiv:2604.23017", "arxiv:2604.21950"]


# --- Hugging Face models --------------------------------------------------------------------
def test_hf_models_gguf_folded_into_its_base():
    result = parse("hf_models", real("hf-models-2026-08-01-trimmed.json"))
    assert result.skipped == ["duplicate of hf:deepseek-ai/DeepSeek-V4-Flash-0731"]
    f = by_id(result)
    assert not any("unsloth" in i for i in f)
    ds = f["hf:deepseek-ai/DeepSeek-V4-Flash-0731"]
    assert ds.base_model is None                                # the base entry's fields kept
    assert ds.title == "deepseek-ai/DeepSeek-V4-Flash-0731"
    assert ds.url == "https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash-0731"
    assert ds.published_at == datetime(2026, 7, 31, 7, 30, 24, tzinfo=UTC)
    assert (ds.signals.likes, ds.signals.downloads, ds.signals.trending_score) == (1311, 15366, 1233.0)
    assert ds.arxiv_id == "2606.19348" and "2606.19348" in ds.summary
    assert ds.categories == ["text-generation", "transformers"]
    # the DavidAU GGUF's base is not on the page: it is still folded, its own id in the summary
    base = "DavidAU/Qwen3.6-27B-Fable-Fusion-711-Uncensored-Heretic-NM-DAU-MTP"
    gguf = f[f"hf:{base}"]
    assert gguf.base_model == base and gguf.title == base and gguf.url == f"https://huggingface.co/{base}"
    assert "DavidAU/Qwen3.6-27B-Fable-Fusion-711-Uncensored-Heretic-NM-DAU-NEO-MAX-MTP-GGUF" in gguf.summary
    kimi = f["hf:moonshotai/Kimi-K3"]
    assert kimi.summary.startswith("image-text-to-text model (transformers)")
    assert not re.search(r"region:|license:|endpoints_compatible|arxiv:|base_model:", kimi.summary)


def test_hf_models_signals_take_the_max_when_the_derivative_is_more_popular():
    models = load_fixture_json("research", "hf-models-2026-08-01-trimmed.json")
    gguf = next(m for m in models if m["id"] == "unsloth/DeepSeek-V4-Flash-0731-GGUF")
    base = next(m for m in models if m["id"] == "deepseek-ai/DeepSeek-V4-Flash-0731")
    popular = {**gguf, "likes": 5000}
    result = parse("hf_models", json.dumps([popular, base]).encode())   # derivative first
    (merged,) = result.findings
    assert merged.base_model is None and merged.categories[0] == "text-generation"
    assert merged.signals.likes == 5000 and merged.signals.downloads == 15366


def test_hf_models_model_without_pipeline_tag_parses():
    models = load_fixture_json("research", "hf-models-2026-08-01-trimmed.json")
    no_pipeline = [m for m in models if "pipeline_tag" not in m]
    assert [m["id"] for m in no_pipeline] == ["unsloth/DeepSeek-V4-Flash-0731-GGUF"]
    (f,) = parse("hf_models", json.dumps(no_pipeline).encode()).findings
    assert f.id == "hf:deepseek-ai/DeepSeek-V4-Flash-0731" and f.base_model == "deepseek-ai/DeepSeek-V4-Flash-0731"
    assert "unsloth/DeepSeek-V4-Flash-0731-GGUF" in f.summary and f.categories == []


def test_hf_models_window_two_days_before_2026_08_01():
    result = parse("hf_models", real("hf-models-2026-08-01-trimmed.json"),
                   window_start=datetime(2026, 7, 30, tzinfo=UTC), window_end=datetime(2026, 8, 1, tzinfo=UTC))
    assert [f.id for f in result.findings] == ["hf:deepseek-ai/DeepSeek-V4-Flash-0731"]
    assert "hf:black-forest-labs/FLUX.1-dev" not in by_id(result)
    assert sorted(result.skipped) == ["duplicate of hf:deepseek-ai/DeepSeek-V4-Flash-0731"] + ["outside window"] * 4


def test_hf_models_created_at_page_with_window():
    result = parse("hf_models", synthetic("hf-models-createdAt.json"),
                   window_start=datetime(2026, 9, 13, tzinfo=UTC), window_end=datetime(2026, 9, 15, tzinfo=UTC))
    assert result.total_items == 8
    assert [f.id for f in result.findings] == [
        "hf:acme-ai/Acme-LM-7B-Instruct", "hf:tinylab/tiny-reasoner-0.5b",
        "hf:someone/merge-experiment-3", "hf:orgx/embedder-m3-long"]
    assert sorted(result.skipped) == ["duplicate of hf:acme-ai/Acme-LM-7B-Instruct"] * 2 + [
        "no createdAt", "outside window"]
    acme = result.findings[0]
    # GGUF and AWQ came first on the page; the base entry's own fields win
    assert acme.base_model is None and acme.title == "acme-ai/Acme-LM-7B-Instruct"
    assert acme.published_at == datetime(2026, 9, 14, 18, 0, 2, tzinfo=UTC)
    assert (acme.signals.likes, acme.signals.downloads, acme.signals.trending_score) == (31, 1204, 27.0)
    assert acme.arxiv_id == "2609.01234" and "1910.09700" not in acme.summary  # model-card template id
    tiny = result.findings[1]                                   # a fine-tune is not folded
    assert tiny.base_model is None and "chain-of-thought" in tiny.summary
    merge = result.findings[2]
    assert merge.categories == [] and merge.summary.startswith("Model by someone")


def test_hf_models_without_window_and_derivative_alone():
    result = parse("hf_models", synthetic("hf-models-createdAt.json"))
    assert len(result.findings) == 5 and "hf:legacy-org/old-chat-13b" in by_id(result)
    assert result.skipped.count("no createdAt") == 1
    models = json.loads(synthetic("hf-models-createdAt.json"))
    (awq,) = parse("hf_models", json.dumps(models[:1]).encode()).findings
    assert awq.id == "hf:acme-ai/Acme-LM-7B-Instruct" and awq.base_model == "acme-ai/Acme-LM-7B-Instruct"
    assert "quantfolk/Acme-LM-7B-Instruct-AWQ" in awq.summary and "quantized" in awq.summary


def test_hf_models_odd_entries_are_skipped_not_raised():
    body = json.dumps([
        {"author": "x"},                                                    # no id
        "just a string",
        {"id": "a/b", "createdAt": "yesterday"},                            # unparsable date
        {"id": "c/d", "createdAt": "2026-09-14T00:00:00Z", "likes": "many", "tags": "oops",
         "trendingScore": None, "pipeline_tag": 7},
    ]).encode()
    result = parse("hf_models", body)
    assert result.skipped == ["no id", "not a JSON object", "no createdAt"]
    (cd,) = result.findings
    assert cd.id == "hf:c/d" and cd.signals.likes is None and cd.categories == []


# --- Hugging Face daily papers --------------------------------------------------------------
def test_hf_daily_papers():
    raw = load_fixture_json("research", "hf-daily-papers-2026-07-31-trimmed.json")
    result = parse("hf_daily_papers", real("hf-daily-papers-2026-07-31-trimmed.json"))
    assert [f.id for f in result.findings] == [f"arxiv:{e['paper']['id']}" for e in raw]
    first = result.findings[0]
    assert first.url == "https://huggingface.co/papers/2607.23193" and first.arxiv_id == "2607.23193"
    assert first.title == "OmniScope: Modality-Decoupled Token Compression for Omnimodal Large Language Models"
    assert first.authors[:2] == ["Jinsen Su", "Yongdong Luo"]
    assert first.published_at == datetime(2026, 7, 28, tzinfo=UTC)
    assert (first.signals.upvotes, first.signals.comments) == (3, 2)
    assert first.signals.github_url == "https://github.com/MAC-AutoML/OmniScope"
    assert result.findings[2].signals.github_url is None
    # fetched per date: never window-filtered
    far = parse("hf_daily_papers", real("hf-daily-papers-2026-07-31-trimmed.json"),
                window_start=datetime(2020, 1, 1, tzinfo=UTC), window_end=datetime(2020, 1, 2, tzinfo=UTC))
    assert len(far.findings) == 5


def test_hf_daily_papers_bad_entries_and_duplicates():
    entry = {"paper": {"id": "2607.00001", "title": "T", "upvotes": 1}, "numComments": 0}
    body = json.dumps([entry, {"paper": {"id": "2607.00001", "title": "T", "upvotes": 9}},
                       {"title": "no paper"}, {"paper": {"title": "no id"}}]).encode()
    result = parse("hf_daily_papers", body)
    assert result.skipped == ["duplicate of arxiv:2607.00001", "no paper", "no paper id"]
    assert result.findings[0].signals.upvotes == 9


# --- blogs (rss kind) ------------------------------------------------------------------------
def test_anthropic_research_titles_lose_the_scraped_prefix():
    result = parse("rss", real("anthropic-research-unofficial-2026-08-22.xml"))
    titles = {f.url.rsplit("/", 1)[1]: f for f in result.findings}
    expected = {
        "Claude-accelerates-protein-design": "How Claude is accelerating protein design and analytical chemistry",
        "multiagent-systems": "Patterns and problems in emerging multiagent systems",
        "reviewing-the-evidence-on-worker-retraining-programs": "Reviewing the evidence on worker retraining programs",
        "project-pilot": "Project Pilot: Can AI control a drone?",
        "claude-values-models-languages": "Claude’s values across models and languages",
        "off-switch-dual-use": "An off switch for dual-use knowledge in AI models",
        "riemann-zeta": "Learning more about Claude's mathematical capabilities",
        "global-workspace": "A global workspace in language models",
        "teaching-claude-why": "Teaching Claude why",
    }
    for slug, title in expected.items():
        assert titles[slug].title == title
    assert titles["global-workspace"].summary.startswith("New interpretability research reveals")
    assert titles["project-pilot"].summary == ""                # description only repeated the title
    month = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}, \d{4}"
    for f in result.findings:
        assert not re.search(month, f.title), f.title
    assert titles["Claude-accelerates-protein-design"].categories == ["Research"]
    assert titles["Claude-accelerates-protein-design"].published_at == datetime(2026, 8, 18, tzinfo=UTC)


def test_anthropic_news_unofficial():
    result = parse("rss", real("anthropic-news-unofficial-2026-08-22.xml"))
    first = result.findings[0]
    assert first.title == "How Claude’s text watermark works" and first.categories == ["Announcements"]
    assert first.id == url_finding_id("https://www.anthropic.com/news/claude-text-watermark")
    empty_category = next(f for f in result.findings if f.url.endswith("/investigating-incidents-cybersecurity-evals"))
    assert empty_category.categories == []
    assert any(f.title == "Building a new enterprise AI services company with Blackstone, Hellman & Friedman, "
               "and Goldman Sachs" for f in result.findings)


def test_openai_news_cdata_titles_are_clean_text():
    raw = real("openai-news-2025-07-28.xml")
    expected = [re.sub(r"\s+", " ", t).strip() for t in
                re.findall(r"<item>\s*<title><!\[CDATA\[(.*?)\]\]></title>", raw.decode("utf-8"), re.DOTALL)]
    result = parse("rss", raw)
    assert len(expected) == 599
    assert [f.title for f in result.findings] == expected
    assert "Sam & Jony" in expected
    for f in result.findings:
        assert "CDATA" not in f.title and "]]>" not in f.title and "<" not in f.summary
    first = result.findings[0]
    assert first.title == "Resolving digital threats 100x faster with OpenAI"
    assert first.url == "https://openai.com/index/outtake"
    assert first.published_at == datetime(2025, 7, 24, tzinfo=UTC)
    assert first.summary.startswith("Discover how Outtake uses GPT-4.1")
    trimmed = parse("rss", real("openai-news-2026-04-27-trimmed.xml"))
    assert [f.categories for f in trimmed.findings] == [["Company"], ["Company"], ["Product"]]
    assert trimmed.findings[2].title == "Introducing GPT-5.5"


def test_google_keyword_summary_is_the_item_description_not_media_description():
    result = parse("rss", real("google-ai-blog-keyword-2025-07-24.xml"))
    first = result.findings[0]
    assert first.title == "Web Guide: An experimental AI-organized search results page"
    assert first.summary.startswith("We’re launching Web Guide, a Search Labs experiment")
    assert "Abstract image" not in first.summary and "<img" not in first.summary
    assert first.categories == ["Search", "AI"] and first.authors == ["Austin Wu"]
    assert result.findings[2].summary.startswith("What does it take to enable billions of people")


def test_deepmind_blog():
    result = parse("rss", real("deepmind-blog-2025-07-23.xml"))
    assert result.feed_title == "Google DeepMind Blog"
    assert all(f.url.startswith("https://deepmind.google/discover/blog/") for f in result.findings)
    assert result.findings[0].title == "Aeneas transforms how historians connect the past"
    assert result.findings[0].published_at == datetime(2025, 7, 23, 14, 59, tzinfo=UTC)


def test_google_research_blog_synthetic():
    result = parse("rss", synthetic("google-research-blog.xml"))
    assert result.feed_title == "Google Research Blog" and result.total_items == 5
    cascades, longctx, agents, routing, traces = result.findings
    assert cascades.title == "Speculative cascades: faster and cheaper LLM inference"
    assert cascades.summary == ("We combine speculative decoding with model cascades so that a small drafter "
                                "answers easy queries and defers hard ones — cutting latency by 30% without "
                                "quality loss.")
    assert cascades.categories == ["Generative AI", "Machine Intelligence"]
    assert cascades.published_at == datetime(2026, 5, 14, 17, 0, tzinfo=UTC)
    assert longctx.title == "Evaluating long-context retrieval & reasoning at a million tokens"
    assert longctx.summary == ("Needle-in-a-haystack tests saturate quickly. We introduce a benchmark that "
                               "requires multi-hop reasoning over million-token contexts. All models lose "
                               "accuracy beyond 256K tokens.")
    assert longctx.url.endswith("?utm_source=rss&utm_medium=feed")
    assert longctx.id == url_finding_id("https://research.google/blog/evaluating-long-context-retrieval-and-reasoning/")
    assert agents.title == "A multi-agent system for scientific hypothesis generation"
    assert agents.categories == ["Generative AI", "Health & Bioscience"]
    assert agents.summary == "An orchestrator agent delegates literature review, critique and ranking to specialised agents."
    assert routing.id == url_finding_id(routing.url) and traces.summary.endswith("on GSM8K")


def test_rss_entries_without_link_use_a_guid_id_and_relative_links_resolve():
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://blog.example.com/</link>'
            b'<item><title>No link</title><guid isPermaLink="false">post-17</guid></item>'
            b'<item><title>Relative</title><link>/posts/18</link></item>'
            b'<item><title>Nothing</title><description>x</description></item>'
            b'<item><title>Same as relative</title><link>https://blog.example.com/posts/18/</link></item>'
            b'</channel></rss>')
    result = parse_feed("rss", body, "blog")
    import hashlib
    assert result.findings[0].id == "guid:" + hashlib.sha256(b"blogpost-17").hexdigest()[:24]
    assert result.findings[1].url == "https://blog.example.com/posts/18"
    assert result.skipped == ["no link or guid", f"duplicate of {url_finding_id('https://blog.example.com/posts/18')}"]


def test_rss_window_keeps_undated_items():
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            b'<item><title>Old</title><link>https://e.com/1</link><pubDate>Mon, 04 May 2026 16:00:00 +0000</pubDate></item>'
            b'<item><title>Edge</title><link>https://e.com/2</link><pubDate>Wed, 06 May 2026 00:00:00 +0000</pubDate></item>'
            b'<item><title>Undated</title><link>https://e.com/3</link></item>'
            b'</channel></rss>')
    result = parse("rss", body, window_start=datetime(2026, 5, 6), window_end=datetime(2026, 5, 8))  # naive = UTC
    assert [f.title for f in result.findings] == ["Edge", "Undated"] and result.skipped == ["outside window"]


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_html_page_is_a_feed_error(kind):
    for body in (synthetic("html-error-page.html"),
                 b"<!DOCTYPE html><html><head><title>Error</title></head><body>Service Unavailable</body></html>"):
        with pytest.raises(FeedError, match=r"^HTML page, not a feed: .*Service Unavailable") as err:
            parse_feed(kind, body, "src")
        assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_truncated_feed_keeps_complete_items_only():
    result = parse("rss", synthetic("truncated-feed.xml"))
    assert result.feed_title == "Example AI Lab News"
    assert [f.title for f in result.findings] == ["Introducing Example-1, an open-weight model", "How we evaluate tool use"]
    assert result.total_items == 3 and result.skipped == ["incomplete item (truncated feed)"]
    raw = synthetic("truncated-feed.xml")
    with pytest.raises(FeedError, match="no complete item"):
        parse_feed("rss", raw[: raw.index(b"<item>") + 30], "src")


@pytest.mark.parametrize("kind", JSON_KINDS)
def test_json_kinds_reject_bad_json(kind):
    with pytest.raises(FeedError, match=r"invalid JSON \(.*line 1"):
        parse_feed(kind, b'[{"id": "a/b", "createdAt": ', "src")
    with pytest.raises(FeedError, match=r"got an object with error 'Invalid rate limit'"):
        parse_feed(kind, b'{"error": "Invalid rate limit"}', "src")
    with pytest.raises(FeedError, match="got an object"):
        parse_feed(kind, b'{"models": []}', "src")
    with pytest.raises(FeedError, match="got int"):
        parse_feed(kind, b"42", "src")
    with pytest.raises(FeedError, match="not valid UTF-8"):
        parse_feed(kind, b'["caf\xe9"]', "src")
    with pytest.raises(FeedError, match="nested too deeply"):
        parse_feed(kind, b"[" * 200_000, "src")
    with pytest.raises(FeedError):
        parse_feed(kind, synthetic("google-research-blog.xml"), "src")   # XML where JSON is expected


@pytest.mark.parametrize("kind", XML_KINDS)
def test_xml_kinds_reject_non_feeds(kind):
    with pytest.raises(FeedError, match="JSON body, not an RSS/Atom feed"):
        parse_feed(kind, synthetic("hf-models-createdAt.json"), "src")
    with pytest.raises(FeedError, match="not an RSS/Atom feed"):
        parse_feed(kind, b'<?xml version="1.0"?><error><code>42</code></error>', "src")
    with pytest.raises(FeedError, match="malformed XML"):
        parse_feed(kind, b"<rss version='2.0'><channel><title>x</title><<<", "src")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("body", [b"", b"  \r\n\t ", random.Random(7).randbytes(4096), b"\x00" * 64],
                         ids=["empty", "blank", "random", "nul"])
def test_empty_and_random_bodies_are_feed_errors(kind, body):
    with pytest.raises(FeedError) as err:
        parse_feed(kind, body, "src")
    assert "\n" not in str(err.value) and len(str(err.value)) < 400
    if not body.strip():
        assert "empty body" in str(err.value)


@pytest.mark.parametrize("kind", XML_KINDS)
def test_a_body_naming_a_local_file_is_not_read(kind, tmp_path):
    # feedparser.parse(bytes) would open a file of that name; the parser must only parse the body
    path = tmp_path / "feed.xml"
    path.write_bytes(synthetic("google-research-blog.xml"))
    with pytest.raises(FeedError):
        parse_feed(kind, str(path).encode(), "src")


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown source kind"):
        parse_feed("atom", b"<feed/>", "src")  # type: ignore[arg-type]


def test_ten_megabyte_feed_parses_every_item():
    description = "&lt;p&gt;" + "Lorem ipsum dolor sit amet, retrieval augmented generation. " * 7 + "&lt;/p&gt;"
    items = "".join(
        f"<item><title>Post {i} &amp; more</title><link>https://example.com/posts/{i}</link>"
        f"<description>{description}</description><guid>https://example.com/posts/{i}</guid>"
        f"<pubDate>Mon, 11 May 2026 15:00:00 GMT</pubDate><category>AI</category></item>"
        for i in range(20_000))
    body = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Big</title>'
            f"<link>https://example.com/</link>{items}</channel></rss>").encode()
    assert len(body) >= 10_000_000
    result = parse("rss", body)     # speed is measured in perf/, not asserted here
    assert result.total_items == 20_000 and len(result.findings) == 20_000
    assert result.findings[-1].title == "Post 19999 & more"
    assert result.findings[0].summary.startswith("Lorem ipsum") and "<p>" not in result.findings[0].summary


# --- text helpers ----------------------------------------------------------------------------
def test_clean_text():
    assert clean_text("<p>A <em>fast</em>er &amp; <b>bold</b>\n\n  model</p>") == "A faster & bold model"
    assert clean_text("<![CDATA[ Hello  world ]]>") == "Hello world"
    assert clean_text("&lt;p&gt;twice&lt;/p&gt; escaped") == "twice escaped"
    assert clean_text("x<script>alert(1)</script>y<style>p{}</style>z") == "x y z"
    assert clean_text("k < n and n > 2 for Array<string>") == "k < n and n > 2 for Array<string>"
    assert clean_text("caf&eacute; &#8212; &#x3b1;\u00a0\u200bok") == "café — α ok"
    assert clean_text("line<br/>break<div>block</div>") == "line break block"
    assert clean_text(None) == "" and clean_text("") == ""


def test_clean_title():
    assert clean_title("Aug 18, 2026ScienceHow Claude is accelerating protein design") == \
        "How Claude is accelerating protein design"
    assert clean_title("Jul 9, 2026Frontier Red TeamClaude plays robotics") == "Claude plays robotics"
    assert clean_title("Jul 9, 2026PolicyOur view", ("Policy",)) == "Our view"   # known category
    assert clean_title("Announcements Jan 5, 2026 New thing here") == "New thing here"
    assert split_scraped_title("AlignmentMay 8, 2026Teaching Claude whyNew research on it.") == \
        ("Teaching Claude why", "New research on it.")
    # camel-case names and titles without a scraped date are left alone
    assert clean_title("Aug 1, 2026DeepMind and OpenAI agree") == "DeepMind and OpenAI agree"
    assert clean_title("Aug 1, 2026Introducing ClaudeMax") == "Introducing ClaudeMax"
    assert clean_title("Claude 3.5 Sonnet on GitHub Copilot") == "Claude 3.5 Sonnet on GitHub Copilot"
    assert clean_title("  Multi-line\n   title &amp; more ") == "Multi-line title & more"


def test_bounded_summary():
    text = " ".join(f"word{i}" for i in range(1000))
    out = bounded_summary(text, 200)
    assert out.endswith(" …") and len(out) <= 202
    assert text.startswith(out[:-2]) and re.fullmatch(r"(word\d+ )+word\d+ …", out)   # no cut word
    assert bounded_summary("<p>short &amp; sweet</p>", 200) == "short & sweet"
    exact = "x" * 50
    assert bounded_summary(exact, 50) == exact
    assert bounded_summary("y" * 80, 50) == "y" * 50 + " …"       # one long token: hard cut
    assert len(bounded_summary("abc " * 2000)) <= 1202


def test_canonical_ids_ignore_tracking_and_trailing_slash():
    assert canonical_url("http://www.Example.com/a/?utm_source=x&id=3#frag") == "https://example.com/a?id=3"
    assert url_finding_id("https://example.com/a/") == url_finding_id("http://www.example.com/a?utm_medium=rss")


def test_shared_fixture_dir_is_beside_the_repository():
    # documents where the recorded payloads come from; the tests above skip when it is absent
    assert FIXTURES.name == "fixtures" and FIXTURES.parent.name == "shared"
