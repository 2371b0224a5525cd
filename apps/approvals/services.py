"""Approval requests for the three gates, and the decisions on them.

A data scientist or owner requests; decision makers approve, reject or request changes.
One function, ``approval_decide``, decides every gate so the rules are the same everywhere:

- separation of duties: the requester never approves their own request, the author of a
  promoted iteration cannot approve it, and a decision maker who gave themselves that role
  cannot approve in a project where they requested something;
- the gate's policy sets how many decision makers must approve and who may;
- a failing automatic check blocks approval unless the approval carries a written
  justification, which is stored on the decision and in the audit log;
- only each decision maker's latest verdict counts, so a later rejection or request for
  changes withdraws that person's earlier approval;
- "request changes" keeps the request pending: the requester withdraws it or opens a new
  request that supersedes it, the other decision makers can still approve or reject it, and
  the approval of the person who asked for changes no longer counts;
- a decision maker who already approved may approve again to complete a request whose policy
  is now met by the approvals on record, for example after the policy was loosened.

Every decision locks the project row first and the request row second, so two decisions in
one project run one after the other and see each other's effects. Approval runs the gate's
effect in the same transaction: framing approval moves the project stage, promotion creates
the deployment, retirement retires the deployment or the project.
"""

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.access import project_roles
from apps.accounts.models import Role
from apps.accounts.permissions import Action, roles_allow
from apps.approvals.checks import Check, checks_as_data, checks_evaluate
from apps.approvals.models import (
    REQUEST_TRANSITIONS,
    ApprovalPolicy,
    ApprovalRequest,
    Decision,
    Gate,
    RequestStatus,
    Verdict,
)
from apps.approvals.notifications import (
    decision_makers_notify,
    override_notify,
    requester_notify,
)
from apps.approvals.policies import policy_approver_ids, policy_for
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotAllowed
from apps.core.transitions import transition_check
from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus, RolloutMode
from apps.deployments.services import (
    deployment_create,
    deployment_retire,
    project_deployments_retire,
    rollout_feature_columns_check,
    rollout_start,
)
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project, Stage
from apps.projects.services import project_stage_transition, target_version_agree

logger = logging.getLogger(__name__)

MAX_COMMENT_LENGTH = 5000
OVERRIDE_HINT = (
    'To approve anyway, send a written justification as {"override_justification": "..."}.'
)
DEPLOYING_STATUSES = (DeploymentStatus.PENDING, DeploymentStatus.DEPLOYING)


def _pending(*, project: Project, gate: str) -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.filter(project=project, gate=gate, status=RequestStatus.PENDING)


def _supersede(*, project: Project, gate: str, by: ApprovalRequest | None, user: User) -> list[int]:
    """Supersede the project's pending requests of ``gate`` other than ``by``."""
    pending = _pending(project=project, gate=gate)
    if by is not None:
        pending = pending.exclude(pk=by.pk)
    older = list(pending.select_for_update())
    now = timezone.now()
    for request in older:
        transition_check(
            table=REQUEST_TRANSITIONS,
            kind="approval request",
            current=request.status,
            new=RequestStatus.SUPERSEDED,
        )
        request.status = RequestStatus.SUPERSEDED
        request.decided_at = now
        request.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=user,
            action=f"{gate}.superseded",
            target=request,
            project=project,
            before={"status": RequestStatus.PENDING},
            after={
                "status": RequestStatus.SUPERSEDED,
                "superseded_by": by.pk if by is not None else None,
            },
        )
    return [request.pk for request in older]


def _approver_ids_or_none(policy: ApprovalPolicy) -> set[int] | None:
    approver_ids = policy_approver_ids(policy)
    return approver_ids or None


def _promotion_possible_check(
    *, project: Project, iteration: Iteration, canary_share: float | None
) -> None:
    """Raise Conflict for a promotion that no approval could ever carry out.

    Called under the project's row lock. It applies the rules that ``deployment_create`` and
    ``rollout_start`` apply on approval, so such a request fails now instead of on approval.
    """
    if project.stage == Stage.RETIRED:
        raise Conflict(
            "This project is retired, so none of its iterations can be promoted.",
            field="stage",
        )
    live = (
        Deployment.objects.filter(
            project=project, environment=PRODUCTION, status=DeploymentStatus.LIVE
        )
        .select_related("iteration")
        .first()
    )
    is_live = live is not None and live.model_version == iteration.model_version
    if canary_share is None:
        if is_live:
            raise Conflict(
                f"Iteration {iteration.number} is already the live version, so there is "
                "nothing to promote.",
                field="iteration",
            )
        return
    if live is None:
        raise Conflict(
            "A canary runs next to the live version, and no version of this project is live. "
            "Request a full promotion instead (leave out canary_share).",
            field="canary_share",
        )
    if is_live:
        raise Conflict(
            f"Iteration {iteration.number} is already the live version, so it cannot be its "
            "own canary. Request a canary for another iteration.",
            field="iteration",
        )
    # A canary shares the live version's requests, so it must take the same columns.
    rollout_feature_columns_check(candidate=iteration, live=live.iteration)


def promotion_request(
    *,
    iteration: Iteration,
    user: User,
    comment: str = "",
    canary_share: float | None = None,
) -> ApprovalRequest:
    """Ask the project's decision makers to put ``iteration`` into production.

    With ``canary_share`` the approval starts a canary that serves that fraction of requests
    next to the live version, instead of replacing it. When the promotion policy sets
    ``supersede_pending`` (the default), the new request supersedes the project's older pending promotion
    requests, so only the newest candidate is decided.
    """
    project = iteration.project
    if canary_share is not None and not 0.0 < canary_share < 1.0:
        raise InvalidInput(
            "The canary share must be above 0 and below 1 (0.1 sends a tenth of the requests).",
            field="canary_share",
        )
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.REQUEST_PROMOTION):
        raise NotAllowed("Only the project's data scientists can request a promotion.")
    if project.promotion_requires_framing_signoff and project.stage in (
        Stage.FRAMING,
        Stage.REJECTED,
    ):
        raise Conflict(
            "This project requires a signed-off framing before any promotion. "
            "Ask a decision maker to sign off the framing first.",
            field="stage",
        )
    if iteration.is_baseline:
        raise Conflict(
            f"Iteration {iteration.number} is a non-ML baseline: it measures a simple rule "
            "and cannot be promoted.",
            field="iteration",
        )
    if iteration.status != IterationStatus.SUCCEEDED:
        raise Conflict(
            f"Iteration {iteration.number} is {iteration.status}; only a succeeded iteration "
            "can be promoted.",
            field="iteration",
        )
    if not iteration.model_version:
        raise Conflict(
            f"Iteration {iteration.number} has no registered model version to promote.",
            field="iteration",
        )
    try:
        with transaction.atomic():
            # The project lock orders concurrent requests, so exactly one stays pending.
            locked = Project.objects.select_for_update().get(pk=project.pk)
            _promotion_possible_check(
                project=locked, iteration=iteration, canary_share=canary_share
            )
            policy = policy_for(project=locked, gate=Gate.PROMOTION)
            pending = _pending(project=locked, gate=Gate.PROMOTION)
            if pending.filter(iteration=iteration).exists():
                raise Conflict(
                    f"Iteration {iteration.number} already has a pending promotion request.",
                    field="iteration",
                )
            approval = ApprovalRequest.objects.create(
                project=locked,
                gate=Gate.PROMOTION,
                iteration=iteration,
                requested_by=user,
                comment=comment[:MAX_COMMENT_LENGTH],
                canary_share=canary_share,
            )
            superseded = (
                _supersede(project=locked, gate=Gate.PROMOTION, by=approval, user=user)
                if policy.supersede_pending
                else []
            )
            decision_makers_notify(
                approval=approval,
                approver_ids=_approver_ids_or_none(policy),
                message=(
                    f"{user.username} requests promotion of iteration {iteration.number} "
                    f"of {locked.name}."
                ),
            )
            audit_record(
                actor=user,
                action="promotion.requested",
                target=approval,
                project=locked,
                after={
                    "status": RequestStatus.PENDING,
                    "iteration": iteration.number,
                    "model_version": iteration.model_version,
                    "canary_share": canary_share,
                    "superseded": superseded,
                },
                message=approval.comment,
            )
    except IntegrityError as exc:
        # The partial unique index catches a request that raced past the check above.
        raise Conflict(
            f"Iteration {iteration.number} already has a pending promotion request.",
            field="iteration",
        ) from exc
    logger.info(
        "promotion request %s for project %s iteration %s by user %s",
        approval.pk,
        project.slug,
        iteration.number,
        user.pk,
    )
    return approval


def retirement_request(
    *,
    project: Project,
    user: User,
    deployment: Deployment | None = None,
    comment: str = "",
) -> ApprovalRequest:
    """Ask the decision makers to retire a live deployment, or the whole project without one.

    A reason is required, because retiring stops predictions that someone relies on.
    """
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.REQUEST_RETIREMENT):
        raise NotAllowed("Only the project's owners and data scientists can request retirement.")
    if not comment.strip():
        raise InvalidInput("Say why it should be retired.", field="comment")
    if deployment is not None and deployment.project_id != project.pk:
        raise InvalidInput("The deployment belongs to another project.", field="deployment")
    try:
        with transaction.atomic():
            locked = Project.objects.select_for_update().get(pk=project.pk)
            if locked.stage == Stage.RETIRED:
                raise Conflict("The project is already retired.", field="stage")
            if deployment is not None:
                current = Deployment.objects.get(pk=deployment.pk)
                if current.status != DeploymentStatus.LIVE:
                    raise Conflict(
                        f"Deployment {current.pk} is {current.status}; only a live deployment "
                        "can be retired.",
                        field="deployment",
                    )
            policy = policy_for(project=locked, gate=Gate.RETIREMENT)
            superseded: list[int] = []
            if policy.supersede_pending:
                # The older request goes before the new one exists, because a partial unique
                # index allows one pending retirement request per project.
                superseded = _supersede(project=locked, gate=Gate.RETIREMENT, by=None, user=user)
            elif _pending(project=locked, gate=Gate.RETIREMENT).exists():
                raise Conflict("The project already has a pending retirement request.")
            approval = ApprovalRequest.objects.create(
                project=locked,
                gate=Gate.RETIREMENT,
                deployment=deployment,
                iteration=deployment.iteration if deployment is not None else None,
                requested_by=user,
                comment=comment[:MAX_COMMENT_LENGTH],
            )
            target = (
                f"deployment {deployment.pk} of {locked.name}"
                if deployment is not None
                else f"the project {locked.name}"
            )
            decision_makers_notify(
                approval=approval,
                approver_ids=_approver_ids_or_none(policy),
                message=f"{user.username} requests retirement of {target}.",
            )
            audit_record(
                actor=user,
                action="retirement.requested",
                target=approval,
                project=locked,
                after={
                    "status": RequestStatus.PENDING,
                    "deployment": deployment.pk if deployment is not None else None,
                    "superseded": superseded,
                },
                message=approval.comment,
            )
    except IntegrityError as exc:
        raise Conflict("The project already has a pending retirement request.") from exc
    logger.info(
        "retirement request %s for project %s by user %s", approval.pk, project.slug, user.pk
    )
    return approval


def decision_maker_grant_check(*, project: Project, actor: User, member: User, role: str) -> None:
    """Raise NotAllowed when an owner would make themselves a decision maker of ``project``
    after requesting something in it. Call it before adding a membership."""
    if role != Role.DECISION_MAKER or actor.pk != member.pk:
        return
    if ApprovalRequest.objects.filter(project=project, requested_by=actor).exists():
        raise NotAllowed(
            "You have requested approvals in this project, so another owner must decide "
            "whether you become one of its decision makers.",
            field="role",
        )


def _self_granted_decision_maker(*, project: Project, user: User) -> bool:
    """Report whether ``user`` gave themselves the decision maker role in ``project``."""
    return AuditEvent.objects.filter(
        project=project,
        action="membership.added",
        actor_id=user.pk,
        after__user=user.get_username(),
        after__role=Role.DECISION_MAKER,
    ).exists()


def separation_of_duties_check(*, approval: ApprovalRequest, project: Project, user: User) -> None:
    """Raise NotAllowed when ``user`` may not approve ``approval`` by separation of duties.

    Rollout changes that widen an approved promotion call it too, so they need the same people.
    """
    if approval.requested_by_id == user.pk:
        raise NotAllowed(
            f"You requested this {approval.get_gate_display().lower()}, so another decision "
            "maker must approve it."
        )
    if (
        approval.gate == Gate.PROMOTION
        and approval.iteration is not None
        and approval.iteration.created_by_id == user.pk
    ):
        raise NotAllowed(
            "You trained this iteration, so another decision maker must approve its promotion."
        )
    if ApprovalRequest.objects.filter(
        project=project, requested_by=user
    ).exists() and _self_granted_decision_maker(project=project, user=user):
        raise NotAllowed(
            "You gave yourself the decision maker role in a project where you request "
            "approvals, so your approval does not count. Ask another decision maker."
        )


def _approver_check(*, policy: ApprovalPolicy, user: User) -> None:
    approver_ids = policy_approver_ids(policy)
    if approver_ids and user.pk not in approver_ids:
        raise NotAllowed(
            f"The {policy.get_gate_display().lower()} policy of this project names the decision "
            "makers who may decide, and you are not one of them."
        )


def _blocking_checks_error(failing: list[Check]) -> Conflict:
    lines = [f"{check.label}: {check.detail}" for check in failing]
    return Conflict(
        "Approval is blocked by failing checks: "
        + "; ".join(check.label.lower() for check in failing)
        + ". "
        + OVERRIDE_HINT,
        errors={"checks": lines, "override_justification": [OVERRIDE_HINT]},
    )


def _promotion_in_flight_check(*, project: Project, approval: ApprovalRequest) -> None:
    """Refuse to promote while another approved version of the project is still deploying.

    Called under the project's row lock, so a decision that committed a moment earlier is
    visible here and the second of two simultaneous approvals gets this 409.
    """
    in_flight = (
        Deployment.objects.filter(project=project, status__in=DEPLOYING_STATUSES)
        .exclude(approval=approval)
        .select_related("iteration")
        .first()
    )
    if in_flight is not None:
        raise Conflict(
            f"Iteration {in_flight.iteration.number} of this project was approved and its "
            f"deployment {in_flight.pk} is {in_flight.status}. Wait until it is live or has "
            "failed, then decide this request again."
        )


def _effects_apply(
    *, approval: ApprovalRequest, project: Project, user: User, comment: str
) -> None:
    """Carry out an approved request inside the deciding transaction."""
    if approval.gate == Gate.FRAMING:
        project_stage_transition(project=project, user=user, stage=Stage.APPROVED, message=comment)
        target_version_agree(project=project, user=user)
    elif approval.gate == Gate.PROMOTION:
        assert approval.iteration is not None
        if approval.canary_share is not None:
            # rollout_start refuses a canary when no version is live, and the decision fails
            # with it, because a canary with nothing beside it would serve every request.
            rollout_start(
                project=project,
                user=user,
                iteration=approval.iteration,
                mode=RolloutMode.CANARY,
                share=approval.canary_share,
            )
        else:
            deployment_create(
                project=project, iteration=approval.iteration, approval=approval, user=user
            )
    elif approval.gate == Gate.RETIREMENT:
        _retirement_apply(approval=approval, project=project, user=user)


def _retirement_apply(*, approval: ApprovalRequest, project: Project, user: User) -> None:
    reason = f"Retirement request {approval.pk} approved: {approval.comment}"
    if approval.deployment is not None:
        deployment_retire(deployment=approval.deployment, user=user, reason=reason)
        return
    # Queued deployments and open rollouts end with the live ones, so no deploy task that
    # finishes later can put the retired project back into service.
    project_deployments_retire(project=project, user=user, reason=reason)
    project_stage_transition(project=project, user=user, stage=Stage.RETIRED, message=reason)


def _rejection_apply(
    *, approval: ApprovalRequest, project: Project, user: User, comment: str
) -> None:
    if approval.gate == Gate.FRAMING:
        project_stage_transition(project=project, user=user, stage=Stage.REJECTED, message=comment)


def approval_decide(
    *,
    approval: ApprovalRequest,
    user: User,
    verdict: str,
    comment: str = "",
    override_justification: str = "",
) -> ApprovalRequest:
    """Record ``user``'s verdict on a pending request and apply it when it is final.

    Raises NotAllowed (403) for a role, policy or separation-of-duties violation, Conflict
    (409) when checks block the approval, the request is no longer pending, or another
    version of the project is being deployed, and InvalidInput (400) for a missing comment.
    """
    if verdict not in Verdict.values:
        raise InvalidInput(f"Unknown verdict '{verdict}'.", field="verdict")
    comment = comment.strip()[:MAX_COMMENT_LENGTH]
    justification = override_justification.strip()[:MAX_COMMENT_LENGTH]
    if verdict == Verdict.REQUEST_CHANGES and not comment:
        raise InvalidInput("Say which changes you need.", field="comment")
    if verdict == Verdict.REJECT and approval.gate != Gate.PROMOTION and not comment:
        raise InvalidInput(
            f"Say why the {approval.get_gate_display().lower()} is rejected.", field="comment"
        )
    try:
        with transaction.atomic():
            locked, final = _decide_locked(
                approval=approval,
                user=user,
                verdict=verdict,
                comment=comment,
                justification=justification,
            )
    except IntegrityError as exc:
        # The unique indexes catch a second approval by the same person, or a second live
        # deployment, that raced past the checks above.
        raise Conflict(
            "Another decision on this project was recorded at the same moment. Reload the "
            "request and decide again."
        ) from exc
    logger.info(
        "approval request %s of project %s: %s by user %s (%s)",
        locked.pk,
        locked.project.slug,
        verdict,
        user.pk,
        final,
    )
    return locked


def _decide_locked(
    *, approval: ApprovalRequest, user: User, verdict: str, comment: str, justification: str
) -> tuple[ApprovalRequest, str]:
    # Project first, request second, as in promotion_request, so two decisions do not wait
    # on each other's locks in opposite order.
    project = Project.objects.select_for_update().get(pk=approval.project_id)
    locked = (
        ApprovalRequest.objects.select_for_update(of=("self",))
        .select_related("iteration", "deployment", "requested_by")
        .get(pk=approval.pk)
    )
    locked.project = project
    gate_name = locked.get_gate_display().lower()
    if not roles_allow(project_roles(user=user, project_id=project.pk), Action.DECIDE):
        raise NotAllowed(f"Only the project's decision makers can decide a {gate_name} request.")
    policy = policy_for(project=project, gate=locked.gate)
    _approver_check(policy=policy, user=user)
    if locked.status != RequestStatus.PENDING:
        raise Conflict(
            f"This request is {locked.status}, so it cannot be decided any more.", field="status"
        )

    # Every decision records the checklist its decision maker saw, rejections included.
    checks: list[Check] = checks_evaluate(approval=locked, policy=policy)
    failing: list[Check] = []
    completing = False
    if verdict == Verdict.APPROVE:
        separation_of_duties_check(approval=locked, project=project, user=user)
        completing = _repeat_approval_check(locked=locked, policy=policy, user=user)
        failing = [check for check in checks if check.failed]
        if failing and not justification:
            raise _blocking_checks_error(failing)
        if locked.gate == Gate.PROMOTION:
            _promotion_in_flight_check(project=project, approval=locked)

    if completing:
        # The unique index allows one approval row per person, so the repeated approval
        # finalizes the request with the approvals already recorded and is audited instead.
        audit_record(
            actor=user,
            action=f"{locked.gate}.approval_completed",
            target=locked,
            project=project,
            after={
                "approvals": _approval_count(locked),
                "approvals_required": policy.approvals_required,
                "checks": checks_as_data(checks),
                "overridden_checks": [check.key for check in failing],
            },
            message=justification or comment,
        )
        _status_set(locked=locked, project=project, user=user, new_status=RequestStatus.APPROVED)
        _effects_apply(approval=locked, project=project, user=user, comment=comment)
        requester_notify(
            approval=locked,
            kind=f"{locked.gate}.{RequestStatus.APPROVED}",
            message=_decision_message(
                locked=locked, user=user, verdict=verdict, status=RequestStatus.APPROVED
            ),
        )
        return locked, RequestStatus.APPROVED

    overridden = [check.key for check in failing]
    decision = Decision.objects.create(
        request=locked,
        decided_by=user,
        verdict=verdict,
        comment=comment,
        checks=checks_as_data(checks),
        overridden_checks=overridden,
        override_justification=justification if overridden else "",
    )
    audit_record(
        actor=user,
        action=f"{locked.gate}.{verdict}",
        target=locked,
        project=project,
        after={"decision": decision.pk, "verdict": verdict, "checks": decision.checks},
        message=comment,
    )
    if overridden:
        audit_record(
            actor=user,
            action=f"{locked.gate}.override",
            target=locked,
            project=project,
            after={"decision": decision.pk, "overridden_checks": overridden},
            message=justification,
        )
        override_notify(
            approval=locked,
            decided_by_id=user.pk,
            message=(
                f"{user.username} approved {gate_name} request {locked.pk} of {project.name} "
                f"despite failing checks ({', '.join(overridden)}): {justification}"
            ),
        )

    new_status = _status_after(locked=locked, verdict=verdict, policy=policy)
    if new_status != RequestStatus.PENDING:
        _status_set(locked=locked, project=project, user=user, new_status=new_status)
        if new_status == RequestStatus.APPROVED:
            _effects_apply(approval=locked, project=project, user=user, comment=comment)
        else:
            _rejection_apply(approval=locked, project=project, user=user, comment=comment)
    requester_notify(
        approval=locked,
        kind=f"{locked.gate}.{new_status if new_status != RequestStatus.PENDING else verdict}",
        message=_decision_message(locked=locked, user=user, verdict=verdict, status=new_status),
    )
    return locked, new_status


def _latest_verdicts(approval: ApprovalRequest) -> dict[int, str]:
    """Return each decision maker's latest verdict on ``approval``, keyed by user id."""
    latest: dict[int, str] = {}
    # Decisions are ordered oldest first, so each later verdict replaces the earlier one.
    for decided_by_id, verdict in approval.decisions.order_by("created_at", "id").values_list(
        "decided_by_id", "verdict"
    ):
        latest[decided_by_id] = verdict
    return latest


def _approval_count(approval: ApprovalRequest) -> int:
    """Count the decision makers whose latest verdict on ``approval`` is an approval."""
    return sum(1 for verdict in _latest_verdicts(approval).values() if verdict == Verdict.APPROVE)


def _repeat_approval_check(*, locked: ApprovalRequest, policy: ApprovalPolicy, user: User) -> bool:
    """Return True when ``user``'s repeated approval completes the request.

    A decision maker who already approved may approve again once the policy is met by the
    approvals on record, for example after the policy was loosened. Returns False for a
    first approval and raises Conflict when the repeated approval changes nothing.
    """
    latest = _latest_verdicts(locked).get(user.pk)
    if latest == Verdict.APPROVE:
        approvals = _approval_count(locked)
        if approvals >= policy.approvals_required:
            return True
        missing = policy.approvals_required - approvals
        raise Conflict(
            f"You already approved this request. It has {approvals} of the "
            f"{policy.approvals_required} approvals its policy requires, so {missing} more "
            "decision maker(s) must approve it."
        )
    if locked.decisions.filter(decided_by=user, verdict=Verdict.APPROVE).exists():
        # NOTE: the unique index "decision_one_approval_per_person" stores one approval per
        # person, so an approval withdrawn by a later "request changes" cannot be given again.
        raise Conflict(
            "You asked for changes after approving this request, so your approval no longer "
            "counts and cannot be given again on it. The requester withdraws this request or "
            "opens a new one, which you can approve."
        )
    return False


def _status_after(*, locked: ApprovalRequest, verdict: str, policy: ApprovalPolicy) -> str:
    if verdict == Verdict.REJECT:
        return RequestStatus.REJECTED
    if verdict == Verdict.REQUEST_CHANGES:
        return RequestStatus.PENDING
    approvals = _approval_count(locked)
    return (
        RequestStatus.APPROVED if approvals >= policy.approvals_required else RequestStatus.PENDING
    )


def _status_set(*, locked: ApprovalRequest, project: Project, user: User, new_status: str) -> None:
    transition_check(
        table=REQUEST_TRANSITIONS,
        kind="approval request",
        current=locked.status,
        new=new_status,
    )
    before = locked.status
    locked.status = new_status
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_at"])
    after: dict[str, Any] = {"status": new_status}
    if locked.iteration is not None:
        after["iteration"] = locked.iteration.number
        after["model_version"] = locked.iteration.model_version
    audit_record(
        actor=user,
        action=f"{locked.gate}.{new_status}",
        target=locked,
        project=project,
        before={"status": before},
        after=after,
    )


def _decision_message(*, locked: ApprovalRequest, user: User, verdict: str, status: str) -> str:
    subject = f"{locked.get_gate_display().lower()} request {locked.pk} of {locked.project.name}"
    if status == RequestStatus.APPROVED:
        return f"{user.username} approved the {subject}."
    if status == RequestStatus.REJECTED:
        return f"{user.username} rejected the {subject}."
    if verdict == Verdict.REQUEST_CHANGES:
        return f"{user.username} requests changes to the {subject}."
    return f"{user.username} approved the {subject}; it needs more approvals."


def approval_approve(
    *,
    approval: ApprovalRequest,
    user: User,
    comment: str = "",
    override_justification: str = "",
) -> ApprovalRequest:
    """Approve a pending request of any gate."""
    return approval_decide(
        approval=approval,
        user=user,
        verdict=Verdict.APPROVE,
        comment=comment,
        override_justification=override_justification,
    )


def approval_reject(*, approval: ApprovalRequest, user: User, comment: str = "") -> ApprovalRequest:
    """Reject a pending request of any gate. Framing and retirement rejections need a comment."""
    return approval_decide(approval=approval, user=user, verdict=Verdict.REJECT, comment=comment)


def approval_request_changes(
    *, approval: ApprovalRequest, user: User, comment: str = ""
) -> ApprovalRequest:
    """Ask the requester for changes to a pending request.

    The request stays pending for the requester to withdraw or supersede with a new request.
    The other decision makers can still decide it, but ``user``'s earlier approval, if any,
    no longer counts towards the policy's ``approvals_required``.
    """
    return approval_decide(
        approval=approval, user=user, verdict=Verdict.REQUEST_CHANGES, comment=comment
    )


def _promotion_only(approval: ApprovalRequest) -> None:
    if approval.gate != Gate.PROMOTION:
        raise Conflict("This request is not a promotion request.")


def promotion_approve(
    *,
    approval: ApprovalRequest,
    user: User,
    comment: str = "",
    override_justification: str = "",
) -> ApprovalRequest:
    """Approve a pending promotion; its deployment is created in the same transaction."""
    _promotion_only(approval)
    return approval_approve(
        approval=approval, user=user, comment=comment, override_justification=override_justification
    )


def promotion_reject(
    *, approval: ApprovalRequest, user: User, comment: str = ""
) -> ApprovalRequest:
    """Reject a pending promotion. The iteration stays as it is and can be requested again."""
    _promotion_only(approval)
    return approval_reject(approval=approval, user=user, comment=comment)


def approval_withdraw(*, approval: ApprovalRequest, user: User) -> ApprovalRequest:
    """Withdraw a pending request of any gate. Only the person who made it can."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=approval.project_id)
        locked = ApprovalRequest.objects.select_for_update(of=("self",)).get(pk=approval.pk)
        locked.project = project
        if locked.requested_by_id != user.pk:
            raise NotAllowed("Only the person who made this request can withdraw it.")
        transition_check(
            table=REQUEST_TRANSITIONS,
            kind="approval request",
            current=locked.status,
            new=RequestStatus.WITHDRAWN,
        )
        locked.status = RequestStatus.WITHDRAWN
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=user,
            action=f"{locked.gate}.withdrawn",
            target=locked,
            project=project,
            before={"status": RequestStatus.PENDING},
            after={"status": RequestStatus.WITHDRAWN},
        )
    logger.info("approval request %s of project %s withdrawn", locked.pk, project.slug)
    return locked


promotion_withdraw = approval_withdraw
