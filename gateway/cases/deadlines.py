"""Deadlines of cases in working time: which stage's clock runs in each state, when a
stage falls due, its reminder (催办) at 80 %, its escalation at the limit, the handling
deadline (处置时限), the lights; and when a sensor case verifies itself. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.cases.calendar import Calendar, Light, Limit
from gateway.cases.categories import Categories, Stage
from gateway.store.records import Case, CaseSource, CaseState

_REP, _FIL, _DIS, _ACC = (
    CaseState.REPORTED,
    CaseState.FILED,
    CaseState.DISPATCHED,
    CaseState.ACCEPTED,
)
_HAN, _RET = CaseState.HANDLED, CaseState.RETURNED

# which stage's clock runs in each state (none in closed, cancelled, on hold)
STAGE_OF: dict[CaseState, Stage] = {
    _REP: Stage.FILE,
    _FIL: Stage.DISPATCH,
    _RET: Stage.DISPATCH,
    _DIS: Stage.ACCEPT,
    _ACC: Stage.HANDLE,
    _HAN: Stage.VERIFY,
}


@dataclass(frozen=True)
class CasePolicy:
    """The category file and the calendar: what a stage's limit is and when it falls due."""

    categories: Categories
    calendar: Calendar

    def limit(self, case: Case, stage: Stage) -> Limit:
        category = self.categories.get(case.category)
        if category is None:  # a category removed from the file since: its defaults
            return Limit.parse("1d")
        return category.limits[stage]

    def enter(self, case: Case, now: datetime, due_at: datetime | None = None) -> Case:
        """The clocks of the stage the case's state is in, starting `now` (none for a
        closed, cancelled or held case); `due_at` instead of the stage's own limit."""
        stage = STAGE_OF.get(case.state)
        if stage is None:
            return replace(
                case,
                stage_started_at=None,
                stage_due_at=None,
                remind_at=None,
                escalate_at=None,
                escalation_level=0,
            )
        limit = self.limit(case, stage)
        due = due_at or self.calendar.deadline(now, limit)
        return replace(
            case,
            stage_started_at=now,
            stage_due_at=due,
            remind_at=self._share(now, due, limit, 0.8) if due > now else None,
            escalate_at=due,
            escalation_level=0,
        )

    def _share(self, start: datetime, due: datetime, limit: Limit, share: float) -> datetime:
        if limit.is_natural:
            return start + (due - start) * share
        return self.calendar.add(start, self.calendar.between(start, due) * share)

    def handling_due(self, case: Case, filed_at: datetime) -> datetime:
        """The handling deadline (处置时限) of a case filed at `filed_at`: its dispatch,
        accept and handle limits one after the other."""
        at = filed_at
        for stage in (Stage.DISPATCH, Stage.ACCEPT, Stage.HANDLE):
            at = self.calendar.deadline(at, self.limit(case, stage))
        return at

    def stage_light(self, case: Case, now: datetime) -> Light | None:
        stage = STAGE_OF.get(case.state)
        if stage is None or case.stage_started_at is None or case.stage_due_at is None:
            return None
        natural = self.limit(case, stage).is_natural
        return self.calendar.light(case.stage_started_at, case.stage_due_at, now, natural=natural)

    def case_light(self, case: Case, now: datetime) -> Light | None:
        """The light of the whole case against its handling deadline (None before it is
        filed); a closed case keeps the light it ended with."""
        if case.filed_at is None or case.due_at is None or case.state == CaseState.CANCELLED:
            return None
        until = case.handled_at if case.state == CaseState.CLOSED and case.handled_at else now
        natural = self.limit(case, Stage.HANDLE).is_natural
        return self.calendar.light(case.filed_at, case.due_at, until, natural=natural)


def schedule_auto_verify(case: Case, now: datetime, policy: CasePolicy) -> Case:
    if case.source != CaseSource.SENSOR or case.normal_since is None:
        return replace(case, auto_verify_at=None)
    quiet = quiet_time(case, policy)
    return replace(case, auto_verify_at=max(now, case.normal_since + quiet))


def quiet_time(case: Case, policy: CasePolicy) -> timedelta:
    category = policy.categories.get(case.category)
    limit = category.auto_verify_after if category else Limit.parse("10m natural")
    return limit.duration()
