"""Every file the gateway reads at start, validated and cross-checked: the site, the
rules, the roster, the routing, the adapters, and the case side's categories, calendar and
departments. A FileError names the file, line and reason.

Light on purpose: `gridgate check-config` loads this, not the server (FastAPI, uvicorn).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from gateway.alerts.routes import (
    DEFAULT_ROUTES,
    DEFAULT_ROUTES_NO_ROSTER,
    Known,
    Routes,
    load_routes,
)
from gateway.cases.calendar import DEFAULT_CALENDAR, Calendar, load_calendar
from gateway.cases.categories import DEFAULT_CATEGORIES, Categories, load_categories
from gateway.config import Settings
from gateway.places.departments import Department, load_departments
from gateway.places.roster import Roster, load_roster
from gateway.places.site import Site, load_site
from rules.model import RuleFile, load_rules
from sensors.adapt import AdapterSet


@dataclass(frozen=True)
class CaseFiles:
    categories: Categories
    calendar: Calendar
    departments: Mapping[str, Department] = field(default_factory=dict)

    @property
    def category_ids(self) -> set[str]:
        return {c.id for c in self.categories} | {c.major for c in self.categories}


@dataclass(frozen=True)
class Loaded:
    site: Site
    rules: RuleFile
    roster: Roster
    routes: Routes
    adapters: AdapterSet
    cases: CaseFiles


def load_case_files(settings: Settings, site: Site, roster: Roster, rules: RuleFile) -> CaseFiles:
    cases = settings.cases
    categories = load_categories(
        cases.categories_file or DEFAULT_CATEGORIES,
        # the shipped file maps every shipped rule; a site's own rules need not all be there
        {r.id for r in rules.rules} if cases.categories_file is not None else None,
    )
    calendar = load_calendar(cases.calendar_file or DEFAULT_CALENDAR, site.timezone)
    departments: Mapping[str, Department] = {}
    if cases.departments_file is not None:
        departments = load_departments(
            cases.departments_file,
            roster,
            set(settings.channel_types) | set(settings.channel_names),
        )
    return CaseFiles(categories, calendar, departments)


def routes_path(settings: Settings, roster: Roster) -> Path:
    if settings.routes_file is not None:
        return settings.routes_file
    return DEFAULT_ROUTES if roster.people else DEFAULT_ROUTES_NO_ROSTER


def known_to_routes(
    settings: Settings,
    site: Site,
    roster: Roster,
    rules: RuleFile,
    departments: Collection[str] = (),
    categories: Collection[str] | None = None,
) -> Known:
    return Known(
        site, roster, settings.channel_types, {r.id for r in rules.rules}, departments, categories
    )


def load_files(settings: Settings) -> Loaded:
    site = load_site(settings.site_file)
    roster = (
        Roster.empty() if settings.roster_file is None else load_roster(settings.roster_file, site)
    )
    rules = load_rules(settings.rules_file)
    cases = load_case_files(settings, site, roster, rules)
    routes = load_routes(
        routes_path(settings, roster),
        known_to_routes(settings, site, roster, rules, cases.departments, cases.category_ids),
    )
    adapters = AdapterSet.load(
        native_topic_root=settings.mqtt.topic_root,
        max_payload_bytes=settings.mqtt.max_payload_bytes,
        extra_dirs=settings.adapter_dirs,
        # event time may run far ahead of the wall in an accelerated simulation
        max_clock_skew=timedelta(days=3650) if settings.clock == "event" else timedelta(minutes=5),
    )
    return Loaded(
        site=site, rules=rules, roster=roster, routes=routes, adapters=adapters, cases=cases
    )
