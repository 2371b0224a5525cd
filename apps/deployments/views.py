"""Pages of the deployments area: the live version, rollouts and batch scoring.

Every write posts to a view that calls one service. Invalid input to a start or upload form
comes back as form errors on the deployments page. A rejected action on an existing rollout
comes back as a message after a redirect to the page it was posted from.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.core.errors import PortalError
from apps.core.users import authenticated_user
from apps.core.views import form_add_portal_error
from apps.deployments.forms import (
    BatchUploadForm,
    CanaryRolloutForm,
    RolloutShareForm,
    ShadowRolloutForm,
)
from apps.deployments.models import (
    BatchJob,
    BatchStatus,
    Rollout,
    RolloutMode,
    RolloutStatus,
)
from apps.deployments.selectors import (
    batch_get,
    live_deployment,
    project_batches,
    project_deployments,
    project_rollouts,
    rollout_comparison,
    rollout_get,
)
from apps.deployments.services import (
    batch_create,
    deployment_rollback,
    rollout_complete,
    rollout_share_set,
    rollout_start,
    rollout_stop,
)
from apps.projects.models import Project

OPEN_ROLLOUT_STATUSES = (RolloutStatus.PENDING, RolloutStatus.ACTIVE)
OPEN_BATCH_STATUSES = (BatchStatus.QUEUED, BatchStatus.RUNNING)


def _list_context(
    project: Project,
    *,
    shadow_form: ShadowRolloutForm | None = None,
    canary_form: CanaryRolloutForm | None = None,
    batch_form: BatchUploadForm | None = None,
) -> dict[str, Any]:
    live = live_deployment(project=project)
    rollouts = list(project_rollouts(project=project)[:10])
    open_rollout = next((r for r in rollouts if r.status in OPEN_ROLLOUT_STATUSES), None)
    return {
        "project": project,
        "deployments": list(project_deployments(project=project)),
        "live": live,
        "rollouts": rollouts,
        "open_rollout": open_rollout,
        "comparison": (
            rollout_comparison(rollout=open_rollout)
            if open_rollout is not None and open_rollout.status == RolloutStatus.ACTIVE
            else None
        ),
        "batches": list(project_batches(project=project)[:10]),
        "can_roll_back": Action.ROLL_BACK in project.user_actions,
        "can_manage_rollouts": Action.MANAGE_ROLLOUT in project.user_actions,
        "can_score_batches": Action.SCORE_BATCH in project.user_actions,
        "shadow_form": shadow_form or ShadowRolloutForm(project=project, live=live),
        "canary_form": canary_form or CanaryRolloutForm(project=project, live=live),
        "share_form": RolloutShareForm(
            initial={"share": round(open_rollout.share * 100, 2)} if open_rollout else None
        ),
        "batch_form": batch_form or BatchUploadForm(),
    }


@login_required
def deployment_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(request, "deployments/deployment_list.html", _list_context(project))


@login_required
@require_POST
def deployment_rollback_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.ROLL_BACK)
    try:
        restored = deployment_rollback(project=project, user=authenticated_user(request))
    except PortalError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Model version {restored.model_version} is live again.")
    return redirect("deployment-list", slug=project.slug)


@login_required
@require_POST
def rollout_start_view(request: HttpRequest, slug: str, mode: str) -> HttpResponse:
    """Start a shadow or canary rollout from the form of that mode on the deployments page."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.MANAGE_ROLLOUT)
    live = live_deployment(project=project)
    form: ShadowRolloutForm | CanaryRolloutForm
    if mode == RolloutMode.CANARY:
        form = CanaryRolloutForm(request.POST, project=project, live=live)
    else:
        form = ShadowRolloutForm(request.POST, project=project, live=live)
    if form.is_valid():
        try:
            rollout = rollout_start(
                project=project,
                user=authenticated_user(request),
                iteration=form.cleaned_data["iteration"],
                mode=mode,
                share=form.cleaned_data.get("share") or 0.0,
            )
        except PortalError as error:
            form_add_portal_error(form, error)
        else:
            messages.success(
                request,
                f"The {rollout.get_mode_display().lower()} rollout of iteration "
                f"{rollout.iteration.number} is being prepared: the model is loaded and "
                "checked before it sees traffic.",
            )
            return redirect("rollout-detail", slug=project.slug, rollout_id=rollout.pk)
    forms_by_mode: dict[str, Any] = {f"{mode}_form": form}
    return render(
        request,
        "deployments/deployment_list.html",
        _list_context(project, **forms_by_mode),
        status=400,
    )


def _rollout_context(project: Project, rollout_id: int) -> dict[str, Any]:
    rollout = rollout_get(project=project, rollout_id=rollout_id)
    return {
        "project": project,
        "rollout": rollout,
        "is_open": rollout.status in OPEN_ROLLOUT_STATUSES,
        "comparison": rollout_comparison(rollout=rollout),
        "can_manage_rollouts": Action.MANAGE_ROLLOUT in project.user_actions,
        "share_form": RolloutShareForm(initial={"share": round(rollout.share * 100, 2)}),
    }


@login_required
@require_GET
def rollout_detail(request: HttpRequest, slug: str, rollout_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(request, "deployments/rollout_detail.html", _rollout_context(project, rollout_id))


@login_required
@require_GET
def rollout_live(request: HttpRequest, slug: str, rollout_id: int) -> HttpResponse:
    """Render the comparison part of the rollout page, which HTMX polls while it is open."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(
        request, "deployments/rollout_detail.html#live", _rollout_context(project, rollout_id)
    )


@login_required
@require_POST
def rollout_share_view(request: HttpRequest, slug: str, rollout_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.MANAGE_ROLLOUT)
    rollout = rollout_get(project=project, rollout_id=rollout_id)
    form = RolloutShareForm(request.POST)
    if not form.is_valid():
        for message in form.errors.get("share", []):
            messages.error(request, f"Share of traffic: {message}")
        return _redirect_back(request, "rollout-detail", slug=project.slug, rollout_id=rollout.pk)
    try:
        updated = rollout_share_set(
            rollout=rollout, user=authenticated_user(request), share=form.cleaned_data["share"]
        )
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"The canary now answers {_percent(updated.share)} of the requests."
        )
    return _redirect_back(request, "rollout-detail", slug=project.slug, rollout_id=rollout.pk)


def _rollout_change(
    request: HttpRequest,
    slug: str,
    rollout_id: int,
    change: Callable[[Rollout, User], object],
    success: Callable[[Rollout], str],
) -> HttpResponse:
    """Apply ``change`` to a rollout, report the outcome as a message and go back."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.MANAGE_ROLLOUT)
    rollout = rollout_get(project=project, rollout_id=rollout_id)
    try:
        change(rollout, authenticated_user(request))
    except PortalError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success(rollout))
    return _redirect_back(request, "rollout-detail", slug=project.slug, rollout_id=rollout.pk)


@login_required
@require_POST
def rollout_stop_view(request: HttpRequest, slug: str, rollout_id: int) -> HttpResponse:
    return _rollout_change(
        request,
        slug,
        rollout_id,
        lambda rollout, user: rollout_stop(rollout=rollout, user=user),
        lambda rollout: f"Rollout {rollout.pk} stopped; the live version answers every request.",
    )


@login_required
@require_POST
def rollout_complete_view(request: HttpRequest, slug: str, rollout_id: int) -> HttpResponse:
    return _rollout_change(
        request,
        slug,
        rollout_id,
        lambda rollout, user: rollout_complete(rollout=rollout, user=user),
        lambda rollout: (
            f"Iteration {rollout.iteration.number} (model version {rollout.model_version}) "
            "is now the live version."
        ),
    )


@login_required
@require_POST
def batch_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.SCORE_BATCH)
    form = BatchUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            batch = batch_create(
                project=project,
                user=authenticated_user(request),
                uploaded_file=form.cleaned_data["file"],
            )
        except PortalError as error:
            form_add_portal_error(form, error)
        else:
            messages.success(request, f"Batch {batch.pk} queued for scoring.")
            return redirect("batch-detail", slug=project.slug, batch_id=batch.pk)
    return render(
        request,
        "deployments/deployment_list.html",
        _list_context(project, batch_form=form),
        status=400,
    )


def _batch_context(project: Project, batch_id: int) -> dict[str, Any]:
    batch = batch_get(project=project, batch_id=batch_id)
    return {
        "project": project,
        "batch": batch,
        "is_open": batch.status in OPEN_BATCH_STATUSES,
        "progress_percent": _batch_percent(batch),
        "can_download": Action.SCORE_BATCH in project.user_actions,
    }


@login_required
@require_GET
def batch_detail(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(request, "deployments/batch_detail.html", _batch_context(project, batch_id))


@login_required
@require_GET
def batch_progress(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse:
    """Render the progress part of the batch page, which HTMX polls while it is queued or
    running."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    return render(
        request, "deployments/batch_detail.html#progress", _batch_context(project, batch_id)
    )


@login_required
@require_GET
def batch_download(request: HttpRequest, slug: str, batch_id: int) -> HttpResponse | FileResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.SCORE_BATCH)
    batch = batch_get(project=project, batch_id=batch_id)
    if batch.status != BatchStatus.SUCCEEDED or not batch.output_file:
        messages.error(request, f"Batch {batch.pk} is {batch.status}; it has no scored file yet.")
        return redirect("batch-detail", slug=project.slug, batch_id=batch.pk)
    return FileResponse(
        batch.output_file.open("rb"),
        as_attachment=True,
        filename=f"{project.slug}-batch-{batch.pk}-scored.csv",
        content_type="text/csv",
    )


def _batch_percent(batch: BatchJob) -> int:
    if batch.status == BatchStatus.SUCCEEDED:
        return 100
    if not batch.rows_total:
        return 0
    return min(100, int(100 * batch.rows_done / batch.rows_total))


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def _redirect_back(request: HttpRequest, fallback: str, **kwargs: Any) -> HttpResponse:
    """Redirect to the same-site page named in the form's ``next`` field, or to ``fallback``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback, **kwargs)
