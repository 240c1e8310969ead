"""Cloud Function code_runner (HTTP, internal ingress): the only place model-written code runs.

POST / with {"cases": [{case_id, solution, tests, setup, entry_point, timeout_s}, ...]} answers
{"required": [...], "weak_mode": false, "results": [{case_id, status, detail, isolation, ...}]};
GET / answers which isolation layers hold on this instance. It has no roles and no secrets.
"""
import flask
import functions_framework

from shared.sandbox.http import handle


@functions_framework.http
def run_code(request: flask.Request) -> flask.Response:
    return handle(request)
