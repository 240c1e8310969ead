variable "project_id" {
  type        = string
  description = "The GCP project the pipeline runs in."
}

variable "region" {
  type        = string
  description = "Region of the functions, the buckets and the scheduler jobs."
  default     = "europe-west1"
}

variable "reports_bucket_name" {
  type        = string
  description = "Cloud Storage bucket for reports, raw source payloads (raw/) and per-case benchmark results (REPORTS_BUCKET)."
}

variable "source_bucket_name" {
  type        = string
  description = "Bucket holding the zipped source archive; defaults to <project_id>-pipeline-source."
  default     = null
}

variable "raw_retention_days" {
  type        = number
  description = "Objects under raw/ in the reports bucket are deleted after this many days."
  default     = 90
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Overwritten or deleted object versions in the reports bucket are kept this many days."
  default     = 30
}

variable "catalog_api_public" {
  type        = bool
  description = "CATALOG_API_PUBLIC: catalog_api answers anyone (allUsers run.invoker on its service)."
  default     = false
}

variable "environment_variables" {
  type        = map(string)
  description = "Further non-secret settings (shared/config.py) for every function but the isolated ones."
  default     = {}
}

variable "secret_settings" {
  type        = list(string)
  description = "Settings held in Secret Manager: shared.config.secret_env_names() (tests/test_terraform.py checks this default against it). Values are added with gcloud secrets versions add, never here."
  default     = ["OPENROUTER_API_KEY", "LLM_API_KEY", "GITHUB_TOKEN", "SLACK_WEBHOOK_URL", "SMTP_PASSWORD"]
}

variable "labels" {
  type        = map(string)
  description = "Labels on the buckets, topics and functions."
  default     = { system = "weekly-improvement" }
}

variable "unmounted_secrets" {
  type        = list(string)
  description = "Secrets created but not mounted yet: a function does not deploy with a secret that has no version, so list here the settings not configured (e.g. an alert channel not used)."
  default     = []
}

variable "alert_notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channel ids (projects/<p>/notificationChannels/<id>) for the dead-letter alert policy; empty: the policy opens incidents in the console only."
  default     = []
}

variable "egress_subnet_cidr" {
  type        = string
  description = "A free /28 for the VPC connector of the functions that call code_runner (network.tf)."
  default     = "10.8.0.0/28"
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore database (a region such as europe-west1, or a multi-region such as eur3); defaults to var.region. It cannot change once the database exists."
  default     = null
}
