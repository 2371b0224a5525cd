from django.contrib import admin

from apps.approvals.models import ApprovalRequest, Decision


class DecisionInline(admin.TabularInline[Decision, ApprovalRequest]):
    model = Decision
    extra = 0
    can_delete = False
    readonly_fields = ["decided_by", "verdict", "comment", "created_at"]


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin[ApprovalRequest]):
    list_display = ["id", "project", "gate", "iteration", "status", "requested_by", "created_at"]
    list_filter = ["gate", "status"]
    search_fields = ["project__slug"]
    readonly_fields = [field.name for field in ApprovalRequest._meta.fields]
    inlines = [DecisionInline]
