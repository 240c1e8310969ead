"""Scorers: `score(case, response) -> ScoreResult`, dispatching on `case.scorer`.

All scorers are pure and deterministic (python_tests sends the code to code_runner, whose
verdict is deterministic for deterministic code). An empty / whitespace-only response always scores 0
with detail "empty response". A case missing what its scorer needs scores 0 with detail
"misconfigured case: ...".

Rules, per scorer (binary ones: score 1/0 and passed = score == 1):

python_tests
    Code = the last ```python (or ```py / ```python3) fenced block; when the case has an
    entry_point, the last such block that defines it is preferred (models often add a usage
    example after the solution). Else the last fenced block of any language; else the whole
    response when it looks like code (a line starting with def/class/import/from/@); else
    "no code found". HumanEval-style completions (body only, the function is not defined) are
    completed with `case.metadata["function_prompt"]` when present.
    The code is judged by the code_runner function, never in this process (shared/sandbox):
    the solution runs in a process of its own behind OS layers; the hidden tests run in another
    (the judge) that calls the solution's functions with plain data and gets plain data back, so
    tests compare exact built-in values, never an object of the solution's making, and no
    output of the solution can forge a pass. Passed iff the judge reports every test passed.
numeric
    The final number of the response is the number after the marker the prompt asks for:
    on the line after the last "####"; else inside the last \boxed{}; else on the line after the
    last "answer is" / "answer:" / "answer =" / "final answer" (or the next non-empty line).
    Without a marker: the last sentence that has a number, from its last "=", ":" or result verb
    ("is", "equals", "makes", ...) on when a number follows it ("... so the total is 18." and
    "9 * 2 = $18" pass). Several distinct numbers there name several candidates and fail
    ("#### 19.5 or 20", "\boxed{450 \text{ or } 500}", "Answer: 450? Actually it's 500.",
    "Possible totals: 10, 15, 19.5"), as do two final markers naming different numbers
    ("#### 19.5" and "\boxed{20}"). Understands 1,234 (thousands separators), $1,234.50 and
    other currency signs, units ("12 apples"), percentages ("25%" is 25; 0.25 is also accepted
    when the case answer is 0.25), negatives (-3, −3), decimals, fractions (3/4, 2 1/2,
    \frac{3}{4}). Compared with case.answer with relative tolerance NUMERIC_REL_TOL (absolute
    NUMERIC_ABS_TOL).
alias_match
    The answer part of the response: the text after the last "Answer:" (rest of that line, or
    the next non-empty line); else the first non-empty line; else everything. SQuAD
    normalisation (lowercase, punctuation removed, articles a/an/the removed, whitespace
    collapsed). Passes when it equals a normalised alias, or when it is short
    (<= ALIAS_MAX_ANSWER_TOKENS tokens), contains a normalised alias as a contiguous whole-token
    subsequence, and the rest of it names no other candidate: no list separator (",", ";", "/",
    "&", "|", a "?" followed by more text), none of the words or/and/nor/either/neither/not/
    maybe/perhaps/possibly/probably/yes/no/vs/versus, no capitalised word other than a plain
    sentence opener ("It", "The", "Answer", ...) and no token with a digit. So "It was Paris"
    and "It was in 1969" pass; "Paris or London", "Paris, London", "Canberra Sydney Melbourne",
    "Sydney vs Canberra" and "1968 1969 1970" do not, nor does a long answer that merely
    mentions the alias. For a yes/no alias, an answer whose first word is that alias passes
    unless the other of yes/no also appears ("Yes, both were American." passes for yes).
token_f1
    Max SQuAD token F1 between the answer part (as for alias_match) and each alias, with the
    HotpotQA rule that yes/no/noanswer must match exactly. One candidate only: an answer with a
    separator or hedge word (as for alias_match) that the best alias does not have, or whose
    token precision against it is below TOKEN_F1_MIN_PRECISION (mostly other words: "Obama
    Biden" for "Barack Obama" has 0.5), scores 0. Otherwise score = F1, passed = F1 >=
    TOKEN_F1_PASS ("Obama" alone: F1 0.67, passes).
choice
    A single option letter: after the last answer marker ("the answer is", "answer:", "correct
    option is", ...) the first token must be a letter ("(B)", "B)", "B.", "B", "option B") or
    the text of one option; otherwise, without a marker, the letters named as "(B)", "B)" / "B."
    at a line start, or bare letters in a response of <= 4 tokens; otherwise the full text of
    exactly one option. More than one letter fails: "A or B", "(A) ... (B)", and after the
    marker any other bare option letter ("Answer: B C D", "Answer: B but possibly D"; "A" or
    "I" followed by a lowercase word is read as a word: "Answer: B. A date in May fits.").
exact
    Normalised (strip, markdown emphasis removed, casefold, trailing period removed, whitespace
    collapsed) equality with case.answer of either the whole response or the text after the
    last "the answer is" / "answer:" (BBH's "So the answer is X." convention).
constraints
    First the response must be an attempt: at least CREATIVE_MIN_WORDS distinct words, of which
    at least CREATIVE_MIN_OWN_WORDS are not in the prompt ("I don't know.", "!", one-key JSON,
    the prompt echoed or its quoted words listed are not); else score 0. Then each Constraint is
    checked by code (see CONSTRAINT_CHECKS); passed = all satisfied (IFEval's strict
    prompt-level accuracy; the ScoreResult docstring in cases.py says ">= 0.5" for constraints,
    this scorer deliberately requires all). Partial credit (score = fraction satisfied) only
    when at least PARTIAL_CREDIT_MIN_FRACTION of the constraints and PARTIAL_CREDIT_MIN_DEMANDING
    of the demanding ones (not a ban such as forbidden_words / no_commas, not an upper limit
    alone) are met, else 0: limits and bans alone are met by saying nothing.
    Counting types (word_count, sentence_count, paragraph_count, line_count, bullet_list,
    numbered_list, sections) use `count` as an exact count and `min` / `max` as inclusive bounds.
    `sections` with marker "*" counts markdown-highlighted spans (*text* or **text**), IFEval's
    number_highlighted_sections; any other marker counts lines starting with "<marker> <n>".
    all_lowercase / all_uppercase need letters ("!" has no case). json_object: the response (a
    ```json fence allowed unless allow_fence is false) parses as one JSON object that has every
    key in `keys`, and no other key when only_keys.

Every threshold above lives in the "Scorer acceptance" section of shared/policy.py.
"""
from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from typing import Callable, Protocol

from shared.bench.cases import Case, Constraint, ScoreResult
from shared.policy import (ALIAS_MAX_ANSWER_TOKENS, CREATIVE_MIN_OWN_WORDS, CREATIVE_MIN_WORDS, NUMERIC_ABS_TOL,
                           NUMERIC_REL_TOL, PARTIAL_CREDIT_MIN_DEMANDING, PARTIAL_CREDIT_MIN_FRACTION,
                           TOKEN_F1_MIN_PRECISION, TOKEN_F1_PASS)
from shared.sandbox.models import CodeCase, CodeVerdict

EMPTY = "empty response"
DEFAULT_TIMEOUT_S = 5.0


def _result(passed: bool, detail: str, extracted: str | None = None, score: float | None = None
            ) -> ScoreResult:
    return ScoreResult(score=(1.0 if passed else 0.0) if score is None else score, passed=passed,
                       detail=detail, extracted=extracted)


def _misconfigured(what: str) -> ScoreResult:
    return _result(False, f"misconfigured case: {what}")


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# =============================================================================================
# python_tests
# =============================================================================================

_PY_LANGS = {"python", "py", "python3", "py3", "pycon", "ipython"}


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every ``` fenced block, in order; an unclosed last fence runs to the end."""
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if lang is None:
            if stripped.startswith("```"):
                lang = stripped[3:].strip().split(" ")[0].lower() if stripped[3:].strip() else ""
                body = []
        elif stripped.startswith("```"):
            blocks.append((lang, "\n".join(body)))
            lang = None
        else:
            body.append(line)
    if lang is not None and body:
        blocks.append((lang, "\n".join(body)))
    return blocks


_CODE_LINE = re.compile(r"^(?:def |class |import |from \S+ import |async def |@\w)", re.M)


def extract_code(response: str, entry_point: str | None = None) -> str | None:
    blocks = _fenced_blocks(response)
    py = [b for lang, b in blocks if lang in _PY_LANGS and b.strip()]
    if py:
        if entry_point:
            defining = [b for b in py if re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
            if defining:
                return defining[-1]
        return py[-1]
    anyb = [b for _lang, b in blocks if b.strip()]
    if anyb:
        return anyb[-1]
    if _CODE_LINE.search(response):
        return response
    return None


def code_case(case: Case, response: str, case_id: str) -> tuple[CodeCase | None, ScoreResult | None]:
    """What code_runner must judge for this response, or the result when there is nothing to run
    (empty response, no code, a misconfigured case)."""
    if not response or not response.strip():
        return None, _result(False, EMPTY)
    if not case.tests:
        return None, _misconfigured("python_tests needs tests")
    code = extract_code(response, case.entry_point)
    if code is None or not code.strip():
        return None, _result(False, "no code found")
    prefix = case.metadata.get("function_prompt")
    if (case.entry_point and prefix
            and not re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(case.entry_point)}\s*\(", code, re.M)):
        code = prefix + code     # a HumanEval-style completion of the function body
    return CodeCase(case_id=case_id, solution=code, tests=case.tests, setup=case.setup_code or "",
                    entry_point=case.entry_point,
                    timeout_s=float(case.metadata.get("timeout_s", DEFAULT_TIMEOUT_S))), None


def score_from_verdict(code: CodeCase, verdict: CodeVerdict) -> ScoreResult:
    """A judged verdict as a score (an errored verdict is not a score: the caller records it)."""
    return _result(verdict.status == "passed", verdict.detail, _short(code.solution, 200))


def score_python_tests(case: Case, response: str, code_runner: "CodeRunner | None" = None) -> ScoreResult:
    """One case through a code runner (code_runner over HTTP, or the sandbox service itself in
    tests). The benchmark batches instead (shared/bench/execution.py)."""
    code, early = code_case(case, response, case.id)
    if early is not None:
        return early
    if code_runner is None:
        raise ValueError("python_tests needs a code runner: model code never runs in this process")
    verdict = code_runner.run([code])[0]
    if verdict.status == "errored":
        return _result(False, f"not judged: {verdict.detail}", _short(code.solution, 200))
    return score_from_verdict(code, verdict)


class CodeRunner(Protocol):
    def run(self, cases: list[CodeCase]) -> list[CodeVerdict]: ...


# =============================================================================================
# numeric
# =============================================================================================

_NUMBER = re.compile(r"""
    (?P<neg>(?<![\w)\]])[-−–](?=\s?[$€£¥]?\s?\.?\d))?\s?
    [$€£¥]?\s?
    (?:
        (?<![\d/.])(?P<whole>\d+)\s+(?P<mn>\d+)\s*/\s*(?P<md>\d+)(?![\d/])   # mixed number 2 1/2
      | (?<![\d/.])(?P<fn>\d+)\s*/\s*(?P<fd>\d+)(?![\d/])                     # fraction 3/4 (not a date)
      | (?<![\d/.])(?P<num>(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)
    )
    (?P<pct>\s?%)?
""", re.X)


def _latex_clean(text: str) -> str:
    text = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\(\s*(-?\d+(?:\.\d+)?)\s*\)/\(\s*(\d+(?:\.\d+)?)\s*\)", r"\1/\2", text)
    text = text.replace("{,}", ",").replace("\\,", "").replace("\\!", "").replace("\\$", "$")
    text = text.replace("\\%", "%").replace("\\left", "").replace("\\right", "")
    return text


def _boxed(text: str) -> str | None:
    idx = text.rfind("\\boxed")
    if idx < 0:
        return None
    start = text.find("{", idx)
    if start < 0:
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i]
    return text[start + 1:]


def _number_value(m: re.Match) -> float | None:
    try:
        if m.group("whole"):
            value = int(m.group("whole")) + int(m.group("mn")) / int(m.group("md"))
        elif m.group("fn"):
            value = int(m.group("fn")) / int(m.group("fd"))
        else:
            value = float(m.group("num").replace(",", ""))
            if not math.isfinite(value):
                return None
    except (ValueError, ZeroDivisionError):
        return None
    return -value if m.group("neg") else value


def _numbers(text: str) -> list[re.Match]:
    return [m for m in _NUMBER.finditer(text) if _number_value(m) is not None]


_NUM_MARKER = re.compile(r"(?i)(?:final\s+answer\**\s*(?:is|:|=)?|answer\**\s*(?:is|:|=))")
# without a marker: the result of the last sentence follows "=", ":" or a verb like "is"
_RESULT_CUE = re.compile(r"(?i)=|:|\b(?:is|are|was|were|be|equals?|makes?|gives?|comes\s+to|totals?)\b")

Found = tuple[float, str, bool]      # (value, matched text, is_percent)


def _found(m: re.Match) -> Found:
    return _number_value(m), m.group(0).strip(), bool(m.group("pct"))  # type: ignore[return-value]


DISTINCT_LIMIT = 8   # more distinct final numbers than this are "several" all the same


def _distinct(found: list[Found]) -> list[Found]:
    """The distinct numbers, in order, up to DISTINCT_LIMIT + 1 of them: every verdict only asks
    whether there is one or several (and shows four), and comparing all pairs of a huge list of
    numbers ("Final answer: 0 1 2 ... 99999") would take minutes."""
    out: list[Found] = []
    for f in found:
        if not any(_close(f[0], g[0]) for g in out):
            out.append(f)
            if len(out) > DISTINCT_LIMIT:
                break
    return out


def _line_after(text: str, pos: int) -> str:
    """The rest of the line from pos, or the next non-empty line when that is blank."""
    lines = text[pos:].split("\n")
    if lines[0].strip():
        return lines[0]
    return next((ln for ln in lines[1:] if ln.strip()), "")


def _marked_segments(text: str) -> list[tuple[str, str]]:
    """(marker kind, segment) for each final-answer marker present, in priority order."""
    out = []
    if "####" in text:
        out.append(("####", _line_after(text, text.rfind("####") + 4)))
    boxed = _boxed(text)
    if boxed is not None:
        out.append(("\\boxed", boxed))
    markers = list(_NUM_MARKER.finditer(text))
    if markers:
        out.append(("answer", _line_after(text, markers[-1].end())))
    return out


def _unmarked_segment(text: str) -> str:
    """The last sentence with a number, from its last result cue on when a number follows it."""
    lines = [ln for ln in text.split("\n") if _numbers(ln)]
    if not lines:
        return ""
    sentences = [s for s in re.split(r"(?<=[.!?;])\s+", lines[-1]) if _numbers(s)]
    sentence = sentences[-1]
    cues = list(_RESULT_CUE.finditer(sentence))
    if cues and _numbers(sentence[cues[-1].end():]):
        return sentence[cues[-1].end():]
    return sentence


def final_numbers(response: str) -> tuple[list[Found], str]:
    """The distinct numbers the response gives as its final answer, and where they were found.
    More than one means the response names several candidates (it fails)."""
    text = _latex_clean(response)
    per_marker = [(kind, _distinct([_found(m) for m in _numbers(seg)])) for kind, seg in _marked_segments(text)]
    per_marker = [(kind, found) for kind, found in per_marker if found]
    if per_marker:
        kind, found = per_marker[0]
        # another final marker naming a different single number is a second candidate
        for _kind, other in per_marker[1:]:
            if len(other) == 1 and len(found) == 1 and not _close(other[0][0], found[0][0]):
                return _distinct(found + other), f"{kind} and {_kind}"
        return found, f"after {kind}"
    return _distinct([_found(m) for m in _numbers(_unmarked_segment(text))]), "last sentence"


def extract_number(response: str) -> Found | None:
    """(value, matched text, is_percent) of the single final number of a response, or None (no
    number, or several candidates)."""
    found, _where = final_numbers(response)
    return found[0] if len(found) == 1 else None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=NUMERIC_REL_TOL, abs_tol=NUMERIC_ABS_TOL)


def _shown(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def score_numeric(case: Case, response: str) -> ScoreResult:
    if not response.strip():
        return _result(False, EMPTY)
    expected = extract_number(case.answer or "")
    if expected is None:
        return _misconfigured(f"numeric answer {case.answer!r} is not a number")
    found, where = final_numbers(response)
    if not found:
        return _result(False, "no number found")
    if len(found) > 1:
        return _result(False, f"several candidates {where}: " + ", ".join(_shown(f[0]) for f in found[:4]),
                       extracted=_short(" ".join(f[1] for f in found), 100))
    value, text, pct = found[0]
    ok = _close(value, expected[0]) or (pct and _close(value / 100, expected[0]))
    return _result(bool(ok), f"{'correct' if ok else 'wrong'}: got {_shown(value)}, expected {case.answer}",
                   extracted=text)


# =============================================================================================
# alias_match / token_f1
# =============================================================================================

_PUNCT = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—", "…"}


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lowercase, remove punctuation, articles and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


_ANSWER_MARKER = re.compile(r"(?i)(?:final\s+)?answer\s*\**\s*:\s*\**")


def extract_answer_text(response: str) -> str:
    matches = list(_ANSWER_MARKER.finditer(response))
    if matches:
        rest = response[matches[-1].end():]
        lines = rest.split("\n")
        if lines[0].strip():
            return lines[0].strip()
        for line in lines[1:]:
            if line.strip():
                return line.strip()
        return ""
    lines = [ln for ln in response.splitlines() if ln.strip()]
    if len(lines) > 1:
        return lines[0].strip()
    return response.strip()


_HEDGES = {"or", "and", "nor", "either", "neither", "not", "maybe", "perhaps", "possibly",
           "probably", "yes", "no", "vs", "versus"}
# words that may start an answer sentence in capitals without being a candidate name
_PLAIN_CAPS = {"it", "its", "this", "that", "he", "she", "they", "we", "i", "his", "her", "their", "so",
               "answer", "final", "my", "in", "on", "at", "of", "from", "by", "is", "was", "a", "an", "the"}
_SEP = "\x00sep\x00"


def _tokens_with_separators(text: str) -> list[tuple[str, bool]]:
    """(normalised token, names a candidate by itself) pairs, with list separators (", ", ";", "/",
    "&", "|", a "?" before more text) kept as _SEP. A capitalised word (other than a plain sentence
    opener) or a token with a digit names a candidate."""
    text = re.sub(r",(?!\d)|[;/&|]|\?(?=\s*\S)", f" {_SEP} ", text)
    out: list[tuple[str, bool]] = []
    for chunk in text.split():
        if chunk == _SEP:
            out.append((_SEP, False))
            continue
        bare = chunk.strip(string.punctuation + "‘’“”")
        for tok in normalize_answer(chunk).split():
            named = any(ch.isdigit() for ch in tok) or (bare[:1].isupper() and tok not in _PLAIN_CAPS)
            out.append((tok, named))
    return out


def _contains_run(tokens: list[str], run: list[str]) -> list[int]:
    n = len(run)
    return [i for i in range(len(tokens) - n + 1) if tokens[i:i + n] == run]


def _other_candidates(answer: str, alias: str) -> list[str] | None:
    """None when the answer does not contain the alias as whole tokens; else what outside the
    alias names another candidate (separators, hedge words, other names or numbers)."""
    toks = _tokens_with_separators(answer)
    words = [t for t, _named in toks]
    run = [t for t, _named in _tokens_with_separators(alias)]
    spots = _contains_run(words, run)
    if not spots:
        return None
    best: list[str] | None = None
    for i in spots:
        rest = toks[:i] + toks[i + len(run):]
        others = sorted({"a list separator" if t == _SEP else t for t, named in rest
                         if t == _SEP or t in _HEDGES or named})
        if best is None or len(others) < len(best):
            best = others
    return best


def score_alias_match(case: Case, response: str) -> ScoreResult:
    if not response.strip():
        return _result(False, EMPTY)
    aliases = [a for a in (case.aliases or ([case.answer] if case.answer else [])) if normalize_answer(a)]
    if not aliases:
        return _misconfigured("alias_match needs aliases")
    answer = extract_answer_text(response)
    norm = normalize_answer(answer)
    for alias in aliases:
        if norm == normalize_answer(alias):
            return _result(True, f"matches alias {alias!r}", extracted=answer)
    words = norm.split()
    for alias in aliases:      # "Yes, both were American." answers a yes/no question
        na = normalize_answer(alias)
        if na in ("yes", "no") and words and words[0] == na and ({"yes", "no"} - {na}).isdisjoint(words):
            return _result(True, f"answers {alias!r}", extracted=answer)
    if 0 < len(words) <= ALIAS_MAX_ANSWER_TOKENS:
        mentioned = None
        for alias in aliases:
            others = _other_candidates(answer, alias)
            if others == []:
                return _result(True, f"contains alias {alias!r}", extracted=answer)
            if others is not None and mentioned is None:
                mentioned = (alias, others)
        if mentioned is not None:
            alias, others = mentioned
            return _result(False, f"names other candidates beside {alias!r}: {', '.join(others[:4])}",
                           extracted=answer)
    return _result(False, f"no alias matched (expected {aliases[0]!r})", extracted=answer)


def f1_score(prediction: str, ground_truth: str) -> float:
    """SQuAD token F1 with HotpotQA's yes/no/noanswer rule."""
    pred, gt = normalize_answer(prediction), normalize_answer(ground_truth)
    special = {"yes", "no", "noanswer"}
    if (pred in special or gt in special) and pred != gt:
        return 0.0
    p_toks, g_toks = pred.split(), gt.split()
    common = Counter(p_toks) & Counter(g_toks)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p_toks), same / len(g_toks)
    return 2 * precision * recall / (precision + recall)


def _precision(prediction: str, ground_truth: str) -> float:
    p_toks = normalize_answer(prediction).split()
    same = sum((Counter(p_toks) & Counter(normalize_answer(ground_truth).split())).values())
    return same / len(p_toks) if p_toks else 0.0


def _listing(answer: str, alias: str) -> list[str]:
    """Separators and hedge words in the answer that the alias itself does not have."""
    have = {t for t, _named in _tokens_with_separators(alias)}
    return sorted({"a list separator" if t == _SEP else t for t, _named in _tokens_with_separators(answer)
                   if (t == _SEP or t in _HEDGES) and t not in have})


def score_token_f1(case: Case, response: str) -> ScoreResult:
    if not response.strip():
        return _result(False, EMPTY)
    aliases = case.aliases or ([case.answer] if case.answer else [])
    if not aliases:
        return _misconfigured("token_f1 needs aliases")
    answer = extract_answer_text(response)
    best, best_alias = max((f1_score(answer, a), a) for a in aliases)
    if best > 0:
        # one candidate only: listed or hedged names, or an answer mostly outside the alias, get nothing
        listing = _listing(answer, best_alias)
        if listing:
            return _result(False, f"names several candidates ({', '.join(listing[:4])}); F1 {best:.2f} "
                                  f"vs {best_alias!r} not counted", extracted=answer, score=0.0)
        precision = _precision(answer, best_alias)
        if precision < TOKEN_F1_MIN_PRECISION:
            return _result(False, f"precision {precision:.2f} < {TOKEN_F1_MIN_PRECISION}: mostly not "
                                  f"{best_alias!r} (F1 {best:.2f} not counted)", extracted=answer, score=0.0)
    return _result(best >= TOKEN_F1_PASS, f"F1 {best:.2f} vs {best_alias!r} (pass >= {TOKEN_F1_PASS})", extracted=answer,
                   score=round(best, 6))


# =============================================================================================
# choice
# =============================================================================================

_CHOICE_MARKER = re.compile(
    r"(?i)(?:(?:final|correct|best|right)\s+)?(?:answer|option|choice)\s*(?:is|:|=|would\s+be|should\s+be)\s*:?"
    r"|\banswer\s*\**\s*:")


def _letter_of(answer: str | None) -> str | None:
    if not answer:
        return None
    m = re.fullmatch(r"\s*\(?\s*([A-Za-z])\s*\)?\s*\.?\s*", answer)
    return m.group(1).upper() if m else None


def _norm_option(text: str) -> str:
    return " ".join(normalize_answer(text).split())


def _option_in(segment: str, choices: list[str], letters: list[str]) -> list[str]:
    norm = _norm_option(segment)
    if not norm:
        return []
    exact = [letters[i] for i, c in enumerate(choices) if _norm_option(c) and _norm_option(c) == norm]
    if exact:
        return exact
    padded = f" {norm} "
    return [letters[i] for i, c in enumerate(choices)
            if _norm_option(c) and f" {_norm_option(c)} " in padded]


def extract_choice(response: str, choices: list[str]) -> tuple[str | None, str]:
    """(letter or None, explanation)."""
    letters = [chr(65 + i) for i in range(len(choices))] if choices else [chr(65 + i) for i in range(26)]
    valid = set(letters)
    text = response.replace("**", "").replace("`", "")
    markers = list(_CHOICE_MARKER.finditer(text))
    if markers:
        segment = text[markers[-1].end():].split("\n")[0].strip()
        if not segment:
            following = [ln for ln in text[markers[-1].end():].split("\n") if ln.strip()]
            segment = following[0].strip() if following else ""
        m = re.match(r"(?:(?:option|choice|letter)\s+)?[\(\[]?([A-Z])(?:[\)\]\.:,]|\s|$)", segment)
        if m and m.group(1) in valid:
            first = m.group(1)
            others = set(re.findall(r"(?:\bor\b|\band\b|/|,)\s*(?:(?:maybe|perhaps|possibly|probably|also|"
                                    r"even|option|choice)\s+)*[\(\[]?([A-Z])(?![A-Za-z0-9])", segment))
            others |= set(re.findall(r"\(([A-Z])\)", segment))
            # any other bare capital letter names another option ("B C D", "B but possibly D"),
            # except "A" / "I" used as a word ("B. A cat...")
            others |= {b.group(1) for b in re.finditer(r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])(\s+[a-z])?",
                                                       segment[m.end(1):])
                       if not (b.group(1) in "AI" and b.group(2))}
            others = {x for x in others if x in valid and x != first}
            if others:
                return None, f"ambiguous: names {first} and {sorted(others)[0]}"
            return first, "after answer marker"
        if choices:
            found = _option_in(segment.rstrip("."), choices, letters)
            if len(set(found)) == 1:
                return found[0], "option text after answer marker"
    mentions = set(re.findall(r"\(([A-Z])\)", text))
    mentions |= set(re.findall(r"(?m)^\s*([A-Z])[\).:](?:\s|$)", text))
    if len(text.split()) <= 4:
        mentions |= set(re.findall(r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])", text))
    mentions &= valid
    if len(mentions) == 1:
        return mentions.pop(), "single letter named"
    if len(mentions) > 1:
        a, b = sorted(mentions)[:2]
        return None, f"ambiguous: names {a} and {b}"
    if choices:
        found = set(_option_in(text.strip().rstrip("."), choices, letters))
        if len(found) == 1:
            return found.pop(), "option text"
        if len(found) > 1:
            return None, "ambiguous: several option texts"
    return None, "no option letter found"


def score_choice(case: Case, response: str) -> ScoreResult:
    if not response.strip():
        return _result(False, EMPTY)
    expected = _letter_of(case.answer)
    if expected is None:
        return _misconfigured(f"choice answer {case.answer!r} is not a letter")
    letter, why = extract_choice(response, case.choices)
    if letter is None:
        return _result(False, why)
    ok = letter == expected
    return _result(ok, f"{'correct' if ok else 'wrong'}: got ({letter}), expected ({expected}); {why}",
                   extracted=letter)


# =============================================================================================
# exact
# =============================================================================================

_EXACT_MARKER = re.compile(r"(?i)(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*:?")


def _norm_exact(s: str) -> str:
    s = s.strip().replace("**", "").replace("`", "").strip()
    s = s.casefold()
    while s.endswith(".") or s.endswith("!"):
        s = s[:-1].rstrip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        s = s[1:-1].strip()
    return " ".join(s.split())


def score_exact(case: Case, response: str) -> ScoreResult:
    if not response.strip():
        return _result(False, EMPTY)
    if case.answer is None:
        return _misconfigured("exact needs an answer")
    expected = _norm_exact(case.answer)
    candidates = []
    markers = list(_EXACT_MARKER.finditer(response))
    if markers:
        candidates.append(response[markers[-1].end():].strip().split("\n")[0])
    candidates.append(response)
    for cand in candidates:
        if _norm_exact(cand) == expected:
            return _result(True, "exact match", extracted=cand.strip())
    return _result(False, f"expected {case.answer!r}", extracted=_short(candidates[0].strip(), 100))


# =============================================================================================
# constraints
# =============================================================================================

def _count_ok(n: int, c: Constraint, default_min: int | None = None) -> tuple[bool, str]:
    lo = c.min if c.min is not None else (default_min if c.count is None and c.max is None else None)
    if c.count is not None and n != c.count:
        return False, f"{n}, need exactly {c.count}"
    if lo is not None and n < lo:
        return False, f"{n}, need >= {lo}"
    if c.max is not None and n > c.max:
        return False, f"{n}, need <= {c.max}"
    return True, str(n)


def _strip_fence(text: str) -> str:
    t = text.strip()
    m = re.fullmatch(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)\n?```", t, re.S)
    return m.group(1).strip() if m else t


def count_words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def count_sentences(text: str) -> int:
    parts = re.split(r"(?<=[.!?])[\"')\]]*\s+", text.strip())
    return len([p for p in parts if re.search(r"\w", p)])


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated; a markdown divider line (***, ---) also separates."""
    text = re.sub(r"(?m)^\s*(?:\*\s*){3,}$|^\s*(?:-\s*){3,}$", "\n\n", text.strip())
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def _word_re(word: str) -> re.Pattern:
    return re.compile(rf"(?<!\w){re.escape(word.strip())}(?!\w)", re.I)


_BULLET = re.compile(r"^\s*[-*]\s+\S")
_DIVIDER = re.compile(r"^\s*(?:[-*]\s*){3,}$")


def check_constraint(c: Constraint, text: str) -> tuple[bool, str]:
    t = c.type
    stripped = text.strip()
    if t == "word_count":
        return _count_ok(count_words(text), c)
    if t == "sentence_count":
        return _count_ok(count_sentences(text), c)
    if t == "paragraph_count":
        return _count_ok(len(split_paragraphs(text)), c)
    if t == "line_count":
        return _count_ok(len([ln for ln in text.splitlines() if ln.strip()]), c)
    if t == "include_words":
        missing = [w for w in c.words if not _word_re(w).search(text)]
        return (not missing, f"missing {missing}" if missing else "all present")
    if t == "forbidden_words":
        present = [w for w in c.words if _word_re(w).search(text)]
        return (not present, f"contains {present}" if present else "none present")
    if t == "starts_with":
        ok = stripped.casefold().startswith((c.text or "").strip().casefold())
        return ok, f"does not start with {c.text!r}" if not ok else "ok"
    if t == "ends_with":
        end = stripped.strip('"').rstrip().casefold()
        ok = end.endswith((c.text or "").strip().casefold())
        return ok, f"does not end with {c.text!r}" if not ok else "ok"
    if t == "bullet_list":
        n = len([ln for ln in text.splitlines() if _BULLET.match(ln) and not _DIVIDER.match(ln)])
        return _count_ok(n, c, default_min=1)
    if t == "numbered_list":
        n = len([ln for ln in text.splitlines() if re.match(r"^\s*\d+[.)]\s+\S", ln)])
        return _count_ok(n, c, default_min=1)
    if t == "json_object":
        if not c.allow_fence and stripped.startswith("```"):
            return False, "in a code fence"
        try:
            obj = json.loads(_strip_fence(text))
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            return False, "not a JSON object"
        missing = [k for k in c.keys if k not in obj]
        if missing:
            return False, f"missing keys {missing}"
        extra = sorted(set(obj) - set(c.keys)) if c.only_keys else []
        return (not extra, f"unexpected keys {extra[:4]}" if extra else "ok")
    if t == "title":
        ok = any(m.strip() for m in re.findall(r"<<([^\n]+?)>>", text))
        return ok, "no <<title>>" if not ok else "ok"
    if t == "sections":
        marker = (c.marker or "Section").strip()
        if marker == "*":
            spans = re.findall(r"\*\*([^\n*]+)\*\*|\*([^\n*]+)\*", text)
            n = len([a or b for a, b in spans if (a or b).strip()])
        else:
            n = len(re.findall(rf"(?m)^[\s#*_>]*{re.escape(marker)}\s+\d+\b", text))
        return _count_ok(n, c, default_min=1)
    if t in ("all_lowercase", "all_uppercase"):   # a case rule needs letters to apply to
        if not any(ch.isalpha() for ch in text):
            return False, "no letters"
        if t == "all_lowercase":
            ok = text == text.lower()
            return ok, "has uppercase letters" if not ok else "ok"
        ok = text == text.upper()
        return ok, "has lowercase letters" if not ok else "ok"
    if t == "no_commas":
        n = text.count(",") + text.count("，")
        return n == 0, f"{n} commas" if n else "ok"
    if t == "quotation":
        ok = len(stripped) > 1 and ((stripped[0] == '"' and stripped[-1] == '"')
                                    or (stripped[0] == "“" and stripped[-1] == "”"))
        return ok, "not wrapped in double quotes" if not ok else "ok"
    return False, f"unknown constraint type {t}"   # pragma: no cover - Literal prevents it


CONSTRAINT_CHECKS = ("word_count", "sentence_count", "paragraph_count", "include_words",
                     "forbidden_words", "starts_with", "ends_with", "bullet_list", "numbered_list",
                     "json_object", "title", "sections", "all_lowercase", "all_uppercase",
                     "no_commas", "line_count", "quotation")


def _words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"\w+", text)}


def attempt_problem(case: Case, response: str) -> str | None:
    """Why the response is no attempt at the creative task, or None: too few distinct words, or
    too few words of its own (not in the prompt): a refusal, "!", or the prompt's words echoed."""
    words = _words(response)
    if len(words) < CREATIVE_MIN_WORDS:
        return f"{len(words)} distinct words (< {CREATIVE_MIN_WORDS})"
    own = words - _words(case.prompt + " " + (case.system or ""))
    if len(own) < CREATIVE_MIN_OWN_WORDS:
        return f"{len(own)} distinct words not taken from the prompt (< {CREATIVE_MIN_OWN_WORDS})"
    return None


def demanding(c: Constraint) -> bool:
    """A rule that saying little does not meet: not a ban (forbidden words, no commas) and not an
    upper limit alone."""
    if c.type in ("forbidden_words", "no_commas"):
        return False
    if c.type in ("word_count", "sentence_count", "paragraph_count", "line_count"):
        return c.count is not None or c.min is not None
    return True


def score_constraints(case: Case, response: str) -> ScoreResult:
    if not response.strip():
        return _result(False, EMPTY)
    if not case.constraints:
        return _misconfigured("constraints scorer needs constraints")
    problem = attempt_problem(case, response)
    if problem:
        return _result(False, f"not an attempt: {problem}", score=0.0)
    failed = []
    met_demanding = n_demanding = 0
    for c in case.constraints:
        ok, why = check_constraint(c, response)
        if demanding(c):
            n_demanding += 1
            met_demanding += ok
        if not ok:
            label = c.type + (f"[{c.marker}]" if c.type == "sections" and c.marker else "")
            failed.append(f"{label}: {why}")
    n = len(case.constraints)
    frac = (n - len(failed)) / n
    detail = f"{n - len(failed)}/{n} constraints satisfied"
    if failed and (frac < PARTIAL_CREDIT_MIN_FRACTION
                   or (n_demanding and met_demanding / n_demanding < PARTIAL_CREDIT_MIN_DEMANDING)):
        frac = 0.0
        detail += f" ({met_demanding}/{n_demanding} demanding): no partial credit"
    if failed:
        detail += "; failed: " + "; ".join(failed)
    return _result(not failed, _short(detail, 400), score=round(frac, 6))


# =============================================================================================
# vote keys (self-consistency: shared/bench/strategies.py)
# =============================================================================================

# words that put a second candidate beside the first in a short answer (alias_match's hedge
# words without yes/no/not/and, which a single answer may well contain: "No", "not guilty")
_VOTE_HEDGES = {"or", "nor", "either", "neither", "maybe", "perhaps", "possibly", "probably", "vs", "versus"}
_VOTE_SEPARATOR = re.compile(r"[;/|]|\?\s*\S|,(?!\d)")

VoteKey = str | float


def _single_text(answer: str) -> str | None:
    """The normalised answer when it names one candidate, else None (a list separator, a hedge
    word, both yes and no)."""
    norm = normalize_answer(answer)
    words = norm.split()
    if not norm or {"yes", "no"} <= set(words):
        return None
    if words[0] in ("yes", "no"):     # "Yes, both were American." answers yes (as alias_match reads it)
        return words[0]
    if _VOTE_SEPARATOR.search(answer) or set(words) & _VOTE_HEDGES:
        return None
    return norm


def _code_key(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.splitlines() if line.strip())


def vote_key(case: Case, response: str) -> VoteKey | None:
    """The one answer a response gives, read and normalised the way this case's scorer reads it,
    or None when it gives none or several candidates (such a response abstains from a vote).
    Reads the response and the question only, never the expected answer: numeric gives the
    final number (a float: compare keys with same_vote, so 42 and 42.0 and 4.2e1 agree; 25% is
    25); choice the option letter; exact the normalised text after the last answer marker (else
    the whole response); alias_match / token_f1 the SQuAD-normalised answer part; python_tests
    the extracted code with blank lines and trailing spaces dropped; constraints the response
    with whitespace collapsed and case folded, when it is an attempt at all."""
    if response is None or not response.strip():
        return None
    if case.scorer == "numeric":
        found = extract_number(response)
        return None if found is None else float(found[0])
    if case.scorer == "choice":
        return extract_choice(response, case.choices)[0]
    if case.scorer == "exact":
        markers = list(_EXACT_MARKER.finditer(response))
        answer = response[markers[-1].end():].strip().split("\n")[0] if markers else response
        norm = _norm_exact(answer)
        return norm if norm and _single_text(answer) is not None else None
    if case.scorer in ("alias_match", "token_f1"):
        return _single_text(extract_answer_text(response))
    if case.scorer == "python_tests":
        code = extract_code(response, case.entry_point)
        return _code_key(code) if code and code.strip() else None
    if case.scorer == "constraints":
        return None if attempt_problem(case, response) else " ".join(response.split()).casefold()
    return None


def same_vote(a: VoteKey, b: VoteKey) -> bool:
    """Two vote keys name the same answer: numbers within the numeric tolerance, texts equal."""
    if isinstance(a, float) and isinstance(b, float):
        return _close(a, b)
    return type(a) is type(b) and a == b


# =============================================================================================
# dispatch
# =============================================================================================

SCORERS: dict[str, Callable[[Case, str], ScoreResult]] = {
    "numeric": score_numeric,
    "alias_match": score_alias_match,
    "token_f1": score_token_f1,
    "choice": score_choice,
    "exact": score_exact,
    "constraints": score_constraints,
}


def score(case: Case, response: str, code_runner: CodeRunner | None = None) -> ScoreResult:
    """Score one response to one case (see the module docstring for each scorer's rule)."""
    if response is None or not str(response).strip():
        return _result(False, EMPTY)
    if case.scorer == "python_tests":
        return score_python_tests(case, response, code_runner)
    return SCORERS[case.scorer](case, response)
