from django.urls import URLPattern, URLResolver, path

from apps.deployments import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/deployments/", views.deployment_list, name="deployment-list"),
    path(
        "projects/<slug:slug>/deployments/rollback/",
        views.deployment_rollback_view,
        name="deployment-rollback",
    ),
]
