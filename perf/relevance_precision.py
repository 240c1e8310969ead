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
"""
from __future__ import annotations

import argparse
import sys
import json
from pathlib import Path
from typing import Any

from shared.research.config import SemanticSpec, load_research_config
from shared.research.findings import Finding
from shared.research.relevance import Assessment, CombinedAssessment, TopicMatcher, combine

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
    return text


def assess_all(items: list[dict[str, Any]], matcher: TopicMatcher, threshold: float,
               semantic: Any = None, spec: SemanticSpec | None = None) -> list[Assessment]:
    """The keyword Assessment of every item, or with `semantic` (a SemanticScorer) and `spec` the
    CombinedAssessment the scan would store (semantic similarities computed in one batched call)."""
    findings = [to_finding(i) for i in items]
    keyword = [matcher.assess(f) for f in findings]
    if semantic is None:
        return keyword
    matches = semantic.score(findings, None, [matcher.negated(f) for f in findings])
    spec = spec or SemanticSpec(enabled=True)
    return [combine(f, a, m, spec, threshold) for f, a, m in zip(findings, keyword, matches)]


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
        if scorer == "keywords":
            predicted, best = a.relevance >= threshold, a.best_topic
        elif scorer == "semantic":
            predicted, best = a.semantic_relevant, a.semantic.topic
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
    p.add_argument("--real", choices=("tune", "heldout", "all"),
                   help="the blind-labelled REAL feed items instead (perf/relevance_data.py; their text is read "
                        "from ../shared/fixtures/research): the tuning half, the held-out half or both")
    p.add_argument("--scorer", choices=SCORERS + ("all",), default="all")
    p.add_argument("--sweep", action="store_true", help="semantic / combined F1 over semantic thresholds")
    p.add_argument("--errors", action="store_true", help="list every false positive and negative")
    args = p.parse_args(argv)
    config = load_research_config(args.config)
    threshold = config.relevance_threshold if args.threshold is None else args.threshold
    update = {"enabled": True}
    if args.semantic_threshold is not None:
        update.update(threshold=args.semantic_threshold, strong=max(config.semantic.strong, args.semantic_threshold))
    if args.aggregate:
        update["aggregate"] = args.aggregate
    spec = SemanticSpec.model_validate({**config.semantic.model_dump(), **update})
    if args.real:
        from perf.relevance_data import LABELS_PATH, FixturesMissing, labelled_real_items

        try:
            items = labelled_real_items(split=None if args.real == "all" else args.real)
        except FixturesMissing as exc:
            print(f"error: the real feed items need ../shared/fixtures/research: {exc}", file=sys.stderr)
            return 2
        args.labels = f"{LABELS_PATH.name} [{args.real}]"
    else:
        items = load_labelled(args.labels)
    scorers = SCORERS if args.scorer == "all" else (args.scorer,)
    matcher = TopicMatcher(config.topics)
    combined = None
    if scorers != ("keywords",) or args.sweep:
        from shared.research.semantic import SemanticScorer

        semantic = SemanticScorer(config.topics, spec.aggregate, spec.max_chars)
        combined = assess_all(items, matcher, threshold, semantic, spec)
    synthetic = sum(bool(i.get("synthetic")) for i in items)
    print(f"labelled set {args.labels} ({synthetic}/{len(items)} synthetic); topics: {args.config or 'default config'}; "
          f"keyword threshold {threshold:g}, semantic threshold {spec.threshold:g} ({spec.aggregate}), "
          f"borderline bands {spec.borderline.keyword_band:g} / {spec.borderline.semantic_band:g}")
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
    if "keywords" in scorers:
        print(f"keyword scoring throughput: {scoring_seconds(items, config.topics):.2f} s for 5,000 findings of "
              f"~1,200 characters (median of 3; the semantic scorer's cost: perf/research_relevance_cost.py)")
    return 0


def scoring_seconds(items: list[dict[str, Any]], topics: Any, n: int = 5000) -> float:
    """Wall time of scoring `n` findings built from the labelled set (summaries tripled)."""
    import statistics
    import time

    findings = [to_finding(items[i % len(items)]) for i in range(n)]
    findings = [f.model_copy(update={"summary": (f.summary + " ") * 3}) for f in findings]
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        matcher = TopicMatcher(topics)
        for f in findings:
            matcher.assess(f)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


if __name__ == "__main__":
    raise SystemExit(main())
