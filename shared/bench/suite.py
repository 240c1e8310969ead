"""Suites as data: shared/bench/suites/<name>/{suite.yaml, <category>.jsonl}."""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from shared.bench.cases import CATEGORIES, Case

SUITES_DIR = Path(__file__).with_name("suites")


class SuiteError(ValueError):
    pass


class Suite(BaseModel):
    name: str
    version: int
    description: str = ""
    cases: list[Case]

    @property
    def key(self) -> str:
        """Baselines compare only within one suite version."""
        return f"{self.name}@v{self.version}"

    def select(self, max_per_category: int | None = None,
               categories: list[str] | None = None) -> list[Case]:
        out, taken = [], {}
        for c in self.cases:
            if categories and c.category not in categories:
                continue
            if max_per_category and taken.get(c.category, 0) >= max_per_category:
                continue
            taken[c.category] = taken.get(c.category, 0) + 1
            out.append(c)
        return out

    def fingerprint(self) -> str:
        return hashlib.sha256("".join(c.model_dump_json() for c in self.cases).encode()).hexdigest()[:16]


def builtin_suites() -> list[str]:
    return sorted(p.name for p in SUITES_DIR.iterdir() if (p / "suite.yaml").exists()) if SUITES_DIR.exists() else []


@functools.lru_cache(maxsize=8)
def load_suite(name_or_path: str) -> Suite:
    folder = Path(name_or_path) if ("/" in name_or_path or name_or_path.startswith(".")) else SUITES_DIR / name_or_path
    meta_path = folder / "suite.yaml"
    if not meta_path.exists():
        raise SuiteError(f"no suite at {folder} (suite.yaml missing); built-in suites: {builtin_suites()}")
    meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    cases: list[Case] = []
    for category in CATEGORIES:
        path = folder / f"{category}.jsonl"
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                cases.append(Case.model_validate(json.loads(line)))
            except (ValueError, ValidationError) as exc:
                raise SuiteError(f"{path}:{n}: invalid case: {exc}") from None
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        raise SuiteError(f"suite {folder}: duplicate case ids")
    return Suite(name=meta["name"], version=int(meta["version"]), description=meta.get("description", ""),
                 cases=cases)
