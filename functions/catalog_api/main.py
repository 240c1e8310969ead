"""Cloud Function catalog_api (HTTP, read only): the served models, categories, rankings and
routing as JSON, and the Models page at `/`. Routes and rules: shared/catalog/read_api.py.
Public (allUsers) or IAM-protected by the setting CATALOG_API_PUBLIC."""
import flask
import functions_framework

from shared.catalog.read_api import handle


@functions_framework.http
def catalog_api(request: flask.Request) -> flask.Response:
    return handle(request)
