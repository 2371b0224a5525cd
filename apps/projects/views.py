import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.models import Membership
from apps.accounts.permissions import Action
from apps.accounts.services import membership_add, membership_remove
from apps.approvals.framing import framing_signoff_request
from apps.core.errors import PortalError
from apps.core.views import form_add_portal_error
from apps.dashboards.selectors import framing_status, target_version_list
from apps.iterations.models import Iteration
from apps.iterations.selectors import iteration_get
from apps.projects.discussion import comment_post
from apps.projects.forms import (
    CommentForm,
    FramingForm,
    MemberForm,
    MemberFormSet,
    MetricFormSet,
    ObservationForm,
    ProjectForm,
    SignoffRequestForm,
    filled_forms,
    framing_initial,
    metric_initial,
    model_metric_names,
    place_service_error,
    project_initial,
)
from apps.projects.framing import SUITABILITY_QUESTIONS
from apps.projects.models import Comment, Project, Stage
from apps.projects.observations import metric_observation_post
from apps.projects.selectors import comment_list
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


@login_required
def project_framing(request: HttpRequest, slug: str) -> HttpResponse:
    action = Action.EDIT_PROJECT if request.method == "POST" else Action.VIEW
    project = project_get_for_user(user=request.user, slug=slug, action=action)
    can_edit = Action.EDIT_PROJECT in project.user_actions
    metrics = list(project.metrics.all())
    form: FramingForm | None = None
    metric_formset = None
    if can_edit:
        data = request.POST or None
        form = FramingForm(data, initial=framing_initial(project))
        metric_formset = MetricFormSet(data, prefix="metrics", initial=metric_initial(metrics))
    if (
        request.method == "POST"
        and form is not None
        and metric_formset is not None
        and _all_valid(form, metric_formset)
    ):
        metric_rows = filled_forms(metric_formset)
        try:
            saved = project_update(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                metrics=[row.to_input() for row in metric_rows],  # type: ignore[attr-defined]
                **form.framing_fields(),
            )
        except PortalError as error:
            place_service_error(
                error, form=form, formsets={"metrics": (metric_formset, metric_rows)}
            )
        else:
            messages.success(request, "Framing saved.")
            if saved.stage != project.stage:
                messages.warning(
                    request, "The targets changed, so the framing needs a new sign-off."
                )
            return redirect("project-framing", slug=project.slug)
    answers = project.suitability or {}
    return render(
        request,
        "projects/project_framing.html",
        {
            "project": project,
            "metrics": metrics,
            "form": form,
            "metric_formset": metric_formset,
            "metric_names": model_metric_names(project.task_type),
            "checklist": [
                (question, answers.get(question.key)) for question in SUITABILITY_QUESTIONS
            ],
            "framing": framing_status(project=project),
            "signoff_form": SignoffRequestForm(),
            "can_request_signoff": can_edit and project.stage in (Stage.FRAMING, Stage.REJECTED),
        },
    )


@login_required
@require_POST
def project_framing_signoff(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.EDIT_PROJECT)
    form = SignoffRequestForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("comment", []):
            messages.error(request, str(error))
    else:
        try:
            framing_signoff_request(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                comment=form.cleaned_data["comment"],
            )
        except PortalError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Framing sent to the decision makers for sign-off.")
    return redirect("project-framing", slug=project.slug)


@login_required
def project_targets(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(
        request,
        "projects/project_targets.html",
        {"project": project, "versions": target_version_list(project=project)},
    )


@login_required
@require_POST
def project_comment(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.COMMENT)
    return _comment_post(request, project, iteration=None)


@login_required
@require_POST
def iteration_comment(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.COMMENT)
    iteration = iteration_get(project=project, number=number)
    return _comment_post(request, project, iteration=iteration)


@login_required
@require_POST
def project_observation(request: HttpRequest, slug: str) -> HttpResponse:
    """Post a metric value from the project page, then return to it with the outcome as a message."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.POST_OBSERVATION)
    form = ObservationForm(request.POST)
    if form.is_valid():
        try:
            observation = metric_observation_post(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                metric_name=form.cleaned_data["metric"],
                value=form.cleaned_data["value"],
                observed_on=form.cleaned_data["observed_on"],
                note=form.cleaned_data["note"],
            )
        except PortalError as error:
            form_add_portal_error(form, error)
        else:
            messages.success(
                request,
                f"Recorded {observation.metric_name} = {observation.value:g} "
                f"for {observation.observed_on:%d %b %Y}.",
            )
    # The form lives on the project page, which another app renders, so errors travel as
    # messages rather than as a re-rendered bound form.
    for field, errors in form.errors.items():
        label = ""
        if field in form.fields:
            label = str(form.fields[field].label or field.replace("_", " ")).capitalize()
        for message in errors:
            messages.error(request, f"{label}: {message}" if label else str(message))
    return redirect(f"{reverse('project-detail', args=[project.slug])}#observations")


def _comment_post(
    request: HttpRequest, project: Project, *, iteration: Iteration | None
) -> HttpResponse:
    """Post a comment, then return the refreshed discussion to HTMX and a redirect to browsers."""
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            comment_post(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                body=form.cleaned_data["body"],
                iteration_id=iteration.pk if iteration is not None else None,
            )
        except PortalError as error:
            form_add_portal_error(form, error)
        else:
            form = CommentForm()
    if request.headers.get("HX-Request") != "true":
        for message in form.errors.get("body", []):
            messages.error(request, str(message))
        page = (
            reverse("iteration-detail", args=[project.slug, iteration.number])
            if iteration is not None
            else reverse("project-detail", args=[project.slug])
        )
        return redirect(f"{page}#discussion")
    return render(
        request,
        "projects/discussion.html",
        discussion_context(project=project, iteration=iteration, form=form),
    )


def discussion_context(
    *,
    project: Project,
    iteration: Iteration | None,
    form: CommentForm | None = None,
    comments: list[Comment] | None = None,
) -> dict[str, Any]:
    """Return what ``projects/discussion.html`` needs for a project or one of its iterations.

    The project page lists every comment, those on iterations included; an iteration page
    lists only its own. Pass ``comments`` when a selector has already loaded them.
    """
    if iteration is None:
        post_url = reverse("project-comment", args=[project.slug])
        if comments is None:
            comments = list(comment_list(project=project))
    else:
        post_url = reverse("iteration-comment", args=[project.slug, iteration.number])
        if comments is None:
            comments = list(comment_list(project=project, iteration_number=iteration.number))
    return {
        "project": project,
        "comments": comments,
        "comment_form": form or CommentForm(),
        "comment_url": post_url,
        "can_comment": Action.COMMENT in project.user_actions,
        "show_iteration": iteration is None,
    }


def _all_valid(*forms_and_formsets: Any) -> bool:
    # Validate every form so that all errors show at once, not only the first invalid one.
    results = [item.is_valid() for item in forms_and_formsets]
    return all(results)
