"""Cloud Function planner: the weekly chain's planning stage (trigger benchmark-completed).

Turns the week's evidence (catalog sync, rankings, research, pre-change benchmark) into one
risk-rated plan of serving changes, stored per run; hands over to the upgrade stage.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.messages import StageDone
from shared.planning.stage import handle_benchmark_completed
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def plan_upgrades(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, StageDone, "planner", handle_benchmark_completed)
