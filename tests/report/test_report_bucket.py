"""The reports in the bucket (shared/report/layout.py, store_report, shared/operate.py): one folder
per run written once, reports/latest.json that only moves forward, content types, and list/show
of both layouts (per-run folders and the flat names written before them).

Each test runs against an in-memory bucket that enforces generation preconditions as GCS does,
and against gcp-storage-emulator (its own fresh bucket per test). The emulator ignores
preconditions (test_the_emulator_ignores_generation_preconditions), so the races themselves
(two writers at once) are tested on the in-memory bucket only."""
from __future__ import annotations

import itertools
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import operate
from shared.platform import storage
from shared.report import layout
from shared.report.stage import store_report
from shared.report.weekly import build_report, render_markdown
from tests.conftest import BOTH_BACKENDS
from tests.report.test_report import ALL_OK, NOW, STARTED, run_dict, sync_record


class MemoryBucket:
    """Objects in a dict with GCS's generation rules: `if_generation_match` 0 = only if absent,
    N = only if the live generation is N, else PreconditionFailed."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self._generations = itertools.count(1)

    def write_bytes(self, bucket: str, path: str, data: bytes, content_type: str,
                    metadata: dict[str, str] | None = None, if_generation_match: int | None = None) -> str:
        from google.api_core.exceptions import PreconditionFailed

        live = self.objects.get((bucket, path))
        if if_generation_match is not None and if_generation_match != (live["generation"] if live else 0):
            raise PreconditionFailed(f"{path}: generation does not match")
        self.objects[(bucket, path)] = {"data": data, "content_type": content_type, "metadata": metadata or {},
                                        "generation": next(self._generations)}
        return f"gs://{bucket}/{path}"

    def read_versioned(self, bucket: str, path: str) -> tuple[bytes, int] | None:
        live = self.objects.get((bucket, path))
        return (live["data"], live["generation"]) if live else None

    def read_bytes(self, bucket: str, path: str) -> bytes:
        return self.objects[(bucket, path)]["data"]

    def exists(self, bucket: str, path: str) -> bool:
        return (bucket, path) in self.objects

    def list_objects(self, bucket: str, prefix: str, limit: int | None = 1000) -> list[dict[str, Any]]:
        return [{"name": p, "size": len(o["data"]), "updated": None, "uri": f"gs://{b}/{p}", "metadata": o["metadata"]}
                for (b, p), o in sorted(self.objects.items()) if b == bucket and p.startswith(prefix)][:limit]

    def content_type(self, bucket: str, path: str) -> str:
        return self.objects[(bucket, path)]["content_type"]


class CloudBucket:
    def content_type(self, bucket: str, path: str) -> str:
        return storage.client().bucket(bucket).get_blob(path).content_type


@pytest.fixture(params=BOTH_BACKENDS)
def backend(request, monkeypatch):
    """(bucket name, backend); REPORTS_BUCKET names it for shared/operate.py."""
    from shared.config import get_settings

    if request.param == "memory":
        fake = MemoryBucket()
        for name in ("write_bytes", "read_versioned", "read_bytes", "exists", "list_objects"):
            monkeypatch.setattr(storage, name, getattr(fake, name))
        bucket, used = "reports-test", fake
    else:
        request.getfixturevalue("cloud")
        bucket, used = f"reports-{uuid.uuid4().hex[:12]}", CloudBucket()
        storage.client().create_bucket(bucket)
    monkeypatch.setenv("REPORTS_BUCKET", bucket)
    get_settings.cache_clear()
    yield bucket, used
    get_settings.cache_clear()


def report(run_id: str = "wk-test-1", started_offset: timedelta = timedelta(0), now_offset: timedelta = timedelta(0),
           **options: Any):
    run = {**run_dict(ALL_OK, **options), "run_id": run_id, "started_at": STARTED + started_offset}
    return build_report(run, sync_record(), NOW + started_offset + now_offset)


def read(bucket: str, uri: str) -> bytes:
    return storage.read_bytes(*storage.split_uri(uri))


def latest(bucket: str) -> dict[str, Any]:
    return json.loads(storage.read_bytes(bucket, layout.LATEST_PATH))


def test_two_runs_on_one_day_get_two_folders_and_neither_is_overwritten(backend):
    bucket, _ = backend
    first = store_report(bucket, report("weekly-2026-W09"))
    first_bytes = {k: read(bucket, uri) for k, uri in first.paths.items()}
    second = store_report(bucket, report("dry-1", timedelta(hours=5), dry_run=True))
    assert first.paths == {"markdown": f"gs://{bucket}/reports/2026-03-01/weekly-2026-W09/report.md",
                           "json": f"gs://{bucket}/reports/2026-03-01/weekly-2026-W09/report.json"}
    assert second.paths["markdown"] == f"gs://{bucket}/reports/2026-03-01/dry-1/report.md"
    assert {k: read(bucket, uri) for k, uri in first.paths.items()} == first_bytes
    assert json.loads(read(bucket, second.paths["json"]))["dry_run"] is True
    assert json.loads(first_bytes["json"])["run_id"] == "weekly-2026-W09"


def test_a_redelivered_report_keeps_the_object_written_first(backend):
    bucket, _ = backend
    first = store_report(bucket, report())
    stored = {k: read(bucket, uri) for k, uri in first.paths.items()}
    # the redelivery rebuilds the report later: another generated_at, and another verdict
    again = store_report(bucket, report(now_offset=timedelta(minutes=9), benchmarks=False))
    assert again.paths == first.paths
    assert {k: read(bucket, uri) for k, uri in first.paths.items()} == stored
    assert (again.safe, again.safe_label, again.reasons) == (first.safe, first.safe_label, first.reasons)
    assert read(bucket, first.paths["markdown"]) == render_markdown(again).encode()


def test_latest_json_moves_forward_only(backend):
    bucket, _ = backend
    older, newer = report("wk-old"), report("wk-new", timedelta(days=7))
    store_report(bucket, older)
    assert latest(bucket)["run_id"] == "wk-old"
    store_report(bucket, newer)
    store_report(bucket, report("wk-old"))               # the older run's late redelivery
    store_report(bucket, report("wk-late", timedelta(days=3)))   # started before wk-new, reports after it
    assert latest(bucket) == {"run_id": "wk-new", "started_at": "2026-03-08T03:00:00+00:00", "safe": newer.safe,
                              "safe_label": newer.safe_label, "markdown": newer.paths["markdown"],
                              "json": newer.paths["json"]}


def test_content_types(backend):
    bucket, used = backend
    written = store_report(bucket, report())
    assert used.content_type(bucket, storage.split_uri(written.paths["markdown"])[1]) == "text/markdown; charset=utf-8"
    assert used.content_type(bucket, storage.split_uri(written.paths["json"])[1]) == "application/json"
    assert used.content_type(bucket, layout.LATEST_PATH) == "application/json"


def write_flat(bucket: str, day: str, run_id: str) -> None:
    """A report as written before the per-run folders: reports/YYYY-MM-DD.{md,json}, no metadata."""
    storage.write_bytes(bucket, f"reports/{day}.md", f"# Weekly improvement report {run_id}\n".encode(),
                        "text/markdown; charset=utf-8")
    storage.write_bytes(bucket, f"reports/{day}.json", json.dumps({"run_id": run_id}).encode(), "application/json")


def test_list_and_show_both_layouts(backend):
    bucket, _ = backend
    write_flat(bucket, "2026-02-22", "weekly-2026-W08")
    store_report(bucket, report("weekly-2026-W09"))
    store_report(bucket, report("dry-1", timedelta(hours=5), dry_run=True))
    rows = operate.list_reports()
    assert [(r["day"], r["run_id"], r["week"]) for r in rows] == [
        ("2026-03-01", "dry-1", "2026-W09"), ("2026-03-01", "weekly-2026-W09", "2026-W09"),
        ("2026-02-22", None, "2026-W08")]
    assert rows[0]["safe_label"] == "SAFE=false" and rows[2]["safe_label"] is None
    assert rows[2]["uri"] == f"gs://{bucket}/reports/2026-02-22.md"
    assert rows[2]["json"] == f"gs://{bucket}/reports/2026-02-22.json"
    assert [r["run_id"] for r in operate.list_reports("2026-W08")] == [None]

    shown = operate.read_report(week="2026-W09")     # two runs that week: the newest, and says so
    assert shown["run_id"] == "dry-1" and shown["uri"].endswith("/2026-03-01/dry-1/report.md")
    assert "2 reports in week 2026-W09" in shown["note"] and "weekly-2026-W09" in shown["note"]
    by_id = operate.read_report("weekly-2026-W09", fmt="json")
    assert json.loads(by_id["text"])["run_id"] == "weekly-2026-W09" and by_id["note"] is None
    assert operate.read_report("2026-03-01")["run_id"] == "dry-1"
    assert operate.read_report("reports/2026-03-01/weekly-2026-W09/")["run_id"] == "weekly-2026-W09"
    flat = operate.read_report("reports/2026-02-22.md")
    assert flat["text"] == "# Weekly improvement report weekly-2026-W08\n" and flat["run_id"] is None
    assert json.loads(operate.read_report(week="2026-W08", fmt="json")["text"]) == {"run_id": "weekly-2026-W08"}
    assert operate.read_report(f"gs://{bucket}/reports/2026-02-22.json")["text"].startswith("{")
    for bad in ("../secrets", "reports/../x.md", "a/b"):
        with pytest.raises(operate.NotFound, match="is not a report"):
            operate.read_report(bad)
    with pytest.raises(operate.NotFound, match="no report of run nope"):
        operate.read_report("nope")


def test_local_copies_keep_the_bucket_layout(backend, tmp_path: Path):
    from shared.cli import download_report

    bucket, _ = backend
    runs = [store_report(bucket, report(run_id, offset)) for run_id, offset in
            (("weekly-2026-W09", timedelta(0)), ("dry-1", timedelta(hours=5)))]
    saved = [p for r in runs for p in download_report({"report": r.paths}, tmp_path)]
    assert sorted(str(p.relative_to(tmp_path)) for p in saved) == [
        "2026-03-01/dry-1/report.json", "2026-03-01/dry-1/report.md",
        "2026-03-01/weekly-2026-W09/report.json", "2026-03-01/weekly-2026-W09/report.md"]
    assert (tmp_path / "2026-03-01/dry-1/report.md").read_bytes() == read(bucket, runs[1].paths["markdown"])


# --- races: the in-memory bucket only (the emulator does not enforce preconditions) -----------------

@pytest.fixture
def memory(monkeypatch) -> MemoryBucket:
    fake = MemoryBucket()
    for name in ("write_bytes", "read_versioned", "read_bytes", "exists", "list_objects"):
        monkeypatch.setattr(storage, name, getattr(fake, name))
    return fake


def test_create_once_loses_a_race_without_overwriting(memory, monkeypatch):
    """Another writer creates the object between the existence check and the write: the
    precondition refuses the second write."""
    monkeypatch.setattr(storage, "exists", lambda bucket, path: False)
    assert storage.create_once("b", "reports/x/report.md", b"first", "text/markdown; charset=utf-8") is True
    assert storage.create_once("b", "reports/x/report.md", b"second", "text/markdown; charset=utf-8") is False
    assert memory.read_bytes("b", "reports/x/report.md") == b"first"


def test_latest_json_read_compare_write_decides_again_after_a_race(memory):
    """Two reporters at once: the one whose write comes second re-reads and decides on what the
    other wrote; an older run never wins."""
    bucket = "b"
    newer, older = report("wk-new", timedelta(days=7)), report("wk-old")
    for r in (newer, older):
        r.paths = {"markdown": f"gs://b/{r.run_id}.md", "json": f"gs://b/{r.run_id}.json"}
    decided = []

    def older_decides(current: bytes | None) -> bytes | None:
        if not decided:       # the newer run's reporter writes between our read and our write
            memory.write_bytes(bucket, layout.LATEST_PATH, json.dumps(layout.latest_pointer(newer)).encode(),
                               "application/json")
        decided.append(current)
        return layout.advance_latest(current, layout.latest_pointer(older))

    assert storage.replace_if(bucket, layout.LATEST_PATH, older_decides, "application/json") is False
    assert decided[0] is None and json.loads(decided[1])["run_id"] == "wk-new"
    assert latest(bucket)["run_id"] == "wk-new"


def test_report_paths_from_started_at_in_utc():
    from datetime import datetime, timezone

    run = {**run_dict(ALL_OK), "started_at": datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))}
    assert layout.report_paths(build_report(run, sync_record(), NOW)) == (
        "reports/2026-02-28/wk-test-1/report.md", "reports/2026-02-28/wk-test-1/report.json")
    del run["started_at"]            # without started_at, the day the report was made
    assert layout.report_paths(build_report(run, sync_record(), NOW + timedelta(days=40)))[0] == \
        "reports/2026-04-10/wk-test-1/report.md"
    with pytest.raises(ValueError, match="cannot name a report folder"):
        layout.report_paths(report(".."))


def test_parse_name():
    assert layout.parse_name("reports/2026-03-01/wk-1/report.md") == {
        "day": "2026-03-01", "run_id": "wk-1", "format": "md", "layout": "run"}
    assert layout.parse_name("reports/2026-03-01.json") == {
        "day": "2026-03-01", "run_id": None, "format": "json", "layout": "flat"}
    assert layout.parse_name(layout.LATEST_PATH) is None
    assert layout.parse_name("reports/2026-03-01/wk-1/other.md") is None


@pytest.mark.emulators
def test_the_emulator_ignores_generation_preconditions(cloud):
    """Why storage.create_once checks existence before its create-only write: gcp-storage-emulator
    accepts `ifGenerationMatch=0` on an existing object. If this starts failing, the emulator
    enforces preconditions and the races above can be tested on it too."""
    bucket = f"gen-{uuid.uuid4().hex[:12]}"
    storage.client().create_bucket(bucket)
    storage.write_bytes(bucket, "x", b"one", "text/plain", if_generation_match=0)
    storage.write_bytes(bucket, "x", b"two", "text/plain", if_generation_match=0)
    assert storage.read_bytes(bucket, "x") == b"two"
    assert storage.create_once(bucket, "x", b"three", "text/plain") is False
    assert storage.read_bytes(bucket, "x") == b"two"
