"""Relevance and impact of a research finding: a keyword scorer over the configured topics.

Matching rules (scorer "keywords-v1")
-------------------------------------
Every configured phrase, synonym and negative phrase of a topic is compiled once by
`TopicMatcher` and searched in two fields of a `Finding`: the title and the summary.

* Acronyms. A phrase written as an acronym - 2 to 6 letters/digits, no space or hyphen, at least
  two capitals ("RAG", "CoT", "MCP", "MARL", "LLM") - matches case-sensitively as a whole word,
  optionally followed by a plural "s" ("RAGs") and also before a hyphen ("RAG-based"). So "RAG"
  never matches "leverage", "ragged", "drag", "Ragnarok", "storage" or "rag", and "CoT" never
  matches "cot" or "coterie".
* Other phrases match case-insensitively as whole words. Space and hyphen are interchangeable
  between the words of a phrase ("chain of thought" = "chain-of-thought" = "Chain-of-Thought";
  runs of spaces/hyphens count as one separator), and an optional plural "s" or "es" may follow
  the last word ("reranker" matches "rerankers"). Other inflections do not match
  ("benchmark" does not match "benchmarking").
* "Whole word" means the match is neither preceded nor followed by a letter or digit
  (underscore, hyphen and punctuation are boundaries).
* Configured spellings that are equal under these rules ("multi-agent" and "multi agent") are one
  phrase: the first spelling in the configuration (phrases before synonyms) is kept and reported.
* An occurrence that lies inside a longer matched phrase of the same topic does not count again
  ("model cascade" counts once, not also as "cascade"); a phrase counts if at least one of its
  occurrences in the field stands on its own.

Topic score
-----------
For each field, each phrase counts at most once: a phrase hit is worth 1.0, a synonym hit 0.5;
hits in the title count double. The sum over both fields is multiplied by the topic weight:

    score(topic) = weight * sum over fields f, matched phrases p of  value(p) * (2 if f is title else 1)
    value(p)     = 1.0 for a phrase, 0.5 for a synonym

If any negative phrase of the topic matches in either field, the topic scores 0; the matched
negatives are recorded in `TopicMatch.negatives` and the topic is still listed (with score 0) if it
had positive evidence.

Model repositories (kind "hf_models": title is the repo id, summary a short factual sentence with
the pipeline tag and tags) rarely contain prose. If the summary or title shows an LLM pipeline tag
(text-generation, image-text-to-text, text2text-generation, conversational) and a topic named
"new model release" exists (and is not excluded by `restrict_to`), that topic gets a base score
of 2.0, listed as the phrase "pipeline: <tag>": score = 2.0 + weight * (phrase sum as above).
Negatives still zero it.

Catalog model names (`model_names:` in the configuration; shared/research/model_names.py): when
enabled, a title (of any kind but "hf_models") whose subject is a versioned name of a model family
in the platform's catalog ("OpenAI o3-mini", "Gemini 2.5: ...", "Introducing GPT-4.1 in the API";
not "Fine-tuning now available for GPT-4o") gives "new model release" a base score of
`model_names.score` (2.0), listed as the phrase "catalog model: <name> (<family>, <n> in the
catalog)": score = model_names.score + weight * (phrase sum). Negatives still zero it.

Overall relevance
-----------------
    relevance = best topic score + 0.25 * (sum of the other topic scores)

A single strong topic dominates; further topics add a little (a finding on both KV-cache
compression and long context is somewhat more relevant than one on either alone).

Impact
------
Points: relevance >= 3 -> +2, >= 1.5 -> +1; HF upvotes >= 150 -> +2, >= 50 -> +1;
likes >= 1000 or trending score >= 500 -> +1; downloads >= 100,000 -> +1; code released
(github_url) -> +1; venue -> +1; kind "rss" (a lab's own blog or news) -> +1.
high >= 4 points, medium >= 2, else low; a finding with relevance 0 is always low. Every
contribution is listed in words in `impact_reasons`.

Combination with the semantic scorer (`combine`, when `semantic.enabled`)
-------------------------------------------------------------------------
shared/research/semantic.py ("semantic-v1") gives each finding a cosine similarity with every
topic (its description and exemplars), the best topic and the nearest exemplar. `combine` turns a
keyword `Assessment` and that `SemanticMatch` into a `CombinedAssessment`
(scorer "keywords-v1+semantic-v1"):

* Negatives veto both scorers: a topic whose negative phrase matches the finding scores 0 for the
  semantic scorer too (listed in `semantic.vetoed`).
* Relevant when either scorer is confident:
      relevant = relevance >= relevance_threshold  OR  similarity >= semantic.threshold
  `keyword_relevant` and `semantic_relevant` say which one (or both) decided.
* `relevance` stays the keyword relevance (0 for a finding only the semantic scorer found);
  `topics` stay the keyword topics with their matched phrases; `semantic` holds the semantic
  topic, similarity, nearest exemplar (or description) and the similarity per topic.
* `topic` (the topic used for the findings file and proposals): the keyword best topic when the
  keywords are confident, else the semantic topic when the semantic scorer is, else the keyword
  best topic, else the semantic topic.
* Borderline: no scorer is clearly above its threshold, and not both clearly below:
      sure_yes(x, t, band) = x >= t + band;   sure_no(x, t, band) = x < t - band
      borderline = not (sure_yes(kw) or sure_yes(sem)) and not (sure_no(kw) and sure_no(sem))
  with `semantic.borderline.keyword_band` (relevance points) and `.semantic_band` (similarity).
  A band of 0 on both makes nothing borderline. A later LLM judge is meant to read only these.
* Impact: the relevance points are the larger of the keyword rule above and the semantic rule
  similarity >= semantic.strong -> +2, >= semantic.threshold -> +1, given with the reason
  "semantic similarity 0.52 (RAG)" (the keyword reason when both give the same points). The
  other signals count as above. "Always low" applies when neither scorer finds the finding
  relevant (relevance 0 and similarity below the threshold). So a finding only the semantic
  scorer found can reach medium or high impact (and a proposal) through its similarity and its
  signals, as a keyword finding does through its phrases.

With `semantic.enabled: false` nothing of this runs: the scan stores exactly the keyword
`Assessment` it stored before the semantic scorer existed.

Feedback: labelled examples (`combine(..., feedback, fspec)`, `decide`; config `feedback:`)
---------------------------------------------------------------------------------------------
Operators mark findings relevant (under a topic) or dismissed (shared/research/feedback.py); the
marks in force form an immutable exemplar version, and a scan scores with the newest one
(semantic.py's `ExampleScorer` gives each item its nearest examples, cosine of the same
embeddings, 4 decimals). With `similarity` the item's best topic-text similarity as above (0
without a semantic topic), `example` its similarity with the nearest example marked relevant (of a
topic the item may match and no negative phrase vetoed) and `dismissed` with the nearest
dismissed example:

* A relevant example is an extra exemplar of its topic, with its own threshold (item to item
  similarities run higher than item to description ones: two unrelated lab news titles are often
  0.5-0.6 alike):
      by_example = example >= feedback.example_threshold
      semantic   = (similarity >= semantic.threshold OR by_example)
  The finding is filed under the example's topic when only the example decided, with the impact
  reason 'similar (0.81) to a finding marked relevant: "<title>" (<topic>; exemplar version N)'
  worth 1 relevance point.
* A dismissed example vetoes what is no more like the relevant texts than like it:
      support       = max(similarity, example)
      semantic veto = semantic AND dismissed >= support + feedback.margin
      keyword veto  = keyword relevant AND relevance < feedback.keyword_veto_below
                      AND dismissed >= support + feedback.keyword_margin
  (veto points rounded to 6 decimals). A vetoed verdict is false; a vetoed keyword verdict earns
  no relevance points. So a near-duplicate of a dismissed item (a finding that comes back, the
  next "Introducing <product>" post) is not relevant unless it is as close to what was marked
  relevant or a strong keyword match (relevance >= keyword_veto_below, 3 by default: a phrase in
  the title and more) speaks for it: explicit phrases are precise, and the tuning data had no
  false positive that strong. Why the keyword veto at all: on the real tune items the keyword
  scorer's false positives are mostly "Introducing <product>" news ("Introducing ChatGPT
  Enterprise", "Introducing data residency in Asia": relevance 2.0 from the release synonyms);
  vetoing weak keyword matches next to a dismissed item removed 10 of its 14 false positives for
  1 true positive (leave-one-out). The cost shows on held-out data: a true release whose nearest
  example is a dismissed "Introducing ..." post and no marked release is near is vetoed too.
  Model repositories often rest on the pipeline base score 2.0 alone (a weak keyword match) and
  read alike ("org/name. Text generation model by org. Tags: ..."): one dismissed repository
  vetoes the similar ones until a repository marked relevant supports them.
* Borderline (for the LLM judge): a scorer vetoed cannot be sure yes; a veto clearly past its
  point (by semantic.borderline.semantic_band) is sure no; by_example is sure yes / sure no at
  example_threshold +/- semantic_band; otherwise as above.
* No exemplar version (no feedback, `feedback.enabled: false`, or the semantic scorer off): none
  of this runs and the verdict is exactly the one above; `CombinedAssessment.feedback` is then
  absent from the stored explanation. With a version it records the version number, the nearest
  relevant and dismissed examples (feedback id, title, topic, similarity) and what they decided
  (`by_example`, `semantic_vetoed`, `keyword_vetoed`).

The margins were tuned by leave-one-out on the blind-labelled REAL tune items only
(`python -m perf.relevance_precision --real tune --feedback --tune-feedback`; figures in the
README); `keyword_veto_below` was set by the rule above, not tuned (the tune data cannot tell 3
from higher).

LLM judge (optional, `judge.enabled`; shared/research/judge.py asks, this module decides)
------------------------------------------------------------------------------------------
* Only borderline items (above), on either side of the combined decision, are ever judged.
* A valid judgement (relevance an integer 1-10, topics among the configured names, a one-line
  reason of at most 300 characters; judge.py validates every answer) decides the item:
      relevant = judge relevance >= judge.min_relevance
  whatever the scorers said. The assessment becomes a `JudgedAssessment`: the keyword topics,
  the semantic verdict, the topic and the impact stay the scorers' (the judge never raises
  impact, so on its own it never makes a proposal); `combined_relevant` keeps the scorers'
  decision, `decided_by` is "judge" and `decision` says it in words.
* No valid judgement (the judge is off, over budget, the call failed, the answer was invalid),
  or a SIMULATED one (the endpoint is a listed simulator or says so): the combined decision
  stands. A simulated judgement is kept and shown, labelled, with `decided_by` "scorers":
  simulated evidence never decides anything (DESIGN.md).
The judge can be fooled (an item's text may carry instructions it obeys): that is why it decides
only items the scorers could not, and why its answer can never be more than a relevance number,
topic names from the list and a short reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Literal, NamedTuple

from pydantic import BaseModel, Field, model_serializer

from shared.research.config import MODEL_RELEASE_TOPIC, FeedbackSpec, ResearchConfig, SemanticSpec, TopicSpec
from shared.research.findings import Finding
from shared.research.model_names import ModelFamilies
from shared.research.semantic import SCORER as SEMANTIC_SCORER, FeedbackMatch, SemanticMatch

SCORER = "keywords-v1"
COMBINED_SCORER = f"{SCORER}+{SEMANTIC_SCORER}"
JUDGE_SCORER = "llm-judge-v1"
JUDGED_SCORER = f"{COMBINED_SCORER}+{JUDGE_SCORER}"
PHRASE_VALUE = 1.0
SYNONYM_VALUE = 0.5
TITLE_FACTOR = 2.0
OTHER_TOPICS_FACTOR = 0.25
PIPELINE_BASE_SCORE = 2.0
LLM_PIPELINE_TAGS = ("text-generation", "image-text-to-text", "text2text-generation", "conversational")


class TopicMatch(BaseModel):
    topic: str
    score: float
    phrases: list[str]          # the configured phrases/synonyms that matched, as configured
    negatives: list[str] = []   # negative phrases that matched (score is then 0)


class Assessment(BaseModel):
    relevance: float            # best topic score + 0.25 x sum of the other topic scores
    topics: list[TopicMatch]    # topics with score > 0 (and those zeroed by negatives), best first
    impact: Literal["high", "medium", "low"]
    impact_reasons: list[str]
    scorer: str = SCORER

    @property
    def best_topic(self) -> str | None:
        return self.topics[0].topic if self.topics and self.topics[0].score > 0 else None

    @property
    def top_topic(self) -> str | None:
        """The topic a finding is filed and proposed under."""
        return self.topics[0].topic if self.topics else None

    @property
    def positive_topics(self) -> list[str]:
        return [t.topic for t in self.topics if t.score > 0]


class CombinedAssessment(Assessment):
    """A keyword Assessment with the semantic scorer's verdict (see "Combination" above)."""
    scorer: str = COMBINED_SCORER
    topic: str | None               # filed and proposed under this topic
    relevant: bool
    keyword_relevant: bool
    semantic_relevant: bool
    borderline: bool
    semantic: SemanticMatch
    feedback: FeedbackMatch | None = None   # the exemplar version scored with, nearest examples, decisions

    @model_serializer(mode="wrap")
    def _without_absent_feedback(self, handler: Any) -> dict[str, Any]:
        # scored without feedback, the stored explanation is exactly what it was before feedback
        data = handler(self)
        if isinstance(data, dict) and data.get("feedback", 0) is None:
            data.pop("feedback")
        return data

    @property
    def top_topic(self) -> str | None:
        return self.topic

    @property
    def positive_topics(self) -> list[str]:
        topics = super().positive_topics
        if self.semantic_relevant:
            by_example = self.feedback is not None and self.feedback.by_example   # not the topic texts
            extra = self.feedback.relevant.topic if by_example else self.semantic.topic
            if extra not in topics:
                topics.append(extra)
        return topics


class JudgeVerdict(BaseModel):
    """A valid judgement of the LLM judge (stored as a finding's `judge` and in the judgement cache)."""
    model: str
    relevance: int                  # 1-10
    topics: list[str]               # configured topic names
    reason: str                     # one line, <= 300 characters (model-written: untrusted text)
    at: datetime
    cost_usd: float | None = None   # the call's cost when known (usage.cost or catalog price x tokens)
    simulated: bool = False         # answered by the model simulator: not a real model's opinion


class JudgedAssessment(CombinedAssessment):
    """A borderline CombinedAssessment decided by the LLM judge (see "LLM judge" above)."""
    scorer: str = JUDGED_SCORER
    decided_by: Literal["judge", "scorers"] = "judge"   # "scorers": a simulated answer, recorded only
    combined_relevant: bool         # what the keyword and semantic scorers decided alone
    decision: str                   # the judge's decision in words
    judge: JudgeVerdict = Field(exclude=True)   # stored once, as the finding's top-level `judge`


def judged(a: CombinedAssessment, verdict: JudgeVerdict, min_relevance: int) -> JudgedAssessment:
    """The judge's decision on a borderline item (the rule in this module's docstring)."""
    if not a.borderline:
        raise ValueError("only borderline items are decided by the judge")
    says = verdict.relevance >= min_relevance
    if verdict.simulated:   # simulated evidence is labelled and never counts (DESIGN.md)
        relevant = a.relevant
        decision = (f"SIMULATED LLM judge {verdict.model} said relevance {verdict.relevance}/10 "
                    f"({'relevant' if says else 'not relevant'}); a simulated answer decides nothing: the "
                    f"scorers' decision stands ({'relevant' if a.relevant else 'not relevant'}, borderline)")
    else:
        relevant = says
        decision = (f"LLM judge {verdict.model} decided: relevance {verdict.relevance}/10 "
                    f"{'>=' if relevant else '<'} judge.min_relevance {min_relevance}: "
                    f"{'relevant' if relevant else 'not relevant'} (the scorers alone: "
                    f"{'relevant' if a.relevant else 'not relevant'}, borderline)")
    data = {k: getattr(a, k) for k in CombinedAssessment.model_fields if k not in ("scorer", "relevant")}
    return JudgedAssessment(**data, relevant=relevant, combined_relevant=a.relevant, decision=decision,
                            decided_by="scorers" if verdict.simulated else "judge", judge=verdict)


# --- phrase compilation ------------------------------------------------------------------------
_ACRONYM = re.compile(r"[A-Za-z0-9]{2,6}")
_SPLIT = re.compile(r"[\s\-\u2010\u2011]+")
_SEP = r"[\s\-\u2010\u2011]+"
_NOT_AFTER_ALNUM = r"(?<![^\W_])"   # not preceded by a letter or digit
_NOT_BEFORE_ALNUM = r"(?![^\W_])"   # not followed by a letter or digit
_PIPELINE = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, LLM_PIPELINE_TAGS)) + r")(?![\w-])")


def is_acronym(phrase: str) -> bool:
    """2-6 letters/digits, no separators, at least two capitals: RAG, CoT, MCP, MARL, LLM."""
    return bool(_ACRONYM.fullmatch(phrase)) and sum(c.isupper() for c in phrase) >= 2


@dataclass(frozen=True)
class _Phrase:
    text: str                   # as configured
    value: float                # 1.0 phrase, 0.5 synonym (unused for negatives)
    regex: re.Pattern[str]
    needle: str                 # cheap substring pre-filter
    case_sensitive: bool

    def spans(self, raw: str, lower: str) -> list[tuple[int, int]]:
        if self.needle not in (raw if self.case_sensitive else lower):
            return []
        return [m.span() for m in self.regex.finditer(raw)]


def _key(phrase: str) -> str:
    phrase = phrase.strip()
    return phrase if is_acronym(phrase) else " ".join(t for t in _SPLIT.split(phrase.lower()) if t)


def compile_phrase(phrase: str, value: float = PHRASE_VALUE) -> _Phrase:
    phrase = phrase.strip()
    if is_acronym(phrase):
        rx = re.compile(_NOT_AFTER_ALNUM + re.escape(phrase) + "s?" + _NOT_BEFORE_ALNUM)
        return _Phrase(phrase, value, rx, phrase, True)
    tokens = [t for t in _SPLIT.split(phrase) if t]
    if not tokens:
        raise ValueError(f"empty phrase {phrase!r}")
    body = _SEP.join(re.escape(t) for t in tokens)
    rx = re.compile(_NOT_AFTER_ALNUM + body + "(?:s|es)?" + _NOT_BEFORE_ALNUM, re.IGNORECASE)
    return _Phrase(phrase, value, rx, max(tokens, key=len).lower(), False)


@dataclass(frozen=True)
class _Topic:
    spec: TopicSpec
    order: int
    phrases: tuple[_Phrase, ...]     # phrases then synonyms, deduplicated by matching key
    negatives: tuple[_Phrase, ...]


def _compile_topic(spec: TopicSpec, order: int) -> _Topic:
    seen: set[str] = set()
    phrases = []
    for configured, value in [(p, PHRASE_VALUE) for p in spec.phrases] + [(s, SYNONYM_VALUE) for s in spec.synonyms]:
        key = _key(configured)
        if key and key not in seen:
            seen.add(key)
            phrases.append(compile_phrase(configured, value))
    negatives = tuple(compile_phrase(n) for n in dict.fromkeys(n.strip() for n in spec.negative) if n)
    return _Topic(spec, order, tuple(phrases), negatives)


def _counted(hits: dict[int, list[tuple[int, int]]]) -> list[int]:
    """Indices of phrases with at least one occurrence not inside a longer (or, if equal, an
    earlier-configured) matched phrase's occurrence."""
    out = []
    for i, spans in hits.items():
        def covered(span: tuple[int, int]) -> bool:
            s, e = span
            for j, other in hits.items():
                if j == i:
                    continue
                for os_, oe in other:
                    if os_ <= s and e <= oe and ((oe - os_) > (e - s) or j < i):
                        return True
            return False
        if any(not covered(sp) for sp in spans):
            out.append(i)
    return sorted(out)


def _fmt(x: float) -> str:
    """3.2 -> '3.2', 2 -> '2.0', 2.95 -> '2.95', 581 -> '581.0'."""
    s = f"{x:.2f}"
    return s[:-1] if s.endswith("0") else s


_VENUE_PREFIX = re.compile(r"^\s*(?:accepted|to appear|published|presented|appears?)\s+(?:at|to|in|by)\s+(?:the\s+)?",
                           re.IGNORECASE)


def _venue(text: str) -> str:
    return _VENUE_PREFIX.sub("", text).strip().rstrip(".") or text.strip()


class TopicMatcher:
    """Compiles the topics once; `assess` is then cheap (thousands of findings per second)."""

    def __init__(self, topics: list[TopicSpec], model_names: ModelFamilies | None = None,
                 model_name_score: float = 2.0):
        """`model_names`: the catalog's model families (None: no catalog model-name evidence)."""
        self._topics = [_compile_topic(t, i) for i, t in enumerate(topics)]
        self._by_name = {t.spec.name: t for t in self._topics}
        self.model_names = model_names
        self.model_name_score = model_name_score

    @property
    def topic_names(self) -> list[str]:
        return [t.spec.name for t in self._topics]

    def _score_topic(self, topic: _Topic, fields: list[tuple[str, str, float]],
                     base: tuple[float, str] | None) -> TopicMatch | None:
        """`base`: (score, phrase) the release topic gets from outside its phrases (an LLM
        pipeline tag, a catalog model name)."""
        matched: dict[int, None] = {}
        total = 0.0
        for raw, lower, factor in fields:
            hits = {}
            for i, ph in enumerate(topic.phrases):
                spans = ph.spans(raw, lower)
                if spans:
                    hits[i] = spans
            for i in _counted(hits):
                total += topic.phrases[i].value * factor
                matched[i] = None
        names = [topic.phrases[i].text for i in sorted(matched)]
        score = total * topic.spec.weight
        if base and topic.spec.name == MODEL_RELEASE_TOPIC:
            score += base[0]
            names.insert(0, base[1])
        if not names:
            return None
        negatives = [n.text for n in topic.negatives if any(n.spans(raw, lower) for raw, lower, _ in fields)]
        if negatives:
            score = 0.0
        return TopicMatch(topic=topic.spec.name, score=round(score, 4), phrases=names, negatives=negatives)

    def negated(self, finding: Finding, restrict_to: list[str] | None = None) -> list[str]:
        """The topics (of restrict_to, default all) one of whose negative phrases matches the
        finding's title or summary."""
        title, summary = finding.title or "", finding.summary or ""
        fields = [(title, title.lower()), (summary, summary.lower())]
        return [t.spec.name for t in self._topics
                if (restrict_to is None or t.spec.name in restrict_to)
                and any(n.spans(raw, lower) for n in t.negatives for raw, lower in fields)]

    def assess(self, finding: Finding, restrict_to: list[str] | None = None) -> Assessment:
        if restrict_to is None:
            topics = self._topics
        else:
            unknown = [n for n in restrict_to if n not in self._by_name]
            if unknown:
                raise ValueError(f"unknown topics {unknown}; configured: {self.topic_names}")
            wanted = set(restrict_to)
            topics = [t for t in self._topics if t.spec.name in wanted]
        title, summary = finding.title or "", finding.summary or ""
        fields = [(title, title.lower(), TITLE_FACTOR), (summary, summary.lower(), 1.0)]
        base = self._release_evidence(finding)
        matches = [m for t in topics if (m := self._score_topic(t, fields, base)) is not None]
        order = {t.spec.name: t.order for t in self._topics}
        matches.sort(key=lambda m: (-m.score, order[m.topic]))
        scores = [m.score for m in matches if m.score > 0]
        relevance = round(scores[0] + OTHER_TOPICS_FACTOR * sum(scores[1:]), 4) if scores else 0.0
        impact, reasons = _impact(finding, relevance, matches[0].topic if scores else None)
        return Assessment(relevance=relevance, topics=matches, impact=impact, impact_reasons=reasons)

    def _release_evidence(self, finding: Finding) -> tuple[float, str] | None:
        """A model repository's LLM pipeline tag; otherwise a catalog model named as the title's
        subject (a repository id names its own model: its pipeline tag decides)."""
        if finding.kind == "hf_models":
            tag = _pipeline_tag(finding)
            return (PIPELINE_BASE_SCORE, f"pipeline: {tag}") if tag else None
        mention = self.model_names.mention(finding.title) if self.model_names is not None else None
        return (self.model_name_score, mention.phrase()) if mention else None


def topic_matcher(config: ResearchConfig, catalog_models: Iterable[dict[str, Any]] = ()) -> TopicMatcher:
    """The configured topics' matcher, with the model families of `catalog_models` (catalog
    model documents with "name" / "id") when `model_names` is enabled."""
    spec = config.model_names
    families = ModelFamilies.from_catalog(catalog_models, spec.min_models, spec.ignore) if spec.enabled else None
    return TopicMatcher(config.topics, families, spec.score)


def _pipeline_tag(finding: Finding) -> str | None:
    for text in (finding.summary, finding.title):
        m = _PIPELINE.search(text or "")
        if m:
            return m.group(1)
    return None


class Verdict(NamedTuple):
    keyword_relevant: bool
    semantic_relevant: bool
    by_example: bool              # semantic_relevant through a relevant example (not the topic texts)
    keyword_vetoed: bool
    semantic_vetoed: bool
    borderline: bool


def decide(relevance: float, similarity: float, example_similarity: float | None,
           dismissed_similarity: float | None, relevance_threshold: float, spec: SemanticSpec,
           fspec: FeedbackSpec | None = None) -> Verdict:
    """The combined verdict from the scores alone (the rules in this module's docstring).
    similarity: the best topic-text similarity (0 without a semantic topic); example_similarity /
    dismissed_similarity: the nearest relevant / dismissed feedback example's (None: none, or no
    feedback: then `fspec` is ignored and the verdict is exactly the one without feedback)."""
    if fspec is None:
        example_similarity = dismissed_similarity = None
    kw = relevance >= relevance_threshold
    by_text = similarity >= spec.threshold
    by_example = example_similarity is not None and example_similarity >= fspec.example_threshold
    support = max(similarity, example_similarity or 0.0)
    sem_veto_at = kw_veto_at = float("inf")
    if dismissed_similarity is not None:
        # rounded: similarities have 4 decimals, so 0.80 + 0.04 is the veto point 0.84, not 0.8400000000000001
        sem_veto_at = round(support + fspec.margin, 6)
        kw_veto_at = round(support + fspec.keyword_margin, 6) if relevance < fspec.keyword_veto_below else float("inf")
    sem_vetoed = (by_text or by_example) and dismissed_similarity is not None and dismissed_similarity >= sem_veto_at
    kw_vetoed = kw and dismissed_similarity is not None and dismissed_similarity >= kw_veto_at
    keyword_relevant = kw and not kw_vetoed
    semantic_relevant = (by_text or by_example) and not sem_vetoed
    kw_band, sem_band = spec.borderline.keyword_band, spec.borderline.semantic_band
    ex_sim = example_similarity if example_similarity is not None else float("-inf")
    dis_sim = dismissed_similarity if dismissed_similarity is not None else float("-inf")
    sure_yes = (keyword_relevant and relevance >= relevance_threshold + kw_band) or (not sem_vetoed and (
        similarity >= spec.threshold + sem_band or (fspec is not None and ex_sim >= fspec.example_threshold + sem_band)))
    kw_no = relevance < relevance_threshold - kw_band or (kw_vetoed and dis_sim >= kw_veto_at + sem_band)
    sem_no = (similarity < spec.threshold - sem_band
              and (fspec is None or ex_sim < fspec.example_threshold - sem_band)) \
        or (sem_vetoed and dis_sim >= sem_veto_at + sem_band)
    return Verdict(keyword_relevant, semantic_relevant, semantic_relevant and by_example and not by_text,
                   kw_vetoed, sem_vetoed, not sure_yes and not (kw_no and sem_no))


def combine(finding: Finding, a: Assessment, semantic: SemanticMatch, spec: SemanticSpec,
            relevance_threshold: float, feedback: FeedbackMatch | None = None,
            fspec: FeedbackSpec | None = None) -> CombinedAssessment:
    """The keyword assessment `a` and the semantic verdict on the same finding, combined by the
    rules in this module's docstring. `semantic` must have been scored with the topics vetoed
    by their negatives (TopicMatcher.negated). `feedback` (with `fspec`): the finding's nearest
    feedback examples in the exemplar version in force (None: no feedback, today's verdict)."""
    if feedback is not None and fspec is None:
        raise ValueError("feedback needs its FeedbackSpec")
    sim = semantic.similarity if semantic.topic is not None else 0.0
    ex = feedback.relevant if feedback is not None else None
    dis = feedback.dismissed if feedback is not None else None
    v = decide(a.relevance, sim, ex.similarity if ex else None, dis.similarity if dis else None,
               relevance_threshold, spec, fspec if feedback is not None else None)
    if v.keyword_relevant:
        topic = a.best_topic
    elif v.semantic_relevant:
        topic = ex.topic if v.by_example else semantic.topic
    else:
        topic = a.best_topic or semantic.topic
    if v.by_example:
        sem_reason = (1, f"similar ({ex.similarity:.2f}) to a finding marked relevant: "
                         f"\"{_short(ex.title)}\" ({ex.topic}; exemplar version {feedback.version})")
    else:
        sem_points = 2 if v.semantic_relevant and sim >= spec.strong else 1 if v.semantic_relevant else 0
        sem_reason = (sem_points, f"semantic similarity {sim:.2f} ({semantic.topic})")
    # a keyword verdict vetoed by feedback earns no relevance points
    impact, reasons = _impact(finding, 0.0 if v.keyword_vetoed else a.relevance,
                              a.best_topic if a.relevance > 0 else None, sem_reason)
    if feedback is not None:
        feedback = feedback.model_copy(update={"by_example": v.by_example, "semantic_vetoed": v.semantic_vetoed,
                                               "keyword_vetoed": v.keyword_vetoed})
    return CombinedAssessment(relevance=a.relevance, topics=a.topics, impact=impact, impact_reasons=reasons,
                              topic=topic, relevant=v.keyword_relevant or v.semantic_relevant,
                              keyword_relevant=v.keyword_relevant, semantic_relevant=v.semantic_relevant,
                              borderline=v.borderline, semantic=semantic, feedback=feedback)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _impact(finding: Finding, relevance: float, best: str | None,
            semantic: tuple[int, str] | None = None) -> tuple[str, list[str]]:
    """`semantic`: (relevance points from the semantic similarity, their reason), when combined."""
    points, reasons = 0, []

    def add(n: int, reason: str) -> None:
        nonlocal points
        points += n
        reasons.append(reason)

    kw_points = 2 if relevance >= 3 else 1 if relevance >= 1.5 else 0
    sem_points = semantic[0] if semantic else 0
    if kw_points and kw_points >= sem_points:
        add(kw_points, f"relevance {_fmt(relevance)} ({best})")
    elif sem_points:
        add(sem_points, semantic[1])
    sig = finding.signals
    if sig.upvotes is not None and sig.upvotes >= 150:
        add(2, f"{sig.upvotes:,} HF upvotes")
    elif sig.upvotes is not None and sig.upvotes >= 50:
        add(1, f"{sig.upvotes:,} HF upvotes")
    popular = []
    if sig.likes is not None and sig.likes >= 1000:
        popular.append(f"{sig.likes:,} likes")
    if sig.trending_score is not None and sig.trending_score >= 500:
        ts = sig.trending_score
        popular.append(f"trending score {int(ts):,}" if ts == int(ts) else f"trending score {ts:,.1f}")
    if popular:
        add(1, ", ".join(popular))
    if sig.downloads is not None and sig.downloads >= 100_000:
        add(1, f"{sig.downloads:,} downloads")
    if sig.github_url:
        add(1, "code released")
    if sig.venue and sig.venue.strip():
        add(1, f"venue: {_venue(sig.venue)}")
    if finding.kind == "rss":
        add(1, "lab announcement")
    if relevance <= 0 and not sem_points:
        reasons.append("no configured topic matched: impact low")
        return "low", reasons
    return ("high" if points >= 4 else "medium" if points >= 2 else "low"), reasons
