"""Per-project, per-gate approval policies: the number of approvals, the approvers and the checks.

Owners and data scientists edit policies, because the permission table gives them
EDIT_PROJECT, the action that already covers the targets these checks enforce. Decision makers
cannot loosen the rules they decide under, which is the point of separation of duties.
"""

import logging
import math
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from apps.accounts.access import project_roles
from apps.accounts.models import Membership, Role
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.models import ApprovalPolicy, Gate
from apps.audit.services import audit_record
from apps.core.errors import InvalidInput, NotAllowed
from apps.projects.models import Project

logger = logging.getLogger(__name__)

MAX_APPROVALS_REQUIRED = 5
MAX_REGRESSION_TOLERANCE = 1e6

BOOLEAN_FIELDS = (
    "check_minimums",
    "check_regression",
    "check_baseline",
    "require_reproduced",
    "supersede_pending",
)
POLICY_FIELDS = (
    "approvals_required",
    "approvers",
    "regression_tolerance",
    *BOOLEAN_FIELDS,
    "require_framing_signoff",
)


def policy_for(*, project: Project, gate: str) -> ApprovalPolicy:
    """Return the project's policy for ``gate``, or an unsaved one with the defaults."""
    if gate not in Gate.values:
        raise InvalidInput(f"Unknown gate '{gate}'. Use one of: {', '.join(Gate.values)}.")
    policy = ApprovalPolicy.objects.filter(project=project, gate=gate).first()
    return policy if policy is not None else ApprovalPolicy(project=project, gate=gate)


def policy_approver_ids(policy: ApprovalPolicy) -> set[int]:
    """Return the ids of the users the policy names as approvers; empty means every decision maker."""
    if policy.pk is None:
        return set()
    return set(policy.approvers.values_list("pk", flat=True))


def policy_snapshot(policy: ApprovalPolicy, *, project: Project) -> dict[str, Any]:
    snapshot: dict[str, Any] = {
        "gate": policy.gate,
        "approvals_required": policy.approvals_required,
        "approvers": sorted(
            policy.approvers.values_list("username", flat=True) if policy.pk else []
        ),
        "regression_tolerance": policy.regression_tolerance,
    }
    for field in BOOLEAN_FIELDS:
        snapshot[field] = getattr(policy, field)
    if policy.gate == Gate.PROMOTION:
        snapshot["require_framing_signoff"] = project.promotion_requires_framing_signoff
    return snapshot


def _clean_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("Give true or false.", field=field)
    return value


def _clean_approvals_required(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("Give a whole number.", field="approvals_required")
    if not 1 <= value <= MAX_APPROVALS_REQUIRED:
        raise InvalidInput(
            f"Give a number from 1 to {MAX_APPROVALS_REQUIRED}.", field="approvals_required"
        )
    return value


def _clean_tolerance(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("Give a number.", field="regression_tolerance")
    tolerance = float(value)
    if not math.isfinite(tolerance) or not 0 <= tolerance <= MAX_REGRESSION_TOLERANCE:
        raise InvalidInput(
            "Give a finite number of zero or more, in the metrics' own unit.",
            field="regression_tolerance",
        )
    return tolerance


def _clean_approvers(value: Any, *, project: Project) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InvalidInput("Give a list of usernames.", field="approvers")
    decision_makers = dict(
        Membership.objects.filter(
            project=project, role=Role.DECISION_MAKER, user__username__in=value
        ).values_list("user__username", "user_id")
    )
    unknown = sorted(set(value) - set(decision_makers))
    if unknown:
        raise InvalidInput(
            f"Not a decision maker of this project: {', '.join(unknown)}.", field="approvers"
        )
    return sorted(set(decision_makers.values()))


def policy_update(
    *, project: Project, gate: str, user: User, changes: dict[str, Any]
) -> ApprovalPolicy:
    """Change the policy of one gate; every field is optional and the change is audited.

    ``require_framing_signoff`` applies to the promotion gate only and is stored on the
    project as ``promotion_requires_framing_signoff``, which the project API also edits.
    """
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.EDIT_PROJECT):
        raise NotAllowed("Only the project's owners and data scientists can change its policies.")
    if gate not in Gate.values:
        raise InvalidInput(f"Unknown gate '{gate}'. Use one of: {', '.join(Gate.values)}.")
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(unknown)}.")
    if "require_framing_signoff" in changes and gate != Gate.PROMOTION:
        raise InvalidInput(
            "Only the promotion gate can wait for the framing sign-off.",
            field="require_framing_signoff",
        )
    cleaned: dict[str, Any] = {}
    for field in BOOLEAN_FIELDS:
        if field in changes:
            cleaned[field] = _clean_bool(changes[field], field)
    if "approvals_required" in changes:
        cleaned["approvals_required"] = _clean_approvals_required(changes["approvals_required"])
    if "regression_tolerance" in changes:
        cleaned["regression_tolerance"] = _clean_tolerance(changes["regression_tolerance"])
    approver_ids = (
        _clean_approvers(changes["approvers"], project=project) if "approvers" in changes else None
    )
    framing = (
        _clean_bool(changes["require_framing_signoff"], "require_framing_signoff")
        if "require_framing_signoff" in changes
        else None
    )

    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(
            project=locked, gate=gate, defaults={"updated_by": user}
        )
        before = policy_snapshot(policy, project=locked)
        for field, value in cleaned.items():
            setattr(policy, field, value)
        policy.updated_by = user
        policy.save()
        if approver_ids is not None:
            policy.approvers.set(approver_ids)
        if framing is not None and framing != locked.promotion_requires_framing_signoff:
            locked.promotion_requires_framing_signoff = framing
            locked.save(update_fields=["promotion_requires_framing_signoff", "updated_at"])
        after = policy_snapshot(policy, project=locked)
        audit_record(
            actor=user,
            action="policy.updated",
            target=policy,
            project=locked,
            before={key: value for key, value in before.items() if after[key] != value},
            after={key: value for key, value in after.items() if before[key] != value},
        )
    logger.info("policy %s of project %s updated by user %s", gate, project.slug, user.pk)
    return policy
