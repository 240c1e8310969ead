"""Drift check: does what is stored still match the world, and does the routing still match the rankings?

Read-only: it writes nothing but its own record (`drift_checks/{check_id}`). The comparisons are
pure functions over plain data (tested directly); `run_drift_check` reads the repositories, runs
each check, and keeps the record. Four checks:

- openrouter_db: a fresh fetch of the model feed (the sync's own client and normaliser) against
  the stored models: missing, extra, price / context / capability mismatches;
- routing_rankings: each routing primary (the current serving version, else the catalog routing
  table) against its category's latest ranking: inactive, endpoints down, not in the top N, the
  ranking too old, or no ranking for a category that is not an active one;
- validation_queries: Firestore queries over the catalog: active models not seen for N days,
  active categories without a ranking;
- api_db: the read API (catalog_api, at CATALOG_API_URL) against the database: the models it
  serves and its routing, as the platform reads them over HTTP, compared with what the serving
  version (or the catalog) holds. Without CATALOG_API_URL it says "not_available", never a pass.

A finding is reported by one check only (the one that owns it), so one injected fault is one
finding: a route whose model is inactive is not also "not in the top N", and an active category
without rankings is the validation query's, not the routing check's.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel

from shared.catalog.models import CatalogModel
from shared.catalog.store import CatalogStore
from shared.config import Settings
from shared.log import get_logger

log = get_logger(__name__)

CheckName = Literal["openrouter_db", "routing_rankings", "validation_queries", "api_db"]
CHECKS: tuple[CheckName, ...] = ("openrouter_db", "routing_rankings", "validation_queries", "api_db")
Kind = Literal["missing_model", "extra_model", "price_mismatch", "context_mismatch", "capability_mismatch",
               "primary_inactive", "primary_endpoints_down", "primary_not_in_top", "ranking_stale",
               "route_without_ranking", "stale_last_seen", "category_without_ranking",
               "api_missing_model", "api_extra_model", "api_routing_mismatch"]
Result = Literal["clean", "drift", "incomplete"]
STORED_FIELDS = ["active", "pricing", "context_length", "capabilities", "last_seen_at", "inactive_since"]


class Finding(BaseModel):
    kind: Kind
    check: CheckName
    what: str           # the model or category
    where: str          # the stored document (or serving version entry) that drifted
    expected: Any       # what the source of truth says
    found: Any          # what is stored


class CheckOutcome(BaseModel):
    status: Literal["ran", "error", "not_available"]
    detail: str | None = None
    findings: int = 0


class DriftRecord(BaseModel):
    check_id: str
    requested_by: str
    result: Result
    started_at: datetime
    finished_at: datetime
    duration_s: float
    source: str                          # the OpenRouter base URL fetched
    routing_source: str | None = None    # "serving version N" | "catalog routing table"
    settings: dict[str, int] = {}
    checks: dict[str, CheckOutcome]
    counts: dict[str, int]               # kind → findings
    findings: list[Finding]

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.counts.items())) or "none"
        checks = ", ".join(f"{name} {c.status}" for name, c in self.checks.items())
        return (f"drift check {self.check_id}: {self.result}, {len(self.findings)} finding(s) ({kinds}); "
                f"checks: {checks}; {self.duration_s}s")


# --- openrouter_db: pure ------------------------------------------------------------------------------
def _diff_keys(expected: dict[str, Any], found: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = sorted(k for k in set(expected) | set(found) if expected.get(k) != found.get(k))
    return {k: expected.get(k) for k in keys}, {k: found.get(k) for k in keys}


def compare_feed(feed: list[CatalogModel], stored: dict[str, dict[str, Any]],
                 rejected: set[str] = frozenset()) -> list[Finding]:
    """The normalised feed against the stored models. A stored model whose feed entry was rejected
    (malformed) is not called extra: the feed did list it."""
    out: list[Finding] = []

    def add(kind: Kind, model_id: str, expected: Any, found: Any) -> None:
        out.append(Finding(kind=kind, check="openrouter_db", what=model_id, where=f"models/{model_id}",
                           expected=expected, found=found))

    for m in feed:
        doc = stored.get(m.id)
        if doc is None or doc.get("active") is not True:
            add("missing_model", m.id, "listed by OpenRouter, active",
                "not stored" if doc is None else f"stored inactive (since {doc.get('inactive_since')})")
            continue
        if m.pricing != (doc.get("pricing") or {}):
            add("price_mismatch", m.id, *_diff_keys(m.pricing, doc.get("pricing") or {}))
        if m.context_length != doc.get("context_length"):
            add("context_mismatch", m.id, m.context_length, doc.get("context_length"))
        if m.capabilities != (doc.get("capabilities") or {}):
            add("capability_mismatch", m.id, *_diff_keys(m.capabilities, doc.get("capabilities") or {}))
    listed = {m.id for m in feed} | set(rejected)
    for model_id in sorted(set(stored) - listed):
        if stored[model_id].get("active") is True:
            add("extra_model", model_id, "not listed by OpenRouter", "stored active")
    return sorted(out, key=lambda f: (f.kind, f.what))


# --- routing_rankings: pure ---------------------------------------------------------------------------
def _top(ranking: dict[str, Any], top_n: int) -> list[str]:
    entries = sorted(ranking.get("latest_entries") or [], key=lambda e: e.get("rank", 0))
    return [e["model_id"] for e in entries if e.get("model_id")][:top_n]


def _route_finding(category: str, primary: str, where: str, model: dict[str, Any] | None,
                   status: dict[str, Any] | None, ranking: dict[str, Any] | None,
                   top_n: int) -> Finding | None:
    """The one most serious problem of a route: its model gone, then its endpoints, then its rank."""
    def make(kind: Kind, expected: Any, found: Any) -> Finding:
        return Finding(kind=kind, check="routing_rankings", what=category, where=where, expected=expected,
                       found=found)

    if model is None or model.get("active") is not True:
        return make("primary_inactive", f"{primary} active in the catalog",
                    "not in the catalog" if model is None else f"inactive since {model.get('inactive_since')}")
    if status is not None and status.get("available") is False:
        return make("primary_endpoints_down", f"{primary} with a live endpoint",
                    f"{status.get('live_endpoints', 0)} of {status.get('total_endpoints', 0)} endpoints live")
    if ranking is not None:
        top = _top(ranking, top_n)
        if primary not in top:
            return make("primary_not_in_top", f"one of the top {top_n} of {ranking.get('latest_snapshot_id')}: "
                                              f"{', '.join(top)}", primary)
    return None


def compare_routing(routes: dict[str, tuple[str, str]], rankings: dict[str, dict[str, Any]],
                    models: dict[str, dict[str, Any]], statuses: dict[str, dict[str, Any]],
                    active_categories: set[str], now: datetime, top_n: int, max_age_days: int) -> list[Finding]:
    """routes: category → (primary model, where the route is served from)."""
    out: list[Finding] = []
    too_old = now - timedelta(days=max_age_days)
    for category, (primary, where) in sorted(routes.items()):
        ranking = rankings.get(category)
        finding = _route_finding(category, primary, where, models.get(primary), statuses.get(primary), ranking,
                                 top_n)
        if finding:
            out.append(finding)
        if ranking is None:
            if category not in active_categories:   # an active one is the validation query's finding
                out.append(Finding(kind="route_without_ranking", check="routing_rankings", what=category,
                                   where=where, expected=f"a ranking of {category}", found="no ranking stored"))
            continue
        fetched = ranking.get("latest_fetched_at")
        if fetched is None or fetched < too_old:
            out.append(Finding(kind="ranking_stale", check="routing_rankings", what=category,
                               where=f"rankings/{category}", expected=f"fetched after {too_old:%Y-%m-%dT%H:%MZ}",
                               found=f"fetched {fetched}" if fetched else "no fetch time"))
    return out


# --- validation_queries: pure -------------------------------------------------------------------------
def stale_models(candidates: dict[str, dict[str, Any]], last_models_sync_at: datetime | None,
                 cutoff: datetime) -> list[Finding]:
    """Active models whose last_seen_at is before the cutoff. The sync writes a model only when it
    changes, and deactivates every model its feed does not list: a sync since the cutoff saw every
    model still active, whatever its own last_seen_at says. Without one, each candidate is stale."""
    if last_models_sync_at is not None and last_models_sync_at >= cutoff:
        return []
    return [Finding(kind="stale_last_seen", check="validation_queries", what=mid, where=f"models/{mid}",
                    expected=f"seen by a sync after {cutoff:%Y-%m-%dT%H:%MZ}",
                    found=f"last seen {doc.get('last_seen_at')}; last models sync {last_models_sync_at}")
            for mid, doc in sorted(candidates.items())]


def categories_without_ranking(categories: dict[str, dict[str, Any]], rankings: dict[str, dict[str, Any]],
                               routed: dict[str, str]) -> list[Finding]:
    """Active categories with no ranking stored (routed ones say which model they route to)."""
    out = []
    for slug, doc in sorted(categories.items()):
        if doc.get("active") is True and not (rankings.get(slug) or {}).get("latest_entries"):
            found = "no ranking stored" + (f" (routed to {routed[slug]})" if slug in routed else "")
            out.append(Finding(kind="category_without_ranking", check="validation_queries", what=slug,
                               where=f"rankings/{slug}", expected="a ranking snapshot", found=found))
    return out


def compare_api(db_models: set[str], db_routing: dict[str, dict[str, Any]], api_models: set[str],
                api_routing: dict[str, Any], where: str) -> list[Finding]:
    """What the read API answers against what the database holds (both as served)."""
    out = [Finding(kind="api_missing_model", check="api_db", what=m, where=f"{where}/models",
                   expected="listed (active in the database)", found="absent") for m in sorted(db_models - api_models)]
    out += [Finding(kind="api_extra_model", check="api_db", what=m, where=f"{where}/models",
                    expected="absent (not active in the database)", found="listed")
            for m in sorted(api_models - db_models)]
    for slug in sorted(set(db_routing) | set(api_routing)):
        if db_routing.get(slug) != api_routing.get(slug):
            out.append(Finding(kind="api_routing_mismatch", check="api_db", what=slug, where=f"{where}/routing",
                               expected=db_routing.get(slug), found=api_routing.get(slug)))
    return out


def read_api_answers(settings: Settings, max_pages: int = 100) -> tuple[set[str], dict[str, Any]]:
    """Every model `GET /models` lists (following its cursor) and `GET /routing`'s routes."""
    from shared.platform.http import HttpSource

    with HttpSource(str(settings.catalog_api_url), settings, name="catalog_api") as api:
        ids: set[str] = set()
        cursor = None
        for _ in range(max_pages):
            page = api.get("/models", {"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
            ids |= {item["id"] for item in page.get("items") or [] if isinstance(item, dict) and "id" in item}
            cursor = page.get("next_cursor")
            if not cursor:
                break
        else:
            raise ValueError(f"GET /models still had more after {max_pages} pages: not compared")
        routes = api.get("/routing").json().get("routes")
    if not isinstance(routes, dict):
        raise ValueError("GET /routing answered without a routes object")
    return ids, routes


def outcome_of(findings: list[Finding], checks: dict[str, CheckOutcome]) -> Result:
    """Drift when anything was found; incomplete when a check that should run did not; else clean.
    api_db's "not_available" is reported in the record but is not a failure of this check."""
    if findings:
        return "drift"
    return "incomplete" if any(c.status == "error" for c in checks.values()) else "clean"


# --- the runner ---------------------------------------------------------------------------------------
def fetch_feed(settings: Settings) -> tuple[list[CatalogModel], set[str]]:
    """The model feed through the sync's own client and normaliser: (models, rejected ids)."""
    from shared.catalog.models import parse_models
    from shared.catalog.openrouter import OpenRouterClient

    client = OpenRouterClient(settings)
    try:
        entries, _ = client.fetch_models()
    finally:
        client.close()
    models, rejected = parse_models(entries)
    if not models:
        raise ValueError("the feed listed no models: nothing compared (an empty feed is not evidence)")
    return models, {r.model_id for r in rejected if r.model_id}


def served_routes(catalog: CatalogStore, serving: Any) -> tuple[dict[str, tuple[str, str]], str]:
    """category → (primary, where) from the current serving version, else the catalog routing table."""
    from shared.serving.store import current

    version = current(serving)
    if version is not None:
        return ({c: (r.primary, f"serving_versions/{version.number}/routing/{c}") for c, r in version.routing.items()},
                f"serving version {version.number}")
    return ({c: (e["primary_model"], f"routing/{c}") for c, e in catalog.routing().items() if e.get("primary_model")},
            "catalog routing table")


class _Run:
    def __init__(self, settings: Settings, catalog: CatalogStore, serving: Any, now: datetime):
        self.settings, self.catalog, self.serving, self.now = settings, catalog, serving, now
        self.checks: dict[str, CheckOutcome] = {}
        self.findings: list[Finding] = []
        self.routing_source: str | None = None
        self._rankings: dict[str, dict[str, Any]] | None = None
        self._categories: dict[str, dict[str, Any]] | None = None
        self._routes: dict[str, tuple[str, str]] | None = None

    def rankings(self) -> dict[str, dict[str, Any]]:
        if self._rankings is None:
            self._rankings = self.catalog.latest_rankings()
        return self._rankings

    def categories(self) -> dict[str, dict[str, Any]]:
        if self._categories is None:
            self._categories = self.catalog.categories()
        return self._categories

    def routes(self) -> dict[str, tuple[str, str]]:
        if self._routes is None:
            self._routes, self.routing_source = served_routes(self.catalog, self.serving)
        return self._routes

    def _done(self, name: CheckName, findings: list[Finding], detail: str | None = None) -> None:
        self.findings += findings
        self.checks[name] = CheckOutcome(status="ran", detail=detail, findings=len(findings))

    def openrouter_db(self) -> None:
        from shared.platform.http import SourceError

        try:
            feed, rejected = fetch_feed(self.settings)
        except (SourceError, ValueError) as exc:
            self.checks["openrouter_db"] = CheckOutcome(status="error", detail=f"feed not compared: {exc}")
            return
        stored = self.catalog.models(STORED_FIELDS)
        note = f"{len(feed)} feed models against {len(stored)} stored"
        self._done("openrouter_db", compare_feed(feed, stored, rejected),
                   note + (f"; {len(rejected)} malformed feed entries not compared" if rejected else ""))

    def routing_rankings(self) -> None:
        routes = self.routes()
        primaries = sorted({p for p, _ in routes.values()})
        models = self.catalog.models_by_id(primaries, ["active", "inactive_since"]) if primaries else {}
        statuses = self.catalog.model_statuses(primaries) if primaries else {}
        active = {s for s, d in self.categories().items() if d.get("active") is True}
        s = self.settings
        findings = compare_routing(routes, self.rankings(), models, statuses, active, self.now,
                                   s.drift_ranking_top, s.drift_ranking_max_age_days)
        unknown = [p for p in primaries if p not in statuses]
        self._done("routing_rankings", findings, f"{len(routes)} routes from {self.routing_source}"
                   + (f"; no endpoint status stored for {', '.join(unknown)}" if unknown else ""))

    def api_db(self) -> None:
        from shared.catalog.read_api import Repos, read_served
        from shared.platform.http import SourceError

        if not self.settings.catalog_api_url:
            self.checks["api_db"] = CheckOutcome(status="not_available",
                                                 detail="CATALOG_API_URL is not set: the read API was not compared")
            return
        served = read_served(Repos(self.catalog, self.serving))
        try:
            api_models, api_routing = read_api_answers(self.settings)
        except (SourceError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.checks["api_db"] = CheckOutcome(status="error", detail=f"read API not compared: {exc}")
            return
        where = str(self.settings.catalog_api_url).rstrip("/")
        self._done("api_db", compare_api(set(served.models), served.routing, api_models, api_routing, where),
                   f"{len(api_models)} models and {len(api_routing)} routes from {where} against "
                   f"{'serving version ' + str(served.version) if served.version else 'the catalog'}")

    def validation_queries(self) -> None:
        cutoff = self.now - timedelta(days=self.settings.drift_stale_days)
        candidates = self.catalog.stale_active_models(cutoff)
        last_sync = self.catalog.catalog_meta().get("last_models_sync_at")
        routed = {c: p for c, (p, _) in self.routes().items()}
        findings = stale_models(candidates, last_sync, cutoff) + categories_without_ranking(
            self.categories(), self.rankings(), routed)
        self._done("validation_queries", findings, f"{len(candidates)} active model(s) with last_seen_at before "
                                                   f"the cutoff; last models sync {last_sync}")


def run_drift_check(settings: Settings, check_id: str, *, requested_by: str = "manual",
                    catalog: CatalogStore | None = None, serving: Any = None,
                    now: datetime | None = None, save: bool = True) -> DriftRecord:
    """Run every check, keep the record (`drift_checks/{check_id}`) and log its summary line."""
    from shared.catalog.store import repository as catalog_repository
    from shared.serving.store import repository as serving_repository

    catalog = catalog or catalog_repository()
    serving = serving or serving_repository()
    started_at, started = now or datetime.now(timezone.utc), time.monotonic()
    run = _Run(settings, catalog, serving, started_at)
    run.openrouter_db()
    run.routing_rankings()
    run.validation_queries()
    run.api_db()
    counts: dict[str, int] = {}
    for f in run.findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    rec = DriftRecord(
        check_id=check_id, requested_by=requested_by, result=outcome_of(run.findings, run.checks),
        started_at=started_at, finished_at=datetime.now(timezone.utc),
        duration_s=round(time.monotonic() - started, 3), source=settings.openrouter_base_url,
        routing_source=run.routing_source, checks=run.checks, counts=counts, findings=run.findings,
        settings={"drift_stale_days": settings.drift_stale_days, "drift_ranking_top": settings.drift_ranking_top,
                  "drift_ranking_max_age_days": settings.drift_ranking_max_age_days})
    if save:
        catalog.save_drift_check(check_id, rec.model_dump(mode="python"))
    (log.warning if rec.result != "clean" else log.info)(rec.summary(), check_id=check_id, result=rec.result,
                                                           counts=counts, duration_s=rec.duration_s)
    return rec


def load_record(check_id: str, catalog: CatalogStore | None = None) -> dict[str, Any] | None:
    from shared.catalog.store import repository

    return (catalog or repository()).drift_check(check_id)


def handle_drift_request(request: Any, meta: Any) -> None:
    """drift_check function logic: once per check id (a redelivery finds the record and stops)."""
    from shared.catalog.store import repository
    from shared.config import get_settings
    from shared.log import log_context
    from shared.platform.events import note_delivery

    check_id = request.check_id or f"drift-{meta.message_id}"
    note_delivery(meta, "drift_check", "drift_check", check_id)
    with log_context(stage="drift-check", check_id=check_id):
        if repository().drift_check(check_id) is not None:
            log.warning("drift check already recorded; not run again", check_id=check_id)
            return
        run_drift_check(get_settings(), check_id, requested_by=request.requested_by)
