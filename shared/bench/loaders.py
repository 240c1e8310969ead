"""Loaders for external benchmark datasets, each read in its own published format from a local
path or an http(s) URL, returned as Cases (shared/bench/cases.py) with the right scorer.

Every loader returns `Loaded(cases, skipped)`: `skipped` lists, one string per record, what was
left out and why (only IFEval skips today: prompts with an instruction the Constraint types
cannot express). Files ending in .gz (or starting with the gzip magic) are decompressed, so the
official HumanEval.jsonl.gz loads as is.

| loader          | format                                                         | category / scorer            |
|-----------------|----------------------------------------------------------------|------------------------------|
| load_gsm8k      | JSONL {question, answer "...#### 72"}                          | math / numeric               |
| load_humaneval  | JSONL {task_id, prompt, canonical_solution, test, entry_point} | coding / python_tests        |
| load_mbpp       | JSON list {task_id, prompt, code, test_imports, test_list}     | coding / python_tests        |
| load_ifeval     | JSONL {key, prompt, instruction_id_list, kwargs}               | creative_writing / constraints |
| load_bbh        | JSON {"canary", "examples": [{input, target}]}                 | reasoning / choice or exact  |
| load_hotpotqa   | JSON list {_id, question, answer, context [[title, [sents]]]}  | multi_hop / alias_match      |
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from shared.bench.cases import Case, Constraint

HTTP_TIMEOUT_S = 60.0


@dataclass
class Loaded:
    cases: list[Case]
    skipped: list[str] = field(default_factory=list)   # "<case id>: <reason>"

    def __len__(self) -> int:
        return len(self.cases)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------

def _is_url(source: str | Path) -> bool:
    return isinstance(source, str) and urlparse(source).scheme in ("http", "https")


def _name_of(source: str | Path) -> str:
    """The file name (URL path or local path), without directories."""
    if _is_url(source):
        return Path(urlparse(str(source)).path).name
    return Path(source).name


def read_bytes(source: str | Path) -> bytes:
    if _is_url(source):
        import httpx

        r = httpx.get(str(source), timeout=HTTP_TIMEOUT_S, follow_redirects=True)
        r.raise_for_status()
        data = r.content
    else:
        data = Path(source).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def read_text(source: str | Path) -> str:
    return read_bytes(source).decode("utf-8")


def read_jsonl(source: str | Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(read_text(source).splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{_name_of(source)} line {n}: not JSON ({exc})") from exc
    return rows


def read_json(source: str | Path) -> Any:
    return json.loads(read_text(source))


def _id_part(value: Any) -> str:
    """A value made safe for the id pattern [A-Za-z0-9_.-]+."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(value)).strip("_")
    return text or "x"


def _fence(code: str) -> str:
    return "```python\n" + code.rstrip("\n") + "\n```"


# ---------------------------------------------------------------------------------------------
# GSM8K
# ---------------------------------------------------------------------------------------------

GSM8K_INSTRUCTION = ("Solve the problem step by step. On the last line, write the final answer as "
                     "a plain number after '#### ' (for example: #### 42).")


def gsm8k_final_answer(answer_text: str) -> str:
    """The authors' rule: the number after '#### ', commas removed."""
    m = re.search(r"#### (\-?[0-9\.\,]+)", answer_text)
    if not m:
        raise ValueError(f"no '#### <number>' in GSM8K answer: {answer_text[-80:]!r}")
    return m.group(1).strip().replace(",", "").rstrip(".")


def load_gsm8k(source: str | Path) -> Loaded:
    cases = []
    for i, row in enumerate(read_jsonl(source)):
        cases.append(Case(
            id=f"gsm8k-{i}", category="math", scorer="numeric", source="gsm8k",
            prompt=f"{row['question'].strip()}\n\n{GSM8K_INSTRUCTION}",
            answer=gsm8k_final_answer(row["answer"]), reference=row["answer"],
            metadata={"index": i}))
    return Loaded(cases)


# ---------------------------------------------------------------------------------------------
# HumanEval
# ---------------------------------------------------------------------------------------------

HUMANEVAL_INSTRUCTION = ("Complete the following Python function. Return the complete function "
                         "(with its signature and any imports it needs) in a single ```python code block.")


def load_humaneval(source: str | Path) -> Loaded:
    cases = []
    for row in read_jsonl(source):
        task = str(row["task_id"])
        ep = row["entry_point"]
        cases.append(Case(
            id=f"humaneval-{_id_part(task.split('/')[-1])}", category="coding", scorer="python_tests",
            source="humaneval", prompt=f"{HUMANEVAL_INSTRUCTION}\n\n{_fence(row['prompt'])}",
            setup_code="", tests=row["test"] + f"\ncheck({ep})\n", entry_point=ep,
            reference=_fence(row["prompt"] + row["canonical_solution"]),
            metadata={"task_id": task, "function_prompt": row["prompt"]}))
    return Loaded(cases)


# ---------------------------------------------------------------------------------------------
# MBPP (sanitized; the original mbpp.jsonl with "text" also works)
# ---------------------------------------------------------------------------------------------

def _mbpp_entry_point(code: str, first_test: str) -> str | None:
    defined = re.findall(r"^def\s+(\w+)\s*\(", code, re.M) + re.findall(r"^class\s+(\w+)", code, re.M)
    for name in defined:
        if re.search(rf"\b{re.escape(name)}\s*\(", first_test):
            return name
    m = re.search(r"assert\s+(?:not\s+)?(?:\w+\()*?(\w+)\s*\(", first_test)
    return m.group(1) if m else None


def load_mbpp(source: str | Path) -> Loaded:
    text = read_text(source)
    stripped = text.lstrip()
    rows = json.loads(text) if stripped.startswith("[") else read_jsonl(source)
    cases = []
    for row in rows:
        description = (row.get("prompt") or row.get("text") or "").strip()
        tests = list(row["test_list"])
        imports = list(row.get("test_imports") or [])
        ep = _mbpp_entry_point(row["code"], tests[0]) if tests else None
        prompt = (f"You are an expert Python programmer, and here is your task: {description} "
                  f"Your code should pass this test:\n\n{tests[0] if tests else ''}\n\n"
                  "Return the complete function in a single ```python code block.")
        cases.append(Case(
            id=f"mbpp-{_id_part(row['task_id'])}", category="coding", scorer="python_tests",
            source="mbpp", prompt=prompt, setup_code="",
            tests="\n".join(imports + tests) + "\n", entry_point=ep,
            reference=_fence(row["code"]),
            metadata={"task_id": row["task_id"], "test_imports": imports}))
    return Loaded(cases)


# ---------------------------------------------------------------------------------------------
# IFEval
# ---------------------------------------------------------------------------------------------

def _relation_bounds(kw: dict[str, Any], key: str) -> dict[str, int] | None:
    """IFEval relations: "at least" N -> min N; "less than" N -> max N-1."""
    n = kw.get(key)
    rel = kw.get("relation")
    if not isinstance(n, int):
        return None
    if rel == "at least":
        return {"min": n}
    if rel == "less than":
        return {"max": n - 1}
    return None


def _map_number_words(kw):
    b = _relation_bounds(kw, "num_words")
    return Constraint(type="word_count", **b) if b else None


def _map_number_sentences(kw):
    b = _relation_bounds(kw, "num_sentences")
    return Constraint(type="sentence_count", **b) if b else None


def _map_words(kind: str, key: str):
    def f(kw):
        words = kw.get(key)
        return Constraint(type=kind, words=list(words)) if words else None
    return f


def _map_int(kind: str, key: str, field_name: str, **extra: Any):
    def f(kw):
        n = kw.get(key)
        return Constraint(type=kind, **{field_name: n}, **extra) if isinstance(n, int) else None
    return f


def _map_multiple_sections(kw):
    n, marker = kw.get("num_sections"), kw.get("section_spliter")
    if not isinstance(n, int) or not marker:
        return None
    return Constraint(type="sections", marker=str(marker).strip(), min=n)   # IFEval: >= N sections


def _map_end(kw):
    phrase = kw.get("end_phrase")
    return Constraint(type="ends_with", text=phrase) if phrase else None


IFEVAL_MAPPERS: dict[str, Callable[[dict[str, Any]], Constraint | None]] = {
    "length_constraints:number_words": _map_number_words,
    "length_constraints:number_sentences": _map_number_sentences,
    "length_constraints:number_paragraphs": _map_int("paragraph_count", "num_paragraphs", "count"),
    "keywords:existence": _map_words("include_words", "keywords"),
    "keywords:forbidden_words": _map_words("forbidden_words", "forbidden_words"),
    "detectable_format:number_bullet_lists": _map_int("bullet_list", "num_bullets", "count"),
    "detectable_format:json_format": lambda kw: Constraint(type="json_object"),
    "detectable_format:title": lambda kw: Constraint(type="title"),
    # IFEval counts *highlighted* spans, at least N: sections with the special marker "*"
    "detectable_format:number_highlighted_sections": _map_int("sections", "num_highlights", "min", marker="*"),
    "detectable_format:multiple_sections": _map_multiple_sections,
    "change_case:english_lowercase": lambda kw: Constraint(type="all_lowercase"),
    "change_case:english_capital": lambda kw: Constraint(type="all_uppercase"),
    "punctuation:no_comma": lambda kw: Constraint(type="no_commas"),
    "startend:end_checker": _map_end,
    "startend:quotation": lambda kw: Constraint(type="quotation"),
}
IFEVAL_SUPPORTED: frozenset[str] = frozenset(IFEVAL_MAPPERS)


def load_ifeval(source: str | Path) -> Loaded:
    cases, skipped = [], []
    for row in read_jsonl(source):
        key = row["key"]
        ids = list(row["instruction_id_list"])
        kwargs = list(row.get("kwargs") or [{}] * len(ids))
        constraints, unsupported = [], []
        for iid, kw in zip(ids, kwargs):
            kw = {k: v for k, v in (kw or {}).items() if v is not None}
            mapper = IFEVAL_MAPPERS.get(iid)
            c = mapper(kw) if mapper else None
            if c is None:
                unsupported.append(iid)
            else:
                constraints.append(c)
        case_id = f"ifeval-{_id_part(key)}"
        if unsupported:
            skipped.append(f"{case_id}: unsupported {', '.join(unsupported)}")
            continue
        cases.append(Case(
            id=case_id, category="creative_writing", scorer="constraints", source="ifeval",
            prompt=row["prompt"], constraints=constraints, max_tokens=2048,
            metadata={"key": key, "instruction_id_list": ids, "kwargs": kwargs}))
    return Loaded(cases, skipped)


# ---------------------------------------------------------------------------------------------
# BIG-Bench Hard
# ---------------------------------------------------------------------------------------------

BBH_INSTRUCTION = 'Think step by step, then finish with "So the answer is <answer>."'


def bbh_task_name(source: str | Path) -> str:
    """boolean_expressions.json, bbh-boolean_expressions-first30.json -> boolean_expressions."""
    stem = _name_of(source)
    for suffix in (".gz", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = re.sub(r"^bbh[-_]", "", stem)
    stem = re.sub(r"[-_]first\d+$", "", stem)
    return re.sub(r"[^a-z0-9_]+", "_", stem.lower()).strip("_") or "task"


def _bbh_options(text: str) -> list[tuple[str, str]]:
    """[(letter, option text)] from an 'Options:' block."""
    if "Options:" not in text:
        return []
    block = text.split("Options:", 1)[1]
    return re.findall(r"(?m)^\s*\(([A-Z])\)\s*(.*?)\s*$", block)


def load_bbh(source: str | Path, task: str | None = None) -> Loaded:
    data = read_json(source)
    task = re.sub(r"[^a-z0-9_]+", "_", (task or bbh_task_name(source)).lower()).strip("_")
    cases = []
    for i, ex in enumerate(data["examples"]):
        target = str(ex["target"]).strip()
        prompt = f"{ex['input']}\n\n{BBH_INSTRUCTION}"
        common = dict(id=f"bbh_{task}-{i}", category="reasoning", source="bbh", prompt=prompt,
                      reference=target, metadata={"task": task, "index": i,
                                                                        "target": target})
        m = re.fullmatch(r"\(([A-Z])\)", target)
        if m:
            options = _bbh_options(ex["input"])
            letters = [letter for letter, _ in options]
            choices = ([t for _, t in options]
                       if letters == [chr(65 + k) for k in range(len(letters))] else [])
            cases.append(Case(scorer="choice", answer=m.group(1), choices=choices, **common))
        else:
            cases.append(Case(scorer="exact", answer=target, **common))
    return Loaded(cases)


# ---------------------------------------------------------------------------------------------
# HotpotQA
# ---------------------------------------------------------------------------------------------

HOTPOT_INSTRUCTION = ("Answer the question using the paragraphs above. Give a short answer (a name, "
                      "a few words, or yes/no) on the last line as 'Answer: <answer>'.")


def load_hotpotqa(source: str | Path) -> Loaded:
    cases = []
    for row in read_json(source):
        paragraphs = "\n\n".join(f"## {title}\n{''.join(sentences).strip()}"
                                 for title, sentences in row.get("context", []))
        prompt = f"{paragraphs}\n\nQuestion: {row['question'].strip()}\n\n{HOTPOT_INSTRUCTION}"
        cases.append(Case(
            id=f"hotpotqa-{_id_part(row['_id'])}", category="multi_hop", scorer="alias_match",
            source="hotpotqa", prompt=prompt, answer=row["answer"], aliases=[row["answer"]],
            reference=row["answer"],
            metadata={"_id": row["_id"], "type": row.get("type"), "level": row.get("level"),
                      "supporting_facts": row.get("supporting_facts", [])}))
    return Loaded(cases)


LOADERS: dict[str, Callable[..., Loaded]] = {
    "gsm8k": load_gsm8k, "humaneval": load_humaneval, "mbpp": load_mbpp, "ifeval": load_ifeval,
    "bbh": load_bbh, "hotpotqa": load_hotpotqa,
}


def load_dataset(name: str, source: str | Path, **kwargs: Any) -> Loaded:
    """Dispatch by dataset name (keys of LOADERS)."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}") from None
    return loader(source, **kwargs)
