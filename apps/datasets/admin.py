from django.contrib import admin

from apps.datasets.models import DatasetVersion


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin[DatasetVersion]):
    list_display = [
        "name",
        "version",
        "project",
        "row_count",
        "column_count",
        "sha256",
        "created_at",
    ]
    search_fields = ["name", "sha256", "project__slug"]
    readonly_fields = [field.name for field in DatasetVersion._meta.fields]
