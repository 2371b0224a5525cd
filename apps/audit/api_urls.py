from django.urls import path

from apps.audit import api

urlpatterns = [
    path("notifications/", api.NotificationListView.as_view(), name="api-notification-list"),
    path(
        "notifications/read/",
        api.NotificationReadAllView.as_view(),
        name="api-notification-read",
    ),
    path(
        "notifications/preferences/",
        api.NotificationPreferenceView.as_view(),
        name="api-notification-preferences",
    ),
    path("projects/<slug:slug>/audit/", api.ProjectAuditView.as_view(), name="api-project-audit"),
    path(
        "projects/<slug:slug>/audit/export/",
        api.ProjectAuditExportView.as_view(),
        name="api-project-audit-export",
    ),
    path(
        "projects/<slug:slug>/production-history/",
        api.ProductionHistoryView.as_view(),
        name="api-production-history",
    ),
]
