# Log-based metrics from the lines the code logs for them, and the alert policy on dead letters.
# The filters name the code's own messages (shared/report/metrics.py LOG_MESSAGE,
# shared/cycle/dead_letters.py DEAD_LETTER_LOG); tests/test_terraform.py checks them against it.

locals {
  # Cloud Functions gen2 run on Cloud Run: JSON lines on stderr become jsonPayload
  function_logs   = "resource.type=\"cloud_run_revision\""
  run_metrics_log = "${local.function_logs} AND jsonPayload.message=\"weekly run metrics\""
}

# One line per weekly run (the reporter's "weekly run metrics"), labelled SAFE or not
resource "google_logging_metric" "weekly_runs" {
  name        = "pipeline/weekly_runs"
  description = "Weekly runs that wrote a report, by SAFE and demo."
  filter      = local.run_metrics_log
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "safe"
      value_type = "STRING"
    }
    labels {
      key        = "demo"
      value_type = "STRING"
    }
  }
  label_extractors = {
    safe = "EXTRACT(jsonPayload.safe)"
    demo = "EXTRACT(jsonPayload.demo)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "weekly_cycle_duration" {
  name        = "pipeline/weekly_cycle_duration"
  description = "Seconds from a weekly run's start to its report."
  filter      = "${local.run_metrics_log} AND jsonPayload.cycle_duration_s>=0"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
  }
  value_extractor = "EXTRACT(jsonPayload.cycle_duration_s)"
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 10
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "benchmark_cost" {
  name        = "pipeline/benchmark_cost_usd"
  description = "What a weekly run's benchmark spent (USD); runs that state no cost are not counted."
  filter      = "${local.run_metrics_log} AND jsonPayload.benchmark_cost_usd>=0"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "USD"
  }
  value_extractor = "EXTRACT(jsonPayload.benchmark_cost_usd)"
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 0.01
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "upgrade_rollbacks" {
  name        = "pipeline/weekly_runs_with_rollbacks"
  description = "Weekly runs whose last 7 days had at least one automatic rollback."
  filter      = "${local.run_metrics_log} AND jsonPayload.upgrade_rollbacks>0"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "dead_letters" {
  name        = "pipeline/dead_letters"
  description = "Messages dead-lettered after every delivery attempt, by the function that failed them."
  filter      = "${local.function_logs} AND jsonPayload.message=\"message dead-lettered after every delivery attempt\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "function"
      value_type = "STRING"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
  }

  depends_on = [google_project_service.api]
}

resource "google_logging_metric" "function_errors" {
  name        = "pipeline/function_errors"
  description = "Log lines at ERROR or above, by function (Cloud Run service)."
  filter      = "${local.function_logs} AND severity>=ERROR"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key        = "service"
      value_type = "STRING"
    }
  }
  label_extractors = {
    service = "EXTRACT(resource.labels.service_name)"
  }

  depends_on = [google_project_service.api]
}

# Dead letters nobody has read: the operators' subscription keeps them (7 days) until pulled
# and acknowledged, so the alert stays open until someone looks.
resource "google_monitoring_alert_policy" "dead_letters_waiting" {
  display_name          = "Pipeline: dead letters waiting"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "undelivered messages on ${google_pubsub_subscription.dead_letter_inspect.name}"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.dead_letter_inspect.name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A pipeline message failed every delivery attempt. Read it: `gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter_inspect.name} --limit 10 --auto-ack` (the weekly run it belonged to ended in failure and has a report). README: Troubleshoot."
  }

  depends_on = [google_project_service.api]
}
