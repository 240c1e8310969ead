# The pipeline, derived from the manifest (../infra/pipeline.yaml): every function, topic,
# subscription, scheduler job, service account and IAM binding below is a for_each over it, so a
# new function, topic or job needs no edit here. tests/test_terraform.py checks this file against
# the manifest and the IAM rule (terraform/README.md).

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  manifest = yamldecode(file("${path.module}/../infra/pipeline.yaml"))
  defaults = local.manifest.function_defaults

  # shared/pipeline.py's defaults, then function_defaults, then the function's own entry
  functions = {
    for name, spec in local.manifest.functions : name => merge(
      {
        trigger_topic         = null
        outputs               = []
        ingress               = "all"
        environment           = "pipeline"
        execution_environment = "gen2"
        concurrency           = 1
        invoked_by            = []
        secrets               = []
      },
      local.defaults,
      spec,
      { retry = merge(local.defaults.retry, lookup(spec, "retry", {})) },
    )
  }
  active_functions = { for name, f in local.functions : name => f if f.status == "active" }
  event_functions  = { for name, f in local.active_functions : name => f if f.signature == "cloudevent" }
  http_functions   = { for name, f in local.active_functions : name => f if f.signature == "http" }
  # environment: isolated (code_runner) holds no settings, no secrets and no roles
  pipeline_functions = { for name, f in local.active_functions : name => f if f.environment != "isolated" }

  service_names = { for name, f in local.active_functions : name => replace(name, "_", "-") }
  # Deterministic function URLs (no reference cycle between functions): CODE_RUNNER_URL, CATALOG_API_URL, ...
  function_urls = {
    for name, f in local.http_functions :
    "${upper(name)}_URL" => "https://${var.region}-${var.project_id}.cloudfunctions.net/${local.service_names[name]}"
  }

  pipeline_env = merge(
    {
      GOOGLE_CLOUD_PROJECT = var.project_id
      REPORTS_BUCKET       = google_storage_bucket.reports.name
      CATALOG_API_PUBLIC   = tostring(var.catalog_api_public)
    },
    local.function_urls,
    var.environment_variables,
  )

  # Secrets: every SecretStr setting has a secret; a function mounts the ones its manifest entry
  # lists (`secrets`) that have a version (not in var.unmounted_secrets).
  secret_ids      = { for env in var.secret_settings : env => lower(replace(env, "_", "-")) }
  mounted_secrets = toset([for env in var.secret_settings : env if !contains(var.unmounted_secrets, env)])
  function_secrets = {
    for name, f in local.pipeline_functions : name => [for env in f.secrets : env if contains(local.mounted_secrets, env)]
  }

  # IAM, topic level: pubsub.publisher on each topic in the function's outputs
  publisher_bindings = {
    for b in flatten([
      for name, f in local.pipeline_functions : [for topic in f.outputs : { function = name, topic = topic }]
    ]) : "${b.function}/${b.topic}" => b
  }
  # run.invoker on an HTTP function for each active caller in its invoked_by
  invoker_bindings = {
    for b in flatten([
      for name, f in local.http_functions : [
        for caller in f.invoked_by : { function = name, caller = caller } if contains(keys(local.pipeline_functions), caller)
      ]
    ]) : "${b.function}/${b.caller}" => b
  }
  # secretAccessor on each secret the function mounts, secret level
  secret_bindings = {
    for b in flatten([
      for name, envs in local.function_secrets : [for env in envs : { function = name, secret = env }]
    ]) : "${b.function}/${b.secret}" => b
  }

  dead_letter_topic = local.manifest.dead_letter_topic
  pubsub_agent      = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# --- APIs ----------------------------------------------------------------------------------------
resource "google_project_service" "api" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "vpcaccess.googleapis.com",
  ])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# --- One source archive for every function ---------------------------------------------------------
resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs; a usage-log bucket would need its own log bucket. Holds only the deployed source archive.
  name                        = coalesce(var.source_bucket_name, "${var.project_id}-pipeline-source")
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  # archives are never overwritten (named by content hash); versioning guards against deletion
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = 30
    }
    action {
      type = "Delete"
    }
  }
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  excludes = [
    ".git", ".git/**",
    ".venv", ".venv/**",
    ".venv-tools", ".venv-tools/**",
    ".local", ".local/**",
    "tests", "tests/**",
    "terraform", "terraform/**",
    "**/__pycache__", "**/__pycache__/**",
    ".pytest_cache", ".pytest_cache/**",
  ]
}

resource "google_storage_bucket_object" "source" {
  # the content hash in the name: a changed repository redeploys every function
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# --- Reports bucket ----------------------------------------------------------------------------------
resource "google_storage_bucket" "reports" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs; a usage-log bucket would need its own log bucket. Reports hold no personal data.
  name                        = var.reports_bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  # raw source payloads are evidence for a while, not forever
  lifecycle_rule {
    condition {
      age            = var.raw_retention_days
      matches_prefix = ["raw/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# --- Topics ------------------------------------------------------------------------------------------
resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption: messages carry run ids and options, never secrets or personal data; a KMS key would be one more thing to rotate and lose.
  for_each = local.manifest.topics
  name     = each.key
  labels   = var.labels

  depends_on = [google_project_service.api]
}

# --- Secrets (values never in Terraform: gcloud secrets versions add) ----------------------------------
resource "google_secret_manager_secret" "setting" {
  for_each  = local.secret_ids
  secret_id = each.value
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

# --- Service accounts: one per function ------------------------------------------------------------------
resource "google_service_account" "function" {
  for_each     = local.active_functions
  account_id   = "fn-${local.service_names[each.key]}"
  display_name = "Pipeline function ${each.key}"
  description  = each.value.environment == "isolated" ? "No roles: runs model-written code." : "Roles from its manifest entry only."
}

# Pub/Sub pushes to the event-driven functions with this identity (OIDC); it holds run.invoker
# on those functions and nothing else.
resource "google_service_account" "push" {
  account_id   = "pipeline-push"
  display_name = "Pub/Sub push to the pipeline functions"
}

# --- IAM (the rule: terraform/README.md; tests/test_terraform.py checks it) ---------------------------
resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local.publisher_bindings
  topic    = google_pubsub_topic.topic[each.value.topic].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_project_iam_member" "function_datastore" {
  for_each = local.pipeline_functions
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_storage_bucket_iam_member" "function_reports" {
  for_each = local.pipeline_functions
  bucket   = google_storage_bucket.reports.name
  role     = "roles/storage.objectUser"
  member   = "serviceAccount:${google_service_account.function[each.key].email}"
}

resource "google_secret_manager_secret_iam_member" "function_secret" {
  for_each  = local.secret_bindings
  secret_id = google_secret_manager_secret.setting[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_cloud_run_service_iam_member" "function_invoker" {
  for_each = local.invoker_bindings
  location = var.region
  service  = google_cloudfunctions2_function.function[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.function[each.value.caller].email}"
}

resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.event_functions
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

resource "google_cloud_run_service_iam_member" "catalog_api_public" {
  #checkov:skip=CKV_GCP_102:Opt-in (var.catalog_api_public, default false): the read-only catalog API and Models page, meant to be public when enabled.
  for_each = { for name, f in local.http_functions : name => f if name == "catalog_api" && var.catalog_api_public }
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- Functions -------------------------------------------------------------------------------------------
resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:Ingress comes from the manifest: internal for every function but api and catalog_api, which are called from outside and guarded by run.invoker.
  for_each    = local.active_functions
  name        = local.service_names[each.key]
  location    = var.region
  description = "${each.key}: ${each.value.source} (${each.value.signature})"
  labels      = var.labels

  build_config {
    runtime     = each.value.runtime
    entry_point = each.value.entry_point
    environment_variables = {
      GOOGLE_FUNCTION_SOURCE = each.value.source
    }
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout_s
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = each.value.ingress == "internal" ? "ALLOW_INTERNAL_ONLY" : "ALLOW_ALL"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email
    # callers of an internal-ingress function leave through the VPC (network.tf)
    vpc_connector                 = contains(local.internal_callers, each.key) ? google_vpc_access_connector.egress[0].id : null
    vpc_connector_egress_settings = contains(local.internal_callers, each.key) ? "ALL_TRAFFIC" : null
    environment_variables         = { for k, v in local.pipeline_env : k => v if each.value.environment != "isolated" }

    dynamic "secret_environment_variables" {
      for_each = lookup(local.function_secrets, each.key, [])
      content {
        key        = secret_environment_variables.value
        project_id = var.project_id
        secret     = google_secret_manager_secret.setting[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  # Event-driven functions get no event_trigger: Eventarc's subscription takes neither the
  # manifest's backoff nor a dead-letter topic. A push subscription per function does
  # (google_pubsub_subscription.trigger), and functions-framework turns its push envelope into
  # the same messagePublished CloudEvent, as in the local stack.

  depends_on = [google_project_service.api]
}

# --- Trigger subscriptions: retry and dead-letter policy from the manifest --------------------------------
resource "google_pubsub_subscription" "trigger" {
  for_each             = local.event_functions
  name                 = "${local.service_names[each.key]}-trigger"
  topic                = google_pubsub_topic.topic[each.value.trigger_topic].id
  ack_deadline_seconds = each.value.ack_deadline_s
  labels               = var.labels

  push_config {
    # the push path of the local stack, so the CloudEvent source matches
    push_endpoint = "${google_cloudfunctions2_function.function[each.key].service_config[0].uri}/projects/${var.project_id}/topics/${each.value.trigger_topic}"
    oidc_token {
      service_account_email = google_service_account.push.email
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.retry.min_backoff_s}s"
    maximum_backoff = "${each.value.retry.max_backoff_s}s"
  }

  # the dead-letter consumer's own subscription has no dead-letter policy
  dynamic "dead_letter_policy" {
    for_each = [for n in [each.value.retry.max_delivery_attempts] : n if each.value.trigger_topic != local.dead_letter_topic]
    content {
      dead_letter_topic     = google_pubsub_topic.topic[local.dead_letter_topic].id
      max_delivery_attempts = dead_letter_policy.value
    }
  }
}

# --- Dead letters ------------------------------------------------------------------------------------------
# The Pub/Sub service agent forwards failed messages: publisher on the dead-letter topic,
# subscriber on each subscription it forwards from.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.topic[local.dead_letter_topic].name
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = { for name, f in local.event_functions : name => f if f.trigger_topic != local.dead_letter_topic }
  subscription = google_pubsub_subscription.trigger[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Operators read dead letters here (gcloud pubsub subscriptions pull); the dead_letters function
# has its own push subscription above.
resource "google_pubsub_subscription" "dead_letter_inspect" {
  name                       = "${local.dead_letter_topic}-inspect"
  topic                      = google_pubsub_topic.topic[local.dead_letter_topic].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  labels                     = var.labels

  expiration_policy {
    ttl = ""
  }
}

# --- Scheduler jobs ------------------------------------------------------------------------------------------
# Pub/Sub targets, not HTTP: a scheduled run enters the pipeline exactly as a CLI or api request
# does (the trigger topic, its retry and dead-letter policy), needs no OIDC identity of its own,
# and the payload is the same trigger message that tests/test_manifest.py validates.
resource "google_cloud_scheduler_job" "job" {
  for_each    = local.manifest.scheduler_jobs
  name        = each.key
  region      = var.region
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = each.value.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    data       = base64encode(jsonencode(each.value.payload))
  }

  depends_on = [google_project_service.api]
}
