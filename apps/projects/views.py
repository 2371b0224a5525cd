import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.models import Membership
from apps.accounts.permissions import Action
from apps.accounts.services import membership_add, membership_remove
from apps.core.errors import PortalError
from apps.core.views import form_add_portal_error
from apps.projects.forms import (
    MemberForm,
    MemberFormSet,
    MetricFormSet,
    ProjectForm,
    filled_forms,
    metric_initial,
    model_metric_names,
    place_service_error,
    project_initial,
)
from apps.projects.services import project_create, project_update

logger = logging.getLogger(__name__)


@login_required
def project_create_view(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    metric_formset = MetricFormSet(request.POST or None, prefix="metrics")
    member_formset = MemberFormSet(request.POST or None, prefix="members")
    if request.method == "POST" and _all_valid(form, metric_formset, member_formset):
        metric_rows = filled_forms(metric_formset)
        member_rows = filled_forms(member_formset)
        try:
            project = project_create(
                user=request.user,  # type: ignore[arg-type]
                task_type=form.cleaned_data["task_type"],
                metrics=[row.to_input() for row in metric_rows],  # type: ignore[attr-defined]
                members=[row.to_input() for row in member_rows],  # type: ignore[attr-defined]
                **form.plan_fields(),
            )
        except PortalError as error:
            place_service_error(
                error,
                form=form,
                formsets={
                    "metrics": (metric_formset, metric_rows),
                    "members": (member_formset, member_rows),
                },
            )
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("project-detail", slug=project.slug)
    return render(
        request,
        "projects/project_form.html",
        {
            "form": form,
            "metric_formset": metric_formset,
            "member_formset": member_formset,
            "metric_names": model_metric_names(),
            "creating": True,
        },
    )


@login_required
def project_edit(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.EDIT_PROJECT)
    data = request.POST or None
    form = ProjectForm(data, initial=project_initial(project), editing=True)
    metric_formset = MetricFormSet(
        data, prefix="metrics", initial=metric_initial(list(project.metrics.all()))
    )
    if request.method == "POST" and _all_valid(form, metric_formset):
        metric_rows = filled_forms(metric_formset)
        try:
            project_update(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                metrics=[row.to_input() for row in metric_rows],  # type: ignore[attr-defined]
                **form.plan_fields(),
            )
        except PortalError as error:
            place_service_error(
                error, form=form, formsets={"metrics": (metric_formset, metric_rows)}
            )
        else:
            messages.success(request, "Project saved.")
            return redirect("project-detail", slug=project.slug)
    return render(
        request,
        "projects/project_form.html",
        {
            "project": project,
            "form": form,
            "metric_formset": metric_formset,
            "metric_names": model_metric_names(project.task_type),
            "creating": False,
        },
    )


@login_required
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.MANAGE_MEMBERS)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = (
            get_user_model()
            .objects.filter(username=form.cleaned_data["username"].strip(), is_active=True)
            .first()
        )
        if member is None:
            form.add_error("username", f"No active user named '{form.cleaned_data['username']}'.")
        else:
            try:
                membership_add(
                    project=project,
                    actor=request.user,  # type: ignore[arg-type]
                    member=member,
                    role=form.cleaned_data["role"],
                )
            except PortalError as error:
                form_add_portal_error(form, error)
            else:
                messages.success(
                    request, f"{member.get_username()} added as {form.cleaned_data['role']}."
                )
                return redirect("project-members", slug=project.slug)
    memberships = Membership.objects.filter(project=project).select_related("user")
    return render(
        request,
        "projects/project_members.html",
        {
            "project": project,
            "form": form,
            "memberships": memberships.order_by("user__username", "role"),
        },
    )


@login_required
@require_POST
def project_member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.MANAGE_MEMBERS)
    membership = get_object_or_404(
        Membership.objects.select_related("user", "project"), pk=membership_id, project=project
    )
    try:
        membership_remove(membership=membership, actor=request.user)  # type: ignore[arg-type]
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Removed {membership.user.get_username()} as {membership.get_role_display()}."
        )
    return redirect("project-members", slug=project.slug)


def _all_valid(*forms_and_formsets: Any) -> bool:
    # Validate every form so that all errors show at once, not only the first invalid one.
    results = [item.is_valid() for item in forms_and_formsets]
    return all(results)
