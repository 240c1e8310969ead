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
        "alerts", "api", "benchmark", "catalog_api", "catalog_sync", "code_runner", "dead_letters", "drift_check",
        "planner", "reporter", "research_digest",
        "research_scan", "upgrade", "weekly_cycle"]
    assert sorted(n for n, f in manifest.functions.items() if not f.active) == []


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
    """The four jobs with their exact schedules, zones, topics and payloads."""
    jobs = manifest.scheduler_jobs
    assert sorted(jobs) == ["catalog-quick-sync", "drift-daily-check", "research-daily-scan", "weekly-full-cycle"]
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
    drift = jobs["drift-daily-check"]
    assert (drift.schedule, drift.time_zone, drift.payload) == ("30 4 * * *", "Etc/UTC", {})
    assert drift.topic == manifest.function("drift_check").trigger_topic == "drift-check-requests"


MESSAGE_FOR = {"weekly_cycle": messages.WeeklyCycleRequest, "catalog_sync": messages.CatalogSyncRequest,
               "research_scan": messages.ResearchScanRequest, "drift_check": messages.DriftCheckRequest}


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
    assert sorted(n for n, _ in checked) == ["catalog-quick-sync", "drift-daily-check", "research-daily-scan",
                                             "weekly-full-cycle"]
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


def test_route_after_hands_over_to_the_next_stage(manifest):
    """Every stage hands over to the next active one."""
    assert manifest.route_after("catalog_sync") == ("catalog-synced", [])
    assert manifest.route_after("research_digest") == ("benchmark-requests", [])
    assert manifest.route_after("benchmark") == ("benchmark-completed", [])
    assert manifest.route_after("planner") == ("plan-ready", [])
    assert manifest.route_after("upgrade") == ("upgrade-completed", [])


def test_route_after_skips_planned_stages(tmp_path):
    """A stage declared but not built yet is skipped, in order, and named."""
    raw = _raw()
    raw["functions"]["upgrade"]["status"] = "planned"
    raw["functions"]["planner"]["status"] = "planned"
    planned = load_manifest(_write(tmp_path, "planned", raw))
    topic, skipped = planned.route_after("benchmark")
    assert topic == planned.function("reporter").trigger_topic == "upgrade-completed"
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


def test_only_the_functions_operators_call_take_outside_traffic(manifest):
    """Event-driven functions are reached by Pub/Sub push only (internal ingress allows it);
    code_runner by benchmark through the VPC; api and catalog_api from outside, behind IAM."""
    outside = sorted(f.name for f in manifest.active_functions() if f.ingress == "all")
    assert outside == ["api", "catalog_api"]
    assert all(f.ingress == "internal" for f in manifest.active_functions() if f.signature == "cloudevent")


def test_secret_that_is_no_secret_setting_is_refused(tmp_path):
    """A function's `secrets` must name SecretStr settings: a typo would mount nothing."""
    raw = _raw()
    raw["functions"]["catalog_sync"]["secrets"] = ["OPENROUTER_KEY"]
    with pytest.raises(ValueError, match=r"function catalog_sync: secrets \['OPENROUTER_KEY'\] are no secret settings"):
        load_manifest(_write(tmp_path, "secret-typo", raw))


def test_isolated_function_holding_a_secret_is_refused(tmp_path):
    raw = _raw()
    raw["functions"]["code_runner"]["secrets"] = ["LLM_API_KEY"]
    with pytest.raises(ValueError, match="function code_runner: an isolated function holds no secrets"):
        load_manifest(_write(tmp_path, "isolated-secret", raw))


def test_only_the_functions_that_read_a_secret_list_it(manifest):
    """Least privilege: each secret is held by the functions whose code reads it (the catalog's
    OpenRouter client, the benchmark's LLM client, also used by the research scan's optional LLM
    judge, GitHub review PRs and alert channels)."""
    holders = {env: sorted(f.name for f in manifest.active_functions() if env in f.secrets)
               for env in ("OPENROUTER_API_KEY", "LLM_API_KEY", "GITHUB_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD")}
    assert holders == {
        "OPENROUTER_API_KEY": ["benchmark", "catalog_sync", "drift_check", "research_scan"],
        "LLM_API_KEY": ["benchmark", "research_scan"],
        "GITHUB_TOKEN": ["alerts", "planner", "upgrade"],
        "SLACK_WEBHOOK_URL": ["alerts"],
        "SMTP_PASSWORD": ["alerts"],
    }


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


# --- every topic a function can publish to is in its outputs (Terraform grants from them) ---
#
# A static check (AST only: nothing is imported or run):
#  1. Every publish in shared/ is a call of shared.platform.pubsub.publish whose topic resolves
#     against the manifest: a string literal, load_manifest().output_topic(NAME),
#     load_manifest().function(NAME).trigger_topic (NAME not known statically: every trigger
#     topic, so a module that replays to any function is reachable from no function), or the weekly hand-over
#     load_manifest().route_after(...)[0] (also through a local variable); NAME a literal or a
#     module-level string constant. Any other form fails the test: write it in one of these.
#     Publishing around that function (a PublisherClient of one's own) fails too.
#  2. From each function's source, the shared modules it can import are followed (imports at
#     module level and inside functions, packages included); every publish in them is one the
#     function can make and its topic must be in the function's outputs. The hand-over sends the
#     StageDone of the function's own stage, so it counts as route_after(<function>) for weekly
#     chain functions and not at all for others.
# Limits: reachability is per module, not per call path (a module imported for one helper brings
# all its publishes: an over-approximation); importlib/__import__ and code outside shared/ are not
# followed; declared outputs that nothing publishes (a planned next stage's trigger) are allowed.

import ast  # noqa: E402

HANDOVER = "<hand-over>"


def _module_file(root: Path, name: str) -> Path | None:
    rel = Path(*name.split("."))
    for path in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(root: Path, tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """shared.* modules an AST imports, with their parent packages."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_package else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)   # kept when it is a submodule
    out = set()
    for full in names:
        parts = full.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {n for n in out if n.split(".")[0] == "shared" and _module_file(root, n)}


def _reachable(root: Path, source: Path) -> set[str]:
    seen: set[str] = set()
    todo = [("functions_entry", source, False)]
    while todo:
        name, path, is_pkg = todo.pop()
        for mod in _imported_modules(root, ast.parse(path.read_text(encoding="utf-8")), name, is_pkg) - seen:
            seen.add(mod)
            mod_path = _module_file(root, mod)
            todo.append((mod, mod_path, mod_path.name == "__init__.py"))
    return seen


class _PublishSites(ast.NodeVisitor):
    """Publish calls of one module with their resolved topics (None: not resolvable)."""

    def __init__(self, tree: ast.Module, manifest: Manifest):
        self.manifest = manifest
        self.sites: list[tuple[int, set[str] | None]] = []
        self.bypass: list[int] = []
        self.pubsub_names: set[str] = set()     # names bound to shared.platform.pubsub
        self.publish_names: set[str] = set()    # names bound to its publish function
        self.constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                          for t in n.targets if isinstance(t, ast.Name)
                          and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
        self.scopes: list[ast.AST] = [tree]
        self.visit(tree)

    def visit_Import(self, node):
        for a in node.names:
            if a.name == "shared.platform.pubsub":
                self.pubsub_names.add(a.asname or a.name)

    def visit_ImportFrom(self, node):
        for a in node.names:
            if node.module == "shared.platform" and a.name == "pubsub":
                self.pubsub_names.add(a.asname or a.name)
            elif node.module == "shared.platform.pubsub" and a.name == "publish":
                self.publish_names.add(a.asname or a.name)
            elif a.name in ("publisher", "PublisherClient"):
                self.bypass.append(node.lineno)

    def visit_FunctionDef(self, node):
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node):
        if node.attr == "PublisherClient" or (
                isinstance(node.value, ast.Name) and node.value.id in self.pubsub_names and node.attr == "publisher"):
            self.bypass.append(node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if ((isinstance(f, ast.Attribute) and f.attr == "publish" and isinstance(f.value, ast.Name)
             and f.value.id in self.pubsub_names) or (isinstance(f, ast.Name) and f.id in self.publish_names)):
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "topic"), None)
            self.sites.append((node.lineno, self._topics(arg) if arg is not None else None))
        self.generic_visit(node)

    # --- resolution ---------------------------------------------------------------------
    def _assignments(self, name: str) -> list[tuple[ast.AST, int | None]]:
        """(value, index in a tuple target or None) of the assignments to `name`, innermost scope first."""
        for scope in reversed(self.scopes):
            found = []
            for n in ast.walk(scope):
                if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                        if isinstance(t, ast.Name) and t.id == name:
                            found.append((n.value, None))
                        elif isinstance(t, ast.Tuple):
                            found += [(n.value, i) for i, e in enumerate(t.elts)
                                      if isinstance(e, ast.Name) and e.id == name]
            if found:
                return found
        return []

    def _string(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            values = {self._string(v) for v, i in self._assignments(node.id) if i is None}
            if len(values) == 1:
                return values.pop()
            return self.constants.get(node.id)
        return None

    @staticmethod
    def _manifest_call(node: ast.AST, method: str) -> ast.Call | None:
        """`load_manifest().<method>(...)`, or None."""
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
                and isinstance(node.func.value, ast.Call)):
            inner = node.func.value.func
            if (isinstance(inner, ast.Name) and inner.id == "load_manifest") or (
                    isinstance(inner, ast.Attribute) and inner.attr == "load_manifest"):
                return node
        return None

    def _topics(self, node: ast.AST, index: int | None = None) -> set[str] | None:
        if index is None and isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            return self._topics(node.value, node.slice.value)
        if self._manifest_call(node, "route_after") is not None:
            return {HANDOVER} if index == 0 else None
        if index is not None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.Name):
            assigned = self._assignments(node.id)
            if not assigned:
                return None
            out: set[str] = set()
            for value, i in assigned:
                topics = self._topics(value, i)
                if topics is None:
                    return None
                out |= topics
            return out
        if (call := self._manifest_call(node, "output_topic")) is not None and len(call.args) == 1:
            fn = self._string(call.args[0])
            return {self.manifest.output_topic(fn)} if fn in self.manifest.functions else None
        if isinstance(node, ast.Attribute) and node.attr == "trigger_topic":
            call = self._manifest_call(node.value, "function")
            if call is not None and len(call.args) == 1:
                fn = self._string(call.args[0])
                if fn is None:    # a function chosen at run time (a replay): any trigger topic
                    return {f.trigger_topic for f in self.manifest.functions.values() if f.trigger_topic}
                if fn in self.manifest.functions and self.manifest.function(fn).trigger_topic:
                    return {self.manifest.function(fn).trigger_topic}
        return None


def _publish_sites(root: Path, manifest: Manifest) -> dict[str, _PublishSites]:
    """Every module under root/shared except the publisher itself, by dotted name."""
    out = {}
    for path in sorted((root / "shared").rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if name != "shared.platform.pubsub":
            out[name] = _PublishSites(ast.parse(path.read_text(encoding="utf-8")), manifest)
    return out


def _undeclared_publishes(root: Path, manifest: Manifest) -> tuple[list[str], dict[str, set[str]]]:
    """(problems, topics each function with a source can publish to)."""
    sites = _publish_sites(root, manifest)
    problems = [f"{mod}:{line}: publish with a topic not resolvable through the manifest"
                for mod, s in sites.items() for line, topics in s.sites if topics is None]
    problems += [f"{mod}:{line}: publishes around shared.platform.pubsub.publish"
                 for mod, s in sites.items() for line in s.bypass]
    published: dict[str, set[str]] = {}
    for fn in manifest.functions.values():
        source = root / fn.source
        if not source.is_file():
            continue   # a planned function not written yet
        handover = manifest.route_after(fn.name)[0] if fn.name in manifest.weekly_chain else None
        topics = published.setdefault(fn.name, set())
        for mod in sorted(_reachable(root, source)):
            for line, found in sites[mod].sites if mod in sites else []:
                for topic in found or ():
                    topic = handover if topic == HANDOVER else topic
                    if topic is None:
                        continue
                    topics.add(topic)
                    if topic not in fn.outputs:
                        problems.append(f"function {fn.name} publishes to {topic!r} ({mod}:{line}) "
                                        f"but its outputs are {fn.outputs}")
    return problems, published


def test_every_publish_is_a_declared_output(manifest):
    """Every topic a function's code can publish to is declared in its outputs."""
    problems, published = _undeclared_publishes(REPO_ROOT, manifest)
    assert problems == []
    # the api triggers the four kinds of run; the benchmark hands over past the planned stages
    assert published["api"] == {"weekly-cycle-requests", "catalog-sync-requests", "research-scan-requests",
                                "benchmark-requests", "plan-ready",      # plan-ready: changes apply
                                "drift-check-requests"}
    # a finished post-change run goes back to upgrade, which asked for it
    assert published["benchmark"] == {"benchmark-requests", "benchmark-completed", "plan-ready"}
    assert published["planner"] == {"plan-ready", "benchmark-requests"}     # A/B runs
    assert published["upgrade"] == {"upgrade-completed", "benchmark-requests"}
    assert published["weekly_cycle"] == {"catalog-sync-requests"}
    assert published["catalog_sync"] == {"catalog-synced", "drift-check-requests"}   # after a full sync
    assert published["research_digest"] == {"benchmark-requests"}
    assert published["reporter"] == {"report-published"}
    assert published["research_scan"] == set() and published["code_runner"] == set()
    assert published["alerts"] == set()
    assert published["drift_check"] == set()         # read-only: its record is all it writes


def _tree(tmp_path: Path, modules: dict[str, str]) -> Path:
    """A miniature repository: functions/f/main.py plus the given shared modules."""
    for rel, text in {"functions/f/main.py": "from shared.work import run\n", "shared/__init__.py": "",
                      "shared/platform/__init__.py": "", **modules}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return tmp_path


def _manifest_with_f(tmp_path: Path, outputs: list[str]) -> Manifest:
    raw = _raw()
    raw["functions"]["f"] = {"status": "active", "source": "functions/f/main.py", "entry_point": "f",
                             "signature": "http", "outputs": outputs}
    return load_manifest(_write(tmp_path, "f-" + "-".join(outputs), raw))


WORK = '''
from shared.pipeline import load_manifest
from shared.platform import pubsub
STAGE = "catalog_sync"

def run(msg):
    def later():
        from shared import more
    topic = load_manifest().function(STAGE).trigger_topic
    pubsub.publish(topic, msg)
'''


def test_publish_check_finds_an_undeclared_topic(tmp_path):
    """The checker follows imports (also one inside a function) and names what is undeclared."""
    root = _tree(tmp_path, {"shared/work.py": WORK, "shared/more.py":
                            "from shared.platform.pubsub import publish\npublish('report-published', 1)\n"})
    problems, published = _undeclared_publishes(root, _manifest_with_f(tmp_path, ["catalog-sync-requests"]))
    assert published["f"] == {"catalog-sync-requests", "report-published"}
    assert problems == ["function f publishes to 'report-published' (shared.more:2) "
                        "but its outputs are ['catalog-sync-requests']"]
    problems, _ = _undeclared_publishes(root, _manifest_with_f(tmp_path, ["catalog-sync-requests", "report-published"]))
    assert problems == []


def test_publish_check_refuses_unresolvable_topics_and_bypasses(tmp_path):
    """A topic from a parameter, or a publisher of one's own, fails instead of passing unseen."""
    root = _tree(tmp_path, {"shared/work.py": "from shared.platform import pubsub\n"
                                              "def run(topic, msg):\n    pubsub.publish(topic, msg)\n",
                            "shared/own.py": "from google.cloud import pubsub_v1\nc = pubsub_v1.PublisherClient()\n"})
    problems, _ = _undeclared_publishes(root, _manifest_with_f(tmp_path, []))
    assert problems == ["shared.work:3: publish with a topic not resolvable through the manifest",
                        "shared.own:2: publishes around shared.platform.pubsub.publish"]
