from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.permissions import Action
from apps.approvals import services
from apps.approvals.forms import DecisionForm
from apps.approvals.models import ApprovalRequest
from apps.approvals.selectors import approval_get_for_user, inbox_for_user
from apps.core.errors import PortalError
from apps.iterations.selectors import iteration_verdicts
from apps.projects.models import SuccessMetric


def _with_evidence(approvals: Iterable[ApprovalRequest]) -> list[dict[str, Any]]:
    """Pair each request with its iteration's verdicts, reading all metrics in one query."""
    approvals = list(approvals)
    metrics_by_project: dict[int, list[SuccessMetric]] = defaultdict(list)
    project_ids = {approval.project_id for approval in approvals}
    for metric in SuccessMetric.objects.filter(project_id__in=project_ids).order_by(
        "position", "id"
    ):
        metrics_by_project[metric.project_id].append(metric)
    return [
        {
            "approval": approval,
            "metrics": metrics_by_project[approval.project_id],
            "verdicts": (
                iteration_verdicts(
                    iteration=approval.iteration, metrics=metrics_by_project[approval.project_id]
                )
                if approval.iteration is not None
                else []
            ),
        }
        for approval in approvals
    ]


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
            "form": DecisionForm(),
        },
    )


def _decide(
    request: HttpRequest,
    pk: int,
    service: Callable[..., ApprovalRequest],
    done_message: str,
) -> HttpResponse:
    approval = approval_get_for_user(user=request.user, approval_id=pk, action=Action.DECIDE)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("comment", []):
            messages.error(request, str(error))
    else:
        try:
            service(approval=approval, user=request.user, comment=form.cleaned_data["comment"])
        except PortalError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, done_message.format(approval=approval))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("approval-detail", pk=approval.pk)


@login_required
@require_POST
def approval_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, services.approval_approve, "You approved request {approval.pk}.")


@login_required
@require_POST
def approval_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, services.approval_reject, "You rejected request {approval.pk}.")
