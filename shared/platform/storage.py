"""Cloud Storage access (reports, raw payload archives)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from shared.config import get_settings

if TYPE_CHECKING:
    from google.cloud import storage


@functools.lru_cache(maxsize=1)
def client() -> "storage.Client":
    from google.cloud import storage

    return storage.Client(project=get_settings().require_project())


def write_bytes(bucket: str, path: str, data: bytes, content_type: str) -> str:
    """Write an object and return its gs:// URI."""
    blob = client().bucket(bucket).blob(path)
    blob.upload_from_string(data, content_type=content_type)
    return f"gs://{bucket}/{path}"


def read_bytes(bucket: str, path: str) -> bytes:
    return client().bucket(bucket).blob(path).download_as_bytes()


def list_objects(bucket: str, prefix: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Objects under `prefix`: name, size, updated (for operators browsing reports)."""
    return [{"name": b.name, "size": b.size, "updated": b.updated, "uri": f"gs://{bucket}/{b.name}"}
            for b in client().list_blobs(bucket, prefix=prefix, max_results=limit)]


def exists(bucket: str, path: str) -> bool:
    return client().bucket(bucket).blob(path).exists()


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri}")
    bucket, _, path = uri[5:].partition("/")
    return bucket, path
