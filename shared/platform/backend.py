"""Is the configured backend usable? One bounded probe, and one operator line for the errors
that mean "unreachable or not configured" (the CLI's exit 2, the api's 503), never a traceback.

The client libraries retry an unreachable endpoint for a minute or more; an operator asking for
a status should not wait that long to learn the emulators are gone.
"""
from __future__ import annotations

import os
from concurrent.futures import TimeoutError as FutureTimeout

from shared.config import get_settings

PROBE_DEADLINE_S = 3.0


class BackendUnavailable(RuntimeError):
    """The backend cannot be reached or used; the message is the one line an operator sees."""


def where() -> str:
    """The backend in words: the emulator addresses, or the project."""
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if host:
        return f"the Firestore emulator at {host}"
    return f"Firestore in project {get_settings().project_id or '<unset>'}"


def probe(deadline_s: float = PROBE_DEADLINE_S) -> None:
    """One read with no retries and a deadline; raises BackendUnavailable with the reason."""
    from shared.platform import firestore as fs

    try:
        fs.client().collection("_probe").document("ping").get(timeout=deadline_s, retry=None)
    except Exception as exc:
        reason = describe(exc)
        if reason is None:
            raise
        raise BackendUnavailable(reason) from None


def describe(exc: BaseException) -> str | None:
    """One line for an exception that means the backend is unreachable or unusable, else None."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    fix = ("start the local stack (`make up`) or unset the stale emulator variables"
           if os.environ.get("FIRESTORE_EMULATOR_HOST") else
           "check GOOGLE_CLOUD_PROJECT and your credentials (`gcloud auth application-default login`)")
    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return ("no Google Cloud credentials found: run `gcloud auth application-default login`, "
                "or `make up` and use the local emulators")
    if isinstance(exc, (gexc.Unauthenticated, gexc.PermissionDenied, auth_exc.RefreshError)):
        return f"{where()} refused the credentials ({exc.__class__.__name__}): {fix}"
    if isinstance(exc, (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.RetryError, auth_exc.TransportError,
                        ConnectionError, TimeoutError, FutureTimeout)):
        return f"cannot reach {where()} ({exc.__class__.__name__}): {fix}"
    return None
