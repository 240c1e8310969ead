"""Cloud Function drift_check: stored catalog against a fresh OpenRouter fetch, routing against rankings.

Payload: {} (daily scheduler) or {"check_id": "..."} (api, CLI, a finished full sync). Read-only:
writes only its record drift_checks/{check_id} and logs a summary line.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.catalog.drift import handle_drift_request
from shared.messages import DriftCheckRequest
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def run_drift_check(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, DriftCheckRequest, "drift_check", handle_drift_request)
