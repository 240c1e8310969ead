"""Precision/recall of the keyword relevance scorer on a labelled set (a perf script).

    .venv/bin/python -m perf.relevance_precision [--config PATH] [--threshold X] [--labels PATH]

Data: tests/fixtures/research/relevance_labelled.jsonl - 40 SYNTHETIC findings written and
labelled by hand (each line has "synthetic": true), about half relevant to the default topics and
half not, with traps in both directions. Labels were written before the scorer was tuned and are
not adjusted to it. Each line: {"id", "kind", "title", "summary", "relevant", "topics", "synthetic"}.

A finding is predicted relevant when relevance >= threshold (default: the configuration's
relevance_threshold). Prints n, precision / recall / F1 of the "relevant" class, the confusion
counts, per-topic precision of the predicted (best) topic among predicted-relevant items (correct
when it is one of the item's expected topics), and every false positive / false negative with the
phrases that matched. `evaluate` is shared with tests/research/test_research_relevance.py.

"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from shared.research.config import load_research_config
from shared.research.findings import Finding
from shared.research.relevance import Assessment, TopicMatcher

REPO = Path(__file__).resolve().parent.parent
LABELS = REPO / "tests" / "fixtures" / "research" / "relevance_labelled.jsonl"


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
    if not a.topics:
        return "no phrase matched"
    parts = []
    for t in a.topics:
        neg = f", negatives {t.negatives}" if t.negatives else ""
        parts.append(f"{t.topic} {t.score:g} {t.phrases}{neg}")
    return "; ".join(parts)


def evaluate(items: list[dict[str, Any]], matcher: TopicMatcher, threshold: float) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    per_topic: dict[str, list[int]] = {}   # topic -> [correct, predicted]
    errors: list[dict[str, Any]] = []
    for item in items:
        a = matcher.assess(to_finding(item))
        predicted = a.relevance >= threshold
        actual = bool(item["relevant"])
        if predicted:
            best = a.best_topic
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
                           "relevance": a.relevance, "expected": item["topics"], "matched": _matched(a)})
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(items), "threshold": threshold, "precision": precision, "recall": recall, "f1": f1,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "topic_precision": {t: (c, p, c / p) for t, (c, p) in sorted(per_topic.items())},
            "errors": errors}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", help="research configuration YAML (default: the packaged default)")
    p.add_argument("--threshold", type=float, help="relevance threshold (default: config relevance_threshold)")
    p.add_argument("--labels", default=str(LABELS), help="labelled JSONL set")
    args = p.parse_args(argv)
    config = load_research_config(args.config)
    threshold = config.relevance_threshold if args.threshold is None else args.threshold
    items = load_labelled(args.labels)
    topics = config.topics
    r = evaluate(items, TopicMatcher(topics), threshold)
    synthetic = sum(bool(i.get("synthetic")) for i in items)
    print(f"labelled set {args.labels} ({synthetic}/{len(items)} synthetic), threshold {threshold:g}, "
          f"topics: {args.config or 'default config'}")
    print(f"n={r['n']}  precision={r['precision']:.3f}  recall={r['recall']:.3f}  F1={r['f1']:.3f}")
    print(f"confusion: TP={r['tp']} FP={r['fp']} FN={r['fn']} TN={r['tn']}")
    print("predicted (best) topic precision:")
    for topic, (correct, predicted, prec) in r["topic_precision"].items():
        print(f"  {topic:28} {correct}/{predicted} = {prec:.2f}")
    for e in r["errors"]:
        print(f"{e['type']} {e['id']} relevance={e['relevance']:g} expected={e['expected']} {e['title']!r}")
        print(f"     matched: {e['matched']}")
    print(f"scoring throughput: {scoring_seconds(items, topics):.2f} s for 5,000 findings of ~1,200 characters "
          f"(median of 3)")
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
