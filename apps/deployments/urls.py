from django.urls import URLPattern, URLResolver, path

from apps.deployments import views
from apps.deployments.models import RolloutMode

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/deployments/", views.deployment_list, name="deployment-list"),
    path(
        "projects/<slug:slug>/deployments/rollback/",
        views.deployment_rollback_view,
        name="deployment-rollback",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/shadow/",
        views.rollout_start_view,
        {"mode": RolloutMode.SHADOW.value},
        name="rollout-start-shadow",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/canary/",
        views.rollout_start_view,
        {"mode": RolloutMode.CANARY.value},
        name="rollout-start-canary",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/<int:rollout_id>/",
        views.rollout_detail,
        name="rollout-detail",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/<int:rollout_id>/live/",
        views.rollout_live,
        name="rollout-live",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/<int:rollout_id>/share/",
        views.rollout_share_view,
        name="rollout-share",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/<int:rollout_id>/stop/",
        views.rollout_stop_view,
        name="rollout-stop",
    ),
    path(
        "projects/<slug:slug>/deployments/rollouts/<int:rollout_id>/complete/",
        views.rollout_complete_view,
        name="rollout-complete",
    ),
    path(
        "projects/<slug:slug>/deployments/batches/",
        views.batch_create_view,
        name="batch-create",
    ),
    path(
        "projects/<slug:slug>/deployments/batches/<int:batch_id>/",
        views.batch_detail,
        name="batch-detail",
    ),
    path(
        "projects/<slug:slug>/deployments/batches/<int:batch_id>/progress/",
        views.batch_progress,
        name="batch-progress",
    ),
    path(
        "projects/<slug:slug>/deployments/batches/<int:batch_id>/download/",
        views.batch_download,
        name="batch-download",
    ),
]
