# GitHub Actions starts the weekly cycle (.github/workflows/weekly-improvement.yml): the workflow
# exchanges its OIDC token through Workload Identity Federation (no service account key) for the
# identity of gha-weekly-publisher, which may publish to the weekly scheduler job's topic and
# nothing else. The pool accepts only tokens of that workflow, in var.github_repository, on
# var.github_ref. tests/test_terraform.py holds this to the IAM rule (terraform/README.md).

locals {
  # The topic the scheduler job weekly-full-cycle publishes to: the workflow publishes the same
  # trigger message there (tests/test_workflows.py checks the workflow against the manifest).
  gha_weekly_topic = local.manifest.scheduler_jobs["weekly-full-cycle"].topic
  gha_workflow_ref = "${var.github_repository}/${var.github_weekly_workflow}@${var.github_ref}"
  # CEL over the token's claims: this repository, this ref, this workflow (and the repository id
  # when known). A pull request's token (ref refs/pull/...) and any other workflow are refused.
  gha_attribute_condition = join(" && ", concat(
    [
      "assertion.repository == \"${var.github_repository}\"",
      "assertion.ref == \"${var.github_ref}\"",
      "assertion.workflow_ref == \"${local.gha_workflow_ref}\"",
    ],
    var.github_repository_id == null ? [] : ["assertion.repository_id == \"${var.github_repository_id}\""],
  ))
}

# Token exchange (STS) and service account impersonation (IAM Credentials); the APIs of main.tf
# (google_project_service.api) include iam.googleapis.com already.
resource "google_project_service" "github_actions" {
  for_each           = toset(["iamcredentials.googleapis.com", "sts.googleapis.com"])
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

resource "google_iam_workload_identity_pool" "github" {
  workload_identity_pool_id = var.github_pool_id
  display_name              = "GitHub Actions"
  description               = "OIDC tokens of ${var.github_repository}'s weekly-improvement workflow."

  depends_on = [google_project_service.api, google_project_service.github_actions]
}

resource "google_iam_workload_identity_pool_provider" "github" {
  #checkov:skip=CKV_GCP_125:the condition checks the repository, ref and workflow_ref claims (local.gha_attribute_condition); the check reads only a literal assertion.sub
  workload_identity_pool_id          = google_iam_workload_identity_pool.github.workload_identity_pool_id
  workload_identity_pool_provider_id = var.github_provider_id
  display_name                       = "GitHub OIDC"
  description                        = "token.actions.githubusercontent.com, ${local.gha_workflow_ref} only."

  attribute_mapping = {
    "google.subject"          = "assertion.sub"
    "attribute.repository"    = "assertion.repository"
    "attribute.repository_id" = "assertion.repository_id"
    "attribute.ref"           = "assertion.ref"
    "attribute.workflow_ref"  = "assertion.workflow_ref"
    "attribute.actor"         = "assertion.actor"
  }
  attribute_condition = local.gha_attribute_condition

  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "gha_weekly_publisher" {
  account_id   = "gha-weekly-publisher"
  display_name = "GitHub Actions: the weekly-cycle trigger"
  description  = "roles/pubsub.publisher on the weekly trigger topic only; impersonated by GitHub Actions through Workload Identity Federation."
}

# The one role of the publisher: publish on the weekly trigger topic (topic level).
resource "google_pubsub_topic_iam_member" "gha_weekly_publisher" {
  topic  = google_pubsub_topic.topic[local.gha_weekly_topic].name
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${google_service_account.gha_weekly_publisher.email}"
}

# Tokens the provider accepted (the condition above) for var.github_repository may impersonate
# the publisher, and only the publisher.
resource "google_service_account_iam_member" "gha_workload_identity" {
  service_account_id = google_service_account.gha_weekly_publisher.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github.name}/attribute.repository/${var.github_repository}"
}

# --- For the repository's Actions variables (terraform/README.md: GitHub Actions) ------------------
output "github_workload_identity_provider" {
  description = "Repository variable GCP_WORKLOAD_IDENTITY_PROVIDER: the provider's full resource name."
  value       = google_iam_workload_identity_pool_provider.github.name
}

output "github_publisher_service_account" {
  description = "Repository variable GCP_PUBLISHER_SERVICE_ACCOUNT: the service account the workflow impersonates."
  value       = google_service_account.gha_weekly_publisher.email
}

output "github_actions_variables" {
  description = "Every repository variable the weekly-improvement workflow reads, by name."
  value = {
    GCP_WORKLOAD_IDENTITY_PROVIDER = google_iam_workload_identity_pool_provider.github.name
    GCP_PUBLISHER_SERVICE_ACCOUNT  = google_service_account.gha_weekly_publisher.email
    GCP_PROJECT_ID                 = var.project_id
  }
}
