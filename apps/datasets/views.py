from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.core.errors import PayloadTooLarge, PortalError
from apps.core.views import form_add_portal_error
from apps.datasets.forms import DatasetUploadForm
from apps.datasets.ingest import target_warnings, upload_length_check
from apps.datasets.models import DatasetVersion
from apps.datasets.selectors import dataset_get
from apps.datasets.services import dataset_create
from apps.projects.models import Project


@csrf_exempt  # The size check must run before the CSRF check parses the body.
@login_required
def dataset_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.UPLOAD_DATASET)
    if request.method == "POST":
        try:
            upload_length_check(request.META, max_bytes=settings.DATASET_MAX_UPLOAD_BYTES)
        except PayloadTooLarge as error:
            context = {"project": project, "form": DatasetUploadForm(), "upload_error": error}
            return render(request, "datasets/dataset_form.html", context, status=413)
    return _dataset_form_submit(request, project)


@csrf_protect
def _dataset_form_submit(request: HttpRequest, project: Project) -> HttpResponse:
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(
                project=project,
                user=request.user,  # type: ignore[arg-type]
                uploaded_file=form.cleaned_data["file"],
                name=form.cleaned_data["name"],
                target_column=form.cleaned_data["target"],
                dialect_choice=form.dialect_choice(),
            )
        except PortalError as error:
            form_add_portal_error(form, error)
        else:
            messages.success(request, f"Uploaded {dataset.name} v{dataset.version}.")
            for warning in getattr(dataset, "warnings", []):
                messages.warning(request, warning)
            return redirect("dataset-detail", slug=project.slug, pk=dataset.pk)
    return render(request, "datasets/dataset_form.html", {"project": project, "form": form})


@login_required
def dataset_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    dataset = dataset_get(project=project, dataset_id=pk)
    columns = Paginator(_non_target(dataset.profile, dataset=dataset), COLUMNS_PER_PAGE)
    page = columns.get_page(request.GET.get("page"))
    schema_page = Paginator(_non_target(dataset.schema, dataset=dataset), COLUMNS_PER_PAGE)
    target_schema = [
        entry for entry in dataset.schema if entry.get("name") == dataset.target_column
    ]
    target_profile = [
        entry for entry in dataset.profile if entry.get("name") == dataset.target_column
    ]
    context = {
        "project": project,
        "dataset": dataset,
        "delimiter_name": DELIMITER_NAMES.get(dataset.detected.get("delimiter", ""), ""),
        # The target column leads every page, so it stays in view however wide the data is.
        "schema": target_schema + list(schema_page.get_page(page.number).object_list),
        "profile": profile_display(target_profile + list(page.object_list)),
        "columns_page": page,
        "target": target_display(dataset, task_type=project.task_type),
    }
    return render(request, "datasets/dataset_detail.html", context)


# Columns profiled on one page of a dataset: one page of a 2000-column upload stays a few
# screens tall instead of hundreds.
COLUMNS_PER_PAGE = 50


def _non_target(entries: list[dict[str, Any]], *, dataset: DatasetVersion) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("name") != dataset.target_column]


DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def target_display(dataset: DatasetVersion, *, task_type: str) -> dict[str, Any] | None:
    """Return the target column's profile with the warnings to read before training."""
    column_profile = next(
        (entry for entry in dataset.profile if entry.get("name") == dataset.target_column), None
    )
    if column_profile is None:
        return None
    return {
        "profile": column_profile,
        "classes": column_profile.get("distinct") if task_type == "classification" else None,
        "warnings": target_warnings(
            column_profile=column_profile, rows=dataset.row_count, task_type=task_type
        ),
    }


def profile_display(profile: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add to each column's histogram bar widths in percent of its largest count."""
    columns = []
    for column in profile:
        bars = column.get("histogram") or column.get("top_values") or []
        largest = max((bar["count"] for bar in bars), default=0)
        display_column = dict(column)
        display_column["missing_percent"] = round(100 * column.get("missing_share", 0.0), 1)
        display_column["bars"] = [
            {**bar, "width": round(100 * bar["count"] / largest) if largest else 0} for bar in bars
        ]
        columns.append(display_column)
    return columns
