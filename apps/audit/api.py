from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.models import Notification
from apps.audit.serializers import NotificationSerializer
from apps.audit.services import notification_mark_read
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
