from django.urls import path

from apps.projects import api

urlpatterns = [
    path("projects/", api.ProjectListCreateView.as_view(), name="api-project-list"),
    path("projects/<slug:slug>/", api.ProjectDetailView.as_view(), name="api-project-detail"),
    path(
        "projects/<slug:slug>/targets/",
        api.TargetVersionListView.as_view(),
        name="api-target-version-list",
    ),
    path(
        "projects/<slug:slug>/comments/",
        api.CommentListCreateView.as_view(),
        name="api-comment-list",
    ),
    path(
        "projects/<slug:slug>/observations/",
        api.MetricObservationListCreateView.as_view(),
        name="api-observation-list",
    ),
]
