from django.contrib import admin

from apps.iterations.models import Iteration


@admin.register(Iteration)
class IterationAdmin(admin.ModelAdmin[Iteration]):
    list_display = ["project", "number", "recipe", "status", "model_version", "created_at"]
    list_filter = ["status", "recipe", "is_baseline"]
    search_fields = ["project__slug", "mlflow_run_id"]
    readonly_fields = [field.name for field in Iteration._meta.fields]
