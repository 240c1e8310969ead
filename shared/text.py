"""Small helpers every area uses: ids for records and the Markdown template environment."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import jinja2


def new_id(prefix: str) -> str:
    """A record id that sorts by time and does not collide: `<prefix>-20261129T221500Z-3f9a1c`."""
    return f"{prefix}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def markdown_templates(package: str) -> jinja2.Environment:
    """The Jinja environment for a package's `templates/` folder: Markdown (no HTML escaping),
    strict about undefined names so a renamed field fails loudly instead of printing nothing."""
    return jinja2.Environment(loader=jinja2.PackageLoader(package, "templates"),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, autoescape=False)
