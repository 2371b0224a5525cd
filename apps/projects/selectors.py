from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Prefetch, QuerySet

from apps.accounts.models import Membership
from apps.projects.models import Project


def project_list_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Project]:
    """Projects the user holds any role in, with metrics and members loaded in two queries."""
    if not user.is_authenticated:
        return Project.objects.none()
    return (
        Project.objects.filter(memberships__user_id=user.pk)
        .distinct()
        .select_related("created_by")
        .prefetch_related(
            "metrics",
            Prefetch("memberships", queryset=Membership.objects.select_related("user")),
        )
        .order_by("name")
    )


def project_with_details(*, project: Project) -> Project:
    """Reload a project with its metrics and members for a detail page or endpoint."""
    return (
        Project.objects.select_related("created_by")
        .prefetch_related(
            "metrics",
            Prefetch("memberships", queryset=Membership.objects.select_related("user")),
        )
        .get(pk=project.pk)
    )
