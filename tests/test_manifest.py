"""The pipeline manifest (infra/pipeline.yaml via shared/pipeline.py): consistency with the code,
the schedule, routing through planned stages, and clear errors for broken manifests."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from shared import messages
from shared.pipeline import MANIFEST_PATH, REPO_ROOT, Manifest, load_manifest


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest()


def test_manifest_loads(manifest):
    """The shipped manifest validates and declares the expected functions."""
    assert isinstance(manifest, Manifest)
    assert manifest.version == 1
    assert manifest.dead_letter_topic == "pipeline-dead-letter"
    assert sorted(f.name for f in manifest.active_functions()) == [
        "api", "benchmark", "catalog_sync", "code_runner", "dead_letters", "reporter", "research_digest",
        "research_scan", "weekly_cycle"]
    assert sorted(n for n, f in manifest.functions.items() if not f.active) == ["planner", "upgrade"]


def test_function_defaults_applied(manifest):
    """function_defaults fill what a function does not override; overrides win."""
    cs = manifest.function("catalog_sync")
    assert cs.max_instances == 1 and cs.memory == "1Gi" and cs.runtime == "python311"
    assert cs.retry.max_delivery_attempts == 5 and cs.ack_deadline_s == 600
    wc = manifest.function("weekly_cycle")
    assert wc.timeout_s == 60 and wc.memory == "256Mi" and wc.max_instances == 3


def _import_by_path(path: Path):
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    name = "manifest_check_" + "_".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_active_function_sources_export_entry_points(manifest):
    """Every active function's source exists and exposes its callable entry point."""
    for fn in manifest.active_functions():
        path = REPO_ROOT / fn.source
        assert path.is_file(), f"{fn.name}: {fn.source} missing"
        module = _import_by_path(path)
        entry = getattr(module, fn.entry_point, None)
        assert entry is not None, f"{fn.name}: {fn.source} has no {fn.entry_point}"
        assert callable(entry), f"{fn.name}: {fn.entry_point} is not callable"


def test_planned_functions_are_chained_or_scheduled(manifest):
    """A planned function is either a weekly-chain stage or triggered by a scheduler job."""
    scheduled_topics = {j.topic for j in manifest.scheduler_jobs.values()}
    for name, fn in manifest.functions.items():
        if fn.active:
            continue
        assert name in manifest.weekly_chain or fn.trigger_topic in scheduled_topics, name


def test_scheduler_jobs(manifest):
    """The three jobs with their exact schedules, zones, topics and payloads."""
    jobs = manifest.scheduler_jobs
    assert sorted(jobs) == ["catalog-quick-sync", "research-daily-scan", "weekly-full-cycle"]
    weekly = jobs["weekly-full-cycle"]
    assert (weekly.schedule, weekly.time_zone) == ("0 3 * * 0", "Etc/UTC")
    assert weekly.payload == {"full": True, "dry_run": False, "benchmarks": True}
    assert weekly.topic == manifest.function("weekly_cycle").trigger_topic == "weekly-cycle-requests"
    quick = jobs["catalog-quick-sync"]
    assert (quick.schedule, quick.time_zone) == ("0 */6 * * *", "Etc/UTC")
    assert quick.payload == {"mode": "quick"}
    assert quick.topic == manifest.function("catalog_sync").trigger_topic
    scan = jobs["research-daily-scan"]
    assert (scan.schedule, scan.time_zone) == ("0 2 * * *", "Etc/UTC")
    assert scan.topic == manifest.function("research_scan").trigger_topic


MESSAGE_FOR = {"weekly_cycle": messages.WeeklyCycleRequest, "catalog_sync": messages.CatalogSyncRequest,
               "research_scan": messages.ResearchScanRequest}


def test_scheduler_payloads_validate_as_trigger_messages(manifest):
    """Each job payload is a valid message of the function its topic triggers (planned skipped)."""
    by_topic = {f.trigger_topic: f for f in manifest.functions.values() if f.trigger_topic}
    checked = []
    for job in manifest.scheduler_jobs.values():
        fn = by_topic[job.topic]
        if not fn.active:
            continue
        msg = MESSAGE_FOR[fn.name].model_validate(job.payload)
        checked.append((job.name, msg))
    assert sorted(n for n, _ in checked) == ["catalog-quick-sync", "research-daily-scan", "weekly-full-cycle"]
    msgs = dict(checked)
    assert msgs["catalog-quick-sync"].mode == "quick"
    assert msgs["weekly-full-cycle"].options() == messages.RunOptions(full=True, dry_run=False, benchmarks=True)


def test_weekly_chain_order(manifest):
    """The weekly chain runs in the documented order."""
    assert manifest.weekly_chain == ["catalog_sync", "research_digest", "benchmark", "planner",
                                     "upgrade", "reporter"]


def test_chain_links_topics(manifest):
    """Each stage's trigger topic is published by the previous stage."""
    for a, b in zip(manifest.weekly_chain, manifest.weekly_chain[1:]):
        assert manifest.function(b).trigger_topic in manifest.function(a).outputs


def test_route_after_skips_planned_stages(manifest):
    """catalog_sync hands over to the research digest; the digest goes to the reporter, skipping
    the planned stages in order."""
    assert manifest.route_after("catalog_sync") == ("catalog-synced", [])
    assert manifest.route_after("research_digest") == ("benchmark-requests", [])
    topic, skipped = manifest.route_after("benchmark")
    assert topic == manifest.function("reporter").trigger_topic == "upgrade-completed"
    assert skipped == ["planner", "upgrade"]


def test_route_after_last_stage(manifest):
    """The reporter is last: nowhere to go, nothing skipped."""
    assert manifest.route_after("reporter") == (None, [])


def test_output_topic(manifest):
    """output_topic is the first declared output; a function without one raises."""
    assert manifest.output_topic("catalog_sync") == "catalog-synced"
    with pytest.raises(ValueError, match="research_scan declares no output topic"):
        manifest.output_topic("research_scan")


# --- invalid manifests ------------------------------------------------------------------------

def _raw() -> dict:
    return yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))


def _write(tmp_path: Path, name: str, raw: dict) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


def test_copy_of_manifest_loads(tmp_path):
    """Control: an unmodified copy loads and equals the shipped manifest."""
    assert load_manifest(_write(tmp_path, "copy", _raw())) == load_manifest()


def test_unknown_trigger_topic(tmp_path):
    """A function triggered by an undeclared topic is refused, naming function and topic."""
    raw = _raw()
    raw["functions"]["reporter"]["trigger_topic"] = "no-such-topic"
    with pytest.raises(ValueError) as exc:
        load_manifest(_write(tmp_path, "unknown-trigger", raw))
    msg = str(exc.value)
    assert "invalid pipeline manifest" in msg
    assert "function reporter: unknown topic 'no-such-topic'" in msg


def test_broken_chain_link(tmp_path):
    """A stage whose trigger the previous stage does not publish is refused."""
    raw = _raw()
    raw["functions"]["benchmark"]["trigger_topic"] = "plan-ready"
    with pytest.raises(ValueError) as exc:
        load_manifest(_write(tmp_path, "broken-chain", raw))
    assert ("weekly_chain: benchmark is triggered by 'plan-ready', which research_digest does not publish"
            in str(exc.value))


def test_unknown_chain_stage(tmp_path):
    """A weekly_chain entry that is not a function is refused."""
    raw = _raw()
    raw["weekly_chain"] = ["catalog_sync", "ghost", "reporter"]
    with pytest.raises(ValueError, match="weekly_chain: unknown function 'ghost'"):
        load_manifest(_write(tmp_path, "ghost-stage", raw))


def test_scheduler_job_to_unknown_topic(tmp_path):
    """A scheduler job publishing to an undeclared topic is refused."""
    raw = _raw()
    raw["scheduler_jobs"]["weekly-full-cycle"]["topic"] = "weekly-typo"
    with pytest.raises(ValueError, match="scheduler job weekly-full-cycle: unknown topic 'weekly-typo'"):
        load_manifest(_write(tmp_path, "job-topic", raw))


def test_cloudevent_function_without_trigger(tmp_path):
    """A cloudevent function needs a trigger topic."""
    raw = _raw()
    del raw["functions"]["weekly_cycle"]["trigger_topic"]
    with pytest.raises(ValueError, match="function weekly_cycle: cloudevent function needs trigger_topic"):
        load_manifest(_write(tmp_path, "no-trigger", raw))


def test_unknown_dead_letter_topic(tmp_path):
    """dead_letter_topic must be a declared topic."""
    raw = _raw()
    raw["dead_letter_topic"] = "nowhere"
    with pytest.raises(ValueError, match="dead_letter_topic 'nowhere' is not a declared topic"):
        load_manifest(_write(tmp_path, "dead-letter", raw))


def test_unknown_function_key_rejected(tmp_path):
    """A typo'd key in a function spec is refused (extra=forbid)."""
    raw = _raw()
    raw["functions"]["reporter"]["entrypoint"] = "oops"
    with pytest.raises(ValueError, match="entrypoint"):
        load_manifest(_write(tmp_path, "extra-key", raw))


def test_every_problem_reported_at_once(tmp_path):
    """Several problems are listed together in one error."""
    raw = _raw()
    raw["functions"]["reporter"]["trigger_topic"] = "t1"
    raw["scheduler_jobs"]["catalog-quick-sync"]["topic"] = "t2"
    with pytest.raises(ValueError) as exc:
        load_manifest(_write(tmp_path, "many", raw))
    msg = str(exc.value)
    assert "unknown topic 't1'" in msg and "unknown topic 't2'" in msg
