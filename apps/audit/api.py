import csv
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.audit.models import Notification
from apps.audit.selectors import audit_csv_rows, production_history, project_audit_events
from apps.audit.serializers import (
    AuditEventSerializer,
    NotificationPreferenceSerializer,
    NotificationSerializer,
)
from apps.audit.services import (
    email_delivery_for,
    notification_mark_read,
    notification_preference_set,
)
from apps.core.api import ProjectAPIView
from apps.core.users import authenticated_user


class NotificationListView(APIView):
    """The caller's notifications, newest first, at most 100."""

    @extend_schema(responses=NotificationSerializer(many=True))
    def get(self, request: Request) -> Response:
        user = authenticated_user(request)
        notifications = Notification.objects.filter(user=user).select_related("project")[:100]
        return Response(NotificationSerializer(notifications, many=True).data)


class NotificationReadAllView(APIView):
    @extend_schema(request=None, responses={200: None})
    def post(self, request: Request) -> Response:
        count = notification_mark_read(user_id=authenticated_user(request).pk)
        return Response({"marked_read": count})


class NotificationPreferenceView(APIView):
    """Read or set how the caller gets notifications by email."""

    @extend_schema(responses=NotificationPreferenceSerializer)
    def get(self, request: Request) -> Response:
        user = authenticated_user(request)
        return Response({"email_delivery": email_delivery_for(user_id=user.pk)})

    @extend_schema(
        request=NotificationPreferenceSerializer, responses=NotificationPreferenceSerializer
    )
    def put(self, request: Request) -> Response:
        serializer = NotificationPreferenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preference = notification_preference_set(
            user=authenticated_user(request),
            email_delivery=serializer.validated_data["email_delivery"],
        )
        return Response({"email_delivery": preference.email_delivery})

    patch = put


class ProductionHistoryView(ProjectAPIView):
    """Every version that was live in production, newest first, with who approved it."""

    actions = {"get": Action.VIEW}

    @extend_schema(responses={200: None})
    def get(self, request: Request, slug: str) -> Response:
        periods = production_history(project=self.project)
        return Response(
            [
                {
                    "deployment": period.deployment.pk,
                    "iteration": period.iteration_number,
                    "model_version": period.model_version,
                    "live_from": period.live_from,
                    "live_until": period.live_until,
                    "approval": period.approval_id,
                    "requested_by": period.requested_by,
                    "approved_by": period.approved_by,
                    "overrides": period.overrides,
                }
                for period in periods
            ]
        )


class ProjectAuditView(ProjectAPIView):
    """The project's audit events, newest first, paginated with ``limit`` and ``offset``.

    ``action`` filters by an exact action name or, ending in a dot, by its prefix
    (``promotion.`` for every promotion event).
    """

    actions = {"get": Action.VIEW}

    @extend_schema(responses={200: AuditEventSerializer(many=True)})
    def get(self, request: Request, slug: str) -> Response:
        events = project_audit_events(project=self.project)
        action = request.query_params.get("action", "")
        if action.endswith("."):
            events = events.filter(action__startswith=action)
        elif action:
            events = events.filter(action=action)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)


class _LineEcho:
    """A file-like object whose ``write`` returns the line, so csv.writer output can stream."""

    def write(self, value: str) -> str:
        return value


class ProjectAuditExportView(ProjectAPIView):
    """The project's whole audit log as CSV, newest first, the same file as the audit page's."""

    actions = {"get": Action.VIEW}
    # Errors (401, 403, 404) stay JSON; the CSV body bypasses the renderers.
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # A client that accepts only text/csv still gets the file instead of a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="One header row, then one row per audit event.",
            )
        }
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        writer = csv.writer(_LineEcho())
        rows = audit_csv_rows(project_audit_events(project=self.project).iterator(chunk_size=500))
        lines: Any = (writer.writerow(row) for row in rows)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.project.slug}-audit.csv"'
        return response
