output "function_urls" {
  description = "The URL of every active function."
  value       = { for name, fn in google_cloudfunctions2_function.function : name => fn.service_config[0].uri }
}

output "topics" {
  description = "The Pub/Sub topic names of the manifest."
  value       = [for topic in google_pubsub_topic.topic : topic.name]
}

output "reports_bucket" {
  description = "Reports, raw payloads (raw/) and benchmark results."
  value       = google_storage_bucket.reports.name
}

output "dead_letter_subscription" {
  description = "Pull dead letters: gcloud pubsub subscriptions pull <this> --limit 10"
  value       = google_pubsub_subscription.dead_letter_inspect.name
}

locals {
  # each scheduler job's payload published to its topic, as a command to run it now
  trigger_commands = {
    for name, job in local.manifest.scheduler_jobs :
    name => "gcloud pubsub topics publish ${google_pubsub_topic.topic[job.topic].name} --project ${var.project_id} --message '${jsonencode(job.payload)}'"
  }
}

output "trigger_weekly_run" {
  description = "Start a weekly cycle now (the scheduler job's payload)."
  value       = local.trigger_commands["weekly-full-cycle"]
}

output "trigger_commands" {
  description = "Run any scheduled job now: its scheduler payload published to its topic."
  value       = local.trigger_commands
}

output "api_call" {
  description = "Ask the api for the pipeline's status (an authenticated call)."
  value       = "gcloud functions call ${local.service_names["api"]} --gen2 --region ${var.region} --project ${var.project_id} --data '{\"action\": \"status\"}'"
}
