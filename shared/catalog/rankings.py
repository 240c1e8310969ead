"""Per-category rankings: parsing the ordered feed, token volumes, and movements."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

PARSER_VERSION = 1


class RankEntry(BaseModel):
    rank: int
    model_id: str
    tokens: int | None = None


def parse_ranking(payload: Any, top_n: int) -> list[RankEntry]:
    """GET /models?category=X&sort=top-weekly answers models in ranking order."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError("rankings response has no 'data' list")
    ids: list[str] = []
    for item in payload["data"]:
        model_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(model_id, str) and model_id and model_id not in ids:
            ids.append(model_id)
        if len(ids) == top_n:
            break
    return [RankEntry(rank=i + 1, model_id=m) for i, m in enumerate(ids)]


def parse_token_volumes(payload: Any) -> dict[str, int]:
    """Rows of the rankings dataset → total tokens per model permaslug over the period.

    Rows carry either total_tokens or prompt/completion totals (the frontend rankings rows
    in ../shared/fixtures have the latter)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise ValueError("rankings dataset response has no 'data' list")
    totals: dict[str, int] = {}
    for row in payload["data"]:
        if not isinstance(row, dict):
            continue
        slug = row.get("model_permaslug") or row.get("model") or row.get("model_id")
        if not isinstance(slug, str):
            continue
        if isinstance(row.get("total_tokens"), (int, float)):
            tokens = int(row["total_tokens"])
        else:
            tokens = int(row.get("total_prompt_tokens") or 0) + int(row.get("total_completion_tokens") or 0)
        totals[slug] = totals.get(slug, 0) + tokens
    return totals


def attach_tokens(entries: list[RankEntry], volumes: dict[str, int],
                  slug_of: dict[str, str]) -> list[RankEntry]:
    """Volumes are keyed by permaslug (canonical_slug); fall back to the model id."""
    out = []
    for e in entries:
        tokens = volumes.get(slug_of.get(e.model_id, e.model_id), volumes.get(e.model_id))
        out.append(e.model_copy(update={"tokens": tokens}))
    return out


def movements(previous: list[RankEntry] | None, current: list[RankEntry]) -> dict[str, Any]:
    if previous is None:
        return {"first_snapshot": True, "entered": [], "left": [], "moved_up": [], "moved_down": []}
    before = {e.model_id: e.rank for e in previous}
    after = {e.model_id: e.rank for e in current}
    moved_up, moved_down = [], []
    for model_id, rank in after.items():
        old = before.get(model_id)
        if old is not None and old != rank:
            item = {"model_id": model_id, "from": old, "to": rank}
            (moved_up if rank < old else moved_down).append(item)
    return {
        "first_snapshot": False,
        "entered": [{"model_id": m, "rank": r} for m, r in after.items() if m not in before],
        "left": [{"model_id": m, "rank": r} for m, r in before.items() if m not in after],
        "moved_up": sorted(moved_up, key=lambda x: x["to"]),
        "moved_down": sorted(moved_down, key=lambda x: x["to"]),
    }
