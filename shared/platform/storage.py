"""Cloud Storage access (reports, raw payload archives)."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable

from shared.config import get_settings

if TYPE_CHECKING:
    from google.cloud import storage


@functools.lru_cache(maxsize=1)
def client() -> "storage.Client":
    from google.cloud import storage

    return storage.Client(project=get_settings().require_project())


def write_bytes(bucket: str, path: str, data: bytes, content_type: str,
                metadata: dict[str, str] | None = None, if_generation_match: int | None = None) -> str:
    """Write an object and return its gs:// URI. `if_generation_match`: 0 = only if absent,
    N = only if the live generation is still N (else PreconditionFailed). The content type goes
    in the object's metadata as well as the upload's header, so its parameters (charset) are
    kept by every backend."""
    blob = client().bucket(bucket).blob(path)
    blob.content_type = content_type
    blob.metadata = metadata
    blob.upload_from_string(data, content_type=content_type, if_generation_match=if_generation_match)
    return f"gs://{bucket}/{path}"


def create_once(bucket: str, path: str, data: bytes, content_type: str,
                metadata: dict[str, str] | None = None) -> bool:
    """Write an object only if it does not exist yet; False (and nothing written) when it does.
    The precondition (`ifGenerationMatch=0`) is what makes it safe against a concurrent writer on
    GCS; the existence check first is for gcp-storage-emulator, which ignores preconditions."""
    from google.api_core.exceptions import PreconditionFailed

    if exists(bucket, path):
        return False
    try:
        write_bytes(bucket, path, data, content_type, metadata, if_generation_match=0)
    except PreconditionFailed:
        return False
    return True


def read_versioned(bucket: str, path: str) -> tuple[bytes, int] | None:
    """(content, generation) of an object, or None when absent: the generation to pass as
    `if_generation_match` when rewriting it only if nobody else did in between."""
    from google.api_core.exceptions import NotFound

    blob = client().bucket(bucket).get_blob(path)
    if blob is None:
        return None
    try:
        generation = int(blob.generation)     # before the download, which may reset it from its headers
        return blob.download_as_bytes(if_generation_match=generation), generation
    except NotFound:                # deleted between the two calls
        return None


def read_bytes(bucket: str, path: str) -> bytes:
    return client().bucket(bucket).blob(path).download_as_bytes()


def replace_if(bucket: str, path: str, decide: Callable[[bytes | None], bytes | None], content_type: str,
               attempts: int = 5) -> bool:
    """Read-decide-write of one small object that several writers update: `decide` gets the
    current content (None when absent) and returns the new content, or None to leave it. The
    write carries the read's generation as precondition, so a writer that lost a race reads again
    and decides again instead of overwriting. True when written."""
    from google.api_core.exceptions import PreconditionFailed

    for _ in range(attempts):
        try:
            current = read_versioned(bucket, path)
            data = decide(current[0] if current else None)
            if data is None:
                return False
            write_bytes(bucket, path, data, content_type, if_generation_match=current[1] if current else 0)
            return True
        except PreconditionFailed:
            continue
    raise RuntimeError(f"gs://{bucket}/{path} kept changing: not updated after {attempts} attempts")


def list_objects(bucket: str, prefix: str, limit: int | None = 1000) -> list[dict[str, Any]]:
    """Objects under `prefix`: name, size, updated, custom metadata (for operators browsing reports)."""
    return [{"name": b.name, "size": b.size, "updated": b.updated, "uri": f"gs://{bucket}/{b.name}",
             "metadata": b.metadata or {}}
            for b in client().list_blobs(bucket, prefix=prefix, max_results=limit)]


def exists(bucket: str, path: str) -> bool:
    return client().bucket(bucket).blob(path).exists()


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri}")
    bucket, _, path = uri[5:].partition("/")
    return bucket, path
