from django.urls import URLPattern, URLResolver, path

from apps.audit import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("notifications/", views.notification_list, name="notification-list"),
    path(
        "notifications/read/",
        views.notification_mark_all_read,
        name="notification-mark-all-read",
    ),
]
