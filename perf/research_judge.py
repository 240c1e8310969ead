"""What the optional LLM judge (shared/research/judge.py) would be asked, and what it may cost: a
perf script. It measures the JUDGE'S LOAD, never its quality: no real model is called here.

    .venv/bin/python -m perf.research_judge [--real tune|heldout|heldout2|heldout3|all] [--catalog PATH|none] [--config PATH]
        [--prompt-usd-per-mtok 0.15] [--completion-usd-per-mtok 0.60] [--max-tokens N]
        [--attempts N] [--scan-items 1000] [--simulate]

Items: the blind-labelled REAL feed items (perf/relevance_data.py; text read from
../shared/fixtures/research), or with --labels a labelled JSONL file. Both scorers run as the scan
runs them (the semantic scorer with the real packaged model) with the configuration's thresholds
and borderline bands.

Prints
* borderline items (both sides of the combined decision) per 1,000 items = judge calls per 1,000
  items (before judge.max_items and the caps);
* where the combined scorer's errors against the labels lie: inside the band (a judge could fix
  them) or outside (no judge ever sees them), and the precision / recall an ORACLE judge would
  reach (every borderline item decided as labelled): a ceiling, not a measurement of any model;
* the cost bound of one call at the given price (shared/bench/budget.py: every prompt byte + 16
  per message at the input price, max_tokens at the output price, x attempts; median and largest
  over the borderline items' real prompts), and per scan of --scan-items items: calls x bound,
  then capped by judge.max_items and judge.budget_usd (the ledger never lets spend pass the
  latter);
* with --simulate, the mechanics against the in-process model simulator (SIMULATED answers):
  calls made, judgements stored, the ledger's charge at the given price, and a second pass that
  asks nothing (the cache). Its relevance numbers are hashes, not opinions.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from decimal import Decimal
from typing import Any

from perf.relevance_data import FixturesMissing, HELDOUT_LABELS_PATHS, LABELS_PATH
from perf.relevance_precision import assess_all, catalog_matcher, load_labelled, to_finding
from shared.bench import budget
from shared.research.config import load_research_config
from shared.research.judge import Borderline, messages_for

EST_OUTPUT_TOKENS = 80   # a relevance, a topic or two and a one-sentence reason


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", choices=("tune", "heldout", "heldout2", "heldout3", "all"), default="all")
    ap.add_argument("--catalog", help="the model list for catalog model names (default: the earliest recorded "
                    "catalog; 'none': without them), as in perf.relevance_precision")
    ap.add_argument("--labels", help="a labelled JSONL set instead of the real items")
    ap.add_argument("--config", help="research configuration YAML (default: the packaged default)")
    ap.add_argument("--prompt-usd-per-mtok", type=Decimal, default=Decimal("0.15"), help="input price, USD per 1M tokens")
    ap.add_argument("--completion-usd-per-mtok", type=Decimal, default=Decimal("0.60"),
                    help="output price, USD per 1M tokens")
    ap.add_argument("--max-tokens", type=int, help="default: the configuration's judge.max_tokens")
    ap.add_argument("--attempts", type=int, default=5, help="HTTP_MAX_ATTEMPTS (default 5)")
    ap.add_argument("--scan-items", type=int, default=1000, help="items in one scan, for the per-scan bound")
    ap.add_argument("--simulate", action="store_true", help="run the judge's mechanics against the simulator")
    args = ap.parse_args(argv)
    config = load_research_config(args.config)
    spec, sem = config.judge, config.semantic.model_copy(update={"enabled": True})
    max_tokens = args.max_tokens or spec.max_tokens
    if args.labels:
        items, what = load_labelled(args.labels), args.labels
    else:
        from perf.relevance_data import labelled_real_items

        try:
            items = labelled_real_items(split=None if args.real == "all" else args.real)
        except FixturesMissing as exc:
            print(f"error: the real feed items need ../shared/fixtures/research: {exc}", file=sys.stderr)
            return 2
        what = f"{HELDOUT_LABELS_PATHS.get(args.real, LABELS_PATH).name} [{args.real}]"
    from shared.research.semantic import SemanticScorer

    try:
        matcher, catalog_note = catalog_matcher(config, args.catalog)
    except FixturesMissing as exc:
        print(f"error: {exc} (pass --catalog PATH, or --catalog none)", file=sys.stderr)
        return 2
    what += f"; {catalog_note}"
    assessed = assess_all(items, matcher, config.relevance_threshold,
                          SemanticScorer(config.topics, sem.aggregate, sem.max_chars), sem)
    n = len(items)
    border = [(i, a) for i, a in zip(items, assessed) if a.borderline]
    b_yes = sum(a.relevant for _, a in border)
    print(f"items: {what}, n={n} ({sum(bool(i.get('synthetic')) for i in items)} synthetic); topics: "
          f"{args.config or 'default config'}; thresholds keyword {config.relevance_threshold:g}, semantic "
          f"{sem.threshold:g}; bands keyword {sem.borderline.keyword_band:g}, semantic {sem.borderline.semantic_band:g}")
    print(f"borderline (judge calls): {len(border)} of {n} = {1000 * len(border) / n:.0f} per 1,000 items "
          f"({b_yes} combined-relevant, {len(border) - b_yes} combined-irrelevant)")
    # where the combined scorer's errors lie, and an oracle judge's ceiling
    tp = fp = fn = 0
    otp = ofp = ofn = 0
    wrong_in = wrong_out = 0
    labelled_relevant_in_band = 0
    for i, a in zip(items, assessed):
        actual = bool(i["relevant"])
        predicted = a.relevant
        tp, fp, fn = tp + (predicted and actual), fp + (predicted and not actual), fn + (actual and not predicted)
        oracle = actual if a.borderline else predicted
        otp, ofp, ofn = otp + (oracle and actual), ofp + (oracle and not actual), ofn + (actual and not oracle)
        if predicted != actual:
            wrong_in += a.borderline
            wrong_out += not a.borderline
        labelled_relevant_in_band += a.borderline and actual
    print(f"combined errors: {wrong_in + wrong_out} ({wrong_in} inside the band, a judge could fix them; "
          f"{wrong_out} outside, no judge sees them); labelled relevant among the borderline: "
          f"{labelled_relevant_in_band} of {len(border)}")
    p, r, f = _prf(tp, fp, fn)
    op, orr, of = _prf(otp, ofp, ofn)
    print(f"combined: P {p:.3f} R {r:.3f} F1 {f:.3f}; with an ORACLE judge on the borderline items (a ceiling, "
          f"not a model): P {op:.3f} R {orr:.3f} F1 {of:.3f}. A real judge's quality is NOT measured here.")
    # money
    rates = budget.rates_of("judge", {"prompt": str(args.prompt_usd_per_mtok / 1_000_000),
                                      "completion": str(args.completion_usd_per_mtok / 1_000_000)})
    topics = {t.name: t for t in config.topics}
    bounds = []
    for i, _ in border or [(items[0], None)]:
        m = messages_for(to_finding(i), list(topics.values()))
        bounds.append(budget.call_bound(rates, budget.prompt_token_bound(m[1]["content"], m[0]["content"]),
                                        max_tokens, args.attempts))
    med, top = statistics.median(bounds), max(bounds)
    calls = len(border) * args.scan_items / n
    by_calls = med * Decimal(str(calls))
    capped_calls = min(calls, spec.max_items)
    print(f"price ${args.prompt_usd_per_mtok}/M input, ${args.completion_usd_per_mtok}/M output, max_tokens "
          f"{max_tokens}, x{args.attempts} attempts: bound per call median ${budget.usd(med):.6f}, largest "
          f"${budget.usd(top):.6f} (prompt bytes of the real borderline items' requests, system message included)")
    print(f"per scan of {args.scan_items:,} items: ~{calls:.0f} calls, bound ${budget.usd(by_calls):.4f} "
          f"(median bound x calls); judge.max_items={spec.max_items} allows {capped_calls:.0f} calls "
          f"(bound ${budget.usd(med * Decimal(str(capped_calls))):.4f}); judge.budget_usd=${spec.budget_usd:g} "
          f"caps what is spent whatever the count")
    # an ESTIMATE, not a bound: ~4 characters per token (English text), EST_OUTPUT_TOKENS out, one attempt
    chars = statistics.median(len(m[0]["content"]) + len(m[1]["content"])
                              for m in (messages_for(to_finding(i), list(topics.values())) for i, _ in border or [(items[0], None)]))
    typical = rates.input * Decimal(str(chars / 4)) + rates.output * EST_OUTPUT_TOKENS
    print(f"estimate (assumes ~4 characters per token, {EST_OUTPUT_TOKENS} output tokens, one attempt; not a bound): "
          f"${budget.usd(typical):.6f} per call, ${budget.usd(typical * Decimal(str(1000 * len(border) / n))):.4f} "
          f"per 1,000 items")
    if args.simulate:
        simulate(border, config, rates_price=(args.prompt_usd_per_mtok, args.completion_usd_per_mtok))
    return 0


def simulate(border: list[tuple[dict[str, Any], Any]], config: Any, rates_price: tuple[Decimal, Decimal]) -> None:
    """The judge's mechanics on these borderline items against the in-process SIMULATOR (a hash
    answers, not a model), the in-memory store and an in-memory ledger."""
    import yaml

    from infra.demo import SIMULATOR_CONFIG
    from infra.model_simulator import SimulatorServer
    from shared.config import settings_from_env
    from shared.research.config import JudgeSpec
    from shared.research.judge import Judge
    from shared.research.store import InMemoryResearchStore

    class MemoryLedger:
        """Records reservations and charges, caps nothing (the real ledger is Firestore's)."""
        bench_id = "research-judge-perf"
        reserved = spent = budget.ZERO

        def reserve(self, want, minimum, release=budget.ZERO, spend=budget.ZERO, calls=0):
            self.reserved += want - release
            self.spent += spend
            return want, None

        def settle(self, release, spend, calls):
            self.reserve(budget.ZERO, budget.ZERO, release, spend, calls)

    server = SimulatorServer(yaml.safe_load(SIMULATOR_CONFIG.read_text())).start()
    try:
        settings = settings_from_env({"LLM_BASE_URL": server.base_url, "SIMULATOR_BASE_URLS": server.base_url,
                                      "HTTP_MAX_ATTEMPTS": "2"})
        cfg = config.model_copy(update={"judge": JudgeSpec(enabled=True, model="google/gemini-demo-flash",
                                                           max_items=1000, budget_usd=100)})
        pricing = {"prompt": str(rates_price[0] / 1_000_000), "completion": str(rates_price[1] / 1_000_000)}
        store, ledger = InMemoryResearchStore(), MemoryLedger()
        items = [Borderline(to_finding(i), a, list(config.topics)) for i, a in border]
        for scan in ("sim-1", "sim-2"):
            judge = Judge(settings, cfg, store, scan, pricing_of=lambda m: pricing, ledger=ledger)
            judge.judge(items)
            judge.close()
            s = judge.stats
            print(f"SIMULATED {scan}: borderline {s.borderline}, asked {s.asked}, judged {s.judged}, invalid "
                  f"{s.invalid}, cached {s.cached}, flipped {s.flipped} (hash answers), charged ${s.cost_usd:.6f}; "
                  f"simulator calls so far {server.sim.calls}")
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
