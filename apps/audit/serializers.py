from typing import Any

from rest_framework import serializers

from apps.audit.models import AuditEvent, EmailDelivery, Notification


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


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "message",
        ]

    def get_actor(self, event: AuditEvent) -> str:
        return event.actor.get_username() if event.actor is not None else "system"
