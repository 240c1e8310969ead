"""The Firestore emulator does not enforce composite indexes, so this test does: every query
chain in shared/ that filters or orders on more than one field must have a matching
google_firestore_index in terraform/."""
from __future__ import annotations

import ast
import re

from shared.pipeline import REPO_ROOT

QUERY_METHODS = {"where", "order_by"}


def _field_of(call: ast.Call) -> str | None:
    for kw in call.keywords:
        if kw.arg == "filter" and isinstance(kw.value, ast.Call) and kw.value.args:
            arg = kw.value.args[0]
            return arg.value if isinstance(arg, ast.Constant) else "<dynamic>"
    if call.args and isinstance(call.args[0], ast.Constant):
        return call.args[0].value
    return "<dynamic>" if call.args else None


def query_chains(source: str) -> list[tuple[str, list[str]]]:
    """(collection, fields) for each chained .collection(X).where(...).order_by(...) expression."""
    tree = ast.parse(source)
    inner = {id(n.func.value) for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    chains = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)) or id(node) in inner:
            continue  # only whole chains, not their sub-expressions
        fields, collection, cur = [], None, node
        while isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute):
            name = cur.func.attr
            if name in QUERY_METHODS:
                fields.append(_field_of(cur))
            if name == "collection":
                arg = cur.args[0] if cur.args else None
                collection = arg.value if isinstance(arg, ast.Constant) else ast.unparse(arg) if arg else None
                break
            cur = cur.func.value
        if fields and collection:
            chains.append((collection, sorted({f for f in fields if f})))
    return chains


def all_queries() -> list[tuple[str, str, list[str]]]:
    out = []
    for path in sorted((REPO_ROOT / "shared").rglob("*.py")):
        for collection, fields in query_chains(path.read_text()):
            out.append((str(path.relative_to(REPO_ROOT)), collection, fields))
    return out


def terraform_indexes() -> list[set[str]]:
    text = "".join(p.read_text() for p in (REPO_ROOT / "terraform").rglob("*.tf")) \
        if (REPO_ROOT / "terraform").exists() else ""
    indexes = []
    for block in re.findall(r'resource\s+"google_firestore_index"[^{]*\{(.*?)\n\}', text, re.S):
        indexes.append(set(re.findall(r'field_path\s*=\s*"([^"]+)"', block)))
    return indexes


def test_scanner_sees_the_known_queries():
    found = {(c, tuple(f)) for _, c, f in all_queries()}
    assert ("MODELS", ("active",)) in found  # sync.py: active models
    assert ("WEEKLY_RUNS", ("started_at",)) in found  # runs.py: latest run


def test_the_scanner_flags_a_composite_query():
    src = 'db.collection("x").where(filter=FieldFilter("a", "==", 1)).order_by("b").limit(3)'
    assert query_chains(src) == [("x", ["a", "b"])]


def test_every_composite_query_has_a_terraform_index():
    indexes = terraform_indexes()
    missing = [(path, coll, sorted(set(fields))) for path, coll, fields in all_queries()
               if len(set(fields)) > 1 and not any(set(fields) <= idx for idx in indexes)]
    assert not missing, f"composite queries without a google_firestore_index in terraform/: {missing}"
