"""What the routing file sees of a case event: the case as a routing `Subject` (the
event's facts, its place and level, who it is assigned to, the body). Pure; the case stage
routes with it, `gridgate cases routes` explains with it."""

from __future__ import annotations

from datetime import datetime

from gateway.alerts.routes import EventFacts
from gateway.alerts.routing import Subject
from gateway.cases.links import CaseLinks
from gateway.cases.notice import notice
from gateway.store.records import Case


def subject_of(case: Case, event: str, now: datetime, links: CaseLinks | None = None) -> Subject:
    return Subject(
        facts=EventFacts(
            event=event,
            rule_id="",
            kind="",
            severity=case.severity,
            node_ids=case.node_ids,
            at=now,
            category=(case.category, case.major),
            source=case.source.value,
        ),
        node_ids=case.node_ids,
        escalation_level=case.escalation_level,
        assignees=(case.handler,) if case.handler else case.dispatched_to,
        body=notice(case, event),
        key=f"case-{case.id}-{event.removeprefix('case.')}-{int(now.timestamp() * 1000)}",
        link=None
        if links is None
        else (lambda _p, _at: links.url(f"/static/cases.html#case={case.id}")),
        department=case.department,
    )
