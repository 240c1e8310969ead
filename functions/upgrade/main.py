"""Cloud Function upgrade: every promotion of a serving version (trigger plan-ready).

Messages: the planner's hand-over (apply the week's plan), a finished post-change benchmark
(promote the measured candidate or roll it back), an operator's request to apply approved
changes now. Logic in shared/serving/stage.py.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.messages import UpgradeMessage
from shared.platform.events import handle_pubsub
from shared.serving.stage import handle_upgrade_message


@functions_framework.cloud_event
def apply_upgrades(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, UpgradeMessage, "upgrade", handle_upgrade_message)
