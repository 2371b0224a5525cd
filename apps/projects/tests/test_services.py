import pytest

from apps.audit.models import AuditEvent
from apps.core.errors import TransitionNotAllowed
from apps.projects.models import Stage
from apps.projects.services import project_stage_advance_if_allowed, project_stage_transition

pytestmark = pytest.mark.django_db


def test_stage_transition_follows_table_and_is_audited(project, dana):
    project = project_stage_transition(project=project, user=dana, stage=Stage.APPROVED)

    assert project.stage == Stage.APPROVED
    event = AuditEvent.objects.get(action="project.stage_changed")
    assert event.before == {"stage": "framing"}
    assert event.after == {"stage": "approved"}
    assert event.actor == dana


def test_stage_cannot_skip_framing_sign_off(project, dana):
    with pytest.raises(TransitionNotAllowed):
        project_stage_transition(project=project, user=dana, stage=Stage.IN_PRODUCTION)

    project.refresh_from_db()
    assert project.stage == Stage.FRAMING


def test_stage_advance_leaves_unapproved_project_in_framing(project):
    moved = project_stage_advance_if_allowed(project=project, user=None, stage=Stage.IN_DEVELOPMENT)

    project.refresh_from_db()
    assert moved is False
    assert project.stage == Stage.FRAMING


def test_stage_advance_moves_approved_project_into_development(project, dana):
    project_stage_transition(project=project, user=dana, stage=Stage.APPROVED)

    moved = project_stage_advance_if_allowed(project=project, user=None, stage=Stage.IN_DEVELOPMENT)

    project.refresh_from_db()
    assert moved is True
    assert project.stage == Stage.IN_DEVELOPMENT
