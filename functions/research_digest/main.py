"""Cloud Function research_digest: the weekly chain's research stage.

Summarises the week's research scans, findings and proposals into the run record for the
report; fails (honestly) when no scan finished in the last 7 days.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.messages import StageDone
from shared.platform.events import handle_pubsub
from shared.research.stage import handle_digest


@functions_framework.cloud_event
def digest_research(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, StageDone, "research_digest", handle_digest)
