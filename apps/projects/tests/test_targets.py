import pytest

from apps.projects.models import Stage, TargetVersion
from apps.projects.services import (
    MetricInput,
    project_stage_transition,
    project_update,
    target_version_agree,
)

pytestmark = pytest.mark.django_db


def test_new_project_starts_with_target_version_one(project):
    version = TargetVersion.objects.get(project=project)

    assert version.number == 1
    assert [m["name"] for m in version.metrics] == ["roc_auc", "recall"]
    assert version.agreed_by is None


def test_editing_metrics_after_sign_off_reopens_framing(project, alice, dana):
    project_stage_transition(project=project, user=dana, stage=Stage.APPROVED)
    target_version_agree(project=project, user=dana)

    project_update(project=project, user=alice, metrics=[MetricInput(name="roc_auc", target=0.9)])

    project.refresh_from_db()
    assert project.stage == Stage.FRAMING
    versions = list(project.target_versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].agreed_by == dana
    assert versions[1].agreed_by is None


def test_unchanged_metrics_add_no_version(project, alice):
    project_update(
        project=project,
        user=alice,
        metrics=[
            MetricInput(name="roc_auc", target=0.95, minimum=0.9),
            MetricInput(name="recall", target=0.9),
        ],
    )

    assert project.target_versions.count() == 1


def test_target_history_endpoint_lists_versions(project, alice, sam, api_client_for):
    project_update(project=project, user=alice, metrics=[MetricInput(name="f1", target=0.8)])

    body = api_client_for(sam).get(f"/api/v1/projects/{project.slug}/targets/").json()

    assert [v["number"] for v in body] == [2, 1]
    assert body[0]["created_by"] == "alice"
