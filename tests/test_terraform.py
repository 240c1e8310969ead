"""terraform/ checked offline against the manifest (no providers, no emulators): every .tf file is
parsed with python-hcl2; the for_each resources cover every manifest function, topic, scheduler job,
dead letter and secret; the IAM resources grant only what the rule allows (terraform/README.md),
the GitHub Actions identity (terraform/github_actions.tf) included; and `terraform fmt -check`
passes. The failure tests change a copy of the parsed data, not files."""
from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess

import hcl2
import pytest

from shared.config import secret_env_names
from shared.pipeline import REPO_ROOT, Manifest, load_manifest

TF_DIR = REPO_ROOT / "terraform"


# --- parsing -------------------------------------------------------------------------------------
def _unquote(value):
    """python-hcl2 keeps the quotes of block labels and string literals: drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__comments__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def load_terraform() -> dict:
    """{"resource": {(type, name): block}, "data": {...}, "locals": {...}, "variable": {...}}"""
    out: dict = {"resource": {}, "data": {}, "locals": {}, "variable": {}, "output": {}}
    for path in sorted(TF_DIR.glob("*.tf")):
        with open(path, encoding="utf-8") as fh:
            parsed = _unquote(hcl2.load(fh))
        for kind in ("resource", "data"):
            for entry in parsed.get(kind, []):
                for rtype, named in entry.items():
                    for name, block in named.items():
                        out[kind][(rtype, name)] = block
        for entry in parsed.get("locals", []):
            out["locals"].update(entry)
        for key in ("variable", "output"):
            for entry in parsed.get(key, []):
                out[key].update(entry)
    return out


def _text(value) -> str:
    """A string attribute as written (interpolations kept), whitespace normalised."""
    return re.sub(r"\s+", " ", str(value).strip())


def _expr(value) -> str:
    """An HCL expression as text, whitespace normalised, without the ${...} wrapper."""
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return re.sub(r"\s+", " ", text)


# --- the rule, in Python, from the manifest ---------------------------------------------------------
def active(m: Manifest) -> dict:
    return {f.name: f for f in m.active_functions()}


def pipeline_functions(m: Manifest) -> dict:
    return {n: f for n, f in active(m).items() if f.environment != "isolated"}


def expected_local_keys(m: Manifest, secrets: list[str]) -> dict[str, set[str]]:
    pipe = pipeline_functions(m)
    return {
        "local.manifest.topics": set(m.topics),
        "local.manifest.scheduler_jobs": set(m.scheduler_jobs),
        "local.active_functions": set(active(m)),
        "local.event_functions": {n for n, f in active(m).items() if f.signature == "cloudevent"},
        "local.http_functions": {n for n, f in active(m).items() if f.signature == "http"},
        "local.pipeline_functions": set(pipe),
        "local.secret_ids": set(secrets),
        "local.publisher_bindings": {f"{n}/{t}" for n, f in pipe.items() for t in f.outputs},
        "local.invoker_bindings": {f"{n}/{c}" for n, f in active(m).items() if f.signature == "http"
                                   for c in f.invoked_by if c in pipe},
        "local.secret_bindings": {f"{n}/{s}" for n, f in pipe.items() for s in f.secrets if s in secrets},
    }


def bindings_per_service_account(m: Manifest, secrets: list[str]) -> dict[str, list[str]]:
    """The roles each function's service account gets under the rule (README: IAM)."""
    out: dict[str, list[str]] = {n: [] for n in active(m)}
    for n, f in pipeline_functions(m).items():
        out[n] += [f"roles/pubsub.publisher on topic {t}" for t in f.outputs]
        out[n] += ["roles/datastore.user on the project", "roles/storage.objectUser on the reports bucket"]
        out[n] += [f"roles/secretmanager.secretAccessor on secret {s}" for s in f.secrets if s in secrets]
    for n, f in active(m).items():
        for caller in f.invoked_by:
            if caller in out and caller in pipeline_functions(m):
                out[caller].append(f"roles/run.invoker on function {n}")
    return out


# How each local must be written for its keys to be the ones above (checked on the HCL text)
LOCAL_SHAPES = {
    "active_functions": ['in local.functions', 'if f.status == "active"'],
    "event_functions": ['in local.active_functions', 'if f.signature == "cloudevent"'],
    "http_functions": ['in local.active_functions', 'if f.signature == "http"'],
    "pipeline_functions": ['in local.active_functions', 'if f.environment != "isolated"'],
    "publisher_bindings": ['in local.pipeline_functions', 'for topic in f.outputs'],
    "invoker_bindings": ['in local.http_functions', 'for caller in f.invoked_by',
                         'contains(keys(local.pipeline_functions), caller)'],
    "function_secrets": ['in local.pipeline_functions', 'for env in f.secrets', 'contains(local.mounted_secrets, env)'],
    "secret_bindings": ['in local.function_secrets', 'for env in envs'],
    "functions": ['in local.manifest.functions', 'local.defaults', 'merge(local.defaults.retry'],
    "internal_callers": ['in local.http_functions', 'for caller in f.invoked_by', 'if f.ingress == "internal"',
                         'contains(keys(local.pipeline_functions), caller)'],
    # GitHub Actions publishes the weekly trigger where the weekly scheduler job does
    "gha_weekly_topic": ['local.manifest.scheduler_jobs["weekly-full-cycle"].topic'],
    # the pool accepts this repository's weekly workflow on the default branch only (all of it: &&)
    "gha_attribute_condition": ['join(" && ",', 'assertion.repository == \\"${var.github_repository}\\"',
                                'assertion.ref == \\"${var.github_ref}\\"',
                                'assertion.workflow_ref == \\"${local.gha_workflow_ref}\\"'],
}

# The for_each resources the manifest needs: (type, name) -> the local its for_each must be
FOR_EACH = {
    ("google_pubsub_topic", "topic"): "local.manifest.topics",
    ("google_cloudfunctions2_function", "function"): "local.active_functions",
    ("google_service_account", "function"): "local.active_functions",
    ("google_pubsub_subscription", "trigger"): "local.event_functions",
    ("google_cloud_scheduler_job", "job"): "local.manifest.scheduler_jobs",
    ("google_secret_manager_secret", "setting"): "local.secret_ids",
    ("google_cloud_run_service_iam_member", "push_invoker"): "local.event_functions",
}

# IAM granted to a function's own service account: (type, name) -> (role, for_each local)
FUNCTION_IAM = {
    ("google_pubsub_topic_iam_member", "function_publisher"): ("roles/pubsub.publisher", "local.publisher_bindings"),
    ("google_project_iam_member", "function_datastore"): ("roles/datastore.user", "local.pipeline_functions"),
    ("google_storage_bucket_iam_member", "function_reports"): ("roles/storage.objectUser", "local.pipeline_functions"),
    ("google_secret_manager_secret_iam_member", "function_secret"): ("roles/secretmanager.secretAccessor",
                                                                      "local.secret_bindings"),
    ("google_cloud_run_service_iam_member", "function_invoker"): ("roles/run.invoker", "local.invoker_bindings"),
}
# The GitHub Actions identity (terraform/github_actions.tf): the publisher service account gets
# pubsub.publisher on the weekly trigger topic, and the principalSet of var.github_repository in the
# pool may impersonate that service account; nothing else names either. (type, name) -> attributes
GHA_SA = "google_service_account.gha_weekly_publisher"
GHA_IAM = {
    ("google_pubsub_topic_iam_member", "gha_weekly_publisher"): {
        "role": "roles/pubsub.publisher",
        "topic": "${google_pubsub_topic.topic[local.gha_weekly_topic].name}",
        "member": "serviceAccount:${google_service_account.gha_weekly_publisher.email}"},
    ("google_service_account_iam_member", "gha_workload_identity"): {
        "role": "roles/iam.workloadIdentityUser",
        "service_account_id": "${google_service_account.gha_weekly_publisher.name}",
        "member": "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}"
                  "/attribute.repository/${var.github_repository}"},
}
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GHA_WORKFLOW_REF = "${var.github_repository}/${var.github_weekly_workflow}@${var.github_ref}"
# A resource that grants roles (google_iam_workload_identity_pool is none)
IAM_GRANT = re.compile(r"_iam_(member|binding|policy)$")
# IAM for other principals (the push identity, the Pub/Sub service agent, allUsers): type -> roles
OTHER_IAM = {
    "google_cloud_run_service_iam_member": {"roles/run.invoker"},
    "google_pubsub_topic_iam_member": {"roles/pubsub.publisher"},
    "google_pubsub_subscription_iam_member": {"roles/pubsub.subscriber"},
}


def problems(tf: dict, m: Manifest, secrets: list[str]) -> list[str]:
    out: list[str] = []
    res, locs = tf["resource"], tf["locals"]
    if "infra/pipeline.yaml" not in _expr(locs.get("manifest", "")) or "yamldecode" not in _expr(locs.get("manifest", "")):
        out.append("locals.manifest is not yamldecode(file(.../infra/pipeline.yaml))")
    for local, parts in LOCAL_SHAPES.items():
        text = _expr(locs.get(local, ""))
        out += [f"local.{local} does not contain {p!r}" for p in parts if p not in text]

    keys = expected_local_keys(m, secrets)
    for (rtype, name), local in FOR_EACH.items():
        block = res.get((rtype, name))
        if block is None:
            out.append(f"missing resource {rtype}.{name} (for_each {local}: {sorted(keys[local])})")
        elif _expr(block.get("for_each")) != local:
            out.append(f"{rtype}.{name}: for_each is {_expr(block.get('for_each'))!r}, not {local}")

    # every manifest entry is covered: a local's keys are the manifest's (resource -> entries)
    for what, entries, local in [("function", set(active(m)), "local.active_functions"),
                                 ("topic", set(m.topics), "local.manifest.topics"),
                                 ("scheduler job", set(m.scheduler_jobs), "local.manifest.scheduler_jobs"),
                                 ("secret", set(secrets), "local.secret_ids")]:
        covering = [k for k, v in res.items() if _expr(v.get("for_each")) == local]
        if entries and not covering:
            out.append(f"no resource has for_each {local}: {what}s {sorted(entries)} have no resource")

    # functions: gen2 settings from the manifest entry
    fn = res.get(("google_cloudfunctions2_function", "function"), {})
    build = (fn.get("build_config") or [{}])[0]
    service = (fn.get("service_config") or [{}])[0]
    for want, got in [("each.value.runtime", build.get("runtime")), ("each.value.entry_point", build.get("entry_point")),
                      ("each.value.source", (build.get("environment_variables") or {}).get("GOOGLE_FUNCTION_SOURCE")),
                      ("each.value.memory", service.get("available_memory")),
                      ("each.value.timeout_s", service.get("timeout_seconds")),
                      ("each.value.max_instances", service.get("max_instance_count"))]:
        if fn and _expr(got) != want:
            out.append(f"google_cloudfunctions2_function.function: {_expr(got)!r} where {want} is expected")
    if fn and _expr(service.get("ingress_settings")) != 'each.value.ingress == "internal" ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL"':
        out.append("google_cloudfunctions2_function.function: ingress_settings does not follow the manifest's ingress")
    for key in ("vpc_connector", "vpc_connector_egress_settings"):
        if fn and "contains(local.internal_callers, each.key)" not in _expr(service.get(key)):
            out.append(f"google_cloudfunctions2_function.function: {key} is not given to the callers of internal functions")
    mounts = next((d["secret_environment_variables"] for d in service.get("dynamic", [])
                   if "secret_environment_variables" in d), None)
    if fn and mounts is None:
        out.append("functions mount no secret_environment_variables")
    elif fn and "local.function_secrets" not in _expr(mounts.get("for_each")):
        out.append("functions mount secrets other than their manifest entry's (for_each is not local.function_secrets)")

    # dead letters
    sub = res.get(("google_pubsub_subscription", "trigger"), {})
    if "dead_letter_policy" not in str(sub.get("dynamic", "")) or "retry_policy" not in sub:
        out.append("trigger subscriptions lack the retry or dead-letter policy")
    dl = res.get(("google_pubsub_topic_iam_member", "dead_letter_publisher"), {})
    if "local.dead_letter_topic" not in _expr(dl.get("topic")):
        out.append("the Pub/Sub service agent cannot publish to the dead-letter topic")
    if ("google_pubsub_subscription_iam_member", "dead_letter_subscriber") not in res:
        out.append("the Pub/Sub service agent is no subscriber of the trigger subscriptions")
    inspect = res.get(("google_pubsub_subscription", "dead_letter_inspect"), {})
    if "local.dead_letter_topic" not in _expr(inspect.get("topic")):
        out.append("no subscription on the dead-letter topic for operators")

    # IAM: only the roles the rule allows
    for (rtype, name), block in res.items():
        if not IAM_GRANT.search(rtype):
            continue
        if not rtype.endswith("_iam_member"):
            out.append(f"{rtype}.{name}: authoritative IAM (binding/policy) is not allowed")
            continue
        role, member, for_each = block.get("role"), _expr(block.get("member")), _expr(block.get("for_each"))
        if (rtype, name) in GHA_IAM:
            out += _gha_iam_problems(rtype, name, block)
        elif GHA_SA in member or _federated(member):
            out.append(f"{rtype}.{name}: grants {role} to the GitHub Actions identity ({member}): the rule allows "
                       f"only {', '.join(f'{t}.{n}' for t, n in GHA_IAM)}")
        elif "google_service_account.function[" in member:
            allowed = FUNCTION_IAM.get((rtype, name))
            if allowed is None:
                out.append(f"{rtype}.{name}: grants {role} to function service accounts: not implied by the rule")
            elif (role, for_each) != allowed:
                out.append(f"{rtype}.{name}: {role} for_each {for_each}, the rule allows {allowed}")
        elif role not in OTHER_IAM.get(rtype, set()):
            out.append(f"{rtype}.{name}: role {role} is not allowed on {rtype}")
    for rtype, name in [*FUNCTION_IAM, *GHA_IAM]:
        if (rtype, name) not in res:
            out.append(f"missing IAM resource {rtype}.{name}")
    out += _gha_provider_problems(res, locs)
    return out


def _federated(member: str) -> bool:
    """A member from a workload identity pool (principal, principalSet)."""
    return member.startswith(("principal://", "principalSet://")) or "workloadIdentityPools" in member


def _gha_iam_problems(rtype: str, name: str, block: dict) -> list[str]:
    """One of the two GitHub Actions bindings: exactly as GHA_IAM says, once (no for_each, no count)."""
    out = [f"{rtype}.{name}: {key} is {_text(block.get(key))!r}, the rule allows {want!r}"
           for key, want in GHA_IAM[(rtype, name)].items() if _text(block.get(key)) != want]
    out += [f"{rtype}.{name}: {key} multiplies the GitHub Actions binding" for key in ("for_each", "count")
            if key in block]
    return out


def _gha_provider_problems(res: dict, locs: dict) -> list[str]:
    """The pool provider trusts GitHub's issuer and maps the claims the condition and the member use."""
    provider = res.get(("google_iam_workload_identity_pool_provider", "github"))
    if provider is None:
        return ["missing google_iam_workload_identity_pool_provider.github"]
    out = []
    issuer = (provider.get("oidc") or [{}])[0].get("issuer_uri")
    if issuer != GITHUB_ISSUER:
        out.append(f"the GitHub provider trusts {issuer!r}, not {GITHUB_ISSUER}")
    mapping = provider.get("attribute_mapping") or {}
    for attribute, claim in [("google.subject", "assertion.sub"), ("attribute.repository", "assertion.repository"),
                             ("attribute.ref", "assertion.ref")]:
        if mapping.get(attribute) != claim:
            out.append(f"the GitHub provider maps {attribute} to {mapping.get(attribute)!r}, not {claim}")
    if _expr(provider.get("attribute_condition")) != "local.gha_attribute_condition":
        out.append("the GitHub provider's attribute_condition is not local.gha_attribute_condition "
                   "(repository, ref and workflow)")
    if _text(locs.get("gha_workflow_ref")) != GHA_WORKFLOW_REF:
        out.append(f"local.gha_workflow_ref is {_text(locs.get('gha_workflow_ref'))!r}, not {GHA_WORKFLOW_REF!r}")
    return out


@pytest.fixture(scope="module")
def tf() -> dict:
    return load_terraform()


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return load_manifest()


@pytest.fixture(scope="module")
def secrets(tf) -> list[str]:
    return tf["variable"]["secret_settings"]["default"]


def test_secret_settings_are_the_secret_settings(secrets):
    assert sorted(secrets) == sorted(secret_env_names())


def test_terraform_matches_manifest(tf, manifest, secrets):
    assert problems(tf, manifest, secrets) == []


def test_project_id_declared_once(tf):
    assert "project_id" in tf["variable"]
    text = "".join(p.read_text() for p in TF_DIR.glob("*.tf"))
    assert len(re.findall(r'variable\s+"project_id"', text)) == 1


def test_code_runner_gets_no_roles_and_no_secrets(tf, manifest, secrets):
    per_sa = bindings_per_service_account(manifest, secrets)
    assert per_sa["code_runner"] == []
    keys = expected_local_keys(manifest, secrets)
    assert not any(k.startswith("code_runner/") for k in keys["local.publisher_bindings"] | keys["local.secret_bindings"])
    assert "code_runner" not in keys["local.pipeline_functions"]
    # and code_runner is invoked only by its invoked_by callers
    assert {k.split("/")[1] for k in keys["local.invoker_bindings"] if k.startswith("code_runner/")} == \
        set(manifest.function("code_runner").invoked_by)


# --- the check fails when it should --------------------------------------------------------------
def test_fails_when_a_manifest_resource_is_missing(tf, manifest, secrets):
    for key in [("google_cloud_scheduler_job", "job"), ("google_cloudfunctions2_function", "function"),
                ("google_pubsub_topic", "topic"), ("google_secret_manager_secret", "setting"),
                ("google_pubsub_subscription", "dead_letter_inspect")]:
        broken = copy.deepcopy(tf)
        del broken["resource"][key]
        assert problems(broken, manifest, secrets), key


def test_fails_when_a_for_each_leaves_out_entries(tf, manifest, secrets):
    broken = copy.deepcopy(tf)
    broken["resource"][("google_cloudfunctions2_function", "function")]["for_each"] = "${local.http_functions}"
    assert any("local.active_functions" in p for p in problems(broken, manifest, secrets))
    broken = copy.deepcopy(tf)
    broken["locals"]["pipeline_functions"] = "${{for name, f in local.active_functions : name => f}}"
    assert any("isolated" in p for p in problems(broken, manifest, secrets))


def test_fails_when_a_role_is_not_implied(tf, manifest, secrets):
    broken = copy.deepcopy(tf)
    broken["resource"][("google_project_iam_member", "function_datastore")]["role"] = "roles/editor"
    assert any("roles/editor" in p for p in problems(broken, manifest, secrets))
    broken = copy.deepcopy(tf)
    broken["resource"][("google_project_iam_member", "function_extra")] = {
        "for_each": "${local.active_functions}", "role": "roles/pubsub.admin",
        "member": "serviceAccount:${google_service_account.function[each.key].email}"}
    assert any("function_extra" in p for p in problems(broken, manifest, secrets))
    broken = copy.deepcopy(tf)
    broken["resource"][("google_pubsub_topic_iam_binding", "x")] = {"role": "roles/pubsub.publisher", "members": []}
    assert any("authoritative" in p for p in problems(broken, manifest, secrets))
    broken = copy.deepcopy(tf)   # the push identity gets more than run.invoker
    broken["resource"][("google_cloud_run_service_iam_member", "push_invoker")]["role"] = "roles/run.admin"
    assert any("roles/run.admin" in p for p in problems(broken, manifest, secrets))


def test_fails_when_functions_mount_every_secret(tf, manifest, secrets):
    broken = copy.deepcopy(tf)   # every pipeline function mounts every secret (the old, coarse rule)
    broken["locals"]["secret_bindings"] = (
        '${{for b in setproduct(keys(local.pipeline_functions), tolist(local.mounted_secrets)) : '
        '"${b[0]}/${b[1]}" => { function = b[0], secret = b[1] }}}')
    assert any("local.secret_bindings" in p for p in problems(broken, manifest, secrets))
    broken = copy.deepcopy(tf)
    service = broken["resource"][("google_cloudfunctions2_function", "function")]["service_config"][0]
    service["dynamic"][0]["secret_environment_variables"]["for_each"] = "${local.mounted_secrets}"
    assert any("manifest entry's" in p for p in problems(broken, manifest, secrets))


def test_secret_bindings_follow_each_functions_list(manifest, secrets):
    per_sa = bindings_per_service_account(manifest, secrets)
    secret_roles = {n: sorted(r.rsplit(" ", 1)[1] for r in roles if "secretAccessor" in r) for n, roles in per_sa.items()}
    assert secret_roles["alerts"] == ["GITHUB_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD"]
    assert secret_roles["reporter"] == [] and secret_roles["api"] == [] and secret_roles["code_runner"] == []


GHA_MEMBER = "serviceAccount:${google_service_account.gha_weekly_publisher.email}"


def test_github_actions_identity_is_narrow(tf, manifest):
    """The publisher may publish on the weekly scheduler job's topic, and that is the topic that
    starts a weekly cycle; only the pool's principalSet of the repository may impersonate it."""
    job = manifest.scheduler_jobs["weekly-full-cycle"]
    assert job.topic == manifest.function("weekly_cycle").trigger_topic
    res = tf["resource"]
    granted = [(k, v["role"]) for k, v in res.items() if IAM_GRANT.search(k[0]) and
               (GHA_SA in _text(v.get("member")) or _federated(_text(v.get("member"))))]
    assert sorted(granted) == [(("google_pubsub_topic_iam_member", "gha_weekly_publisher"), "roles/pubsub.publisher"),
                               (("google_service_account_iam_member", "gha_workload_identity"),
                                "roles/iam.workloadIdentityUser")]
    assert _expr(tf["locals"]["gha_weekly_topic"]) == 'local.manifest.scheduler_jobs["weekly-full-cycle"].topic'
    apis = _expr(res[("google_project_service", "github_actions")]["for_each"])
    assert "iamcredentials.googleapis.com" in apis and "sts.googleapis.com" in apis
    assert {"github_workload_identity_provider", "github_publisher_service_account"} <= set(tf["output"])


def test_fails_when_the_github_actions_identity_gets_more(tf, manifest, secrets):
    publisher = ("google_pubsub_topic_iam_member", "gha_weekly_publisher")
    impersonation = ("google_service_account_iam_member", "gha_workload_identity")
    provider = ("google_iam_workload_identity_pool_provider", "github")
    whole_pool = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/*"
    other_topic = '${google_pubsub_topic.topic["plan-ready"].name}'

    def found(broken: dict, text: str) -> bool:
        return any(text in p for p in problems(broken, manifest, secrets))

    broken = copy.deepcopy(tf)   # publisher on the whole project
    broken["resource"][("google_project_iam_member", "gha_project")] = {
        "project": "${var.project_id}", "role": "roles/pubsub.publisher", "member": GHA_MEMBER}
    assert found(broken, "gha_project")
    broken = copy.deepcopy(tf)   # a broader role on its topic
    broken["resource"][publisher]["role"] = "roles/editor"
    assert found(broken, "roles/editor")
    broken = copy.deepcopy(tf)   # its binding moved to another topic
    broken["resource"][publisher]["topic"] = other_topic
    assert found(broken, "gha_weekly_publisher: topic")
    broken = copy.deepcopy(tf)   # a second topic through a binding of the other principals' kind
    broken["resource"][("google_pubsub_topic_iam_member", "gha_other")] = {
        "topic": other_topic, "role": "roles/pubsub.publisher", "member": GHA_MEMBER}
    assert found(broken, "gha_other")
    broken = copy.deepcopy(tf)   # every topic
    broken["resource"][publisher]["for_each"] = "${local.manifest.topics}"
    assert found(broken, "for_each")
    broken = copy.deepcopy(tf)   # every identity of the pool may impersonate it
    broken["resource"][impersonation]["member"] = whole_pool
    assert found(broken, "gha_workload_identity: member")
    broken = copy.deepcopy(tf)   # the repository may impersonate a function's service account
    broken["resource"][impersonation]["service_account_id"] = '${google_service_account.function["api"].name}'
    assert found(broken, "service_account_id")
    broken = copy.deepcopy(tf)   # another role on the publisher for the pool
    broken["resource"][("google_service_account_iam_member", "token_creator")] = {
        "service_account_id": "${google_service_account.gha_weekly_publisher.name}",
        "role": "roles/iam.serviceAccountTokenCreator", "member": whole_pool}
    assert found(broken, "token_creator")
    broken = copy.deepcopy(tf)   # the pool: any ref (a pull request's token)
    broken["locals"]["gha_attribute_condition"] = tf["locals"]["gha_attribute_condition"].replace(
        "assertion.ref == ", "assertion.actor == ")
    assert found(broken, "assertion.ref")
    broken = copy.deepcopy(tf)   # any one of the claims instead of all
    broken["locals"]["gha_attribute_condition"] = tf["locals"]["gha_attribute_condition"].replace(
        'join(" && "', 'join(" || "')
    assert found(broken, "&&")
    broken = copy.deepcopy(tf)   # another issuer
    broken["resource"][provider]["oidc"] = [{"issuer_uri": "https://example.invalid"}]
    assert found(broken, "trusts")
    broken = copy.deepcopy(tf)   # no condition at all
    del broken["resource"][provider]["attribute_condition"]
    assert found(broken, "attribute_condition")
    broken = copy.deepcopy(tf)   # a workflow_ref of another workflow or ref
    broken["locals"]["gha_workflow_ref"] = "${var.github_repository}/*"
    assert found(broken, "gha_workflow_ref")
    broken = copy.deepcopy(tf)
    del broken["resource"][impersonation]
    assert found(broken, "missing IAM resource google_service_account_iam_member.gha_workload_identity")


def test_fails_when_the_manifest_grows_a_kind_nothing_covers(tf, manifest, secrets):
    broken = copy.deepcopy(tf)
    for key in [k for k, v in broken["resource"].items() if _expr(v.get("for_each")) == "local.manifest.topics"]:
        broken["resource"][key]["for_each"] = '${toset(["weekly-cycle-requests"])}'
    assert any("topic" in p for p in problems(broken, manifest, secrets))


# --- formatting ---------------------------------------------------------------------------------------
def test_terraform_fmt():
    binary = shutil.which("terraform")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("terraform is not installed: CI must run terraform fmt -check")
        pytest.skip("terraform binary not found: terraform fmt -check -recursive terraform/ not run")
    done = subprocess.run([binary, "fmt", "-check", "-recursive", str(TF_DIR)], capture_output=True, text=True)
    assert done.returncode == 0, f"terraform fmt would change: {done.stdout}{done.stderr}"


# --- log-based metrics: the filters name what the code logs -------------------------------------
def _metric_text(block: dict) -> str:
    return " ".join(str(block.get(k, "")) for k in ("filter", "value_extractor", "label_extractors"))


def _payload_fields(text: str) -> set[str]:
    return set(re.findall(r"jsonPayload\.([A-Za-z_]+)", text))


def test_log_metrics_filter_on_the_lines_the_code_logs(tf, caplog):
    """Every jsonPayload field a run-metrics metric reads is on the reporter's real log line, with
    the message the code logs; the dead-letter metric names the dead-letter function's message."""
    import json
    import logging

    from shared.cycle.dead_letters import DEAD_LETTER_LOG
    from shared.log import JsonFormatter
    from shared.report import metrics
    from tests.report.test_html import hostile_report

    with caplog.at_level(logging.INFO):
        metrics.record(hostile_report(), metrics.InMemoryRunMetrics())
    line = json.loads(JsonFormatter().format(next(r for r in caplog.records if r.getMessage() == metrics.LOG_MESSAGE)))

    run_metrics_filter = _expr(tf["locals"]["run_metrics_log"])
    assert f'jsonPayload.message=\\"{metrics.LOG_MESSAGE}\\"' in run_metrics_filter
    log_metrics = {name: b for (rtype, name), b in tf["resource"].items() if rtype == "google_logging_metric"}
    assert {"weekly_runs", "weekly_cycle_duration", "benchmark_cost", "upgrade_rollbacks", "dead_letters",
            "function_errors"} <= set(log_metrics)
    for name, block in log_metrics.items():
        text = _metric_text(block)
        if "local.run_metrics_log" in text:
            missing = _payload_fields(text) - set(line) - {"message"}
            assert not missing, f"{name} reads {missing}, which the metrics line does not have"
    dead = _metric_text(log_metrics["dead_letters"])
    assert DEAD_LETTER_LOG in dead and _payload_fields(dead) == {"message", "function"}
    source = (REPO_ROOT / "shared" / "cycle" / "dead_letters.py").read_text()
    assert re.search(r"log\.error\(DEAD_LETTER_LOG, function=", source)


def test_dead_letter_alert_watches_the_operators_subscription(tf):
    policy = tf["resource"][("google_monitoring_alert_policy", "dead_letters_waiting")]
    condition = policy["conditions"][0]["condition_threshold"][0]
    assert "google_pubsub_subscription.dead_letter_inspect.name" in condition["filter"]
    assert "num_undelivered_messages" in condition["filter"] and condition["threshold_value"] == 0
    assert _expr(policy["notification_channels"]) == "var.alert_notification_channels"


def test_callers_of_internal_functions_leave_through_the_vpc(tf, manifest):
    """code_runner is internal-ingress; its caller (benchmark) must reach it through the VPC."""
    internal_http = {n: f for n, f in active(manifest).items() if f.signature == "http" and f.ingress == "internal"}
    callers = {c for f in internal_http.values() for c in f.invoked_by if c in pipeline_functions(manifest)}
    assert set(internal_http) == {"code_runner"} and callers == {"benchmark"}
    res = tf["resource"]
    for rtype in ("google_compute_network", "google_compute_subnetwork", "google_vpc_access_connector",
                  "google_compute_router", "google_compute_router_nat"):
        assert _expr(res[(rtype, "egress")]["count"]) == "local.egress", rtype
    assert res[("google_compute_subnetwork", "egress")]["private_ip_google_access"] is True
    broken = copy.deepcopy(tf)
    service = broken["resource"][("google_cloudfunctions2_function", "function")]["service_config"][0]
    del service["vpc_connector"]
    assert any("vpc_connector" in p for p in problems(broken, manifest, tf["variable"]["secret_settings"]["default"]))


# --- checkov (in its own virtual environment: it pins versions the project does not) -----------
def _tool(name: str) -> str:
    path = REPO_ROOT / ".venv-tools" / "bin" / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must build the tools venv (make tools)")
        pytest.skip(f"{path} not found: run `make tools` to build the tools venv")
    return str(path)


def checkov_results(directory) -> dict:
    """checkov on a Terraform directory, offline (no policy download, no platform upload)."""
    import json

    done = subprocess.run([_tool("checkov"), "-d", str(directory), "--framework", "terraform", "--skip-download",
                           "--output", "json", "--quiet"],
                          capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=300)
    assert done.stdout.strip(), f"checkov printed nothing: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_has_no_unexplained_failures():
    report = checkov_results(TF_DIR)
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == [], "checkov failures (fix them, or suppress in place with a reason):\n" + "\n".join(failed)
    skipped = report["results"].get("skipped_checks", [])
    unexplained = [f"{c['check_id']} {c['resource']}" for c in skipped if len((c.get("suppress_comment") or "").strip()) < 20]
    assert unexplained == [], f"suppressions without a reason: {unexplained}"
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 0


def test_checkov_catches_a_public_bucket(tmp_path):
    """The check can fail: a bucket without public access prevention or uniform access fails."""
    (tmp_path / "main.tf").write_text('resource "google_storage_bucket" "open" {\n  name     = "x"\n'
                                      '  location = "EU"\n}\n')
    report = checkov_results(tmp_path)
    assert {"CKV_GCP_29", "CKV_GCP_114"} & {c["check_id"] for c in report["results"]["failed_checks"]}


def test_the_firestore_database_cannot_be_destroyed_by_terraform(tf):
    """The catalog, runs and serving history live there: the API refuses deletion and a
    `terraform destroy` only forgets the database; indexes are declared on it."""
    db = tf["resource"][("google_firestore_database", "default")]
    assert (db["name"], db["type"]) == ("(default)", "FIRESTORE_NATIVE")
    assert db["delete_protection_state"] == "DELETE_PROTECTION_ENABLED" and db["deletion_policy"] == "ABANDON"
    indexes = [b for (rtype, _), b in tf["resource"].items() if rtype == "google_firestore_index"]
    assert indexes and all(_expr(b["database"]) == "google_firestore_database.default.name" for b in indexes)
