from django.contrib import admin

from apps.projects.models import Project, SuccessMetric


class SuccessMetricInline(admin.TabularInline[SuccessMetric, Project]):
    model = SuccessMetric
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    list_display = ["name", "slug", "task_type", "stage", "created_by", "created_at"]
    list_filter = ["stage", "task_type"]
    search_fields = ["name", "slug"]
    readonly_fields = ["stage", "created_at", "updated_at"]
    inlines = [SuccessMetricInline]
