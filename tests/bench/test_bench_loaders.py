"""External dataset loaders (shared/bench/loaders.py) on the official-format fixtures in
../shared/fixtures/bench (see SOURCES.md there), and the key self-check: every dataset's reference
answer passes its own scorer (HumanEval / MBPP reference solutions run in the sandbox)."""
from __future__ import annotations

import functools
import gzip
import http.server
import json
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.bench.cases import Case
from shared.bench.loaders import (IFEVAL_SUPPORTED, Loaded, bbh_task_name, load_bbh, load_dataset, load_gsm8k,
                                  load_hotpotqa, load_humaneval, load_ifeval, load_mbpp)
from shared.bench.scorers import score as score_case
from tests.conftest import sandbox


def score(case, response):
    """Coding cases are judged by the real sandbox, in-process."""
    return score_case(case, response, sandbox())
from tests.conftest import fixture_path

GSM8K = "gsm8k-test-first60.jsonl"
HUMANEVAL = "humaneval-first40.jsonl"
MBPP = "mbpp-sanitized-first40.json"
IFEVAL = "ifeval-input-first60.jsonl"
HOTPOT = "hotpotqa-dev-distractor-first10.json"
BBH_TASKS = ("boolean_expressions", "date_understanding", "logical_deduction_three_objects")

# IFEval instruction ids the Constraint types can express (written out independently of the loader)
CHECKABLE_IFEVAL_IDS = {
    "length_constraints:number_words", "length_constraints:number_sentences",
    "length_constraints:number_paragraphs", "keywords:existence", "keywords:forbidden_words",
    "detectable_format:number_bullet_lists", "detectable_format:json_format", "detectable_format:title",
    "detectable_format:number_highlighted_sections", "detectable_format:multiple_sections",
    "change_case:english_lowercase", "change_case:english_capital", "punctuation:no_comma",
    "startend:end_checker", "startend:quotation",
}

needs_sandbox = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox targets Linux")


def bench(name: str):
    return fixture_path("bench", name)


def assert_valid(loaded: Loaded) -> None:
    assert isinstance(loaded, Loaded)
    ids = [c.id for c in loaded.cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for c in loaded.cases:
        Case.model_validate(c.model_dump())           # round-trips through the contract
        Case.model_validate_json(c.model_dump_json())


def score_all_parallel(cases: list[Case], responses: list[str]):
    with ThreadPoolExecutor(8) as ex:
        return list(ex.map(score, cases, responses))


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------

def test_gsm8k_loads_and_references_pass():
    loaded = load_gsm8k(bench(GSM8K))
    assert len(loaded.cases) == 60 and loaded.skipped == []
    assert_valid(loaded)
    first = loaded.cases[0]
    assert (first.id, first.category, first.scorer, first.source) == ("gsm8k-0", "math", "numeric", "gsm8k")
    assert first.answer == "18" and first.reference.endswith("#### 18")
    assert first.prompt.startswith("Janet’s ducks lay 16 eggs")
    raw = [json.loads(line) for line in bench(GSM8K).read_text().splitlines()]
    assert [c.answer for c in loaded.cases] == [r["answer"].split("#### ")[-1].replace(",", "").strip() for r in raw]
    results = [score(c, c.reference) for c in loaded.cases]
    assert all(r.passed for r in results), [(c.id, r.detail) for c, r in zip(loaded.cases, results) if not r.passed]
    # and a wrong answer fails
    assert not score(first, "She makes 16 - 3 - 4 = 9 eggs... #### 9").passed


# ---------------------------------------------------------------------------------------------
# HumanEval / MBPP: reference solutions pass their tests in the sandbox
# ---------------------------------------------------------------------------------------------

@needs_sandbox
def test_humaneval_loads_and_canonical_solutions_pass():
    loaded = load_humaneval(bench(HUMANEVAL))
    assert len(loaded.cases) == 40 and loaded.skipped == []
    assert_valid(loaded)
    first = loaded.cases[0]
    assert first.id == "humaneval-0" and first.entry_point == "has_close_elements"
    assert first.scorer == "python_tests" and first.category == "coding" and first.setup_code == ""
    assert first.tests.rstrip().endswith("check(has_close_elements)")
    assert first.reference.startswith("```python\nfrom typing import List") and first.reference.endswith("\n```")
    assert "```python" in first.prompt and "def has_close_elements" in first.prompt
    results = score_all_parallel(loaded.cases, [c.reference for c in loaded.cases])
    failed = [(c.id, r.detail) for c, r in zip(loaded.cases, results) if not r.passed]
    assert not failed
    # the prompt alone (no body) fails
    r = score(first, "```python\n" + first.metadata["function_prompt"] + "    pass\n```")
    assert not r.passed


@needs_sandbox
def test_mbpp_loads_and_reference_code_passes():
    loaded = load_mbpp(bench(MBPP))
    assert len(loaded.cases) == 40 and loaded.skipped == []
    assert_valid(loaded)
    raw = json.loads(bench(MBPP).read_text())
    first = loaded.cases[0]
    assert first.id == "mbpp-2" and first.entry_point == "similar_elements"
    assert raw[0]["test_list"][0] in first.prompt                   # the first assert tells the name
    assert all(t in first.tests for t in raw[0]["test_list"])
    with_imports = [c for c, r in zip(loaded.cases, raw) if r["test_imports"]]
    assert with_imports and all(c.tests.startswith("import math") for c in with_imports)
    assert [c.metadata["task_id"] for c in loaded.cases] == [r["task_id"] for r in raw]
    results = score_all_parallel(loaded.cases, [c.reference for c in loaded.cases])
    failed = [(c.id, r.detail) for c, r in zip(loaded.cases, results) if not r.passed]
    assert not failed
    assert not score(first, "```python\ndef similar_elements(a, b):\n    return ()\n```").passed


# ---------------------------------------------------------------------------------------------
# IFEval
# ---------------------------------------------------------------------------------------------

def test_ifeval_loads_and_skips_exactly_the_uncheckable_prompts():
    loaded = load_ifeval(bench(IFEVAL))
    raw = [json.loads(line) for line in bench(IFEVAL).read_text().splitlines()]
    assert len(raw) == 60
    expected_skipped = {f"ifeval-{r['key']}": sorted(set(r["instruction_id_list"]) - CHECKABLE_IFEVAL_IDS)
                        for r in raw if set(r["instruction_id_list"]) - CHECKABLE_IFEVAL_IDS}
    got_skipped = {}
    for line in loaded.skipped:
        case_id, reason = line.split(": unsupported ")
        got_skipped[case_id] = sorted(set(reason.split(", ")))
    assert got_skipped == expected_skipped
    assert IFEVAL_SUPPORTED == CHECKABLE_IFEVAL_IDS
    assert len(loaded.cases) == 60 - len(expected_skipped) and len(loaded.cases) > 0
    assert_valid(loaded)
    by_key = {r["key"]: r for r in raw}
    for c in loaded.cases:
        assert c.scorer == "constraints" and c.category == "creative_writing" and c.source == "ifeval"
        assert len(c.constraints) == len(by_key[c.metadata["key"]]["instruction_id_list"])
        assert c.prompt == by_key[c.metadata["key"]]["prompt"]


def test_ifeval_mapping_of_one_prompt():
    loaded = load_ifeval(bench(IFEVAL))
    c = next(c for c in loaded.cases if c.metadata["key"] == 1000)
    # no_comma, number_highlighted_sections (3), number_words at least 300
    assert [(k.type, k.min, k.max, k.marker) for k in c.constraints] == [
        ("no_commas", None, None, None), ("sections", 3, None, "*"), ("word_count", 300, None, None)]
    good = ("*Early life* " + "word " * 100 + "\n\n*Count of Tripoli* " + "word " * 100
            + "\n\n*Legacy* " + "word " * 100)
    assert score(c, good).passed
    r = score(c, good.replace("*Legacy*", "*Legacy,*"))        # only the comma rule missed
    assert not r.passed and r.score == pytest.approx(2 / 3)
    r = score(c, good.replace("*Legacy*", "Legacy,"))          # 1/3 met: no partial credit
    assert not r.passed and r.score == 0 and "no partial credit" in r.detail


def test_ifeval_less_than_relation():
    loaded = load_ifeval(bench(IFEVAL))
    raw = {json.loads(line)["key"]: json.loads(line) for line in bench(IFEVAL).read_text().splitlines()}
    for c in loaded.cases:
        for iid, kw, k in zip(raw[c.metadata["key"]]["instruction_id_list"], raw[c.metadata["key"]]["kwargs"],
                              c.constraints):
            if iid == "length_constraints:number_words":
                if kw["relation"] == "less than":
                    assert (k.min, k.max) == (None, kw["num_words"] - 1)
                else:
                    assert (k.min, k.max) == (kw["num_words"], None)


# ---------------------------------------------------------------------------------------------
# BBH
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", BBH_TASKS)
def test_bbh_loads_and_targets_pass(task):
    path = bench(f"bbh-{task}-first30.json")
    assert bbh_task_name(path) == task
    loaded = load_bbh(path)
    assert len(loaded.cases) == 30 and loaded.skipped == []
    assert_valid(loaded)
    raw = json.loads(path.read_text())["examples"]
    for i, (c, ex) in enumerate(zip(loaded.cases, raw)):
        assert c.id == f"bbh_{task}-{i}" and c.category == "reasoning" and c.source == "bbh"
        assert c.prompt.startswith(ex["input"])
        if ex["target"].startswith("("):
            assert c.scorer == "choice" and c.answer == ex["target"][1] and len(c.choices) >= 2
        else:
            assert c.scorer == "exact" and c.answer == ex["target"]
        for response in (ex["target"], f"Let's think step by step. So the answer is {ex['target']}."):
            r = score(c, response)
            assert r.passed, (c.id, response, r.detail)
    # a wrong target fails
    c, ex = loaded.cases[0], raw[0]
    wrong = {"True": "False", "False": "True"}.get(ex["target"], "(A)" if ex["target"] != "(A)" else "(B)")
    assert not score(c, f"So the answer is {wrong}.").passed


def test_bbh_task_argument_overrides_the_file_name():
    loaded = load_bbh(bench("bbh-boolean_expressions-first30.json"), task="booleans")
    assert loaded.cases[0].id == "bbh_booleans-0"


# ---------------------------------------------------------------------------------------------
# HotpotQA
# ---------------------------------------------------------------------------------------------

def test_hotpotqa_loads_and_answers_pass():
    loaded = load_hotpotqa(bench(HOTPOT))
    assert len(loaded.cases) == 10 and loaded.skipped == []
    assert_valid(loaded)
    raw = json.loads(bench(HOTPOT).read_text())
    for c, r in zip(loaded.cases, raw):
        assert c.scorer == "alias_match" and c.category == "multi_hop" and c.aliases == [r["answer"]]
        assert r["question"] in c.prompt
        assert all(title in c.prompt for title, _sents in r["context"])
        assert score(c, r["answer"]).passed
        assert score(c, f"Reasoning about the paragraphs...\nAnswer: {r['answer']}").passed
    first = loaded.cases[0]
    assert first.prompt.startswith("## Ed Wood (film)")
    assert not score(first, "no").passed


# ---------------------------------------------------------------------------------------------
# sources: http(s) URLs and gzip
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def http_dir(tmp_path):
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_loading_from_an_http_url(http_dir):
    folder, base = http_dir
    shutil.copy(bench(GSM8K), folder / GSM8K)
    shutil.copy(bench("bbh-date_understanding-first30.json"), folder / "date_understanding.json")
    (folder / "HumanEval.jsonl.gz").write_bytes(gzip.compress(bench(HUMANEVAL).read_bytes()))
    from_url = load_gsm8k(f"{base}/{GSM8K}")
    assert [c.model_dump() for c in from_url.cases] == [c.model_dump() for c in load_gsm8k(bench(GSM8K)).cases]
    bbh = load_dataset("bbh", f"{base}/date_understanding.json")
    assert len(bbh.cases) == 30 and bbh.cases[0].id == "bbh_date_understanding-0"
    he = load_humaneval(f"{base}/HumanEval.jsonl.gz")
    assert len(he.cases) == 40
    import httpx

    with pytest.raises(httpx.HTTPStatusError):
        load_gsm8k(f"{base}/missing.jsonl")


def test_load_dataset_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("nope", "x.json")
