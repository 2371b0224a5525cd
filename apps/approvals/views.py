from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.models import Membership, Role
from apps.accounts.permissions import Action
from apps.approvals.evidence import approval_evidence
from apps.approvals.forms import DecisionForm, PolicyForm, RetirementRequestForm
from apps.approvals.models import ApprovalRequest, Gate, Verdict
from apps.approvals.policies import (
    CHECK_FIELDS,
    policy_for,
    policy_rights,
    policy_snapshot,
    policy_update,
)
from apps.approvals.selectors import approval_get_for_user, inbox_for_user
from apps.approvals.services import approval_decide, approval_withdraw, retirement_request
from apps.core.errors import PortalError
from apps.core.users import authenticated_user
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.selectors import iteration_verdicts
from apps.projects.models import SuccessMetric


def _with_evidence(approvals: Iterable[ApprovalRequest]) -> list[dict[str, Any]]:
    """Pair each request with its verdicts, checklist, spec diff and charts."""
    approvals = list(approvals)
    metrics_by_project: dict[int, list[SuccessMetric]] = defaultdict(list)
    project_ids = {approval.project_id for approval in approvals}
    for metric in SuccessMetric.objects.filter(project_id__in=project_ids).order_by(
        "position", "id"
    ):
        metrics_by_project[metric.project_id].append(metric)
    items = []
    for approval in approvals:
        metrics = metrics_by_project[approval.project_id]
        items.append(
            {
                "approval": approval,
                "metrics": metrics,
                "verdicts": (
                    iteration_verdicts(iteration=approval.iteration, metrics=metrics)
                    if approval.iteration is not None
                    else []
                ),
                **approval_evidence(approval=approval, metrics=metrics),
            }
        )
    return items


@login_required
def approval_inbox(request: HttpRequest) -> HttpResponse:
    items = _with_evidence(inbox_for_user(user=request.user))
    return render(
        request, "approvals/approval_inbox.html", {"items": items, "form": DecisionForm()}
    )


@login_required
def approval_detail(request: HttpRequest, pk: int) -> HttpResponse:
    approval = approval_get_for_user(user=request.user, approval_id=pk, action=Action.VIEW)
    (item,) = _with_evidence([approval])
    return render(
        request,
        "approvals/approval_detail.html",
        {
            "item": item,
            "approval": approval,
            "project": approval.project,
            "can_decide": Action.DECIDE in approval.project.user_actions,
            "can_withdraw": approval.requested_by_id == request.user.pk,
            "form": DecisionForm(),
        },
    )


def _back(request: HttpRequest, approval_pk: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("approval-detail", pk=approval_pk)


def _decide(request: HttpRequest, pk: int, verdict: str, done_message: str) -> HttpResponse:
    approval = approval_get_for_user(user=request.user, approval_id=pk, action=Action.DECIDE)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    else:
        try:
            approval_decide(
                approval=approval,
                user=authenticated_user(request),
                verdict=verdict,
                comment=form.cleaned_data["comment"],
                override_justification=form.cleaned_data["override_justification"],
            )
        except PortalError as error:
            messages.error(request, error.message)
            for line in error.errors.get("checks", []):
                messages.error(request, line)
        else:
            messages.success(request, done_message.format(approval=approval))
    return _back(request, approval.pk)


@login_required
@require_POST
def approval_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, Verdict.APPROVE, "You approved request {approval.pk}.")


@login_required
@require_POST
def approval_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, Verdict.REJECT, "You rejected request {approval.pk}.")


@login_required
@require_POST
def approval_request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request, pk, Verdict.REQUEST_CHANGES, "You asked for changes to request {approval.pk}."
    )


@login_required
@require_POST
def approval_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    approval = approval_get_for_user(user=request.user, approval_id=pk, action=Action.VIEW)
    try:
        approval_withdraw(approval=approval, user=authenticated_user(request))
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"You withdrew request {approval.pk}.")
    return _back(request, approval.pk)


def _limit_to_tightening(form: PolicyForm, snapshot: dict[str, Any]) -> None:
    """Disable or bound the inputs whose change would loosen the policy.

    A disabled field keeps its stored value when the form is posted, so a member who may only
    tighten cannot loosen it from this page. ``policy_update`` enforces the rule for every caller.
    """
    for field in (*CHECK_FIELDS, "require_framing_signoff"):
        if snapshot.get(field):
            form.fields[field].disabled = True
    form.fields["approvals_required"].widget.attrs["min"] = snapshot["approvals_required"]
    form.fields["regression_tolerance"].widget.attrs["max"] = snapshot["regression_tolerance"]


@login_required
def policy_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Show every gate's policy and let each member change what their roles allow.

    Owners, data scientists and decision makers may tighten a policy; only decision makers
    may loosen it. One form post changes one gate.
    """
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    rights = policy_rights(roles=project.user_roles)
    choices = list(
        Membership.objects.filter(project=project, role=Role.DECISION_MAKER)
        .order_by("user__username")
        .values_list("user__username", "user__username")
    )
    snapshots = {
        gate: policy_snapshot(policy_for(project=project, gate=gate), project=project)
        for gate in Gate.values
    }
    forms_by_gate: dict[str, PolicyForm] = {
        gate: PolicyForm(initial=snapshots[gate], approver_choices=choices, prefix=gate)
        for gate in Gate.values
    }
    if request.method == "POST":
        if not rights.can_edit:
            raise PermissionDenied(
                "Only the project's owners, data scientists and decision makers can change "
                "its policies."
            )
        gate = request.POST.get("gate", "")
        if gate not in Gate.values:
            messages.error(request, "Choose a gate: framing, promotion or retirement.")
            return redirect("approval-policy", slug=slug)
        form = PolicyForm(
            request.POST, initial=snapshots[gate], approver_choices=choices, prefix=gate
        )
        if not rights.can_loosen:
            _limit_to_tightening(form, snapshots[gate])
        forms_by_gate[gate] = form
        if form.is_valid():
            changes = dict(form.cleaned_data)
            if gate != Gate.PROMOTION:
                # Only promotions have automatic checks, so their form shows no check fields.
                changes = {
                    key: changes[key]
                    for key in ("approvals_required", "approvers", "supersede_pending")
                }
            elif changes["regression_tolerance"] is None:
                del changes["regression_tolerance"]
            try:
                policy_update(
                    project=project, gate=gate, user=authenticated_user(request), changes=changes
                )
            except PortalError as error:
                messages.error(request, error.message)
                # Show the error next to the input it is about, as well as at the top.
                for field_name, field_errors in error.errors.items():
                    if field_name in form.fields:
                        for field_error in field_errors:
                            form.add_error(field_name, field_error)
            else:
                messages.success(request, f"Saved the {Gate(gate).label.lower()} policy.")
                return redirect("approval-policy", slug=slug)
    for gate, form in forms_by_gate.items():
        if not rights.can_edit:
            for field in form.fields.values():
                field.disabled = True
        elif not rights.can_loosen and not form.is_bound:
            _limit_to_tightening(form, snapshots[gate])
    return render(
        request,
        "approvals/policy_edit.html",
        {
            "project": project,
            "can_edit": rights.can_edit,
            "can_loosen": rights.can_loosen,
            "gates": [(gate, Gate(gate).label, forms_by_gate[gate]) for gate in Gate.values],
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
def retirement_request_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask the decision makers to retire a live deployment or the whole project."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.REQUEST_RETIREMENT)
    live = Deployment.objects.filter(project=project, status=DeploymentStatus.LIVE).select_related(
        "iteration"
    )
    choices = [
        (deployment.pk, f"Iteration {deployment.iteration.number} in {deployment.environment}")
        for deployment in live
    ]
    form = RetirementRequestForm(request.POST or None, deployment_choices=choices)
    if request.method == "POST" and form.is_valid():
        deployment_id = form.cleaned_data["deployment"]
        try:
            approval = retirement_request(
                project=project,
                user=authenticated_user(request),
                deployment=live.get(pk=deployment_id) if deployment_id else None,
                comment=form.cleaned_data["comment"],
            )
        except PortalError as error:
            field = next((name for name in error.errors if name in form.fields), None)
            form.add_error(field, error.message)
        else:
            messages.success(request, "Retirement requested; the decision makers are notified.")
            return redirect("approval-detail", pk=approval.pk)
    return render(
        request,
        "approvals/retirement_form.html",
        {"project": project, "form": form},
        status=400 if request.method == "POST" else 200,
    )
