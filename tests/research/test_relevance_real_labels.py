"""The blind relevance labels of real recorded feed items (tests/fixtures/research/
relevance_real_labels.jsonl, guide in RELEVANCE_LABELLING.md beside it): the label file is
well-formed and holds no item text; when the recorded payloads (../shared/fixtures) are present,
every labelled id still parses from its file and the selection rule reproduces the labelled set.
Missing payloads skip the payload tests (fail when CI is set), like the other real-fixture tests.
The second and third held-out sets (relevance_real_labels_heldout2.jsonl, _heldout3.jsonl) get the
same checks (parametrized), plus: no id shared with the earlier files, and each one's selection rule
(select_heldout2, a seeded sample; select_heldout3, all the rest) reproduces its ids exactly."""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from functools import cache

import pytest

from perf.relevance_data import (
    ALLOWED_TOPICS,
    FULL_FILES,
    HELDOUT2_LABELS_PATH,
    HELDOUT2_SIZE,
    HELDOUT2_SPLIT,
    HELDOUT3_LABELS_PATH,
    HELDOUT3_SPLIT,
    LABEL_FIELDS,
    LABELS_PATH,
    REQUIRED_LABEL_FIELDS,
    SAMPLE_TOTAL,
    SAMPLED_FILES,
    labelled_real_items,
    load_real_items,
    load_real_labels,
    select_heldout2,
    select_heldout3,
    select_items,
    split_of,
)
from tests.conftest import fixture_path

# The labels are what they are: far fewer relevant than non-relevant items (most news posts are
# business, policy or old RL research). These are the counts found when labelling (2026-11-30);
# the test guards against labels being lost, not a target. Adding labels may raise them.
MIN_COUNTS = {"tune": {"relevant": 28, "not relevant": 184},
              "heldout": {"relevant": 44, "not relevant": 194}}
MIN_LABELS = 400
# heldout2 (labelled 2026-11-30, blind): 36 relevant, 284 not relevant of 320
MIN_COUNTS_HELDOUT2 = {"relevant": 36, "not relevant": 284}
# heldout3 (labelled 2026-11-30, blind): 33 relevant, 209 not relevant of 242 (every item left over)
MIN_COUNTS_HELDOUT3 = {"relevant": 33, "not relevant": 209}
HELDOUT3_SIZE = 242
MAX_NOTE_WORDS = 15


@pytest.fixture(scope="module")
def labels() -> list[dict]:
    return load_real_labels(LABELS_PATH)


@pytest.fixture(scope="module")
def real_items() -> list[dict]:
    return load_real_items(fixture_path("research"))


def _check_record(label: dict) -> None:
    where = label.get("id")
    assert REQUIRED_LABEL_FIELDS <= set(label) <= LABEL_FIELDS, (where, sorted(label))
    assert "title" not in label and "summary" not in label, where
    assert isinstance(label["id"], str) and label["id"].split(":", 1)[0] in {"arxiv", "hf", "url", "guid"}, where
    assert isinstance(label["file"], str) and label["file"] in FULL_FILES + SAMPLED_FILES, where
    assert isinstance(label["relevant"], bool), where
    assert isinstance(label["topics"], list) and all(isinstance(t, str) for t in label["topics"]), where
    assert set(label["topics"]) <= set(ALLOWED_TOPICS), (where, label["topics"])
    assert len(set(label["topics"])) == len(label["topics"]), where
    assert bool(label["topics"]) == label["relevant"], f"{where}: relevant items need a topic, others none"
    note = label.get("note", "")
    assert isinstance(note, str) and len(note.split()) <= MAX_NOTE_WORDS, where
    assert '"' not in note and "\u201c" not in note and "\u2018" not in note, f"{where}: notes quote nothing"


def test_label_file_is_well_formed(labels):
    assert len(labels) >= MIN_LABELS
    for label in labels:
        _check_record(label)


def test_no_duplicate_ids(labels):
    duplicates = [i for i, n in Counter(label["id"] for label in labels).items() if n > 1]
    assert duplicates == []


def test_split_follows_the_hash_rule(labels):
    for label in labels:
        expected = "heldout" if int(hashlib.sha256(label["id"].encode()).hexdigest(), 16) % 2 else "tune"
        assert label["split"] == expected == split_of(label["id"]), label["id"]


def test_both_splits_have_the_counts_found_when_labelling(labels):
    counts = Counter((label["split"], "relevant" if label["relevant"] else "not relevant") for label in labels)
    for split, minimums in MIN_COUNTS.items():
        for kind, minimum in minimums.items():
            assert counts[split, kind] >= minimum, (split, kind, counts[split, kind], minimum)


def test_every_labelled_id_still_parses_from_its_file(labels, real_items):
    parsed = {(item["file"], item["id"]) for item in real_items}
    gone = [f"{label['id']} ({label['file']})" for label in labels if (label["file"], label["id"]) not in parsed]
    assert gone == [], f"labelled items that no longer parse: {gone}"
    joined = labelled_real_items(fixtures_dir=fixture_path("research"))
    assert len(joined) == len(labels)
    assert all(item["title"] for item in joined)
    assert {item["id"] for item in labelled_real_items("heldout", fixtures_dir=fixture_path("research"))} == \
        {label["id"] for label in labels if label["split"] == "heldout"}


def test_the_selection_rule_reproduces_the_labelled_set(labels, real_items):
    selected = select_items(real_items)
    assert len(selected) == SAMPLE_TOTAL
    assert [(item["file"], item["id"]) for item in selected] == [(label["file"], label["id"]) for label in labels]
    for name in FULL_FILES:   # every item of these files is labelled
        assert {i["id"] for i in real_items if i["file"] == name} <= {label["id"] for label in labels}, name


def test_the_label_file_holds_no_item_text(real_items):
    records = [json.loads(line) for line in LABELS_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert all(set(record) <= LABEL_FIELDS for record in records)
    # ids are identifiers (an hf: id is the repo name, which is also its title); the free text is the notes
    lowered = "\n".join(record.get("note", "") for record in records).lower()
    leaked = [item["id"] for item in real_items
              if (len(item["title"]) >= 25 and item["title"].lower() in lowered)
              or (len(item["summary"]) >= 25 and item["summary"][:60].lower() in lowered)]
    assert leaked == [], f"titles or summaries copied into the label file: {leaked}"


def test_joining_reports_ids_that_no_longer_parse(tmp_path, labels):
    broken = tmp_path / "labels.jsonl"
    ghost = {**labels[0], "id": "url:0000000000000000deadbeef"}
    broken.write_text("\n".join(json.dumps(x) for x in [labels[1], ghost]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="url:0000000000000000deadbeef"):
        labelled_real_items(fixtures_dir=fixture_path("research"), labels_path=broken)


# --- the second and third held-out sets (heldout2, heldout3) -----------------------------------

# split -> (label file, number of items, minimum counts, earlier label files whose ids it must avoid)
HELDOUT_SETS = {
    HELDOUT2_SPLIT: (HELDOUT2_LABELS_PATH, HELDOUT2_SIZE, MIN_COUNTS_HELDOUT2, (LABELS_PATH,)),
    HELDOUT3_SPLIT: (HELDOUT3_LABELS_PATH, HELDOUT3_SIZE, MIN_COUNTS_HELDOUT3, (LABELS_PATH, HELDOUT2_LABELS_PATH)),
}
heldout_splits = pytest.mark.parametrize("split", sorted(HELDOUT_SETS))


@cache
def _heldout_labels(split: str) -> tuple[dict, ...]:
    return tuple(load_real_labels(HELDOUT_SETS[split][0]))


def _earlier_ids(split: str) -> set[str]:
    return {label["id"] for path in HELDOUT_SETS[split][3] for label in load_real_labels(path)}


@heldout_splits
def test_heldout_file_is_well_formed(split):
    _, size, minimums, _ = HELDOUT_SETS[split]
    heldout_labels = _heldout_labels(split)
    assert len(heldout_labels) == size
    for label in heldout_labels:
        _check_record(label)
        assert label["split"] == split, label["id"]
    counts = Counter("relevant" if label["relevant"] else "not relevant" for label in heldout_labels)
    for kind, minimum in minimums.items():
        assert counts[kind] >= minimum, (split, kind, counts[kind], minimum)


@heldout_splits
def test_heldout_has_no_duplicate_ids_and_shares_none_with_the_earlier_files(split):
    heldout_labels = _heldout_labels(split)
    duplicates = [i for i, n in Counter(label["id"] for label in heldout_labels).items() if n > 1]
    assert duplicates == []
    shared = {label["id"] for label in heldout_labels} & _earlier_ids(split)
    assert shared == set(), f"ids of {split} labelled in an earlier file too: {sorted(shared)}"


@heldout_splits
def test_heldout_selection_rule_reproduces_its_ids(split, real_items):
    select = {HELDOUT2_SPLIT: select_heldout2, HELDOUT3_SPLIT: select_heldout3}[split]
    selected = select(real_items, _earlier_ids(split))
    assert [(item["file"], item["id"]) for item in selected] == \
        [(label["file"], label["id"]) for label in _heldout_labels(split)]


@heldout_splits
def test_every_heldout_id_still_parses_and_joins(split, labels, real_items):
    heldout_labels = _heldout_labels(split)
    parsed = {(item["file"], item["id"]) for item in real_items}
    gone = [f"{label['id']} ({label['file']})" for label in heldout_labels
            if (label["file"], label["id"]) not in parsed]
    assert gone == [], f"{split} items that no longer parse: {gone}"
    joined = labelled_real_items(split, fixtures_dir=fixture_path("research"))
    assert [item["id"] for item in joined] == [label["id"] for label in heldout_labels]
    assert all(item["title"] and item["split"] == split for item in joined)
    # split=None keeps meaning the first file only (tune + heldout), never heldout2 or heldout3
    assert len(labelled_real_items(fixtures_dir=fixture_path("research"))) == len(labels)


@heldout_splits
def test_the_heldout_file_holds_no_item_text(split, real_items):
    path = HELDOUT_SETS[split][0]
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert all(set(record) <= LABEL_FIELDS for record in records)
    lowered = "\n".join(record.get("note", "") for record in records).lower()
    leaked = [item["id"] for item in real_items
              if (len(item["title"]) >= 25 and item["title"].lower() in lowered)
              or (len(item["summary"]) >= 25 and item["summary"][:60].lower() in lowered)]
    assert leaked == [], f"titles or summaries copied into the {split} file: {leaked}"
    # a note shares no run of 4 words with its own item's title and summary (own words, no quoting)
    by_key = {(item["file"], item["id"]): item for item in real_items}

    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        return {tuple(words[i:i + 4]) for i in range(len(words) - 3)}

    quoting = [record["id"] for record in records
               if runs(record.get("note", "")) & runs(by_key[record["file"], record["id"]]["title"] + " "
                                                      + by_key[record["file"], record["id"]]["summary"])]
    assert quoting == [], f"{split} notes repeating their item's wording: {quoting}"


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split must be one of"):
        labelled_real_items("heldout4", fixtures_dir=fixture_path("research"))
