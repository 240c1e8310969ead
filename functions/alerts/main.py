"""Cloud Function alerts: a published weekly report goes to GitHub, Slack and e-mail (each optional)."""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.alerts.stage import handle_report_published
from shared.messages import ReportPublished
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def send_alerts(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, ReportPublished, "alerts", handle_report_published)
