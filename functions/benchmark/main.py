"""Cloud Function benchmark: measures the routed models per category, with honest statistics.

Messages on benchmark-requests: the weekly chain's hand-over (phase pre), an on-demand request
{"models": [...], "suite": "builtin-v1", "max_cases_per_category": N}, or a shard of a large run.
"""
import functions_framework
from cloudevents.http.event import CloudEvent

from shared.bench.stage import handle_benchmark_message
from shared.messages import BenchmarkMessage
from shared.platform.events import handle_pubsub


@functions_framework.cloud_event
def run_benchmark(cloud_event: CloudEvent) -> None:
    handle_pubsub(cloud_event, BenchmarkMessage, "benchmark", handle_benchmark_message)
