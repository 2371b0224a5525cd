from django.contrib import admin

from apps.deployments.models import Deployment


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin[Deployment]):
    list_display = [
        "id",
        "project",
        "iteration",
        "environment",
        "status",
        "model_version",
        "live_at",
    ]
    list_filter = ["status", "environment"]
    search_fields = ["project__slug", "model_version"]
    readonly_fields = [field.name for field in Deployment._meta.fields]
