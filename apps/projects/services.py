import datetime
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.models import Membership, Role
from apps.accounts.services import user_by_username
from apps.audit.services import audit_record
from apps.core.errors import InvalidInput
from apps.core.transitions import transition_check
from apps.projects.framing import SUITABILITY_KEYS
from apps.projects.metrics import MODEL_METRICS
from apps.projects.models import (
    STAGE_TRANSITIONS,
    Direction,
    MetricKind,
    Project,
    Stage,
    SuccessMetric,
    TargetVersion,
    TaskType,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricInput:
    name: str
    target: float
    direction: str | None = None
    kind: str = MetricKind.MODEL
    minimum: float | None = None
    stretch: float | None = None
    baseline: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class MemberInput:
    username: str
    role: str


FRAMING_FIELDS = (
    "decision",
    "decision_owner",
    "current_process",
    "decision_frequency",
    "data_available",
    "non_ml_alternative",
)

PROJECT_EDITABLE_FIELDS = (
    "name",
    "business_problem",
    *FRAMING_FIELDS,
    "suitability",
    "first_model_by",
    "production_by",
    "expected_iterations",
    "cost_false_positive",
    "cost_false_negative",
    "value_true_positive",
    "checkin_every_days",
    "promotion_requires_framing_signoff",
)


def _finite_or_none(value: Any, field: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"'{value}' is not a number.", field=field) from None
    if not math.isfinite(number):
        raise InvalidInput("Must be a finite number, not NaN or infinity.", field=field)
    return number


def _better_or_equal(a: float, b: float, direction: str) -> bool:
    return a >= b if direction == Direction.HIGHER else a <= b


def metrics_validate(metrics: Sequence[MetricInput], *, task_type: str) -> list[MetricInput]:
    """Check each metric and return them with directions filled in from the catalogue."""
    if not metrics:
        raise InvalidInput("Add at least one success metric with a target.", field="metrics")
    seen: set[str] = set()
    cleaned: list[MetricInput] = []
    for index, metric in enumerate(metrics):
        prefix = f"metrics[{index}]"
        name = (metric.name or "").strip()
        if not name:
            raise InvalidInput("A metric needs a name.", field=f"{prefix}.name")
        if name in seen:
            raise InvalidInput(f"The metric '{name}' is listed twice.", field=f"{prefix}.name")
        seen.add(name)
        if metric.kind not in MetricKind.values:
            raise InvalidInput(
                f"Unknown kind '{metric.kind}'. Use one of: {', '.join(MetricKind.values)}.",
                field=f"{prefix}.kind",
            )
        direction = metric.direction
        if metric.kind == MetricKind.MODEL:
            spec = MODEL_METRICS.get(name)
            if spec is None or spec.task_type != task_type:
                known = ", ".join(
                    s.name for s in MODEL_METRICS.values() if s.task_type == task_type
                )
                raise InvalidInput(
                    f"'{name}' is not a {task_type} metric the portal computes. Use one of: {known}.",
                    field=f"{prefix}.name",
                )
            if direction and direction != spec.direction:
                raise InvalidInput(
                    f"'{name}' is {spec.direction}-is-better; the direction cannot be changed.",
                    field=f"{prefix}.direction",
                )
            direction = spec.direction
        if direction not in Direction.values:
            raise InvalidInput(
                "Set the direction: 'higher' or 'lower' is better.", field=f"{prefix}.direction"
            )
        target = _finite_or_none(metric.target, f"{prefix}.target")
        if target is None:
            raise InvalidInput("A metric needs a target.", field=f"{prefix}.target")
        minimum = _finite_or_none(metric.minimum, f"{prefix}.minimum")
        stretch = _finite_or_none(metric.stretch, f"{prefix}.stretch")
        baseline = _finite_or_none(metric.baseline, f"{prefix}.baseline")
        if minimum is not None and not _better_or_equal(target, minimum, direction):
            raise InvalidInput(
                f"The minimum ({minimum}) must not be better than the target ({target}) "
                f"for a {direction}-is-better metric.",
                field=f"{prefix}.minimum",
            )
        if stretch is not None and not _better_or_equal(stretch, target, direction):
            raise InvalidInput(
                f"The stretch goal ({stretch}) must be at least as good as the target ({target}).",
                field=f"{prefix}.stretch",
            )
        cleaned.append(
            MetricInput(
                name=name,
                kind=metric.kind,
                direction=direction,
                target=target,
                minimum=minimum,
                stretch=stretch,
                baseline=baseline,
                unit=(metric.unit or "")[:32],
            )
        )
    return cleaned


def _validate_plan(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    for cost_field in ("cost_false_positive", "cost_false_negative", "value_true_positive"):
        if cost_field in cleaned:
            cost = _finite_or_none(cleaned[cost_field], cost_field)
            if cost is not None and cost < 0:
                raise InvalidInput("Must not be negative.", field=cost_field)
            cleaned[cost_field] = cost

    cadence = cleaned.get("checkin_every_days")
    if cadence is not None and (
        not isinstance(cadence, int) or isinstance(cadence, bool) or not 1 <= cadence <= 365
    ):
        raise InvalidInput(
            "Must be a whole number of days from 1 to 365.", field="checkin_every_days"
        )

    if "expected_iterations" in cleaned and cleaned["expected_iterations"] is not None:
        expected = cleaned["expected_iterations"]
        if not isinstance(expected, int) or isinstance(expected, bool) or expected < 1:
            raise InvalidInput("Must be a whole number of at least 1.", field="expected_iterations")

    first = cleaned.get("first_model_by")
    production = cleaned.get("production_by")
    if (
        isinstance(first, datetime.date)
        and isinstance(production, datetime.date)
        and production < first
    ):
        raise InvalidInput(
            "The production date cannot be before the first-model date.", field="production_by"
        )

    if "suitability" in cleaned:
        cleaned["suitability"] = _validate_suitability(cleaned["suitability"])

    if "name" in cleaned and not str(cleaned["name"]).strip():
        raise InvalidInput("A project needs a name.", field="name")
    if "business_problem" in cleaned and not str(cleaned["business_problem"]).strip():
        raise InvalidInput("Describe the business problem.", field="business_problem")
    return cleaned


def _validate_suitability(answers: Any) -> dict[str, bool]:
    if answers is None:
        return {}
    if not isinstance(answers, dict):
        raise InvalidInput(
            "Send the checklist as an object of question to true or false.", field="suitability"
        )
    cleaned: dict[str, bool] = {}
    for key, answer in answers.items():
        if key not in SUITABILITY_KEYS:
            known = ", ".join(sorted(SUITABILITY_KEYS))
            raise InvalidInput(
                f"Unknown checklist question '{key}'. Use one of: {known}.",
                field=f"suitability.{key}",
            )
        if answer is None:
            continue
        if not isinstance(answer, bool):
            raise InvalidInput("Must be true or false.", field=f"suitability.{key}")
        cleaned[key] = answer
    return cleaned


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "project"
    slug = base
    suffix = 2
    while Project.objects.filter(slug=slug).exists():
        slug = f"{base}-{suffix}"
        suffix += 1
    return slug


def _metric_snapshot(project: Project) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "kind": m.kind,
            "direction": m.direction,
            "target": m.target,
            "minimum": m.minimum,
            "stretch": m.stretch,
            "baseline": m.baseline,
            "unit": m.unit,
        }
        for m in project.metrics.all()
    ]


def _metrics_replace(project: Project, metrics: Sequence[MetricInput]) -> None:
    project.metrics.all().delete()
    SuccessMetric.objects.bulk_create(
        SuccessMetric(
            project=project,
            name=metric.name,
            kind=metric.kind,
            direction=metric.direction or Direction.HIGHER,
            target=metric.target,
            minimum=metric.minimum,
            stretch=metric.stretch,
            baseline=metric.baseline,
            unit=metric.unit,
            position=position,
        )
        for position, metric in enumerate(metrics)
    )


def project_create(
    *,
    user: User,
    name: str,
    business_problem: str,
    task_type: str,
    metrics: Sequence[MetricInput],
    members: Sequence[MemberInput] = (),
    **plan: Any,
) -> Project:
    """Create a project in the framing stage. The creator becomes its owner and data scientist.

    ``plan`` takes the expectation and error-cost fields of ``PROJECT_EDITABLE_FIELDS``.
    """
    unknown = set(plan) - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.")
    if task_type not in TaskType.values:
        raise InvalidInput(
            f"Unknown task type '{task_type}'. Use one of: {', '.join(TaskType.values)}.",
            field="task_type",
        )
    fields = _validate_plan({"name": name, "business_problem": business_problem, **plan})
    cleaned_metrics = metrics_validate(metrics, task_type=task_type)
    resolved_members = [
        (user_by_username(member.username, field=f"members[{index}].username"), member.role)
        for index, member in enumerate(members)
    ]
    for index, (_, role) in enumerate(resolved_members):
        if role not in Role.values:
            raise InvalidInput(
                f"Unknown role '{role}'. Use one of: {', '.join(Role.values)}.",
                field=f"members[{index}].role",
            )

    with transaction.atomic():
        project = Project.objects.create(
            slug=_unique_slug(fields["name"]),
            task_type=task_type,
            created_by=user,
            **fields,
        )
        _metrics_replace(project, cleaned_metrics)
        TargetVersion.objects.create(
            project=project, number=1, metrics=_metric_snapshot(project), created_by=user
        )
        roles: set[tuple[int, str]] = {(user.pk, Role.OWNER), (user.pk, Role.DATA_SCIENTIST)}
        roles |= {(member.pk, role) for member, role in resolved_members}
        Membership.objects.bulk_create(
            Membership(project=project, user_id=user_id, role=role)
            for user_id, role in sorted(roles)
        )
        audit_record(
            actor=user,
            action="project.created",
            target=project,
            project=project,
            after={
                "name": project.name,
                "task_type": task_type,
                "metrics": _metric_snapshot(project),
                "members": sorted(f"{uid}:{role}" for uid, role in roles),
            },
        )
    logger.info("project %s created by user %s", project.slug, user.pk)
    return project


def project_update(
    *,
    project: Project,
    user: User,
    metrics: Sequence[MetricInput] | None = None,
    **changes: Any,
) -> Project:
    """Edit a project's description, expectations, error costs or metrics."""
    unknown = set(changes) - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.")
    cleaned_metrics = (
        metrics_validate(metrics, task_type=project.task_type) if metrics is not None else None
    )
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        merged = {field: getattr(locked, field) for field in PROJECT_EDITABLE_FIELDS} | changes
        fields = _validate_plan(merged)
        before = {field: _jsonable(getattr(locked, field)) for field in changes}
        for field in changes:
            setattr(locked, field, fields[field])
        locked.save()
        after = {field: _jsonable(getattr(locked, field)) for field in changes}
        if cleaned_metrics is not None:
            before["metrics"] = _metric_snapshot(locked)
            _metrics_replace(locked, cleaned_metrics)
            after["metrics"] = _metric_snapshot(locked)
            if after["metrics"] != before["metrics"]:
                _target_version_add(project=locked, user=user, metrics=after["metrics"])
        audit_record(
            actor=user,
            action="project.updated",
            target=locked,
            project=locked,
            before=before,
            after=after,
        )
    return locked


def _target_version_add(*, project: Project, user: User, metrics: list[dict[str, Any]]) -> None:
    """Record a new version of the targets; a signed-off framing goes back for a new sign-off."""
    latest = project.target_versions.order_by("-number").first()
    number = latest.number + 1 if latest is not None else 1
    version = TargetVersion.objects.create(
        project=project, number=number, metrics=metrics, created_by=user
    )
    audit_record(
        actor=user,
        action="targets.versioned",
        target=version,
        project=project,
        after={"number": number},
    )
    if project.stage in (Stage.APPROVED, Stage.IN_DEVELOPMENT):
        project_stage_transition(
            project=project,
            user=user,
            stage=Stage.FRAMING,
            message=f"Targets changed to version {number}; the framing needs a new sign-off.",
        )
        project.stage = Stage.FRAMING


def target_version_agree(*, project: Project, user: User) -> TargetVersion:
    """Record that ``user`` agreed to the current targets. Call inside the sign-off transaction."""
    version = (
        TargetVersion.objects.select_for_update()
        .filter(project=project)
        .order_by("-number")
        .first()
    )
    if version is None:
        raise InvalidInput("The project has no targets to agree to.", field="metrics")
    version.agreed_by = user
    version.agreed_at = timezone.now()
    version.save(update_fields=["agreed_by", "agreed_at"])
    audit_record(
        actor=user,
        action="targets.agreed",
        target=version,
        project=project,
        after={"number": version.number},
    )
    return version


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def project_stage_transition(
    *, project: Project, user: User | None, stage: str, message: str = ""
) -> Project:
    """Move a project to ``stage`` if the stage table allows it. Call inside a transaction."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    transition_check(table=STAGE_TRANSITIONS, kind="project", current=locked.stage, new=stage)
    before = locked.stage
    locked.stage = stage
    locked.save(update_fields=["stage", "updated_at"])
    audit_record(
        actor=user,
        action="project.stage_changed",
        target=locked,
        project=locked,
        before={"stage": before},
        after={"stage": stage},
        message=message,
    )
    logger.info("project %s stage %s -> %s", locked.slug, before, stage)
    return locked


def project_stage_advance_if_allowed(
    *, project: Project, user: User | None, stage: str, message: str = ""
) -> bool:
    """Move to ``stage`` when the table allows it from the current stage; report whether it moved.

    Events such as the first training run or the first live deployment call this: a project
    whose framing is not yet signed off stays in ``framing`` rather than skipping the gate.
    """
    current = Project.objects.select_for_update().values_list("stage", flat=True).get(pk=project.pk)
    if stage not in STAGE_TRANSITIONS.get(current, frozenset()):
        return False
    project_stage_transition(project=project, user=user, stage=stage, message=message)
    return True
