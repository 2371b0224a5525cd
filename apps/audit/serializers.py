from rest_framework import serializers

from apps.audit.models import Notification


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    project = serializers.CharField(source="project.slug", read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "url", "project", "created_at", "read_at"]
