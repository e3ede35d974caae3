"""Every file the gateway reads at start, validated and cross-checked: the site, the
rules, the roster, the routing, the adapters. A FileError names the file, line and reason.

Light on purpose: `gridgate check-config` loads this, not the server (FastAPI, uvicorn).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from gateway.alerts.routes import (
    DEFAULT_ROUTES,
    DEFAULT_ROUTES_NO_ROSTER,
    Known,
    Routes,
    load_routes,
)
from gateway.config import Settings
from gateway.places.roster import Roster, load_roster
from gateway.places.site import Site, load_site
from rules.model import RuleFile, load_rules
from sensors.adapt import AdapterSet


@dataclass(frozen=True)
class Loaded:
    site: Site
    rules: RuleFile
    roster: Roster
    routes: Routes
    adapters: AdapterSet


def routes_path(settings: Settings, roster: Roster) -> Path:
    if settings.routes_file is not None:
        return settings.routes_file
    return DEFAULT_ROUTES if roster.people else DEFAULT_ROUTES_NO_ROSTER


def known_to_routes(settings: Settings, site: Site, roster: Roster, rules: RuleFile) -> Known:
    return Known(site, roster, settings.channel_types, {r.id for r in rules.rules})


def load_files(settings: Settings) -> Loaded:
    site = load_site(settings.site_file)
    roster = (
        Roster.empty() if settings.roster_file is None else load_roster(settings.roster_file, site)
    )
    rules = load_rules(settings.rules_file)
    routes = load_routes(
        routes_path(settings, roster), known_to_routes(settings, site, roster, rules)
    )
    adapters = AdapterSet.load(
        native_topic_root=settings.mqtt.topic_root,
        max_payload_bytes=settings.mqtt.max_payload_bytes,
        extra_dirs=settings.adapter_dirs,
        # event time may run far ahead of the wall in an accelerated simulation
        max_clock_skew=timedelta(days=3650) if settings.clock == "event" else timedelta(minutes=5),
    )
    return Loaded(site=site, rules=rules, roster=roster, routes=routes, adapters=adapters)
