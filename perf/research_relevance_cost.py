"""What the semantic scorer costs the research scan (a perf script).

    .venv/bin/python -m perf.research_relevance_cost [--repeats 5] [--items 1000 5000]

Every measurement runs in a fresh interpreter (as a cold Cloud Functions instance would), and the
median of --repeats runs is printed, with the machine it ran on:

1. Cold start of the research_scan function: loading functions/research_scan/main.py the way
   functions-framework does (perf/load_function.py). The model is not imported there.
2. The semantic scorer's one-off cost in a scan: importing shared.research.semantic, then
   `load_model()` (imports numpy, tokenizers and wordllama; reads the 16 MB weights and the
   tokenizer from the wheel), then building the scorer (embedding the topics' descriptions and
   exemplars), with the peak RSS (ru_maxrss) before and after.
3. Per batch of N items (default 1,000 and 5,000): the keyword scorer alone (TopicMatcher.assess),
   then what the semantic scorer adds (negatives, batched embedding and similarities, combine),
   wall time and peak RSS added.

Data: N SYNTHETIC items made from the synthetic labelled sets (tests/fixtures/research/
relevance_labelled.jsonl and relevance_heldout.jsonl, 80 items): each item is the title of one
item with the summary sentences of two others (seeded shuffle), so texts vary in length and
content (median ~680 characters; arXiv summaries in the scan are cut at 1,200).
Compared with the function's memory and timeout in infra/pipeline.yaml.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOAD = REPO / "perf" / "load_function.py"

COLD = r"""
import json, resource, time
t0 = time.perf_counter()
import shared.research.semantic as semantic
t1 = time.perf_counter()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
semantic.load_model()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "rss_before_mb": rss0,
                  "rss_after_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

WORKER = r"""
import json, random, resource, sys, time
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {}
t0 = time.perf_counter()
from perf.relevance_precision import load_labelled, LABELS
from shared.research.config import load_research_config
from shared.research.findings import Finding
from shared.research.relevance import combine
out["rss_base_mb"] = rss_mb()
config = load_research_config()
items = load_labelled(LABELS) + load_labelled(LABELS.with_name("relevance_heldout.jsonl"))
rng = random.Random(7)
def sentences(text):
    return [s.strip() + "." for s in text.split(". ") if s.strip()]
n = int(sys.argv[1])
findings = []
for i in range(n):
    a, b, c = rng.sample(items, 3)
    parts = sentences(b.get("summary", "")) + sentences(c.get("summary", ""))
    rng.shuffle(parts)
    findings.append(Finding(id=f"synthetic:{i}", source="perf", kind=a["kind"], url=f"https://example.invalid/{i}",
                            title=a["title"], summary=" ".join(parts)))
out["chars_median"] = sorted(len(f.title) + len(f.summary) for f in findings)[n // 2]
from perf.relevance_precision import catalog_matcher
t = time.perf_counter()
try:   # the scan reads the catalog's model families first: their matching is part of the cost
    matcher, out["catalog"] = catalog_matcher(config, None)
except FileNotFoundError as exc:
    matcher, out["catalog"] = catalog_matcher(config, "none")[0], f"catalog model names: off ({exc})"
out["families_s"] = time.perf_counter() - t
t = time.perf_counter()
keyword = [matcher.assess(f) for f in findings]
out["keywords_s"] = time.perf_counter() - t
out["rss_keywords_mb"] = rss_mb()
t = time.perf_counter()
import shared.research.semantic as semantic
out["import_semantic_s"] = time.perf_counter() - t
t = time.perf_counter()
semantic.load_model()
out["load_model_s"] = time.perf_counter() - t
t = time.perf_counter()
scorer = semantic.SemanticScorer(config.topics, config.semantic.aggregate, config.semantic.max_chars)
out["topics_s"] = time.perf_counter() - t
out["rss_model_mb"] = rss_mb()
t = time.perf_counter()
vetoed = [matcher.negated(f) for f in findings]
matches = scorer.score(findings, None, vetoed)
combined = [combine(f, a, m, config.semantic, config.relevance_threshold) for f, a, m in zip(findings, keyword, matches)]
out["semantic_s"] = time.perf_counter() - t
out["rss_scored_mb"] = rss_mb()
out["relevant"] = sum(c.relevant for c in combined)
out["semantic_only"] = sum(c.relevant and not c.keyword_relevant for c in combined)
out["borderline"] = sum(c.borderline for c in combined)
print(json.dumps(out))
"""


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?") if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    mem = ""
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (f"{cpu}, {os.cpu_count()} cores{mem}{load}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def run(args: list[str]) -> str:
    out = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    if out.returncode:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--items", type=int, nargs="+", default=[1000, 5000])
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from shared.pipeline import load_manifest

    fn = load_manifest().function("research_scan")
    mem_mb = int(fn.memory[:-2]) * 1024 if fn.memory.endswith("Gi") else int(fn.memory[:-2])
    print(f"machine: {machine()}")
    print(f"research_scan limits (infra/pipeline.yaml): memory {fn.memory}, timeout {fn.timeout_s} s; "
          f"median of {args.repeats} fresh interpreters each")

    loads = [list(map(float, run([str(LOAD), str(REPO / fn.source)]).split())) for _ in range(args.repeats)]
    print(f"cold start: functions/research_scan/main.py loads in {statistics.median(r[1] for r in loads) * 1000:.0f} ms "
          f"(functions_framework itself {statistics.median(r[0] for r in loads) * 1000:.0f} ms); "
          f"the model is not imported at cold start")

    cold = [json.loads(run(["-c", COLD])) for _ in range(args.repeats)]
    print(f"semantic scorer, cold (fresh interpreter): import shared.research.semantic {med(cold, 'import_s') * 1000:.0f} ms "
          f"(pydantic and the research config included; no numpy, no wordllama), then load_model "
          f"{med(cold, 'load_s') * 1000:.0f} ms (numpy, tokenizers, wordllama, the 16 MB weights); "
          f"peak RSS {med(cold, 'rss_before_mb'):.0f} MB -> {med(cold, 'rss_after_mb'):.0f} MB")

    for n in args.items:
        rows = [json.loads(run(["-c", WORKER, str(n)])) for _ in range(args.repeats)]
        if n == args.items[0]:
            once = med(rows, "import_semantic_s") + med(rows, "load_model_s") + med(rows, "topics_s")
            print(f"semantic scorer, once per scan (after the scan's own imports): load_model "
                  f"{med(rows, 'load_model_s') * 1000:.0f} ms, topic embeddings {med(rows, 'topics_s') * 1000:.0f} ms "
                  f"(total {once:.2f} s); peak RSS {med(rows, 'rss_keywords_mb'):.0f} MB -> "
                  f"{med(rows, 'rss_model_mb'):.0f} MB (+{med([{'d': r['rss_model_mb'] - r['rss_keywords_mb']} for r in rows], 'd'):.0f} MB)")
        if n == args.items[0]:
            print(f"keyword scorer: {rows[0]['catalog']}, matcher built in {med(rows, 'families_s') * 1000:.0f} ms "
                  f"(the catalog read from Firestore not included)")
        sem_s, kw_s = med(rows, "semantic_s"), med(rows, "keywords_s")
        added_rss = med([{"d": r["rss_scored_mb"] - r["rss_model_mb"]} for r in rows], "d")
        peak = med(rows, "rss_scored_mb")
        print(f"{n:,} items (median {rows[0]['chars_median']} characters): keywords {kw_s:.2f} s; semantic adds "
              f"{sem_s:.2f} s ({sem_s / n * 1000 * 1000:.0f} ms per 1,000) and +{added_rss:.0f} MB peak RSS "
              f"(process peak {peak:.0f} MB = {peak / mem_mb:.0%} of {fn.memory}); "
              f"relevant {rows[0]['relevant']}, semantic-only {rows[0]['semantic_only']}, borderline {rows[0]['borderline']}")
        total = med(rows, "load_model_s") + med(rows, "topics_s") + sem_s
        print(f"    semantic share of the {fn.timeout_s} s timeout for {n:,} items, model load included: "
              f"{total:.2f} s = {total / fn.timeout_s:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
