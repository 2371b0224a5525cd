import pytest

from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.audit.models import Notification
from apps.projects.models import Stage, TargetVersion

pytestmark = pytest.mark.django_db


def _request_signoff(client, project):
    return client.post(
        f"/api/v1/projects/{project.slug}/framing/signoff/",
        {"comment": "Targets agreed in the kick-off."},
        format="json",
    )


@pytest.mark.parametrize(
    ("persona", "expected_status"),
    [("alice", 201), ("sam", 403), ("dana", 403), ("olga", 404)],
)
def test_signoff_request_by_role(project, request, api_client_for, persona, expected_status):
    client = api_client_for(request.getfixturevalue(persona))

    assert _request_signoff(client, project).status_code == expected_status


def test_second_pending_signoff_request_is_a_conflict(project, alice, api_client_for):
    client = api_client_for(alice)
    _request_signoff(client, project)

    response = _request_signoff(client, project)

    assert response.status_code == 409
    assert ApprovalRequest.objects.filter(gate=Gate.FRAMING).count() == 1


@pytest.mark.parametrize(
    ("persona", "expected_status"),
    [("alice", 403), ("sam", 403), ("dana", 200), ("olga", 404)],
)
def test_signoff_approval_by_role(
    project, request, api_client_for, alice, persona, expected_status
):
    approval_id = _request_signoff(api_client_for(alice), project).json()["id"]
    client = api_client_for(request.getfixturevalue(persona))

    response = client.post(f"/api/v1/approvals/{approval_id}/approve/", {}, format="json")

    assert response.status_code == expected_status, response.content


def test_approved_signoff_moves_project_and_records_agreement(project, alice, dana, api_client_for):
    approval_id = _request_signoff(api_client_for(alice), project).json()["id"]

    response = api_client_for(dana).post(
        f"/api/v1/approvals/{approval_id}/approve/", {"comment": "Agreed."}, format="json"
    )

    assert response.json()["status"] == RequestStatus.APPROVED
    project.refresh_from_db()
    assert project.stage == Stage.APPROVED
    assert TargetVersion.objects.get(project=project).agreed_by == dana
    assert Notification.objects.filter(user=alice, kind="framing.approved").exists()


def test_rejection_needs_a_reason_and_moves_to_rejected(project, alice, dana, api_client_for):
    approval_id = _request_signoff(api_client_for(alice), project).json()["id"]
    client = api_client_for(dana)

    without_reason = client.post(f"/api/v1/approvals/{approval_id}/reject/", {}, format="json")
    with_reason = client.post(
        f"/api/v1/approvals/{approval_id}/reject/",
        {"comment": "The recall target ignores the screening backlog."},
        format="json",
    )

    assert without_reason.status_code == 400
    assert "comment" in without_reason.json()["errors"]
    assert with_reason.status_code == 200
    project.refresh_from_db()
    assert project.stage == Stage.REJECTED


def test_rejected_framing_can_be_resubmitted(project, alice, dana, api_client_for):
    approval_id = _request_signoff(api_client_for(alice), project).json()["id"]
    api_client_for(dana).post(
        f"/api/v1/approvals/{approval_id}/reject/", {"comment": "Too vague."}, format="json"
    )

    response = _request_signoff(api_client_for(alice), project)

    assert response.status_code == 201
    project.refresh_from_db()
    assert project.stage == Stage.FRAMING


def test_policy_requiring_signoff_blocks_promotion_in_framing(
    project, alice, trained_iteration, api_client_for
):
    project.promotion_requires_framing_signoff = True
    project.save(update_fields=["promotion_requires_framing_signoff"])

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/{trained_iteration.number}/promotions/",
        {},
        format="json",
    )

    assert response.status_code == 409
    assert "signed-off framing" in response.json()["detail"]


def test_baseline_iteration_cannot_be_promoted(project, alice, trained_iteration, api_client_for):
    trained_iteration.is_baseline = True
    trained_iteration.save(update_fields=["is_baseline"])

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/{trained_iteration.number}/promotions/",
        {},
        format="json",
    )

    assert response.status_code == 409
    assert "baseline" in response.json()["detail"]
