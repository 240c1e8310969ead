"""Precision/recall of the relevance scorers on a labelled set (a perf script).

    .venv/bin/python -m perf.relevance_precision [--config PATH] [--labels PATH]
        [--scorer keywords|semantic|combined|all] [--threshold X] [--semantic-threshold Y]
        [--aggregate max|centroid] [--sweep] [--errors]

Data: tests/fixtures/research/relevance_labelled.jsonl - 40 SYNTHETIC findings written and
labelled by hand (each line has "synthetic": true), about half relevant to the default topics and
half not, with traps in both directions. Labels were written before the scorer was tuned and are
not adjusted to it; the semantic defaults were set on this file too (it is the tune set).
relevance_heldout.jsonl was written by someone who never saw the keyword lists; it is only ever
evaluated, never tuned on. Each line: {"id", "kind", "title", "summary", "relevant", "topics",
"synthetic"}.

Scorers (shared/research/relevance.py documents the rules):
  keywords  relevance >= threshold (default: the configuration's relevance_threshold)
  semantic  semantic similarity >= semantic threshold (default: the configuration's
            semantic.threshold), negatives vetoing their topic
  combined  either of the two (the scan's rule when semantic.enabled)
Prints one table (n, precision / recall / F1 of the "relevant" class, confusion counts, for
combined the number of borderline items), per scorer the precision of the predicted topic among
predicted-relevant items (correct when it is one of the item's expected topics), and with
--errors every false positive / false negative with its explanation. --sweep prints semantic and
combined F1 over a range of semantic thresholds (for tuning on a tune half; never on held-out).
`evaluate` is shared with tests/research/test_research_relevance.py and test_research_semantic.py.

Feedback (issue 15: operator marks as labelled examples; rules in shared/research/relevance.py):
  --feedback        the blind-labelled REAL tune items become operator feedback (relevant ones
                    marked relevant under their first labelled topic, the others dismissed), made
                    into an exemplar version by the production code (shared/research/feedback.py),
                    and every scorer is evaluated again with it. An item never matches its own
                    example (leave-one-out), so on the tune split this is the leave-one-out
                    estimate; on the held-out split and the synthetic sets no item is in the
                    feedback at all. On the tune split the resubstitution figure (each item's own
                    example in force) is printed too, marked meaningless.
  --tune-feedback   (with --real tune --feedback) grid search of example_threshold, margin and
                    keyword_margin by leave-one-out F1 of the combined scorer on the tune items
                    (ties: higher precision, then the higher F1 averaged over the neighbouring grid
                    points), then the nested estimate: 10-fold cross-validation inside the tune
                    items (folds by a hash of the id); for each fold the feedback is the other nine,
                    the parameters are tuned on them by leave-one-out, and the fold is evaluated
                    with them; confusion counts pooled.
  --example-threshold / --margin / --keyword-margin override the configuration's feedback section.
The held-out split is never tuned on: evaluate it with --real heldout --feedback once.
"""
from __future__ import annotations

import argparse
import sys
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shared.research.config import FeedbackSpec, SemanticSpec, load_research_config
from shared.research.findings import Finding
from perf.relevance_data import CATALOG_PATH, FixturesMissing, load_catalog_models
from shared.research.relevance import Assessment, CombinedAssessment, TopicMatcher, combine, decide, topic_matcher

REPO = Path(__file__).resolve().parent.parent
LABELS = REPO / "tests" / "fixtures" / "research" / "relevance_labelled.jsonl"
SCORERS = ("keywords", "semantic", "combined")


def load_labelled(path: str | Path = LABELS) -> list[dict[str, Any]]:
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            item = json.loads(line)
            missing = {"id", "kind", "title", "relevant", "topics"} - item.keys()
            if missing:
                raise ValueError(f"{path}:{n}: missing {sorted(missing)}")
            items.append(item)
    return items


def to_finding(item: dict[str, Any]) -> Finding:
    return Finding(id=f"labelled:{item['id']}", source="labelled", kind=item["kind"],
                   url=f"https://example.invalid/{item['id']}", title=item["title"],
                   summary=item.get("summary", ""))


def _matched(a: Assessment) -> str:
    parts = []
    for t in a.topics:
        neg = f", negatives {t.negatives}" if t.negatives else ""
        parts.append(f"{t.topic} {t.score:g} {t.phrases}{neg}")
    text = "; ".join(parts) if parts else "no phrase matched"
    if isinstance(a, CombinedAssessment):
        s = a.semantic
        text += (f" | semantic {s.topic} {s.similarity:g} nearest {s.nearest_kind} {s.nearest!r}"
                 + (f", vetoed {s.vetoed}" if s.vetoed else "") + (" | borderline" if a.borderline else ""))
        fb = a.feedback
        if fb is not None:
            decided = [n for n in ("by_example", "semantic_vetoed", "keyword_vetoed") if getattr(fb, n)]
            text += (f" | feedback v{fb.version}"
                     + (f" relevant {fb.relevant.similarity:g} {fb.relevant.title[:50]!r} ({fb.relevant.topic})"
                        if fb.relevant else "")
                     + (f" dismissed {fb.dismissed.similarity:g} {fb.dismissed.title[:50]!r}" if fb.dismissed else "")
                     + (f" -> {', '.join(decided)}" if decided else ""))
    return text


def assess_all(items: list[dict[str, Any]], matcher: TopicMatcher, threshold: float,
               semantic: Any = None, spec: SemanticSpec | None = None, examples: Any = None,
               fspec: FeedbackSpec | None = None) -> list[Assessment]:
    """The keyword Assessment of every item, or with `semantic` (a SemanticScorer) and `spec` the
    CombinedAssessment the scan would store (semantic similarities computed in one batched call).
    With `examples` (an ExampleScorer of an exemplar version) and `fspec`, scored with that
    feedback, each item never matching its own example (leave-one-out)."""
    findings = [to_finding(i) for i in items]
    keyword = [matcher.assess(f) for f in findings]
    if semantic is None:
        return keyword
    vetoes = [matcher.negated(f) for f in findings]
    vectors = semantic.embed_items(findings)
    matches = semantic.score(findings, None, vetoes, vectors=vectors)
    spec = spec or SemanticSpec(enabled=True)
    feedback = examples.score([f.id for f in findings], vectors, None, vetoes, exclude_own=True) \
        if examples is not None else [None] * len(findings)
    return [combine(f, a, m, spec, threshold, fb, fspec if fb is not None else None)
            for f, a, m, fb in zip(findings, keyword, matches, feedback)]


def evaluate(items: list[dict[str, Any]], matcher: TopicMatcher, threshold: float, scorer: str = "keywords",
             semantic: Any = None, spec: SemanticSpec | None = None,
             assessed: list[Assessment] | None = None) -> dict[str, Any]:
    """Confusion counts, precision / recall / F1 and errors of one scorer. "semantic" and
    "combined" need `semantic` (a SemanticScorer) and `spec` (thresholds), or `assessed` (the
    CombinedAssessments of assess_all, to evaluate several scorers on one scoring)."""
    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")
    if scorer != "keywords" and assessed is None and semantic is None:
        raise ValueError(f"scorer {scorer!r} needs a SemanticScorer")
    if assessed is None:
        assessed = assess_all(items, matcher, threshold, None if scorer == "keywords" else semantic, spec)
    tp = fp = fn = tn = borderline = 0
    per_topic: dict[str, list[int]] = {}   # topic -> [correct, predicted]
    errors: list[dict[str, Any]] = []
    for item, a in zip(items, assessed):
        if scorer == "keywords":   # (a combined assessment's keyword verdict: after any feedback veto)
            predicted = a.keyword_relevant if isinstance(a, CombinedAssessment) else a.relevance >= threshold
            best = a.best_topic
        elif scorer == "semantic":
            by_example = a.feedback is not None and a.feedback.by_example
            predicted, best = a.semantic_relevant, (a.topic if by_example else a.semantic.topic)
        else:
            predicted, best = a.relevant, a.topic
            borderline += a.borderline
        actual = bool(item["relevant"])
        if predicted:
            counts = per_topic.setdefault(best, [0, 0])
            counts[1] += 1
            counts[0] += int(best in item["topics"])
        if predicted and actual:
            tp += 1
        elif predicted:
            fp += 1
        elif actual:
            fn += 1
        else:
            tn += 1
        if predicted != actual:
            errors.append({"id": item["id"], "type": "FP" if predicted else "FN", "title": item["title"],
                           "relevance": a.relevance, "expected": item["topics"],
                           "similarity": a.semantic.similarity if isinstance(a, CombinedAssessment) else None,
                           "matched": _matched(a)})
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"scorer": scorer, "n": len(items), "threshold": threshold,
            "semantic_threshold": spec.threshold if spec and scorer != "keywords" else None,
            "precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "borderline": borderline if scorer == "combined" else None,
            "topic_precision": {t: (c, p, c / p) for t, (c, p) in sorted(per_topic.items(), key=lambda x: str(x[0]))},
            "errors": errors}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", help="research configuration YAML (default: the packaged default)")
    p.add_argument("--threshold", type=float, help="keyword relevance threshold (default: config relevance_threshold)")
    p.add_argument("--semantic-threshold", type=float, help="semantic threshold (default: config semantic.threshold)")
    p.add_argument("--aggregate", choices=("max", "centroid"), help="default: config semantic.aggregate")
    p.add_argument("--labels", default=str(LABELS), help="labelled JSONL set")
    p.add_argument("--catalog", help="the OpenRouter model list whose model families count as release evidence "
                   "(model_names; default: the earliest recorded catalog in ../shared/fixtures/openrouter); "
                   "'none': no catalog model names")
    p.add_argument("--real", choices=("tune", "heldout", "heldout2", "heldout3", "all"),
                   help="the blind-labelled REAL feed items instead (perf/relevance_data.py; their text is read "
                        "from ../shared/fixtures/research): the tuning half, the held-out half, both, or the "
                        "second held-out set (heldout2: labelled after the first held-out half was consulted), the "
                        "third (heldout3: labelled before the catalog model names were evaluated)")
    p.add_argument("--scorer", choices=SCORERS + ("all",), default="all")
    p.add_argument("--sweep", action="store_true", help="semantic / combined F1 over semantic thresholds")
    p.add_argument("--errors", action="store_true", help="list every false positive and negative")
    p.add_argument("--feedback", action="store_true",
                   help="also evaluate with the REAL tune items as operator feedback (leave-one-out)")
    p.add_argument("--tune-feedback", action="store_true",
                   help="with --real tune --feedback: grid search of the feedback parameters and the nested estimate")
    p.add_argument("--example-threshold", type=float, help="feedback example_threshold (default: config)")
    p.add_argument("--margin", type=float, help="feedback margin (default: config)")
    p.add_argument("--keyword-margin", type=float, help="feedback keyword_margin (default: config)")
    args = p.parse_args(argv)
    if args.tune_feedback and not (args.feedback and args.real == "tune"):
        p.error("--tune-feedback needs --real tune --feedback (the held-out split is never tuned on)")
    config = load_research_config(args.config)
    threshold = config.relevance_threshold if args.threshold is None else args.threshold
    update = {"enabled": True}
    if args.semantic_threshold is not None:
        update.update(threshold=args.semantic_threshold, strong=max(config.semantic.strong, args.semantic_threshold))
    if args.aggregate:
        update["aggregate"] = args.aggregate
    spec = SemanticSpec.model_validate({**config.semantic.model_dump(), **update})
    if args.real:
        from perf.relevance_data import HELDOUT_LABELS_PATHS, LABELS_PATH, labelled_real_items

        try:
            items = labelled_real_items(split=None if args.real == "all" else args.real)
        except FixturesMissing as exc:
            print(f"error: the real feed items need ../shared/fixtures/research: {exc}", file=sys.stderr)
            return 2
        args.labels = f"{HELDOUT_LABELS_PATHS.get(args.real, LABELS_PATH).name} [{args.real}]"
    else:
        items = load_labelled(args.labels)
    scorers = SCORERS if args.scorer == "all" else (args.scorer,)
    try:
        matcher, catalog_note = catalog_matcher(config, args.catalog)
    except FixturesMissing as exc:
        print(f"error: {exc} (pass --catalog PATH, or --catalog none to score without catalog model names)",
              file=sys.stderr)
        return 2
    combined = None
    if scorers != ("keywords",) or args.sweep:
        from shared.research.semantic import SemanticScorer

        semantic = SemanticScorer(config.topics, spec.aggregate, spec.max_chars)
        combined = assess_all(items, matcher, threshold, semantic, spec)
    synthetic = sum(bool(i.get("synthetic")) for i in items)
    print(f"labelled set {args.labels} ({synthetic}/{len(items)} synthetic); topics: {args.config or 'default config'}; "
          f"keyword threshold {threshold:g}, semantic threshold {spec.threshold:g} ({spec.aggregate}), "
          f"borderline bands {spec.borderline.keyword_band:g} / {spec.borderline.semantic_band:g}; {catalog_note}")
    results = [evaluate(items, matcher, threshold, s, spec=spec, assessed=None if s == "keywords" else combined)
               for s in scorers]
    print(f"{'scorer':9} {'n':>3} {'precision':>9} {'recall':>6} {'F1':>5}  {'TP':>3} {'FP':>3} {'FN':>3} {'TN':>3}"
          f"  borderline")
    for r in results:
        print(f"{r['scorer']:9} {r['n']:3d} {r['precision']:9.3f} {r['recall']:6.3f} {r['f1']:5.3f}  {r['tp']:3d} "
              f"{r['fp']:3d} {r['fn']:3d} {r['tn']:3d}  {'' if r['borderline'] is None else r['borderline']}")
    for r in results:
        print(f"{r['scorer']}: predicted topic precision: " + ", ".join(
            f"{topic} {c}/{n}" for topic, (c, n, _) in r["topic_precision"].items()))
    if args.errors:
        for r in results:
            for e in r["errors"]:
                print(f"[{r['scorer']}] {e['type']} {e['id']} relevance={e['relevance']:g}"
                      + (f" similarity={e['similarity']:g}" if e["similarity"] is not None else "")
                      + f" expected={e['expected']} {e['title']!r}")
                print(f"     matched: {e['matched']}")
    if args.sweep and combined is not None:
        print("semantic threshold sweep (precision / recall / F1):")
        for t in [x / 100 for x in range(30, 66)]:
            s = spec.model_copy(update={"threshold": t, "strong": max(t, spec.strong)})
            again = [combine(to_finding(i), a, a.semantic, s, threshold) for i, a in zip(items, combined)]
            row = [evaluate(items, matcher, threshold, name, spec=s, assessed=again) for name in ("semantic", "combined")]
            print(f"  {t:.2f}  semantic {row[0]['precision']:.3f} {row[0]['recall']:.3f} {row[0]['f1']:.3f}   "
                  f"combined {row[1]['precision']:.3f} {row[1]['recall']:.3f} {row[1]['f1']:.3f}  "
                  f"borderline {row[1]['borderline']}")
    if args.feedback:
        fspec = FeedbackSpec.model_validate({**config.feedback.model_dump(), "enabled": True, **{
            k: v for k, v in (("example_threshold", args.example_threshold), ("margin", args.margin),
                              ("keyword_margin", args.keyword_margin)) if v is not None}})
        code = feedback_report(items, args, config, matcher, threshold, spec, fspec, results)
        if code:
            return code
    if "keywords" in scorers:
        print(f"keyword scoring throughput: {scoring_seconds(items, matcher):.2f} s for 5,000 findings of "
              f"~1,200 characters (median of 3; the semantic scorer's cost: perf/research_relevance_cost.py)")
    return 0


def catalog_matcher(config: Any, catalog: str | None) -> tuple[TopicMatcher, str]:
    """The scan's topic matcher with the model families of a recorded catalog (`catalog`: a path,
    None for perf.relevance_data.CATALOG_PATH, "none" for no catalog), and a line saying which."""
    if not config.model_names.enabled or catalog == "none":
        why = "--catalog none" if config.model_names.enabled else "in the configuration"
        return TopicMatcher(config.topics), f"catalog model names: off ({why})"
    path = Path(catalog) if catalog else CATALOG_PATH
    matcher = topic_matcher(config, load_catalog_models(path))
    return matcher, f"catalog model names: {len(matcher.model_names)} families from {path.name}"


# --- feedback ------------------------------------------------------------------------------------
FEEDBACK_AT = datetime(2026, 11, 30, tzinfo=timezone.utc)
GRID_EXAMPLE_THRESHOLD = [round(0.50 + 0.02 * i, 2) for i in range(21)]   # 0.50 .. 0.90
GRID_MARGIN = [round(-0.10 + 0.02 * i, 2) for i in range(16)]             # -0.10 .. 0.20
GRID_KEYWORD_MARGIN = [round(-0.10 + 0.02 * i, 2) for i in range(21)]     # -0.10 .. 0.30
NESTED_FOLDS = 10


def feedback_version(items: list[dict[str, Any]]) -> Any:
    """The labelled items as operator feedback, made into an exemplar version by the production
    code: relevant items marked relevant under their first labelled topic, the others dismissed."""
    from shared.research.feedback import build_examples, new_version

    records = [{"finding_id": to_finding(i).id, "label": "relevant" if i["relevant"] else "dismissed",
                "topic": i["topics"][0] if i["relevant"] else None, "title": i["title"],
                "summary": i.get("summary") or "", "at": FEEDBACK_AT} for i in items]
    examples, omitted = build_examples(records)
    if omitted:
        raise ValueError(f"{len(omitted)} feedback examples omitted by the version's size bounds")
    return new_version(1, examples, omitted, FEEDBACK_AT, "perf.relevance_precision")


def _features(assessed: list[Assessment]) -> list[tuple[float, float, float | None, float | None]]:
    """What decide() needs of each item: keyword relevance, topic-text similarity, nearest relevant
    and nearest dismissed example similarity."""
    out = []
    for a in assessed:
        fb = a.feedback
        out.append((a.relevance, a.semantic.similarity if a.semantic.topic is not None else 0.0,
                    fb.relevant.similarity if fb and fb.relevant else None,
                    fb.dismissed.similarity if fb and fb.dismissed else None))
    return out


def _counts(features: list[tuple], labels: list[bool], threshold: float, spec: SemanticSpec,
            fspec: FeedbackSpec | None) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for (rel, sim, ex, dis), actual in zip(features, labels):
        v = decide(rel, sim, ex, dis, threshold, spec, fspec)
        predicted = v.keyword_relevant or v.semantic_relevant
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
        tn += not predicted and not actual
    return tp, fp, fn, tn


def _prf(tp: int, fp: int, fn: int, tn: int = 0) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def tune_feedback(features: list[tuple], labels: list[bool], threshold: float, spec: SemanticSpec,
                  base: FeedbackSpec) -> tuple[FeedbackSpec, tuple[int, int, int, int]]:
    """The grid point with the best combined F1 on `features` (leave-one-out features of the
    feedback items themselves); ties: higher precision, then higher mean F1 of the neighbours."""
    grid = {}
    for i, et in enumerate(GRID_EXAMPLE_THRESHOLD):
        for j, m in enumerate(GRID_MARGIN):
            for k, km in enumerate(GRID_KEYWORD_MARGIN):
                fs = base.model_copy(update={"example_threshold": et, "margin": m, "keyword_margin": km})
                grid[(i, j, k)] = (fs, _counts(features, labels, threshold, spec, fs))
    f1 = {key: _prf(*c)[2] for key, (_, c) in grid.items()}

    def smoothed(key: tuple[int, int, int]) -> float:
        near = [f1[n] for n in ((key[0] + a, key[1] + b, key[2] + c) for a in (-1, 0, 1) for b in (-1, 0, 1)
                                for c in (-1, 0, 1)) if n in f1]
        return sum(near) / len(near)
    best = max(sorted(grid), key=lambda key: (round(f1[key], 9), round(_prf(*grid[key][1])[0], 9),
                                              round(smoothed(key), 9)))
    return grid[best]


def _table(title: str, rows: list[tuple[str, tuple[int, int, int, int]]]) -> None:
    print(title)
    for name, (tp, fp, fn, tn) in rows:
        p, r, f = _prf(tp, fp, fn)
        print(f"  {name:34} precision {p:.3f} recall {r:.3f} F1 {f:.3f}   TP {tp:3d} FP {fp:3d} FN {fn:3d} TN {tn:3d}")


def _scorer_counts(r: dict[str, Any]) -> tuple[int, int, int, int]:
    return r["tp"], r["fp"], r["fn"], r["tn"]


def feedback_report(items: list[dict[str, Any]], args: Any, config: Any, matcher: TopicMatcher, threshold: float,
                    spec: SemanticSpec, fspec: FeedbackSpec, without: list[dict[str, Any]]) -> int:
    import hashlib

    from perf.relevance_data import FixturesMissing, labelled_real_items
    from shared.research.semantic import ExampleScorer, SemanticScorer

    try:
        tune_items = labelled_real_items(split="tune")
    except FixturesMissing as exc:
        print(f"error: the feedback items need ../shared/fixtures/research: {exc}", file=sys.stderr)
        return 2
    semantic = SemanticScorer(config.topics, spec.aggregate, spec.max_chars)
    names = semantic.topic_names
    version = feedback_version(tune_items)
    examples = ExampleScorer(version, names)
    print(f"\nfeedback: the {len(tune_items)} REAL tune items ({version.counts['relevant']} marked relevant, "
          f"{version.counts['dismissed']} dismissed), exemplar version hash {version.content_hash[:12]}; "
          f"example_threshold {fspec.example_threshold:g}, margin {fspec.margin:g}, keyword_margin "
          f"{fspec.keyword_margin:g}, keyword_veto_below {fspec.keyword_veto_below:g}")
    tune_ids = {to_finding(i).id for i in tune_items}
    overlap = sum(to_finding(i).id in tune_ids for i in items)
    print(f"evaluation set: {args.labels}, {len(items)} items, " + (
        f"{overlap} of them in the feedback (each excluded from its own scoring: leave-one-out)" if overlap
        else "none of them in the feedback"))
    assessed = assess_all(items, matcher, threshold, semantic, spec, examples, fspec)
    results = [evaluate(items, matcher, threshold, s, spec=spec, assessed=assessed) for s in SCORERS]
    _table("without feedback:", [(r["scorer"], _scorer_counts(r)) for r in without])
    _table("with feedback" + (" (leave-one-out)" if overlap else "") + ":",
           [(r["scorer"], _scorer_counts(r)) for r in results])
    by = {r["scorer"]: r for r in results}
    print(f"combined with feedback: {sum(a.feedback.by_example and a.relevant for a in assessed)} relevant only "
          f"through a relevant example, {sum(not a.relevant and (a.feedback.keyword_vetoed or a.feedback.semantic_vetoed) for a in assessed)} "
          f"vetoed by a dismissed example, {by['combined']['borderline']} borderline")
    if args.errors:
        for e in by["combined"]["errors"]:
            print(f"[combined+feedback] {e['type']} {e['id']} relevance={e['relevance']:g} similarity={e['similarity']:g} "
                  f"expected={e['expected']} {e['title']!r}")
            print(f"     matched: {e['matched']}")
    if overlap:
        findings = [to_finding(i) for i in items]
        vectors = semantic.embed_items(findings)
        vetoes = [matcher.negated(f) for f in findings]
        own = examples.score([f.id for f in findings], vectors, None, vetoes, exclude_own=False)
        matches = semantic.score(findings, None, vetoes, vectors=vectors)
        resub = [combine(f, matcher.assess(f), m, spec, threshold, fb, fspec)
                 for f, m, fb in zip(findings, matches, own)]
        _table("with feedback, each item's own example in force (resubstitution: MEANINGLESS, it finds itself):",
               [(s, _scorer_counts(evaluate(items, matcher, threshold, s, spec=spec, assessed=resub))) for s in SCORERS])
    if args.tune_feedback:
        labels = [bool(i["relevant"]) for i in items]
        best, counts = tune_feedback(_features(assessed), labels, threshold, spec, fspec)
        print(f"tuned by leave-one-out on the tune items: example_threshold {best.example_threshold:g}, margin "
              f"{best.margin:g}, keyword_margin {best.keyword_margin:g} (grid {len(GRID_EXAMPLE_THRESHOLD)} x "
              f"{len(GRID_MARGIN)} x {len(GRID_KEYWORD_MARGIN)}; optimistic: chosen on these very figures)")
        _table("  at the tuned point (leave-one-out):", [("combined", counts)])
        print(f"nested estimate ({NESTED_FOLDS}-fold cross-validation inside the tune items: for each fold, the "
              f"feedback is the other {NESTED_FOLDS - 1} folds, the parameters are tuned on them by leave-one-out, "
              f"the fold is evaluated; confusion counts pooled):")
        fold = [int(hashlib.sha256(f"fold:{i['id']}".encode()).hexdigest(), 16) % NESTED_FOLDS for i in items]
        pooled, base, chosen = [0, 0, 0, 0], [0, 0, 0, 0], []
        for k in range(NESTED_FOLDS):
            train = [i for i, f in zip(items, fold) if f != k]
            test = [i for i, f in zip(items, fold) if f == k]
            ex_k = ExampleScorer(feedback_version(train), names)
            feats_train = _features(assess_all(train, matcher, threshold, semantic, spec, ex_k, fspec))
            tuned, _ = tune_feedback(feats_train, [bool(i["relevant"]) for i in train], threshold, spec, fspec)
            chosen.append(f"({tuned.example_threshold:g}, {tuned.margin:g}, {tuned.keyword_margin:g})")
            feats_test = _features(assess_all(test, matcher, threshold, semantic, spec, ex_k, fspec))
            test_labels = [bool(i["relevant"]) for i in test]
            pooled = [a + b for a, b in zip(pooled, _counts(feats_test, test_labels, threshold, spec, tuned))]
            base = [a + b for a, b in zip(base, _counts(feats_test, test_labels, threshold, spec, None))]
        print(f"  tuned per fold (example_threshold, margin, keyword_margin): {', '.join(chosen)}")
        _table("  pooled over the folds:", [("combined without feedback", tuple(base)),
                                            ("combined with feedback", tuple(pooled))])
    return 0


def scoring_seconds(items: list[dict[str, Any]], matcher: TopicMatcher, n: int = 5000) -> float:
    """Wall time of scoring `n` findings built from the labelled set (summaries tripled)."""
    import statistics
    import time

    findings = [to_finding(items[i % len(items)]) for i in range(n)]
    findings = [f.model_copy(update={"summary": (f.summary + " ") * 3}) for f in findings]
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        for f in findings:
            matcher.assess(f)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


if __name__ == "__main__":
    raise SystemExit(main())
