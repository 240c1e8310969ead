"""Any key becomes a valid, distinct Firestore document id; readable where it can be."""
from __future__ import annotations

from hypothesis import given, strategies as st

from shared.platform.firestore import MAX_DOC_ID_BYTES, doc_id

HOSTILE = ["a/b", "a%2Fb", ".", "..", "__x__", "", "ü/ñ/中文", "x" * 1500, "x" * 1501, "😀" * 1500,
           "/" * 600, "__.__"]


def valid(i: str) -> bool:
    return ("/" not in i and 0 < len(i.encode()) <= MAX_DOC_ID_BYTES and i not in (".", "..")
            and not (i.startswith("__") and i.endswith("__")))


def test_readable_where_it_can_be():
    assert doc_id("openai/gpt-4o") == "openai%2Fgpt-4o" and doc_id("marketing/seo") == "marketing%2Fseo"
    assert doc_id("~openai/gpt:free") == "~openai%2Fgpt%3Afree"


def test_hostile_keys_are_valid_and_distinct():
    ids = [doc_id(k) for k in HOSTILE]
    assert all(valid(i) for i in ids), [i[:40] for i in ids if not valid(i)]
    assert len(set(ids)) == len(ids)
    assert doc_id("x" * 1501).startswith("x" * 200 + "%~")   # a readable prefix, then the hash


@given(st.text(max_size=2000))
def test_every_key_maps_to_a_valid_id(key):
    assert valid(doc_id(key))
    assert doc_id(key) == doc_id(key)
