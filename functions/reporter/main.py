"""Cloud Function reporter: the weekly chain's last stage writes reports/YYYY-MM-DD/<run_id>/report.{md,json}."""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.messages import StageDone
from shared.platform.events import handle_pubsub
from shared.report.stage import handle_stage_done


@functions_framework.cloud_event
def write_weekly_report(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, StageDone, "reporter", handle_stage_done)
