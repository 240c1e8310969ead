"""Real recorded feed items and their blind, human-style relevance labels.

Provenance
    The items are the recorded real payloads in ``../shared/fixtures/research`` (beside the
    repository, never committed; see SOURCES.md there): arXiv API Atom and RSS, Hugging Face
    models and daily papers, and the OpenAI, Google DeepMind, Google AI (The Keyword) and
    (unofficial, scraped) Anthropic news / research feeds. Each file is parsed with the project's
    own parser, ``shared.research.parsers.parse_feed``, without a date window, so every item
    of the payload that the parser turns into a Finding is here; ``Finding.id`` is the key.

Labels
    ``tests/fixtures/research/relevance_real_labels.jsonl`` holds, per item, only its id, its
    fixture file name, ``relevant``, ``topics``, ``split`` and an optional short note in the
    labeller's own words. It holds no title or summary text: the payloads' text stays outside
    the repository (licensing), and is joined back in here from the fixtures at run time.

Blindness
    The labels were made by an AI helper agent that saw only the labelling guide
    (``tests/fixtures/research/RELEVANCE_LABELLING.md``) and each item's title and summary, NOT
    the scorer's keyword lists, topic phrases, code or output, before any scorer tuning
    (2026-11-30). The ``split`` of an item is a pure function of its id (``split_of``), fixed
    before any label was looked at: tune on "tune", report on "heldout", never the other way.

Selection (``select_items``)
    Every item of the arXiv, Hugging Face, DeepMind, Google AI blog and Anthropic research
    files, then a seeded random sample (``random.Random(SAMPLE_SEED).sample``) of the OpenAI
    news and Anthropic news items, pooled in file-name then feed order, exact duplicate ids
    skipped, so that the total is ``SAMPLE_TOTAL``.

Second held-out set (``heldout2``)
    ``tests/fixtures/research/relevance_real_labels_heldout2.jsonl`` (``HELDOUT2_LABELS_PATH``)
    holds a second, untouched held-out set, because the first "heldout" split was consulted during
    development (2026-11-30). Its items are ``select_heldout2``: every parsed item whose id is not
    in the first label file, pooled in file-name then feed order with duplicate ids skipped, then
    ``random.Random(HELDOUT2_SEED).sample(range(len(pool)), HELDOUT2_SIZE)`` kept in pool order.
    Every line has ``"split": "heldout2"``. Read it with ``labelled_real_items("heldout2")``;
    ``labelled_real_items()`` / ``split=None`` still means the first file only (tune + heldout),
    so existing callers are unchanged.

Third held-out set (``heldout3``)
    ``tests/fixtures/research/relevance_real_labels_heldout3.jsonl`` (``HELDOUT3_LABELS_PATH``)
    holds a third, untouched held-out set: heldout2 has been evaluated once and stays untouched,
    and heldout3 exists to evaluate a new scorer signal once. Its items are ``select_heldout3``:
    every parsed item whose id is in neither the first file nor heldout2, pooled in file-name then
    feed order with duplicate ids skipped; all of them, no sampling. Every line has
    ``"split": "heldout3"``; read it with ``labelled_real_items("heldout3")``.

Callers: ``load_real_items`` raises ``FixturesMissing`` (a FileNotFoundError) when the recorded
fixtures are absent, so a perf script can say so and a test can skip (or fail under CI).
"""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.pipeline import REPO_ROOT

FIXTURES_DIR = REPO_ROOT.parent / "shared" / "fixtures" / "research"
LABELS_PATH = REPO_ROOT / "tests" / "fixtures" / "research" / "relevance_real_labels.jsonl"
HELDOUT2_LABELS_PATH = REPO_ROOT / "tests" / "fixtures" / "research" / "relevance_real_labels_heldout2.jsonl"
# the catalog the real items are scored with (model_names: the platform's model families)
CATALOG_PATH = REPO_ROOT.parent / "shared" / "fixtures" / "openrouter" / "models-2025-12-26.json"
HELDOUT3_LABELS_PATH = REPO_ROOT / "tests" / "fixtures" / "research" / "relevance_real_labels_heldout3.jsonl"

ALLOWED_TOPICS = (
    "chain-of-thought",
    "multi-agent orchestration",
    "RAG",
    "model evaluation",
    "tool use",
    "long context",
    "routing",
    "inference efficiency",
    "new model release",
)
SPLITS = ("tune", "heldout")
LABEL_FIELDS = {"id", "file", "relevant", "topics", "split", "note"}
REQUIRED_LABEL_FIELDS = LABEL_FIELDS - {"note"}

# files whose every item is labelled, and the files the rest is sampled from
FULL_FILES = (
    "arxiv-atom-cs.RO-2025-10-17.xml",
    "arxiv-rss-cs.AI-2026-04-27-trimmed.xml",
    "arxiv-rss-cs.CL-2026-04-27-trimmed.xml",
    "hf-daily-papers-2026-07-31-trimmed.json",
    "hf-models-2026-08-01-trimmed.json",
    "deepmind-blog-2025-07-23.xml",
    "google-ai-blog-keyword-2025-07-24.xml",
    "anthropic-research-unofficial-2026-08-22.xml",
)
SAMPLED_FILES = (
    "anthropic-news-unofficial-2026-08-22.xml",
    "openai-news-2025-07-28.xml",
    "openai-news-2026-04-27-trimmed.xml",
)
SAMPLE_SEED = 20261130
SAMPLE_TOTAL = 450
# the second held-out set: a sample of the items the first file does not label
HELDOUT2_SPLIT = "heldout2"
HELDOUT2_SEED = 20261201
HELDOUT2_SIZE = 320
# the third held-out set: every item neither the first file nor heldout2 labels (no sampling)
HELDOUT3_SPLIT = "heldout3"
# the held-out files beside the first one, by split name
HELDOUT_LABELS_PATHS = {HELDOUT2_SPLIT: HELDOUT2_LABELS_PATH, HELDOUT3_SPLIT: HELDOUT3_LABELS_PATH}


class FixturesMissing(FileNotFoundError):
    """The recorded payloads (../shared/fixtures/research) are not present on this machine."""


def kind_of(file_name: str) -> str:
    """The parse_feed kind of a recorded fixture file, from its name."""
    if file_name.startswith("arxiv-atom"):
        return "arxiv_api"
    if file_name.startswith("arxiv-rss"):
        return "arxiv_rss"
    if file_name.startswith("hf-models"):
        return "hf_models"
    if file_name.startswith("hf-daily-papers"):
        return "hf_daily_papers"
    return "rss"


def split_of(item_id: str) -> str:
    """"heldout" when sha256(id) as an integer is odd, else "tune" (fixed before labelling)."""
    return "heldout" if int(hashlib.sha256(item_id.encode("utf-8")).hexdigest(), 16) % 2 else "tune"


def fixture_files(fixtures_dir: Path | str | None = None) -> list[Path]:
    directory = Path(fixtures_dir) if fixtures_dir is not None else FIXTURES_DIR
    if not directory.is_dir():
        raise FixturesMissing(f"recorded research fixtures not found at {directory} "
                              f"(../shared/fixtures is provided beside the repository, never committed)")
    return sorted(p for p in directory.iterdir() if p.suffix in (".xml", ".json"))


def load_real_items(fixtures_dir: Path | str | None = None) -> list[dict[str, Any]]:
    """Every Finding of every recorded research fixture, in file-name then feed order, as
    {"id", "file", "kind", "title", "summary"} (no date window)."""
    from shared.research.parsers import parse_feed

    items: list[dict[str, Any]] = []
    for path in fixture_files(fixtures_dir):
        kind = kind_of(path.name)
        parsed = parse_feed(kind, path.read_bytes(), path.stem)   # no window: every item
        for finding in parsed.findings:
            items.append({"id": finding.id, "file": path.name, "kind": kind,
                          "title": finding.title, "summary": finding.summary})
    return items


def load_catalog_models(path: Path | str | None = None) -> list[dict[str, Any]]:
    """The recorded OpenRouter model list (``CATALOG_PATH`` by default: the earliest recorded
    catalog, so that the model families are the ones known longest) as a list of model entries
    ({"id", "name", ...}: the fields the catalog stores them under). FixturesMissing when absent."""
    path = Path(path) if path else CATALOG_PATH
    if not path.is_file():
        raise FixturesMissing(f"no recorded catalog at {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    models = data.get("data") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ValueError(f"{path}: not an OpenRouter model list (no 'data' list)")
    return models


def _pool(items: list[dict[str, Any]], file_names: Iterable[str], skip_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The items of ``file_names`` (in that order, then feed order) whose id is not in
    ``skip_ids``, each id once (later duplicates skipped)."""
    seen: set[str] = set(skip_ids)
    pool: list[dict[str, Any]] = []
    for name in file_names:
        for item in items:
            if item["file"] == name and item["id"] not in seen:
                seen.add(item["id"])
                pool.append(item)
    return pool


def _unlabelled_pool(items: list[dict[str, Any]], labelled_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every item whose id is not in ``labelled_ids``, in file-name then feed order, duplicates skipped."""
    return _pool(items, sorted({item["file"] for item in items}), labelled_ids)


def select_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The labelled selection (see the module docstring): all of FULL_FILES, then a sample of
    SAMPLED_FILES seeded with SAMPLE_SEED up to SAMPLE_TOTAL items; duplicate ids skipped."""
    chosen = _pool(items, FULL_FILES, ())
    pool = _pool(items, sorted(SAMPLED_FILES), {item["id"] for item in chosen})
    k = max(0, min(len(pool), SAMPLE_TOTAL - len(chosen)))
    picked = sorted(random.Random(SAMPLE_SEED).sample(range(len(pool)), k))
    return chosen + [pool[i] for i in picked]


def select_heldout2(items: list[dict[str, Any]], labelled_ids: set[str] | frozenset[str]) -> list[dict[str, Any]]:
    """The heldout2 selection: every item whose id is not in ``labelled_ids`` (the first label
    file's ids), pooled in file-name then feed order, duplicate ids skipped, then a sample of
    HELDOUT2_SIZE (or all, if fewer) seeded with HELDOUT2_SEED, kept in pool order."""
    pool = _unlabelled_pool(items, labelled_ids)
    k = min(len(pool), HELDOUT2_SIZE)
    picked = sorted(random.Random(HELDOUT2_SEED).sample(range(len(pool)), k))
    return [pool[i] for i in picked]


def select_heldout3(items: list[dict[str, Any]], labelled_ids: set[str] | frozenset[str]) -> list[dict[str, Any]]:
    """The heldout3 selection: every item whose id is not in ``labelled_ids`` (the union of the
    first label file's and heldout2's ids), pooled in file-name then feed order, duplicate ids
    skipped; all of them, no sampling."""
    return _unlabelled_pool(items, labelled_ids)


def load_real_labels(path: Path | str = LABELS_PATH) -> list[dict[str, Any]]:
    """The label records, one JSON object per non-blank line (the first file by default; pass
    HELDOUT2_LABELS_PATH or HELDOUT3_LABELS_PATH for the second or third held-out set)."""
    labels = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                labels.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
    return labels


def labelled_real_items(split: str | None = None, fixtures_dir: Path | str | None = None,
                        labels_path: Path | str | None = None) -> list[dict[str, Any]]:
    """Labels joined with the parsed items by id: {"id", "file", "kind", "title", "summary",
    "relevant", "topics", "split", "note"}, in label-file order, optionally one split only.
    ``split`` "tune" / "heldout" / None read LABELS_PATH (None = both, never heldout2/heldout3);
    "heldout2" / "heldout3" read HELDOUT2_LABELS_PATH / HELDOUT3_LABELS_PATH (HELDOUT_LABELS_PATHS).
    An explicit ``labels_path`` overrides the file.
    Raises ValueError listing every labelled id that no longer parses from its file (never
    silently dropped); FixturesMissing when the fixtures are absent."""
    known = SPLITS + tuple(HELDOUT_LABELS_PATHS)
    if split is not None and split not in known:
        raise ValueError(f"split must be one of {known}, got {split!r}")
    if labels_path is None:
        labels_path = LABELS_PATH if split is None else HELDOUT_LABELS_PATHS.get(split, LABELS_PATH)
    by_key = {(item["file"], item["id"]): item for item in load_real_items(fixtures_dir)}
    joined, missing = [], []
    for label in load_real_labels(labels_path):
        item = by_key.get((label["file"], label["id"]))
        if item is None:
            missing.append(f"{label['id']} ({label['file']})")
            continue
        if split is None or label["split"] == split:
            joined.append({**item, "relevant": label["relevant"], "topics": list(label["topics"]),
                           "split": label["split"], "note": label.get("note", "")})
    if missing:
        raise ValueError(f"{len(missing)} labelled item(s) no longer parse from their fixture: "
                         + ", ".join(missing))
    return joined
