"""code_runner's logic: run a batch of cases in parallel, each behind the OS layers, and fail
closed: a case whose required layers did not all hold is `errored: sandbox unavailable`, never
judged. `SANDBOX_ALLOW_WEAK=true` (local development only) judges it anyway and labels it."""
from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.log import get_logger
from shared.redaction import redact
from shared.sandbox import process
from shared.sandbox.models import LAYERS, BatchResult, CodeCase, CodeVerdict, Isolation

log = get_logger(__name__)


class SandboxConfig:
    """The runner's settings (read once from shared.config by the caller)."""

    def __init__(self, required: list[str], allow_weak: bool = False, parallelism: int = 0,
                 uid_base: int = 200_000, python: str | None = None, work_root: str | None = None,
                 limits: process.Limits | None = None, audit_hook: bool = True):
        unknown = sorted(set(required) - set(LAYERS))
        if unknown:
            raise ValueError(f"unknown isolation layer(s) {unknown}; known: {', '.join(LAYERS)}")
        self.required = list(required)
        self.allow_weak = allow_weak
        self.parallelism = parallelism or max(1, os.cpu_count() or 1)
        self.uid_base = uid_base
        self.python = python
        self.work_root = work_root
        self.limits = limits or process.Limits()
        self.audit_hook = audit_hook   # off only in tests that prove the OS layers hold alone


class SandboxService:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self._uids: queue.Queue[int] = queue.Queue()
        for i in range(config.parallelism):
            self._uids.put(config.uid_base + i)   # a uid per parallel slot: rlimits are per uid
        self._pool = ThreadPoolExecutor(max_workers=config.parallelism, thread_name_prefix="sandbox")
        self._setup_lock = threading.Lock()
        self._setup: tuple[process.Runtime | None, bytes, str | None] | None = None

    def _prepared(self) -> tuple[process.Runtime | None, bytes, str | None]:
        """(runtime, seccomp program, why unavailable) — computed once."""
        with self._setup_lock:
            if self._setup is None:
                problems = []
                try:
                    runtime = process.find_runtime(self.config.python)
                except process.RuntimeUnavailable as exc:
                    runtime = None
                    problems.append(str(exc))
                try:
                    from shared.sandbox.seccomp_policy import compiled_filter

                    bpf = compiled_filter()
                except (ImportError, OSError, RuntimeError) as exc:
                    bpf = b""
                    problems.append(f"seccomp filter unavailable ({exc.__class__.__name__}: {exc})")
                self._setup = (runtime, bpf, "; ".join(problems) or None)
                if problems:
                    log.error("sandbox layers unavailable", problems=problems)
            return self._setup

    def run_batch(self, cases: list[CodeCase]) -> BatchResult:
        results = list(self._pool.map(self.run_one, cases))
        return BatchResult(required=self.config.required, weak_mode=self.config.allow_weak, results=results)

    def run(self, cases: list[CodeCase]) -> list[CodeVerdict]:
        """The same contract as the benchmark's HTTP client (shared.bench.code_client)."""
        return self.run_batch(cases).results

    def probe(self) -> CodeVerdict:
        """A trivial case: which layers hold on this instance right now."""
        return self.run_one(CodeCase(case_id="isolation-probe", solution="def f():\n    return 1\n",
                                     tests="assert f() == 1\n", entry_point="f"))

    def run_one(self, case: CodeCase) -> CodeVerdict:
        try:
            return self._run_one(case)
        except Exception as exc:   # never fail the batch for one case
            log.error("sandbox case failed in the runner", case_id=case.case_id, exc_info=True)
            return CodeVerdict(case_id=case.case_id, status="errored",
                               detail=redact(f"runner error: {exc.__class__.__name__}: {exc}"))

    def _run_one(self, case: CodeCase) -> CodeVerdict:
        runtime, bpf, problem = self._prepared()
        required = [] if self.config.allow_weak else self.config.required
        if runtime is None or (problem and "seccomp" in required):
            return CodeVerdict(case_id=case.case_id, status="errored", detail=f"sandbox unavailable: {problem}")
        limits = self.config.limits
        if case.timeout_s != limits.timeout_s:
            limits = process.Limits(**{**limits.__dict__, "timeout_s": case.timeout_s})
        enforced = [r for r in required if r in ("uid", "seccomp", "landlock")]   # the judge refuses without
        uid = self._uids.get()
        try:
            outcome = process.run_case(
                runtime, bpf, enforced, limits,
                uid if os.geteuid() == 0 else None,
                {"solution": case.solution, "setup": case.setup, "audit_hook": self.config.audit_hook},
                {"tests": tests_with_check(case), "setup": case.setup, "entry_point": case.entry_point or ""},
                self.config.work_root)
        finally:
            self._uids.put(uid)
        if outcome.cleanup_error:
            log.warning("sandbox work directory left behind", case_id=case.case_id, error=outcome.cleanup_error)
        isolation = isolation_of(outcome, runtime, enforced, self.config.audit_hook)
        missing = [layer for layer in self.config.required if layer not in isolation.layers()]
        verdict = outcome.verdict or {}
        if not outcome.facts and not outcome.timed_out:
            why = "the sandbox did not start: " + (outcome.stderr.strip().splitlines() or ["no output"])[-1][:200]
            return CodeVerdict(case_id=case.case_id, status="errored", detail=redact(f"sandbox unavailable: {why}"),
                               wall_s=round(outcome.wall_s, 4))
        if verdict.get("sandbox_unavailable") or (missing and not self.config.allow_weak):
            why = verdict.get("sandbox_unavailable") or f"required isolation layer(s) missing: {', '.join(missing)}"
            return CodeVerdict(case_id=case.case_id, status="errored", detail=f"sandbox unavailable: {why}",
                               wall_s=round(outcome.wall_s, 4), isolation=isolation)
        passed, detail = judge(case, outcome)
        return CodeVerdict(case_id=case.case_id, status="passed" if passed else "failed",
                           detail=redact(detail), wall_s=round(outcome.wall_s, 4), isolation=isolation,
                           weak=missing)


def tests_with_check(case: CodeCase) -> str:
    """HumanEval style: tests that define check(candidate) but never call it get the call."""
    import re

    tests = case.tests
    if case.entry_point and re.search(r"^def\s+check\s*\(", tests, re.M) and not re.search(r"^check\s*\(", tests, re.M):
        tests = tests.rstrip("\n") + f"\n\ncheck({case.entry_point})\n"
    return tests


def isolation_of(outcome: process.Outcome, runtime: process.Runtime, required: list[str],
                 audit_hook: bool = True) -> Isolation:
    facts = outcome.facts
    uid = facts.get("uid") if isinstance(facts.get("uid"), int) else None
    # The solution process reports its own seccomp when it loaded; before that (a timeout while
    # loading) it held if required: the solution process refuses to load without it.
    solution_seccomp = facts.get("solution_seccomp", "seccomp" in required if facts else False)
    return Isolation(
        uid=uid, separate_uid=uid is not None and uid != os.geteuid(),
        seccomp=facts.get("seccomp") is True and solution_seccomp is True,
        landlock=facts.get("landlock") if isinstance(facts.get("landlock"), int) else 0,
        namespaces=outcome.namespaces, workdir=outcome.workdir_kind, hook=facts.get("hook", audit_hook and bool(facts)) is True,
        runtime=runtime.version)


def _short(text: str, n: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _source_line(source: str, line: Any) -> str:
    lines = source.splitlines()
    return _short(lines[line - 1].strip(), 100) if isinstance(line, int) and 0 < line <= len(lines) else ""


def judge(case: CodeCase, outcome: process.Outcome) -> tuple[bool, str]:
    """(passed, one-line detail) from the judge's verdict. Passed only on an explicit verdict of
    the judge, which the solution's process cannot write."""
    if outcome.timed_out:
        return False, f"timed out after {case.timeout_s:g}s"
    v = outcome.verdict
    if v is None:
        if outcome.killed_reason:
            return False, f"killed: {outcome.killed_reason}"
        last = _short(outcome.stderr.strip().splitlines()[-1]) if outcome.stderr.strip() else ""
        return False, "the sandbox ended without a verdict" + (f": {last}" if last else "")
    if v.get("passed") is True:
        return True, "all tests passed"
    stage, kind = v.get("stage"), v.get("kind")
    etype, msg, line = v.get("type") or "", _short(v.get("msg") or "", 100), v.get("line")
    where = f" at line {line}" if isinstance(line, int) else ""
    if kind == "missing":
        return False, f"solution does not define {v.get('name')}"
    if kind == "died":
        return False, "the solution process died before it loaded" + (f": {msg}" if msg else "")
    if stage == "solution":
        if kind == "syntax":
            return False, f"syntax error in solution{where}: {msg}"
        if kind == "exit":
            return False, "solution called exit() before the tests ran"
        if etype == "MemoryError":
            return False, "killed: memory limit"
        return False, f"solution raised {etype}{where}" + (f": {msg}" if msg else "")
    if stage == "setup":
        return False, f"setup code failed: {etype}{where}" + (f": {msg}" if msg else "")
    if kind == "exit":
        return False, "tests failed: exit() called during the tests"
    if etype == "MemoryError" or "MemoryError" in msg:
        return False, "killed: memory limit"
    src = _source_line(tests_with_check(case), line)
    text = f"tests failed: {etype}{where}" + (f": {msg}" if msg else "")
    return False, text + (f" ({src})" if src else "")
