import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from apps.accounts.access import project_roles
from apps.accounts.models import ApiToken, Membership, Role, TokenScope, token_hash
from apps.accounts.permissions import Action, roles_allow
from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotAllowed
from apps.projects.models import Project

logger = logging.getLogger(__name__)


def token_create(
    *, user: User, name: str = "api", scope: str = TokenScope.WRITE
) -> tuple[ApiToken, str]:
    """Create an API token and return it with its key, which is shown this once only."""
    if scope not in TokenScope.values:
        raise InvalidInput(f"Unknown scope '{scope}'. Use one of: read, write.", field="scope")
    key = ApiToken.generate_key()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100] or "api",
            prefix=key[:8],
            key_hash=token_hash(key),
            scope=scope,
        )
        audit_record(actor=user, action="token.created", target=token, after={"scope": scope})
    return token, key


def token_revoke(*, token: ApiToken, user: User) -> ApiToken:
    with transaction.atomic():
        token.revoke()
        audit_record(actor=user, action="token.revoked", target=token)
    return token


def user_by_username(username: str, *, field: str) -> User:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise InvalidInput(f"No active user named '{username}'.", field=field)
    return user


def membership_add(*, project: Project, actor: User, member: User, role: str) -> Membership:
    """Give ``member`` a role in ``project``. The actor must be allowed to manage members."""
    if role not in Role.values:
        raise InvalidInput(
            f"Unknown role '{role}'. Use one of: {', '.join(Role.values)}.", field="role"
        )
    if not roles_allow(project_roles(user=actor, project_id=project.pk), Action.MANAGE_MEMBERS):
        raise NotAllowed("Only a project owner can change its members.")
    # Imported here because the approvals services import this module's neighbours.
    from apps.approvals.services import decision_maker_grant_check

    decision_maker_grant_check(project=project, actor=actor, member=member, role=role)
    with transaction.atomic():
        if Membership.objects.filter(project=project, user=member, role=role).exists():
            raise Conflict(
                f"'{member.get_username()}' already has the role '{role}'.", field="role"
            )
        membership = Membership.objects.create(project=project, user=member, role=role)
        audit_record(
            actor=actor,
            action="membership.added",
            target=membership,
            project=project,
            after={"user": member.get_username(), "role": role},
        )
    return membership


def membership_remove(*, membership: Membership, actor: User) -> None:
    project = membership.project
    if not roles_allow(project_roles(user=actor, project_id=project.pk), Action.MANAGE_MEMBERS):
        raise NotAllowed("Only a project owner can change its members.")
    with transaction.atomic():
        owners = Membership.objects.select_for_update().filter(project=project, role=Role.OWNER)
        if membership.role == Role.OWNER and owners.count() <= 1:
            raise Conflict("A project needs at least one owner.", field="role")
        audit_record(
            actor=actor,
            action="membership.removed",
            target=membership,
            project=project,
            before={"user": membership.user.get_username(), "role": membership.role},
        )
        membership.delete()
