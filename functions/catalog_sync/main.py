"""Cloud Function catalog_sync: OpenRouter catalog, categories, rankings, endpoint status.

Payload: {"mode": "full" | "quick" | "rankings", "dry_run": false}. As the weekly chain's
first stage the message also carries the run context and the result goes to catalog-synced.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.catalog.stage import handle_sync_request
from shared.messages import CatalogSyncRequest
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def run_catalog_sync(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, CatalogSyncRequest, "catalog_sync", handle_sync_request)
