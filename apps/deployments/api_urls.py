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
]
