from django.db.models import QuerySet

from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus
from apps.projects.models import Project


def project_deployments(*, project: Project) -> QuerySet[Deployment]:
    """Return every deployment of ``project``, newest first, with its iteration and approval."""
    return (
        Deployment.objects.filter(project=project)
        .select_related("iteration", "approval", "created_by")
        .order_by("-created_at", "-id")
    )


def live_deployment(*, project: Project, environment: str = PRODUCTION) -> Deployment | None:
    return (
        Deployment.objects.filter(
            project=project, environment=environment, status=DeploymentStatus.LIVE
        )
        .select_related("iteration")
        .first()
    )
