"""Cloud Function dead_letters: consumes pipeline-dead-letter.

Every message that failed all its delivery attempts is kept (Firestore dead_letters/{id}); one
that carried a weekly stage ends its run as failed, with the report written.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.cycle.dead_letters import AnyMessage, handle_dead_letter
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def consume_dead_letter(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, AnyMessage, "dead_letters", handle_dead_letter)
