from django.urls import URLPattern, URLResolver, path

from apps.deployments import api

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "projects/<slug:slug>/deployments/",
        api.DeploymentListView.as_view(),
        name="api-deployment-list",
    ),
    path(
        "projects/<slug:slug>/deployments/rollback/",
        api.DeploymentRollbackView.as_view(),
        name="api-deployment-rollback",
    ),
    path("projects/<slug:slug>/predict/", api.PredictView.as_view(), name="api-predict"),
    path("projects/<slug:slug>/rollouts/", api.RolloutListView.as_view(), name="api-rollout-list"),
    path(
        "projects/<slug:slug>/rollouts/<int:rollout_id>/",
        api.RolloutDetailView.as_view(),
        name="api-rollout-detail",
    ),
    path(
        "projects/<slug:slug>/rollouts/<int:rollout_id>/stop/",
        api.RolloutStopView.as_view(),
        name="api-rollout-stop",
    ),
    path(
        "projects/<slug:slug>/rollouts/<int:rollout_id>/complete/",
        api.RolloutCompleteView.as_view(),
        name="api-rollout-complete",
    ),
    path("projects/<slug:slug>/batches/", api.BatchListView.as_view(), name="api-batch-list"),
    path(
        "projects/<slug:slug>/batches/<int:batch_id>/",
        api.BatchDetailView.as_view(),
        name="api-batch-detail",
    ),
    path(
        "projects/<slug:slug>/batches/<int:batch_id>/download/",
        api.BatchDownloadView.as_view(),
        name="api-batch-download",
    ),
]
