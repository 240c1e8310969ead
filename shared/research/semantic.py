"""Semantic relevance of a research finding (scorer "semantic-v1"): a small sentence-embedding
model compares each item with each topic's description and exemplars.

Model
-----
WordLlama "l2_supercat", 256 dimensions (PyPI `wordllama`, pinned in requirements.txt): a static
token-embedding table (32,000 x 256, float32, 16 MB) distilled from large LLMs, with the Llama-2
tokenizer; a text's embedding is the mean of its tokens' vectors. Weights and tokenizer ship
inside the wheel (`wordllama/weights/l2_supercat_256.safetensors`,
`wordllama/tokenizers/l2_supercat_tokenizer_config.json`); nothing is downloaded, here or in the
cloud. Note that `WordLlama.load()` with its defaults is NOT offline in wordllama 0.4.0.post1: it
looks for the tokenizer in `wordllama/tokenizer/` (singular), misses the packaged file and tries
huggingface.co. `load_model` therefore passes the package directory as `cache_dir` (where the
tokenizer then resolves) and `disable_download=True` (a missing file is an error, never a
download). tests/research/test_research_semantic.py proves the load with sockets refused.

The module imports neither numpy nor wordllama until a scorer is built (the research_scan
function's cold start does not pay for them); the model is loaded once per process.

Scoring
-------
* Topic texts: each topic's `description` and `exemplars`, or its name when it has neither
  (`TopicSpec.semantic_texts`), embedded once per configuration.
* Item text: "title. summary", control characters and unpaired surrogates replaced by spaces,
  whitespace collapsed, cut to `max_chars` characters (at a word boundary) and to 512 tokens.
  An empty text embeds as the zero vector: similarity 0 with every topic, no best topic.
* Embedding: the items of a batch are tokenized in one call; each item's vector is the sum of its
  tokens' vectors (the same direction as wordllama's mean pooling), L2-normalised. Each vector
  depends on its own text only, never on the other items of the batch.
* Similarity with a topic: cosine, `max` over the topic's texts (default) or with the normalised
  centroid of its texts (`aggregate: centroid`). Rounded to 4 decimals.
* Best topic: the highest similarity (configuration order breaks ties); `nearest` is that topic's
  text closest to the item (the explanation), `nearest_kind` says whether it is the description,
  an exemplar or the topic's name.
* Topics that a source is restricted to (`restrict_to`) are the only ones scored, as for the
  keyword scorer. Topics listed in `vetoed` (a negative phrase of the topic matched, see
  relevance.py) score 0 and are listed in `vetoed`.

Everything here is pure and deterministic: the same texts and configuration give the same scores.
"""
from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from pydantic import BaseModel

from shared.research.config import TopicSpec
from shared.research.findings import Finding

if TYPE_CHECKING:   # numpy is imported lazily, with the model
    import numpy as np

SCORER = "semantic-v1"
MODEL_CONFIG = "l2_supercat"
MODEL_DIM = 256
MAX_TOKENS = 512
BATCH_SIZE = 64          # items per tokenizer call (bounds the token-vector buffer: ~64 x 512 x 1 KiB)
DEFAULT_MAX_CHARS = 2000

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_WS = re.compile(r"\s+")
_lock = threading.Lock()
_model: "_Model | None" = None


class SemanticMatch(BaseModel):
    """The semantic scorer's verdict on one item (stored as the finding's explanation)."""
    scorer: str = SCORER
    topic: str | None                     # the most similar topic (None: empty text)
    similarity: float                     # its cosine similarity, 4 decimals
    nearest: str | None                   # the topic text closest to the item
    nearest_kind: Literal["description", "exemplar", "name"] | None
    topics: dict[str, float]              # similarity per scored topic (best first when made)
    vetoed: list[str] = []                # topics zeroed because one of their negatives matched


class _Model:
    """The packaged WordLlama model: its token-embedding table and an unpadded tokenizer."""

    def __init__(self) -> None:
        import numpy
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            import wordllama
            from wordllama import WordLlama
        finally:
            # wordllama's __init__ calls logging.basicConfig(level=INFO): undo that side effect
            root.handlers[:] = handlers
            root.setLevel(level)
        package = Path(wordllama.__file__).parent
        inference = WordLlama.load(config=MODEL_CONFIG, dim=MODEL_DIM, cache_dir=package,
                                   disable_download=True)
        from tokenizers import Tokenizer
        tokenizer = Tokenizer.from_str(inference.tokenizer.to_str())
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        self.np = numpy
        self.tokenizer = tokenizer
        self.table = numpy.ascontiguousarray(inference.embedding, dtype=numpy.float32)
        self.version = getattr(wordllama, "__version__", "?")

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        """Unit vectors (len(texts) x dim), float32; an empty text (no token) gives zeros."""
        np = self.np
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        for lo in range(0, len(texts), BATCH_SIZE):
            chunk = list(texts[lo:lo + BATCH_SIZE])
            encodings = self.tokenizer.encode_batch(chunk, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
            nonempty = np.flatnonzero(lengths)
            if not nonempty.size:
                continue
            ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=int(lengths.sum()))
            np.clip(ids, 0, self.table.shape[0] - 1, out=ids)
            starts = (np.cumsum(lengths) - lengths)[nonempty]
            sums = np.add.reduceat(self.table[ids], starts, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            sums = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)
            out[lo + nonempty] = sums
        return out


def load_model() -> _Model:
    """The packaged model, loaded once per process (thread-safe)."""
    global _model
    with _lock:
        if _model is None:
            _model = _Model()
        return _model


def clean_item_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Control characters and unpaired surrogates as spaces, whitespace collapsed, at most
    max_chars characters (cut at a word boundary when one is in the second half)."""
    text = text[:max_chars * 2]                 # a 1 MB summary is not scanned in full
    text = _WS.sub(" ", _CONTROL.sub(" ", text)).strip()
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut.rsplit(" ", 1)[0] if " " in cut[max_chars // 2:] else cut
    return text


def item_text(finding: Finding, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """"title. summary", each cleaned first, then cut to max_chars."""
    return text_of(finding.title or "", finding.summary or "", max_chars)


def text_of(title: str, summary: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """item_text of a title and summary (also the text of a feedback example)."""
    title, summary = clean_item_text(title, max_chars), clean_item_text(summary, max_chars)
    if title and summary:
        text = f"{title} {summary}" if title[-1] in ".!?:" else f"{title}. {summary}"
    else:
        text = title or summary
    return clean_item_text(text, max_chars)


@lru_cache(maxsize=8)
def _topic_vectors(texts: tuple[str, ...]) -> "np.ndarray":
    vectors = load_model().embed(list(texts))
    vectors.setflags(write=False)
    return vectors


class SemanticScorer:
    """Embeds the topics once; `score` then embeds the items in batches and compares."""

    def __init__(self, topics: list[TopicSpec], aggregate: Literal["max", "centroid"] = "max",
                 max_chars: int = DEFAULT_MAX_CHARS):
        self.model = load_model()
        np = self.model.np
        self.aggregate = aggregate
        self.max_chars = max_chars
        self.names = [t.name for t in topics]
        self.texts: list[list[tuple[str, str]]] = [t.semantic_texts for t in topics]
        flat = tuple(text for texts in self.texts for _, text in texts)
        if not flat:
            return
        self.vectors = _topic_vectors(flat)                      # one row per topic text
        counts = [len(t) for t in self.texts]
        self.starts = np.cumsum([0] + counts[:-1]).astype(np.int64)
        if aggregate == "centroid":
            sums = np.add.reduceat(self.vectors, self.starts, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self.centroids = np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)

    @property
    def topic_names(self) -> list[str]:
        return list(self.names)

    def embed_items(self, findings: Sequence[Finding]) -> "np.ndarray":
        return self.model.embed([item_text(f, self.max_chars) for f in findings])

    def score(self, findings: Sequence[Finding], restrict_to: Sequence[list[str] | None] | None = None,
              vetoed: Sequence[Any] | None = None, vectors: "np.ndarray | None" = None) -> list[SemanticMatch]:
        """One SemanticMatch per finding. restrict_to[i]: the topics finding i may match (None:
        all); vetoed[i]: topics whose negatives matched finding i (they score 0); vectors: the
        items' embeddings when computed already (embed_items)."""
        np = self.model.np
        if not findings:
            return []
        if not self.names:          # a configuration without topics: nothing to be similar to
            return [SemanticMatch(topic=None, similarity=0.0, nearest=None, nearest_kind=None, topics={})
                    for _ in findings]
        known = set(self.names)
        for wanted in restrict_to or []:
            unknown = [n for n in (wanted or []) if n not in known]
            if unknown:
                raise ValueError(f"unknown topics {unknown}; configured: {self.names}")
        items = self.embed_items(findings) if vectors is None else vectors
        per_text = items @ self.vectors.T                         # items x topic texts
        if self.aggregate == "centroid":
            per_topic = items @ self.centroids.T
        else:
            per_topic = np.maximum.reduceat(per_text, self.starts, axis=1)
        empty = ~items.any(axis=1)
        out = []
        for i in range(len(findings)):
            wanted = restrict_to[i] if restrict_to is not None else None
            scored = [k for k, n in enumerate(self.names) if wanted is None or n in wanted]
            vetoes = set(vetoed[i]) if vetoed is not None and vetoed[i] else set()
            sims = {k: (0.0 if self.names[k] in vetoes else round(float(per_topic[i, k]), 4)) for k in scored}
            ranked = sorted(scored, key=lambda k: (-sims[k], k))
            if empty[i] or not ranked or sims[ranked[0]] <= 0:
                out.append(SemanticMatch(topic=None, similarity=0.0, nearest=None, nearest_kind=None,
                                         topics={self.names[k]: sims[k] for k in ranked},
                                         vetoed=sorted(v for v in vetoes if v in known)))
                continue
            best = ranked[0]
            row = per_text[i, self.starts[best]:self.starts[best] + len(self.texts[best])]
            kind, text = self.texts[best][int(np.argmax(row))]
            out.append(SemanticMatch(topic=self.names[best], similarity=sims[best], nearest=text,
                                     nearest_kind=kind, topics={self.names[k]: sims[k] for k in ranked},
                                     vetoed=sorted(v for v in vetoes if v in known)))
        return out


# --- feedback examples (shared/research/feedback.py; the rules: relevance.py, "Feedback") ------
class FeedbackExample(BaseModel):
    """A feedback example nearest to an item: the explanation of a feedback decision."""
    id: str                               # the feedback id (the marked finding's id)
    title: str
    topic: str | None = None              # relevant examples: the topic they train
    similarity: float                     # cosine with the item, 4 decimals


class FeedbackMatch(BaseModel):
    """The item's nearest feedback examples in the exemplar version it was scored with, and (set
    by relevance.combine) what they decided."""
    version: int                          # research_exemplars/{version}
    relevant: FeedbackExample | None      # nearest example marked relevant, of a topic the item may match
    dismissed: FeedbackExample | None     # nearest dismissed example
    by_example: bool = False              # relevant through `relevant` (example_threshold)
    semantic_vetoed: bool = False         # the semantic verdict vetoed by `dismissed`
    keyword_vetoed: bool = False          # the keyword verdict vetoed by `dismissed`


@lru_cache(maxsize=4)
def _example_vectors(digest: str, texts: tuple[str, ...]) -> "np.ndarray":
    vectors = load_model().embed(list(texts)) if texts else load_model().np.zeros((0, MODEL_DIM), "float32")
    vectors.setflags(write=False)
    return vectors


class ExampleScorer:
    """The examples of one exemplar version, embedded once (per version and process); `score`
    finds each item's nearest relevant example (among the topics the item may match and that no
    negative phrase vetoed) and its nearest dismissed example. A relevant example whose topic is
    no longer configured is ignored (`ignored` lists them)."""

    def __init__(self, version: Any, topic_names: list[str]):
        self.model = load_model()
        self.version = version.number
        known = set(topic_names)
        relevant = [e for e in version.examples if e.label == "relevant" and e.topic in known]
        self.ignored = sorted(e.id for e in version.examples if e.label == "relevant" and e.topic not in known)
        dismissed = [e for e in version.examples if e.label == "dismissed"]
        self.examples = relevant + dismissed
        self.n_relevant = len(relevant)
        self.vectors = _example_vectors(version.content_hash, tuple(e.text for e in self.examples))

    def score(self, ids: Sequence[str], vectors: "np.ndarray", restrict_to: Sequence[list[str] | None] | None = None,
              vetoed: Sequence[Any] | None = None, exclude_own: bool = False) -> list[FeedbackMatch]:
        """One FeedbackMatch per item: ids[i] is item i's finding id, vectors[i] its embedding
        (SemanticScorer.embed_items). exclude_own: an item never matches its own example (for
        leave-one-out measurements; a scan compares a marked finding with its own example)."""
        np = self.model.np
        n, n_rel = len(ids), self.n_relevant
        sims = (vectors @ self.vectors.T if len(self.examples) else np.zeros((n, 0), dtype=np.float32)).astype(np.float64)
        sims[~vectors.any(axis=1)] = -np.inf                       # an empty text matches no example
        if exclude_own:
            own = {e.id: [] for e in self.examples}
            for k, e in enumerate(self.examples):
                own[e.id].append(k)
            for i, fid in enumerate(ids):
                sims[i, own.get(fid, [])] = -np.inf
        allowed = np.ones((n, n_rel), dtype=bool)                  # relevant examples item i may match
        topics = np.array([e.topic for e in self.examples[:n_rel]], dtype=object)
        masks: dict[tuple, Any] = {}
        for i in range(n):
            wanted = restrict_to[i] if restrict_to is not None else None
            vetoes = vetoed[i] if vetoed is not None and vetoed[i] else ()
            if wanted is None and not vetoes:
                continue
            key = (None if wanted is None else tuple(sorted(wanted)), tuple(sorted(vetoes)))
            if key not in masks:
                ok = np.array([(wanted is None or t in wanted) and t not in vetoes for t in topics], dtype=bool)
                masks[key] = ok
            allowed[i] = masks[key]
        rel = np.where(allowed, sims[:, :n_rel], -np.inf)
        dis = sims[:, n_rel:]

        def nearest(block: Any, offset: int, i: int) -> FeedbackExample | None:
            if block.shape[1] == 0:
                return None
            k = int(np.argmax(block[i]))
            if not np.isfinite(block[i, k]):
                return None
            e = self.examples[offset + k]
            return FeedbackExample(id=e.id, title=e.title, topic=e.topic, similarity=round(float(block[i, k]), 4))
        return [FeedbackMatch(version=self.version, relevant=nearest(rel, 0, i), dismissed=nearest(dis, n_rel, i))
                for i in range(n)]
