"""`gridgate cases ...`: the case side's commands (registered in gateway/cli/cases.py).

    gridgate cases report --month 2026-03 [--format csv|html] [--group grid] [--out FILE]
    gridgate cases routes --category exposed_rubbish --node b1 [--event case.dispatched]
                          [--source patrol] [--level 0] [--at ISO] [--assignee ID]

`report` reads the store of the settings in force (safe while the gateway runs: SQLite
WAL) and prints or writes the monthly report, as `GET /cases/report` serves it. `routes`
says who a case event reaches and which route decided it (`gridgate routes test` for
cases), from the files in force; it starts nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gateway.alerts.routecheck import explain_decided
from gateway.alerts.routes import CASE_EVENTS, Routes
from gateway.alerts.routing import ChannelRef, Router
from gateway.cases.calendar import Calendar
from gateway.cases.categories import Categories
from gateway.cases.deadlines import CasePolicy
from gateway.cases.kpis import GroupBy, figures, grouped
from gateway.cases.report import month_bounds, to_csv, to_html
from gateway.cases.routing import subject_of
from gateway.cases.workflow import SYSTEM, Draft, report
from gateway.config import Settings, SettingsError, load_settings
from gateway.places.departments import Department
from gateway.places.roster import Roster, load_roster
from gateway.places.site import Level, Site, load_site
from gateway.store import Store
from gateway.store.records import CaseSource, Reporter
from sensors.errors import FileError

EXIT_USAGE = 2


class _CaseFiles(Protocol):
    categories: Categories
    calendar: Calendar
    departments: Mapping[str, Department]


class Files(Protocol):
    """What `routes` needs of the files in force (gateway/files.py `Loaded`)."""

    site: Site
    roster: Roster
    routes: Routes
    cases: _CaseFiles


Load = Callable[[Path | None], tuple[Settings, Any]]

_ROUTES_EXAMPLE = (
    "  gridgate cases routes --category exposed_rubbish --node b1 --event case.dispatched\n"
)
_REPORT_EXAMPLE = "  gridgate cases report --month 2026-03 --format html --out march.html\n"
_EXAMPLES = {
    "cases": "examples:\n" + _REPORT_EXAMPLE + _ROUTES_EXAMPLE,
    "routes": "examples:\n"
    + _ROUTES_EXAMPLE
    + "  gridgate cases routes --category blocked_corridor --node b2 --level 1\n",
    "report": "examples:\n"
    + _REPORT_EXAMPLE
    + "  gridgate cases report --month 2026-03 --group person > march-people.csv\n",
}


def main(argv: list[str], load: Load | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="gridgate cases",
        description=__doc__.split("\n")[0],
        epilog=_EXAMPLES["cases"],
        formatter_class=raw,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    routes = sub.add_parser(
        "routes",
        help="who a case event reaches, and why",
        epilog=_EXAMPLES["routes"],
        formatter_class=raw,
    )
    routes.add_argument("--category", required=True, help="a 小类 id of the category file")
    routes.add_argument("--node", required=True, help="the case's place: a node id")
    routes.add_argument("--event", default="case.dispatched", choices=CASE_EVENTS)
    routes.add_argument("--source", default="patrol", choices=[s.value for s in CaseSource])
    routes.add_argument("--level", type=int, default=0, help="escalation level")
    routes.add_argument("--assignee", action="append", default=[], help="dispatched to (repeat)")
    routes.add_argument("--at", type=datetime.fromisoformat, help="the instant, with offset")
    routes.add_argument("--config", type=Path)
    report = sub.add_parser(
        "report",
        help="the monthly report (CSV or a printable page)",
        epilog=_EXAMPLES["report"],
        formatter_class=raw,
    )
    report.add_argument("--month", required=True, help="YYYY-MM, on the site's clock")
    report.add_argument("--format", choices=("csv", "html"), default="csv")
    report.add_argument("--group", choices=[g.value for g in GroupBy], default=GroupBy.GRID.value)
    report.add_argument("--out", type=Path, help="write here instead of standard output")
    report.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    if args.command == "routes":
        if load is None:
            raise RuntimeError("gridgate cases routes needs the files' loader")  # a wiring bug
        return _routes(args, load)
    try:
        settings = load_settings(args.config)
        site = load_site(settings.site_file)
        roster = load_roster(settings.roster_file, site) if settings.roster_file else None
        since, until = month_bounds(args.month, site.timezone)
    except (FileError, SettingsError) as exc:
        sys.stderr.write(f"gridgate cases: invalid configuration:\n{exc}\n")
        return EXIT_USAGE
    except ValueError as exc:
        sys.stderr.write(f"gridgate cases: --month {args.month!r}: {exc}\n")
        return EXIT_USAGE
    if not settings.database_path.exists():
        sys.stderr.write(f"gridgate cases: no state store at {settings.database_path}\n")
        return EXIT_USAGE
    store = Store(settings.database_path)
    try:
        cases = store.cases.in_period(since, until)
    finally:
        store.close()
    names = {p.id: p.name for p in roster.people.values()} if roster else {}
    group = GroupBy(args.group)
    rows = grouped(cases, group, since, until, lambda p: names.get(p, p))
    total = figures(cases, since, until)
    if args.format == "csv":
        text = "\ufeff" + to_csv(rows, total)
    else:
        sections = [
            (group.value, rows),
            ("category", grouped(cases, GroupBy.CATEGORY, since, until)),
            ("source", grouped(cases, GroupBy.SOURCE, since, until)),
        ]
        text = to_html(f"{args.month} 案件月报", args.month, sections, total)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _routes(args: argparse.Namespace, load: Load) -> int:
    try:
        settings, loaded = load(args.config)
    except (FileError, SettingsError) as exc:
        sys.stderr.write(f"gridgate cases routes: invalid configuration:\n{exc}\n")
        return EXIT_USAGE
    files: Files = loaded
    at = args.at or datetime.now(UTC)
    category = files.cases.categories.get(args.category)
    location = files.site.nodes.get(args.node)
    if category is None or location is None or at.tzinfo is None:
        what = "--category" if category is None else "--node" if location is None else "--at"
        sys.stderr.write(f"gridgate cases routes: {what}: unknown (or --at without offset)\n")
        return EXIT_USAGE
    policy = CasePolicy(files.cases.categories, files.cases.calendar)
    words = " / ".join(n.name for n in location if n.level not in (Level.DISTRICT, Level.STREET))
    draft = Draft(
        source=CaseSource(args.source),
        category=category,
        location=location,
        place=words,
        description="(gridgate cases routes)",
        reporter=Reporter(name="-"),
    )
    case = replace(
        report(draft, 0, SYSTEM, at, policy).case,
        escalation_level=args.level,
        dispatched_to=tuple(args.assignee),
    )
    router = Router(
        routes=files.routes,
        channels=[ChannelRef(t, n) for n, t in settings.channel_types.items()],
        roster=files.roster,
        tz=files.site.timezone,
        departments=files.cases.departments,
    )
    subject = subject_of(case, args.event, at)
    local = at.astimezone(files.site.timezone).strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"{args.event} of a {args.source} case {category.id} ({category.severity.value}) at "
        f"{words}, {local}",
        f"routing file: {files.routes.path}",
    ]
    decisions = files.routes.decide(subject.facts, files.site.timezone)
    if args.event != "case.dispatch":
        lines += explain_decided(decisions, router.route(subject, at), "case")
    else:  # its routes choose people and send nothing: they are told with case.dispatched
        lines += explain_decided(decisions, [], "case")[:1]
        people, department, _ = router.people_for(subject, at)
        chosen = ", ".join(f"{p.name} ({p.id})" for p in people) or "nobody"
        lines.append(
            f"dispatched to: {chosen}" + (f" (department {department})" if department else "")
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
