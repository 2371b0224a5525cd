from django.urls import path

from apps.audit import api

urlpatterns = [
    path("notifications/", api.NotificationListView.as_view(), name="api-notification-list"),
    path(
        "notifications/read/",
        api.NotificationReadAllView.as_view(),
        name="api-notification-read",
    ),
]
