"""OpenRouter use-case categories, nested with '/' (marketing/seo)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Category:
    slug: str
    parent: str | None
    depth: int

    @property
    def name(self) -> str:
        return " / ".join(part.replace("-", " ").title() for part in self.slug.split("/"))

    def as_doc(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "parent": self.parent, "depth": self.depth}


def parse_categories(slugs: tuple[str, ...] | list[str]) -> list[Category]:
    """Validate the configured slugs; a nested slug's parent must be configured too."""
    seen: dict[str, Category] = {}
    for raw in slugs:
        slug = raw.strip().strip("/").lower()
        if not slug or any(not part or not part.replace("-", "").isalnum() for part in slug.split("/")):
            raise ValueError(f"invalid category slug {raw!r}")
        parent = slug.rsplit("/", 1)[0] if "/" in slug else None
        seen[slug] = Category(slug=slug, parent=parent, depth=slug.count("/"))
    for cat in seen.values():
        if cat.parent and cat.parent not in seen:
            raise ValueError(f"category {cat.slug!r} has parent {cat.parent!r}, which is not configured")
    return list(seen.values())


@dataclass
class CategoryPlan:
    added: list[Category]
    reactivated: list[Category]
    deactivated: list[str]
    unchanged: int


def plan_category_changes(stored: dict[str, dict[str, Any]], configured: list[Category]) -> CategoryPlan:
    wanted = {c.slug: c for c in configured}
    added = [c for s, c in wanted.items() if s not in stored]
    reactivated = [c for s, c in wanted.items() if s in stored and not stored[s].get("active", False)]
    deactivated = sorted(s for s, d in stored.items() if s not in wanted and d.get("active", False))
    unchanged = len(wanted) - len(added) - len(reactivated)
    return CategoryPlan(added, reactivated, deactivated, unchanged)
