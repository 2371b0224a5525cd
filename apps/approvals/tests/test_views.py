from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership, Role
from apps.approvals.evidence import spec_diff
from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.deployments.models import Deployment
from apps.iterations.models import Iteration
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


@pytest.fixture
def promotion(
    project: Project, make_iteration: Callable[..., Iteration], alice: User
) -> ApprovalRequest:
    iteration = make_iteration(1, metrics={"roc_auc": 0.97, "recall": None})
    return ApprovalRequest.objects.create(
        project=project,
        gate=Gate.PROMOTION,
        iteration=iteration,
        requested_by=alice,
        comment="Beats the target on the holdout.",
    )


def test_inbox_requires_sign_in(client: Client, db: None) -> None:
    response = client.get(reverse("approval-inbox"))

    assert response.status_code == 302


def test_inbox_shows_evidence_to_decision_maker(
    client_for: ClientFor, promotion: ApprovalRequest, dana: User
) -> None:
    response = client_for(dana).get(reverse("approval-inbox"))

    assert response.status_code == 200
    assert "Beats the target on the holdout." in response.text
    assert "alice" in response.text
    assert 'class="badge badge-met"' in response.text
    assert 'class="badge badge-undefined"' in response.text
    assert reverse("approval-approve", args=[promotion.pk]) in response.text
    assert reverse("approval-reject", args=[promotion.pk]) in response.text


@pytest.mark.parametrize("username", ["alice", "sam", "olga"])
def test_inbox_is_empty_for_non_deciders(
    client_for: ClientFor,
    promotion: ApprovalRequest,
    make_user: Callable[[str], User],
    username: str,
) -> None:
    response = client_for(make_user(username)).get(reverse("approval-inbox"))

    assert response.status_code == 200
    assert reverse("approval-approve", args=[promotion.pk]) not in response.text


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_detail_opens_for_members(
    client_for: ClientFor,
    promotion: ApprovalRequest,
    make_user: Callable[[str], User],
    username: str,
) -> None:
    response = client_for(make_user(username)).get(reverse("approval-detail", args=[promotion.pk]))

    assert response.status_code == 200
    assert "Beats the target on the holdout." in response.text


def test_detail_shows_decision_buttons_only_to_deciders(
    client_for: ClientFor, promotion: ApprovalRequest, dana: User, sam: User
) -> None:
    approve_url = reverse("approval-approve", args=[promotion.pk])

    dana_page = client_for(dana).get(reverse("approval-detail", args=[promotion.pk])).text
    sam_page = client_for(sam).get(reverse("approval-detail", args=[promotion.pk])).text

    assert approve_url in dana_page
    assert approve_url not in sam_page


def test_detail_is_not_found_for_outsider(
    client_for: ClientFor, promotion: ApprovalRequest, olga: User
) -> None:
    response = client_for(olga).get(reverse("approval-detail", args=[promotion.pk]))

    assert response.status_code == 404


def test_decision_maker_approves_with_comment(
    client_for: ClientFor, promotion: ApprovalRequest, dana: User
) -> None:
    response = client_for(dana).post(
        reverse("approval-approve", args=[promotion.pk]),
        {"comment": "Go ahead.", "next": reverse("approval-inbox")},
    )

    promotion.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("approval-inbox")
    assert promotion.status == RequestStatus.APPROVED
    assert promotion.decisions.get().comment == "Go ahead."
    assert Deployment.objects.filter(approval=promotion).exists()


def test_decision_maker_rejects(
    client_for: ClientFor, promotion: ApprovalRequest, dana: User
) -> None:
    response = client_for(dana).post(
        reverse("approval-reject", args=[promotion.pk]), {"comment": "Recall is unknown."}
    )

    promotion.refresh_from_db()
    assert response.status_code == 302
    assert promotion.status == RequestStatus.REJECTED


def test_self_approval_shows_message_not_error(
    client_for: ClientFor, project: Project, promotion: ApprovalRequest, alice: User
) -> None:
    Membership.objects.create(project=project, user=alice, role=Role.DECISION_MAKER)

    response = client_for(alice).post(
        reverse("approval-approve", args=[promotion.pk]), {"comment": ""}, follow=True
    )

    promotion.refresh_from_db()
    assert response.status_code == 200
    assert "another decision maker must approve" in response.text
    assert promotion.status == RequestStatus.PENDING


def test_deciding_twice_shows_message(
    client_for: ClientFor, promotion: ApprovalRequest, dana: User
) -> None:
    client = client_for(dana)
    client.post(reverse("approval-reject", args=[promotion.pk]), {"comment": ""})

    response = client.post(
        reverse("approval-approve", args=[promotion.pk]), {"comment": ""}, follow=True
    )

    assert response.status_code == 200
    assert 'class="error"' in response.text


def test_overlong_comment_shows_message(
    client_for: ClientFor, promotion: ApprovalRequest, dana: User
) -> None:
    response = client_for(dana).post(
        reverse("approval-approve", args=[promotion.pk]), {"comment": "x" * 6000}, follow=True
    )

    promotion.refresh_from_db()
    assert response.status_code == 200
    assert promotion.status == RequestStatus.PENDING
    assert "at most 5000 characters" in response.text


@pytest.mark.parametrize(("username", "status"), [("sam", 403), ("alice", 403), ("olga", 404)])
def test_non_deciders_cannot_approve(
    client_for: ClientFor,
    promotion: ApprovalRequest,
    make_user: Callable[[str], User],
    username: str,
    status: int,
) -> None:
    response = client_for(make_user(username)).post(
        reverse("approval-approve", args=[promotion.pk]), {"comment": ""}
    )

    promotion.refresh_from_db()
    assert response.status_code == status
    assert promotion.status == RequestStatus.PENDING


@pytest.mark.parametrize(("username", "status"), [("alice", 200), ("sam", 403), ("dana", 403)])
def test_retirement_page_by_role(
    client_for: ClientFor,
    project: Project,
    make_user: Callable[[str], User],
    username: str,
    status: int,
) -> None:
    response = client_for(make_user(username)).get(
        reverse("retirement-request", args=[project.slug])
    )

    assert response.status_code == status


def test_retirement_page_requests_retirement_of_live_deployment(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
) -> None:
    iteration = make_iteration(1, metrics={"roc_auc": 0.97, "recall": 0.9})
    deployment = Deployment.objects.create(project=project, iteration=iteration, status="live")
    url = reverse("retirement-request", args=[project.slug])
    client = client_for(alice)

    assert "Iteration 1 in production" in client.get(url).text
    response = client.post(url, {"deployment": deployment.pk, "comment": "Replaced by rules."})

    approval = ApprovalRequest.objects.get(project=project, gate=Gate.RETIREMENT)
    assert response.status_code == 302
    assert response["Location"] == reverse("approval-detail", args=[approval.pk])
    assert approval.deployment_id == deployment.pk
    assert approval.status == RequestStatus.PENDING


def test_retirement_page_without_reason_shows_form_error(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    response = client_for(alice).post(
        reverse("retirement-request", args=[project.slug]), {"comment": ""}
    )

    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not ApprovalRequest.objects.filter(project=project, gate=Gate.RETIREMENT).exists()


def test_evidence_spec_diff_lists_only_fields_that_differ_from_live(
    project: Project, make_iteration: Callable[..., Iteration]
) -> None:
    live = make_iteration(1, params={"max_depth": 3}, environment={"python": "3.12.1"})
    candidate = make_iteration(2, params={"max_depth": 5}, environment={"python": "3.12.1"})

    rows = spec_diff(candidate=candidate, live=live)
    alone = spec_diff(candidate=candidate, live=None)

    assert rows == [{"field": "params.max_depth", "candidate": 5, "live": 3, "changed": True}]
    assert {row["field"] for row in alone} >= {"recipe", "seed", "params.max_depth"}
    assert not any(row["field"].startswith("environment.") for row in alone)


def test_inbox_shows_what_differs_from_live_version(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
    dana: User,
) -> None:
    live = make_iteration(1, params={"max_depth": 3})
    Deployment.objects.create(project=project, iteration=live, status="live")
    candidate = make_iteration(2, params={"max_depth": 5})
    ApprovalRequest.objects.create(
        project=project, gate=Gate.PROMOTION, iteration=candidate, requested_by=alice
    )

    response = client_for(dana).get(reverse("approval-inbox"))

    assert "what differs from the live version" in response.text
    assert "params.max_depth" in response.text
