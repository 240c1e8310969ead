"""Cloud Function research_scan: daily scan of arXiv, Hugging Face and the labs' blogs.

Payload: {} (scheduler) or {"scan_id": "...", "as_of": "YYYY-MM-DD"}. Findings and proposals go
to the blackboard (research_findings, research_proposals), the day's findings file to
research/findings/YYYY-MM-DD.md, the run to research_scans/{scan_id}.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.messages import ResearchScanRequest
from shared.platform.events import handle_pubsub
from shared.research.stage import handle_scan_request


@functions_framework.cloud_event
def run_research_scan(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, ResearchScanRequest, "research_scan", handle_scan_request)
