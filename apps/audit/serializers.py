from typing import Any

from rest_framework import serializers

from apps.audit.models import EmailDelivery, Notification


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    project = serializers.CharField(source="project.slug", read_only=True, allow_null=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "url", "project", "created_at", "read_at"]


class NotificationPreferenceSerializer(serializers.Serializer[Any]):
    email_delivery = serializers.ChoiceField(
        choices=EmailDelivery.choices,
        help_text="immediate: one email per notification; daily_digest: one email a day; "
        "none: in-app only.",
    )
