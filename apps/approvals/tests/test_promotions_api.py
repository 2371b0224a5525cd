import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Membership, Role
from apps.approvals.models import ApprovalRequest, RequestStatus
from apps.approvals.services import promotion_request
from apps.audit.models import AuditEvent
from apps.datasets.models import DatasetVersion
from apps.deployments.models import Deployment, DeploymentStatus
from apps.deployments.tests.training import iteration_train
from apps.iterations.models import Iteration
from apps.iterations.services import iteration_start
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _request_url(project: Project, iteration: Iteration) -> str:
    return f"/api/v1/projects/{project.slug}/iterations/{iteration.number}/promotions/"


def _decide_url(approval: ApprovalRequest, verdict: str) -> str:
    return f"/api/v1/promotions/{approval.pk}/{verdict}/"


@pytest.fixture
def pending(trained_iteration: Iteration, alice: User) -> ApprovalRequest:
    return promotion_request(iteration=trained_iteration, user=alice, comment="Beats the target.")


def test_data_scientist_requests_promotion(
    api_client_for, alice: User, project: Project, trained_iteration: Iteration
):
    response = api_client_for(alice).post(
        _request_url(project, trained_iteration), {"comment": "Ready."}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"
    assert body["gate"] == "promotion"
    assert body["project"] == project.slug
    assert body["iteration"] == trained_iteration.number
    assert body["requested_by"] == "alice"
    assert body["comment"] == "Ready."
    assert body["decisions"] == []
    assert body["deployment"] is None
    assert AuditEvent.objects.filter(
        action="promotion.requested", object_id=str(body["id"])
    ).exists()


@pytest.mark.parametrize(("persona", "status"), [("sam", 403), ("dana", 403), ("olga", 404)])
def test_only_data_scientists_request_promotion(
    api_client_for,
    project: Project,
    uploaded_dataset: DatasetVersion,
    alice: User,
    persona,
    status,
    request,
):
    queued = iteration_start(
        project=project,
        user=alice,
        dataset_id=uploaded_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=0,
    )
    user = request.getfixturevalue(persona)

    response = api_client_for(user).post(_request_url(project, queued), {}, format="json")

    assert response.status_code == status
    assert not ApprovalRequest.objects.exists()


def test_unfinished_iteration_cannot_be_promoted(
    api_client_for, alice: User, project: Project, uploaded_dataset: DatasetVersion
):
    queued = iteration_start(
        project=project,
        user=alice,
        dataset_id=uploaded_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=0,
    )

    response = api_client_for(alice).post(_request_url(project, queued), {}, format="json")

    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]


def test_unknown_iteration_is_not_found(api_client_for, alice: User, project: Project):
    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/99/promotions/", {}, format="json"
    )

    assert response.status_code == 404


def test_second_pending_request_for_iteration_conflicts(
    api_client_for,
    alice: User,
    project: Project,
    trained_iteration: Iteration,
    pending: ApprovalRequest,
):
    response = api_client_for(alice).post(
        _request_url(project, trained_iteration), {}, format="json"
    )

    assert response.status_code == 409
    assert ApprovalRequest.objects.filter(status=RequestStatus.PENDING).count() == 1


def test_new_request_supersedes_older_pending_request(
    api_client_for, alice: User, project: Project, uploaded_dataset: DatasetVersion, pending
):
    newer = iteration_train(project=project, user=alice, dataset=uploaded_dataset, seed=1)

    response = api_client_for(alice).post(_request_url(project, newer), {}, format="json")

    assert response.status_code == 201
    pending.refresh_from_db()
    assert pending.status == RequestStatus.SUPERSEDED
    assert pending.decided_at is not None
    assert AuditEvent.objects.filter(
        action="promotion.superseded", object_id=str(pending.pk)
    ).exists()
    assert list(
        ApprovalRequest.objects.filter(status=RequestStatus.PENDING).values_list("pk", flat=True)
    ) == [response.json()["id"]]


def test_decision_maker_approves_and_deployment_is_created(
    api_client_for, dana: User, pending: ApprovalRequest
):
    response = api_client_for(dana).post(
        _decide_url(pending, "approve"), {"comment": "Go."}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "approved"
    assert body["decided_at"] is not None
    assert body["decisions"][0]["decided_by"] == "dana"
    assert body["decisions"][0]["verdict"] == "approve"
    assert body["decisions"][0]["comment"] == "Go."
    deployment = Deployment.objects.get(approval=pending)
    assert body["deployment"] == {"id": deployment.pk, "status": DeploymentStatus.PENDING}
    assert AuditEvent.objects.filter(
        action="promotion.approved", object_id=str(pending.pk)
    ).exists()


def test_approving_twice_conflicts(api_client_for, dana: User, dave: User, pending):
    api_client_for(dana).post(_decide_url(pending, "approve"), {}, format="json")

    again = api_client_for(dana).post(_decide_url(pending, "approve"), {}, format="json")
    other = api_client_for(dave).post(_decide_url(pending, "reject"), {}, format="json")

    assert again.status_code == 409
    assert other.status_code == 409
    assert Deployment.objects.filter(approval=pending).count() == 1


def test_only_decision_makers_decide(
    api_client_for, alice: User, sam: User, olga: User, pending: ApprovalRequest
):
    # One trained iteration serves every case, because training dominates the test's time.
    cases = [(alice, 403), (sam, 403), (olga, 404)]
    for user, status in cases:
        for verdict in ("approve", "reject"):
            response = api_client_for(user).post(_decide_url(pending, verdict), {}, format="json")

            assert response.status_code == status, (user.username, verdict)
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING
    assert not pending.decisions.exists()


def test_requester_cannot_approve_own_request(
    api_client_for, dana: User, project: Project, trained_iteration: Iteration
):
    Membership.objects.create(project=project, user=dana, role=Role.DATA_SCIENTIST)
    approval = promotion_request(iteration=trained_iteration, user=dana)

    response = api_client_for(dana).post(_decide_url(approval, "approve"), {}, format="json")

    assert response.status_code == 403
    assert "another decision maker" in response.json()["detail"]


def test_iteration_author_cannot_approve(
    api_client_for, alice: User, dave: User, project: Project, trained_iteration: Iteration
):
    Membership.objects.create(project=project, user=dave, role=Role.DATA_SCIENTIST)
    Membership.objects.create(project=project, user=alice, role=Role.DECISION_MAKER)
    approval = promotion_request(iteration=trained_iteration, user=dave)

    response = api_client_for(alice).post(_decide_url(approval, "approve"), {}, format="json")

    assert response.status_code == 403
    assert "trained this iteration" in response.json()["detail"]


def test_decision_maker_rejects(api_client_for, dana: User, pending: ApprovalRequest):
    response = api_client_for(dana).post(
        _decide_url(pending, "reject"), {"comment": "Recall too low."}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["deployment"] is None
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.filter(
        action="promotion.rejected", object_id=str(pending.pk)
    ).exists()


def test_requester_withdraws_request(api_client_for, alice: User, dana: User, pending):
    refused = api_client_for(dana).post(_decide_url(pending, "withdraw"), {}, format="json")
    response = api_client_for(alice).post(_decide_url(pending, "withdraw"), {}, format="json")

    assert refused.status_code == 403
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"


def test_inbox_lists_pending_requests_for_decision_makers(
    api_client_for, dana: User, sam: User, olga: User, pending: ApprovalRequest
):
    dana_inbox = api_client_for(dana).get("/api/v1/promotions/")
    sam_inbox = api_client_for(sam).get("/api/v1/promotions/")
    olga_inbox = api_client_for(olga).get("/api/v1/promotions/")

    assert [item["id"] for item in dana_inbox.json()] == [pending.pk]
    assert sam_inbox.json() == []
    assert olga_inbox.json() == []


def test_inbox_query_count_does_not_grow(
    api_client_for, dana: User, pending: ApprovalRequest, project: Project
):
    client = api_client_for(dana)
    client.get("/api/v1/promotions/")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/promotions/")

    assert response.status_code == 200
    # Token lookup, the requests with project, iteration and requester, decisions, deployments.
    assert len(queries) <= 4, [query["sql"] for query in queries]


def test_request_detail_visible_to_members_only(
    api_client_for, sam: User, dana: User, olga: User, pending: ApprovalRequest
):
    url = f"/api/v1/promotions/{pending.pk}/"

    assert api_client_for(sam).get(url).status_code == 200
    assert api_client_for(dana).get(url).json()["id"] == pending.pk
    assert api_client_for(olga).get(url).status_code == 404
    assert api_client_for(olga).get("/api/v1/promotions/999999/").status_code == 404
