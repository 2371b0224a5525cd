"""Per-project, per-gate approval policies: the number of approvals, the approvers and the checks.

Who may change a policy depends on the direction of the change; ``policy_update`` states the
rule where it enforces it.
"""

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from apps.accounts.access import project_roles
from apps.accounts.models import Membership, Role
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.models import ApprovalPolicy, Gate
from apps.audit.services import audit_record, notification_send
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


def _approvals_reachable_check(
    *, project: Project, approvals_required: int, approver_ids: list[int]
) -> None:
    """Raise InvalidInput when fewer people may decide than ``approvals_required``.

    The eligible decision makers are the named approvers, or every decision maker of the
    project when none are named. A policy above that number would leave requests pending.
    One approval is always accepted, because it is the default and a project without
    decision makers yet gets them by adding members, not by changing its policy.
    """
    if approver_ids:
        eligible = len(set(approver_ids))
        eligible_group = "approvers named in the policy"
    else:
        eligible = Membership.objects.filter(project=project, role=Role.DECISION_MAKER).count()
        eligible_group = "decision makers in this project"
    if approvals_required > max(eligible, 1):
        raise InvalidInput(
            f"approvals_required is {approvals_required}, but there are only {eligible} "
            f"{eligible_group}, so no request could ever be approved. Lower approvals_required to "
            f"{max(eligible, 1)} or add decision makers first.",
            field="approvals_required",
        )


@dataclass(frozen=True)
class PolicyRights:
    """The policy changes a member's roles allow in one project."""

    can_tighten: bool
    can_loosen: bool

    @property
    def can_edit(self) -> bool:
        return self.can_tighten or self.can_loosen


def policy_rights(*, roles: Iterable[str]) -> PolicyRights:
    """Return what members with ``roles`` may change; see ``policy_update`` for the rule."""
    roles = list(roles)
    can_decide = roles_allow(roles, Action.DECIDE)
    return PolicyRights(
        can_tighten=can_decide or roles_allow(roles, Action.EDIT_PROJECT), can_loosen=can_decide
    )


# Checks that block approval while on, so turning one off loosens the policy.
CHECK_FIELDS = ("check_minimums", "check_regression", "check_baseline", "require_reproduced")


def _loosened(
    *,
    policy: ApprovalPolicy,
    project: Project,
    cleaned: dict[str, Any],
    approver_ids: list[int] | None,
    framing: bool | None,
) -> list[str]:
    """Return a phrase for each change in the request that loosens the stored policy."""
    loosened = []
    for field in CHECK_FIELDS:
        if getattr(policy, field) and cleaned.get(field) is False:
            loosened.append(f"{field} turned off")
    if (
        "approvals_required" in cleaned
        and cleaned["approvals_required"] < policy.approvals_required
    ):
        loosened.append(
            f"approvals_required lowered from {policy.approvals_required} "
            f"to {cleaned['approvals_required']}"
        )
    if (
        "regression_tolerance" in cleaned
        and cleaned["regression_tolerance"] > policy.regression_tolerance
    ):
        loosened.append(
            f"regression_tolerance raised from {policy.regression_tolerance:g} "
            f"to {cleaned['regression_tolerance']:g}"
        )
    if approver_ids is not None:
        current = policy_approver_ids(policy)
        # An empty list lets every decision maker approve, so only a non-empty subset of the
        # current approvers narrows who may approve.
        narrowed = bool(approver_ids) and (not current or set(approver_ids) <= current)
        if set(approver_ids) != current and not narrowed:
            loosened.append("approvers widened")
    if framing is False and project.promotion_requires_framing_signoff:
        loosened.append("require_framing_signoff turned off")
    return loosened


def _policy_change_notify(
    *, project: Project, gate: str, user: User, changed: dict[str, tuple[Any, Any]]
) -> None:
    """Tell the project's owners and decision makers, except the author, what changed."""
    recipients = set(
        Membership.objects.filter(
            project=project, role__in=[Role.OWNER, Role.DECISION_MAKER]
        ).values_list("user_id", flat=True)
    ) - {user.pk}
    changes = "; ".join(f"{key} {old} → {new}" for key, (old, new) in changed.items())
    message = (
        f"{user.get_username()} changed the {Gate(gate).label.lower()} policy of "
        f"{project.name}: {changes}."
    )
    for recipient in sorted(recipients):
        notification_send(
            user_id=recipient,
            kind="policy.updated",
            message=message,
            project=project,
            url=f"/projects/{project.slug}/policies/",
            email=True,
        )


def policy_update(
    *, project: Project, gate: str, user: User, changes: dict[str, Any]
) -> ApprovalPolicy:
    """Change the policy of one gate; every field is optional and the change is audited.

    ``require_framing_signoff`` applies to the promotion gate only and is stored on the
    project as ``promotion_requires_framing_signoff``, which the project API also edits.
    Raises NotAllowed when the user's roles do not allow the change (see the rule below).
    """
    rights = policy_rights(roles=project_roles(user=user, project_id=project.pk))
    if not rights.can_edit:
        raise NotAllowed(
            "Only the project's owners, data scientists and decision makers can change its "
            "policies."
        )
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
        # Separation of duties. Owners, data scientists and decision makers may tighten a
        # policy: more approvals, a check turned on, a smaller tolerance, fewer approvers.
        # Only a decision maker may loosen it: fewer approvals, a check turned off, a larger
        # tolerance, more approvers. Otherwise the person who requests a promotion could turn
        # off the failing check that would make the approver justify an override.
        # supersede_pending changes neither direction. The comparison runs against the locked
        # row, so a concurrent change cannot make a loosening look like a no-op.
        loosened = _loosened(
            policy=policy,
            project=locked,
            cleaned=cleaned,
            approver_ids=approver_ids,
            framing=framing,
        )
        if loosened and not rights.can_loosen:
            raise NotAllowed(
                "Only a decision maker of this project can loosen an approval policy "
                f"({'; '.join(loosened)}). Owners and data scientists can only tighten it: "
                "ask a decision maker to make this change."
            )
        if "approvals_required" in cleaned or approver_ids is not None:
            _approvals_reachable_check(
                project=locked,
                approvals_required=cleaned.get("approvals_required", policy.approvals_required),
                approver_ids=(
                    approver_ids
                    if approver_ids is not None
                    else sorted(policy_approver_ids(policy))
                ),
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
        changed = {key: (before[key], after[key]) for key in after if before[key] != after[key]}
        audit_record(
            actor=user,
            action="policy.updated",
            target=policy,
            project=locked,
            before={key: old for key, (old, _) in changed.items()},
            after={key: new for key, (_, new) in changed.items()},
        )
        if changed:
            _policy_change_notify(project=locked, gate=gate, user=user, changed=changed)
    logger.info("policy %s of project %s updated by user %s", gate, project.slug, user.pk)
    return policy
