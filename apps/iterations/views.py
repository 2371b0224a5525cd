from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.approvals.models import RequestStatus
from apps.approvals.selectors import project_approvals
from apps.approvals.services import promotion_request
from apps.core.errors import PortalError
from apps.core.views import form_add_portal_error
from apps.deployments.selectors import project_deployments
from apps.iterations.forms import (
    IterationLinkForm,
    IterationStartForm,
    PromotionRequestForm,
    SpecUploadForm,
)
from apps.iterations.linking import iteration_link
from apps.iterations.models import IterationStatus
from apps.iterations.progress import PROGRESS_STAGES, STAGE_DONE, progress_percent
from apps.iterations.selectors import iteration_get, iteration_verdicts
from apps.iterations.services import iteration_cancel, iteration_retry, iteration_start
from apps.iterations.specs import iteration_reproduce, iteration_start_from_spec, spec_from_upload
from apps.projects.models import Project
from apps.projects.views import discussion_context


@login_required
def iteration_create(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.START_ITERATION)
    initial: dict[str, Any] = {"dataset": request.GET.get("dataset"), "params": {}, "seed": 0}
    form = IterationStartForm(request.POST or None, project=project, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            iteration = iteration_start(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                dataset_id=form.cleaned_data["dataset"].pk,
                recipe=form.cleaned_data["recipe"],
                params=form.cleaned_data["params"],
                seed=form.cleaned_data["seed"],
            )
        except PortalError as error:
            form_add_portal_error(form, error)
        else:
            messages.success(request, f"Iteration {iteration.number} queued.")
            return redirect("iteration-detail", slug=project.slug, number=iteration.number)
    return render(
        request,
        "iterations/iteration_form.html",
        {
            "project": project,
            "form": form,
            "spec_form": SpecUploadForm(),
            "link_form": IterationLinkForm(project=project),
        },
    )


@login_required
@require_POST
def iteration_link_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.START_ITERATION)
    link_form = IterationLinkForm(request.POST, project=project)
    if link_form.is_valid():
        try:
            iteration = iteration_link(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                mlflow_run_id=link_form.cleaned_data["mlflow_run_id"],
                dataset_id=link_form.cleaned_data["dataset"].pk,
                seed=link_form.cleaned_data["seed"],
            )
        except PortalError as error:
            form_add_portal_error(link_form, error)
        else:
            messages.success(
                request,
                f"MLflow run {iteration.mlflow_run_id} linked as iteration {iteration.number}.",
            )
            return redirect("iteration-detail", slug=project.slug, number=iteration.number)
    form = IterationStartForm(project=project, initial={"params": {}, "seed": 0})
    return render(
        request,
        "iterations/iteration_form.html",
        {"project": project, "form": form, "spec_form": SpecUploadForm(), "link_form": link_form},
    )


@login_required
@require_POST
def iteration_create_from_spec(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.START_ITERATION)
    spec_form = SpecUploadForm(request.POST, request.FILES)
    if spec_form.is_valid():
        try:
            spec = spec_from_upload(spec_form.cleaned_data["file"])
            iteration = iteration_start_from_spec(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                spec=spec,
            )
        except PortalError as error:
            # Spec errors name keys such as spec.seed, which the upload form has no field for.
            for field, field_messages in error.errors.items():
                for message in field_messages:
                    spec_form.add_error(
                        "file", message if field == "file" else f"{field}: {message}"
                    )
            if not error.errors:
                spec_form.add_error("file", error.message)
        else:
            messages.success(request, f"Iteration {iteration.number} queued from the spec.")
            return redirect("iteration-detail", slug=project.slug, number=iteration.number)
    form = IterationStartForm(project=project, initial={"params": {}, "seed": 0})
    return render(
        request,
        "iterations/iteration_form.html",
        {
            "project": project,
            "form": form,
            "spec_form": spec_form,
            "link_form": IterationLinkForm(project=project),
        },
    )


def _progress_steps(progress: dict[str, Any], *, succeeded: bool) -> list[dict[str, str]]:
    """Return each training stage with its state: done, current or pending."""
    stage = progress.get("stage") if isinstance(progress, dict) else None
    current = PROGRESS_STAGES.index(stage) if stage in PROGRESS_STAGES else -1
    if succeeded or stage == STAGE_DONE:
        # The last recorded stage finished too once the run succeeded.
        current = len(PROGRESS_STAGES)
    steps = []
    for position, name in enumerate(PROGRESS_STAGES):
        if position < current:
            state = "done"
        elif position == current:
            state = "current"
        else:
            state = "pending"
        steps.append({"name": name, "state": state})
    return steps


def _iteration_context(project: Project, number: int) -> dict[str, Any]:
    iteration = iteration_get(project=project, number=number)
    approvals = list(project_approvals(project=project).filter(iteration=iteration))
    return {
        "project": project,
        "iteration": iteration,
        "progress_steps": _progress_steps(
            iteration.progress, succeeded=iteration.status == IterationStatus.SUCCEEDED
        ),
        "progress_percent": progress_percent(iteration.progress),
        "verdicts": iteration_verdicts(iteration=iteration, metrics=list(project.metrics.all())),
        "approvals": approvals,
        "has_pending_promotion": any(a.status == RequestStatus.PENDING for a in approvals),
        "deployments": list(project_deployments(project=project).filter(iteration=iteration)),
        "promotion_form": PromotionRequestForm(),
    }


@login_required
def iteration_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    context = _iteration_context(project, number)
    # Only the full page carries the discussion, so the status poll does not reload comments.
    context |= discussion_context(project=project, iteration=context["iteration"])
    return render(request, "iterations/iteration_detail.html", context)


@login_required
def iteration_status(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Render the live part of the iteration page, which HTMX polls while the run is active."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(
        request, "iterations/iteration_detail.html#live", _iteration_context(project, number)
    )


@login_required
@require_POST
def iteration_cancel_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.START_ITERATION)
    iteration = iteration_get(project=project, number=number)
    try:
        iteration_cancel(iteration=iteration, user=request.user)  # type: ignore[arg-type]
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Iteration {number} cancelled.")
    return redirect("iteration-detail", slug=project.slug, number=number)


@login_required
@require_POST
def iteration_reproduce_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.START_ITERATION)
    iteration = iteration_get(project=project, number=number)
    try:
        rerun = iteration_reproduce(iteration=iteration, user=request.user)  # type: ignore[arg-type]
    except PortalError as error:
        messages.error(request, error.message)
        return redirect("iteration-detail", slug=project.slug, number=number)
    messages.success(request, f"Iteration {rerun.number} queued to reproduce iteration {number}.")
    return redirect("iteration-detail", slug=project.slug, number=rerun.number)


@login_required
@require_POST
def iteration_retry_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.START_ITERATION)
    iteration = iteration_get(project=project, number=number)
    try:
        retry = iteration_retry(iteration=iteration, user=request.user)  # type: ignore[arg-type]
    except PortalError as error:
        messages.error(request, error.message)
        return redirect("iteration-detail", slug=project.slug, number=number)
    messages.success(request, f"Iteration {retry.number} queued to retry iteration {number}.")
    return redirect("iteration-detail", slug=project.slug, number=retry.number)


@login_required
@require_POST
def iteration_promote(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Request a promotion, or a canary at a share of traffic when the form gives one.

    Errors in the form's own fields re-render the iteration page with the errors under the
    fields. Any other rejection comes back as a message on the page the form was posted from.
    """
    project = project_get_for_user(user=request.user, slug=slug, action=Action.REQUEST_PROMOTION)
    iteration = iteration_get(project=project, number=number)
    form = PromotionRequestForm(request.POST)
    if not form.is_valid():
        return _promotion_form_invalid(request, project, number, form)
    canary_share = form.cleaned_data["canary_share"]
    try:
        promotion_request(
            iteration=iteration,
            user=request.user,  # type: ignore[arg-type]
            comment=form.cleaned_data["comment"],
            canary_share=canary_share,
        )
    except PortalError as error:
        if any(field in form.fields for field in error.errors):
            form_add_portal_error(form, error)
            return _promotion_form_invalid(request, project, number, form)
        messages.error(request, error.message)
    else:
        if canary_share is None:
            message = f"Promotion of iteration {number} requested from the decision makers."
        else:
            message = (
                f"Promotion of iteration {number} as a canary at {canary_share * 100:g}% of "
                "traffic requested from the decision makers."
            )
        messages.success(request, message)
    return _redirect_back(request, "iteration-detail", slug=project.slug, number=number)


def _promotion_form_invalid(
    request: HttpRequest, project: Project, number: int, form: PromotionRequestForm
) -> HttpResponse:
    context = _iteration_context(project, number)
    context["promotion_form"] = form
    context |= discussion_context(project=project, iteration=context["iteration"])
    return render(request, "iterations/iteration_detail.html", context, status=400)


def _redirect_back(request: HttpRequest, fallback: str, **kwargs: Any) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback, **kwargs)
