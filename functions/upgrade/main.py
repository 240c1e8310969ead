"""Cloud Function upgrade: the weekly chain's stage after the planner (trigger plan-ready).

Builds the candidate serving version from the plan's auto-applied changes and promotes it in one
transaction that checks the pointer; records what it applied and what waits, and why.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.messages import StageDone
from shared.platform.events import handle_pubsub
from shared.serving.stage import handle_plan_ready


@functions_framework.cloud_event
def apply_upgrades(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, StageDone, "upgrade", handle_plan_ready)
