"""Reads of the audit log: a project's events, its production history and the CSV export."""

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.audit.models import AuditEvent
from apps.projects.models import Project

# OWASP's CSV injection advice: a spreadsheet runs a cell starting with one of these as a
# formula, so such cells get a leading apostrophe, which spreadsheets show as text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

CSV_HEADER = ["time", "actor", "action", "object_type", "object_id", "before", "after", "message"]


def project_audit_events(*, project: Project) -> QuerySet[AuditEvent]:
    """Return the project's audit events, newest first, with their actors."""
    return (
        AuditEvent.objects.filter(project=project)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def csv_cell(value: Any) -> str:
    """Return ``value`` as CSV text that a spreadsheet cannot run as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def audit_csv_rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    """Yield the header, then one escaped row per event."""
    import json

    yield CSV_HEADER
    for event in events:
        yield [
            csv_cell(value)
            for value in (
                event.created_at.isoformat(),
                event.actor.get_username() if event.actor is not None else "system",
                event.action,
                event.object_type,
                event.object_id,
                json.dumps(event.before, sort_keys=True, default=str),
                json.dumps(event.after, sort_keys=True, default=str),
                event.message,
            )
        ]


@dataclass
class ProductionPeriod:
    """One deployment's time in production and the decision behind it."""

    deployment: Any
    iteration_number: int
    model_version: str
    live_from: datetime.datetime
    live_until: datetime.datetime | None
    approval_id: int | None
    requested_by: str
    approved_by: list[str] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def live_at(self, moment: datetime.datetime) -> bool:
        return self.live_from <= moment and (self.live_until is None or moment < self.live_until)

    def live_during(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        return self.live_from < end and (self.live_until is None or self.live_until > start)


def production_history(
    *, project: Project, environment: str = "production"
) -> list[ProductionPeriod]:
    """Return every deployment that went live in ``environment``, newest first, in 3 queries."""
    from apps.approvals.models import Decision, Verdict
    from apps.deployments.models import Deployment

    deployments = (
        Deployment.objects.filter(project=project, environment=environment, live_at__isnull=False)
        .select_related("iteration", "approval", "approval__requested_by")
        .prefetch_related(
            Prefetch(
                "approval__decisions",
                queryset=Decision.objects.filter(verdict=Verdict.APPROVE).select_related(
                    "decided_by"
                ),
            )
        )
        .order_by("-live_at", "-id")
    )
    periods = []
    for deployment in deployments:
        approval = deployment.approval
        decisions = list(approval.decisions.all()) if approval is not None else []
        assert deployment.live_at is not None
        periods.append(
            ProductionPeriod(
                deployment=deployment,
                iteration_number=deployment.iteration.number,
                model_version=deployment.model_version,
                live_from=deployment.live_at,
                live_until=deployment.retired_at,
                approval_id=approval.pk if approval is not None else None,
                requested_by=approval.requested_by.get_username() if approval is not None else "",
                approved_by=[decision.decided_by.get_username() for decision in decisions],
                overrides=[
                    {
                        "by": decision.decided_by.get_username(),
                        "checks": decision.overridden_checks,
                        "justification": decision.override_justification,
                    }
                    for decision in decisions
                    if decision.overridden_checks
                ],
            )
        )
    return periods


def live_on_date(
    *, periods: Iterable[ProductionPeriod], start: datetime.datetime, end: datetime.datetime
) -> list[ProductionPeriod]:
    """Return the periods live at any moment between ``start`` and ``end``, oldest first."""
    return sorted(
        (period for period in periods if period.live_during(start, end)),
        key=lambda period: period.live_from,
    )
