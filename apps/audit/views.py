from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.audit.services import notification_mark_read
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
