import csv
import datetime
from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.audit.models import EmailDelivery
from apps.audit.selectors import (
    audit_csv_rows,
    live_on_date,
    production_history,
    project_audit_events,
)
from apps.audit.services import (
    email_delivery_for,
    notification_mark_read,
    notification_preference_set,
)
from apps.core.errors import PortalError
from apps.core.users import authenticated_user
from apps.dashboards.selectors import NOTIFICATION_PAGE_SIZE, user_notifications


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = user_notifications(user=request.user)
    return render(
        request,
        "audit/notification_list.html",
        {
            "notifications": notifications,
            "has_unread": any(item.read_at is None for item in notifications),
            "page_size": NOTIFICATION_PAGE_SIZE,
        },
    )


@login_required
@require_POST
def notification_mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notification_mark_read(user_id=cast(int, request.user.pk))
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("notification-list")


AUDIT_PAGE_SIZE = 50


@login_required
def project_audit(request: HttpRequest, slug: str) -> HttpResponse:
    """Render the project's audit log, newest first, 50 events a page."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    page = Paginator(project_audit_events(project=project), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "audit/project_audit.html", {"project": project, "page": page})


@login_required
def project_audit_csv(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    writer = csv.writer(_Echo())
    rows = audit_csv_rows(project_audit_events(project=project).iterator(chunk_size=500))
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-audit.csv"'
    return response


class _Echo:
    """A file-like object whose ``write`` returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def _day_bounds(text: str) -> tuple[datetime.date, datetime.datetime, datetime.datetime] | None:
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        return None
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    return day, start, start + datetime.timedelta(days=1)


@login_required
def production_history_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Every version that was live, who approved it, and which were live on a chosen date."""
    project = project_get_for_user(user=request.user, slug=slug, action=Action.VIEW)
    periods = production_history(project=project)
    chosen = request.GET.get("date", "").strip()
    on_date = None
    error = ""
    if chosen:
        bounds = _day_bounds(chosen)
        if bounds is None:
            error = f"'{chosen}' is not a date; use the form YYYY-MM-DD."
        else:
            day, start, end = bounds
            on_date = {"day": day, "periods": live_on_date(periods=periods, start=start, end=end)}
    return render(
        request,
        "audit/production_history.html",
        {
            "project": project,
            "periods": periods,
            "on_date": on_date,
            "chosen": chosen,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
def notification_preferences(request: HttpRequest) -> HttpResponse:
    user = authenticated_user(request)
    current = email_delivery_for(user_id=user.pk)
    if request.method == "POST":
        choice = request.POST.get("email_delivery", "")
        try:
            notification_preference_set(user=user, email_delivery=choice)
        except PortalError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Saved how you get notifications by email.")
            return redirect("notification-preferences")
    return render(
        request,
        "audit/notification_preferences.html",
        {"choices": EmailDelivery.choices, "current": current, "email": user.email},
    )
