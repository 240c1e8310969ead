"""Cloud Function api (HTTP): manual triggers and status for operators.

POST /weekly/run, GET /weekly/status, POST /openrouter/sync, POST /openrouter/rankings/sync,
GET /openrouter/sync/status, POST /drift/check, GET /drift/status; or POST / with {"action": "weekly.run", ...} for
`gcloud functions call api --data ...`.
"""
import flask
import functions_framework

from shared.api import handle


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return handle(request)
