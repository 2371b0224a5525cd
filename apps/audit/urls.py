from django.urls import URLPattern, URLResolver, path

from apps.audit import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("notifications/", views.notification_list, name="notification-list"),
    path(
        "notifications/read/",
        views.notification_mark_all_read,
        name="notification-mark-all-read",
    ),
    path(
        "notifications/preferences/",
        views.notification_preferences,
        name="notification-preferences",
    ),
    path("projects/<slug:slug>/audit/", views.project_audit, name="project-audit"),
    path("projects/<slug:slug>/audit.csv", views.project_audit_csv, name="project-audit-csv"),
    path(
        "projects/<slug:slug>/production-history/",
        views.production_history_view,
        name="project-production-history",
    ),
]
