"""Fetch project-owned objects for a user: 404 to outsiders, 403 to members whose role may not act.

Pages and API views get every project through ``project_get_for_user``, so no endpoint can
forget the membership check.
"""

from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from apps.accounts.models import Membership, Role
from apps.accounts.permissions import ACTION_DESCRIPTIONS, Action, actions_for_roles

if TYPE_CHECKING:
    from apps.projects.models import Project


def project_roles(*, user: AbstractBaseUser | AnonymousUser, project_id: int) -> list[str]:
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(project_id=project_id, user_id=user.pk).values_list(
            "role", flat=True
        )
    )


def project_get_for_user(
    *, user: AbstractBaseUser | AnonymousUser, slug: str, action: Action = Action.VIEW
) -> "Project":
    """Return the project with ``slug`` if ``user`` may take ``action`` on it.

    The user's roles are attached as ``project.user_roles`` and the allowed actions as
    ``project.user_actions`` so templates and serializers need no further queries.
    """
    from apps.projects.models import Project

    project = Project.objects.filter(slug=slug).select_related("created_by").first()
    if project is None or not user.is_authenticated:
        raise Http404("No project found with that slug.")
    roles = project_roles(user=user, project_id=project.pk)
    if not roles:
        raise Http404("No project found with that slug.")
    allowed = actions_for_roles(roles)
    project.user_roles = roles
    project.user_actions = allowed
    if action not in allowed:
        raise PermissionDenied(
            f"Your role in this project ({', '.join(sorted(Role(r).label.lower() for r in roles))}) "
            "does not allow you to "
            f"{ACTION_DESCRIPTIONS.get(action, action)}."
        )
    return project
