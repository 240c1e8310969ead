"""Cloud Function weekly_cycle: a message on weekly-cycle-requests starts a weekly run.

Payload: {"full": true, "dry_run": false, "benchmarks": true}. Creates weekly_runs/{run_id}
and asks catalog_sync for the first stage. A redelivered message starts nothing.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.cycle.start import start_weekly_cycle as _start
from shared.messages import WeeklyCycleRequest
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def start_weekly_cycle(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, WeeklyCycleRequest, "weekly_cycle", _start)
