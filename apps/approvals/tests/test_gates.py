"""The three gates through the v1 API: roles, separation of duties, policies and checks."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Membership, Role
from apps.accounts.services import membership_add
from apps.approvals.framing import framing_signoff_request
from apps.approvals.models import ApprovalPolicy, ApprovalRequest, Decision, Gate, RequestStatus
from apps.approvals.policies import policy_update
from apps.approvals.services import (
    approval_approve,
    decision_maker_grant_check,
    promotion_request,
    retirement_request,
)
from apps.audit.models import AuditEvent, Notification
from apps.core.errors import NotAllowed
from apps.deployments.models import Deployment, DeploymentStatus, Rollout
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage

ApiClientFor = Callable[[User], APIClient]
MakeIteration = Callable[..., Iteration]

GOOD_METRICS = {"roc_auc": 0.96, "recall": 0.91}


def _live_deployment(project: Project, iteration: Iteration) -> Deployment:
    return Deployment.objects.create(
        project=project,
        iteration=iteration,
        status=DeploymentStatus.LIVE,
        model_version=iteration.model_version,
        live_at=timezone.now(),
    )


@pytest.fixture
def framing_request(project: Project, alice: User) -> ApprovalRequest:
    return framing_signoff_request(project=project, user=alice, comment="Targets agreed.")


@pytest.fixture
def promotion(project: Project, alice: User, make_iteration: MakeIteration) -> ApprovalRequest:
    iteration = make_iteration(1, GOOD_METRICS)
    return promotion_request(iteration=iteration, user=alice, comment="Meets the targets.")


@pytest.fixture
def retirement(project: Project, alice: User, make_iteration: MakeIteration) -> ApprovalRequest:
    deployment = _live_deployment(project, make_iteration(1, GOOD_METRICS))
    return retirement_request(
        project=project, user=alice, deployment=deployment, comment="Replaced by the new process."
    )


@pytest.fixture
def request_of_gate(
    request: pytest.FixtureRequest,
) -> Callable[[str], ApprovalRequest]:
    def make(gate: str) -> ApprovalRequest:
        name = {"framing": "framing_request", "promotion": "promotion", "retirement": "retirement"}
        approval: ApprovalRequest = request.getfixturevalue(name[gate])
        return approval

    return make


# Expected status of each persona's decision on a request alice made: alice owns the project
# and requested it, sam is a stakeholder, dana a decision maker, olga an outsider.
DECISION_MATRIX = {
    "approve": {"alice": 403, "sam": 403, "dana": 200, "olga": 404},
    "reject": {"alice": 403, "sam": 403, "dana": 200, "olga": 404},
    "request-changes": {"alice": 403, "sam": 403, "dana": 200, "olga": 404},
    "withdraw": {"alice": 200, "sam": 403, "dana": 403, "olga": 404},
}
MATRIX_CASES = [
    (gate, action, persona, status)
    for gate in Gate.values
    for action, expected in DECISION_MATRIX.items()
    for persona, status in expected.items()
]


@pytest.mark.parametrize(("gate", "action", "persona", "expected"), MATRIX_CASES)
def test_role_action_matrix(
    gate: str,
    action: str,
    persona: str,
    expected: int,
    request_of_gate: Callable[[str], ApprovalRequest],
    api_client_for: ApiClientFor,
    request: pytest.FixtureRequest,
) -> None:
    approval = request_of_gate(gate)
    user: User = request.getfixturevalue(persona)

    response = api_client_for(user).post(
        f"/api/v1/approvals/{approval.pk}/{action}/", {"comment": "Reviewed."}, format="json"
    )

    assert response.status_code == expected, response.content
    approval.refresh_from_db()
    if expected == 200:
        expected_status = {
            "approve": RequestStatus.APPROVED,
            "reject": RequestStatus.REJECTED,
            "request-changes": RequestStatus.PENDING,
            "withdraw": RequestStatus.WITHDRAWN,
        }[action]
        assert approval.status == expected_status
        assert response.json()["status"] == expected_status
    else:
        assert approval.status == RequestStatus.PENDING
        assert set(response.json()) >= {"detail", "code"}


@pytest.mark.parametrize("gate", Gate.values)
def test_requester_cannot_approve_own_request(
    gate: str,
    request_of_gate: Callable[[str], ApprovalRequest],
    project: Project,
    alice: User,
    api_client_for: ApiClientFor,
) -> None:
    approval = request_of_gate(gate)
    Membership.objects.create(project=project, user=alice, role=Role.DECISION_MAKER)

    response = api_client_for(alice).post(f"/api/v1/approvals/{approval.pk}/approve/")

    assert response.status_code == 403
    assert "another decision maker" in response.json()["detail"]
    approval.refresh_from_db()
    assert approval.status == RequestStatus.PENDING


def test_iteration_author_cannot_approve_promotion(
    project: Project,
    alice: User,
    dave: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    iteration = make_iteration(1, GOOD_METRICS, created_by=dave)
    approval = promotion_request(iteration=iteration, user=alice)

    response = api_client_for(dave).post(f"/api/v1/promotions/{approval.pk}/approve/")

    assert response.status_code == 403
    assert "You trained this iteration" in response.json()["detail"]


def test_self_granted_decision_maker_cannot_approve(
    project: Project,
    alice: User,
    make_user: Callable[[str], User],
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    carl = make_user("carl")
    Membership.objects.create(project=project, user=carl, role=Role.DATA_SCIENTIST)
    membership_add(project=project, actor=alice, member=alice, role=Role.DECISION_MAKER)
    promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    carls_iteration = make_iteration(2, GOOD_METRICS, created_by=carl)
    carls_request = promotion_request(iteration=carls_iteration, user=carl)

    response = api_client_for(alice).post(f"/api/v1/approvals/{carls_request.pk}/approve/")

    assert response.status_code == 403
    assert "gave yourself the decision maker role" in response.json()["detail"]


def test_owner_who_requested_cannot_grant_self_decision_maker(
    promotion: ApprovalRequest, project: Project, alice: User, dana: User
) -> None:
    with pytest.raises(NotAllowed):
        membership_add(project=project, actor=alice, member=alice, role=Role.DECISION_MAKER)
    assert not Membership.objects.filter(
        project=project, user=alice, role=Role.DECISION_MAKER
    ).exists()
    decision_maker_grant_check(project=project, actor=alice, member=dana, role=Role.DECISION_MAKER)
    decision_maker_grant_check(project=project, actor=alice, member=alice, role=Role.STAKEHOLDER)


def test_failing_check_blocks_approval_with_409(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    iteration = make_iteration(1, {"roc_auc": 0.85, "recall": 0.91})
    approval = promotion_request(iteration=iteration, user=alice)

    response = api_client_for(dana).post(
        f"/api/v1/promotions/{approval.pk}/approve/", {"comment": "Ship it."}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "conflict"
    assert "override_justification" in body["detail"]
    assert any("roc_auc 0.85 misses its minimum 0.9" in line for line in body["errors"]["checks"])
    assert body["errors"]["override_justification"]
    approval.refresh_from_db()
    assert approval.status == RequestStatus.PENDING
    assert not Deployment.objects.filter(approval=approval).exists()


def test_blank_override_justification_is_refused(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    approval = promotion_request(iteration=make_iteration(1, {"roc_auc": 0.85}), user=alice)

    response = api_client_for(dana).post(
        f"/api/v1/promotions/{approval.pk}/approve/",
        {"override_justification": "   "},
        format="json",
    )

    assert response.status_code == 409
    assert not Decision.objects.filter(request=approval).exists()


def test_override_with_justification_is_recorded_and_shown(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
    client_for: Callable[[User], Any],
) -> None:
    approval = promotion_request(iteration=make_iteration(1, {"roc_auc": 0.85}), user=alice)
    justification = "The clinic accepts 0.85 for the pilot; agreed with the pathology leads."

    response = api_client_for(dana).post(
        f"/api/v1/promotions/{approval.pk}/approve/",
        {"override_justification": justification},
        format="json",
    )

    assert response.status_code == 200, response.content
    decision = response.json()["decisions"][0]
    assert decision["overridden_checks"] == ["minimums"]
    assert decision["override_justification"] == justification
    assert Deployment.objects.filter(approval=approval).exists()
    override = AuditEvent.objects.get(action="promotion.override")
    assert override.message == justification
    assert override.after["overridden_checks"] == ["minimums"]
    assert Notification.objects.filter(user=alice, kind="promotion.overridden").exists()
    assert Notification.objects.filter(user=alice, kind="promotion.approved").exists()
    detail_html = client_for(alice).get(f"/approvals/{approval.pk}/").text
    assert justification in detail_html
    project_html = client_for(alice).get(f"/projects/{project.slug}/iterations/1/").text
    assert "Override" in project_html


def test_request_changes_keeps_request_pending_and_needs_comment(
    promotion: ApprovalRequest, alice: User, dana: User, api_client_for: ApiClientFor
) -> None:
    client = api_client_for(dana)

    missing = client.post(f"/api/v1/approvals/{promotion.pk}/request-changes/")
    response = client.post(
        f"/api/v1/approvals/{promotion.pk}/request-changes/",
        {"comment": "Show the recall on the night-shift samples."},
        format="json",
    )

    assert missing.status_code == 400
    assert missing.json()["errors"]["comment"]
    assert response.status_code == 200
    promotion.refresh_from_db()
    assert promotion.status == RequestStatus.PENDING
    assert Notification.objects.filter(user=alice, kind="promotion.request_changes").exists()
    later = client.post(f"/api/v1/approvals/{promotion.pk}/approve/")
    assert later.status_code == 200
    assert later.json()["status"] == RequestStatus.APPROVED


def test_policy_requiring_two_approvals(
    promotion: ApprovalRequest,
    project: Project,
    alice: User,
    dana: User,
    dave: User,
    api_client_for: ApiClientFor,
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"approvals_required": 2}
    )

    first = api_client_for(dana).post(f"/api/v1/approvals/{promotion.pk}/approve/")
    again = api_client_for(dana).post(f"/api/v1/approvals/{promotion.pk}/approve/")
    second = api_client_for(dave).post(f"/api/v1/approvals/{promotion.pk}/approve/")

    assert first.status_code == 200
    assert first.json()["status"] == RequestStatus.PENDING
    assert again.status_code == 409
    assert second.status_code == 200
    assert second.json()["status"] == RequestStatus.APPROVED
    assert Deployment.objects.filter(approval=promotion).count() == 1


def test_policy_approvers_limit_who_decides(
    promotion: ApprovalRequest,
    project: Project,
    alice: User,
    dana: User,
    dave: User,
    api_client_for: ApiClientFor,
) -> None:
    policy_update(project=project, gate=Gate.PROMOTION, user=alice, changes={"approvers": ["dana"]})

    refused = api_client_for(dave).post(f"/api/v1/approvals/{promotion.pk}/approve/")
    accepted = api_client_for(dana).post(f"/api/v1/approvals/{promotion.pk}/approve/")

    assert refused.status_code == 403
    assert accepted.status_code == 200


def test_new_request_supersedes_older_pending_by_default(
    project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    older = promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    newer = promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)

    older.refresh_from_db()
    assert older.status == RequestStatus.SUPERSEDED
    assert newer.status == RequestStatus.PENDING


def test_policy_can_keep_older_requests_pending(
    project: Project, alice: User, make_iteration: MakeIteration
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"supersede_pending": False}
    )
    older = promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)

    older.refresh_from_db()
    assert older.status == RequestStatus.PENDING


def test_second_promotion_while_deploying_is_409(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"supersede_pending": False}
    )
    first = promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    second = promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)
    client = api_client_for(dana)

    approved = client.post(f"/api/v1/promotions/{first.pk}/approve/")
    refused = client.post(f"/api/v1/promotions/{second.pk}/approve/")

    assert approved.status_code == 200
    assert refused.status_code == 409
    assert "Iteration 1 of this project was approved" in refused.json()["detail"]
    second.refresh_from_db()
    assert second.status == RequestStatus.PENDING


def test_retirement_approval_retires_deployment(
    retirement: ApprovalRequest, dana: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(dana).post(f"/api/v1/approvals/{retirement.pk}/approve/")

    assert response.status_code == 200
    assert response.json()["retires_deployment"] == retirement.deployment_id
    assert retirement.deployment is not None
    deployment = Deployment.objects.get(pk=retirement.deployment.pk)
    assert deployment.status == DeploymentStatus.RETIRED


def test_retirement_request_api_needs_reason_and_live_deployment(
    project: Project, alice: User, make_iteration: MakeIteration, api_client_for: ApiClientFor
) -> None:
    iteration = make_iteration(1, GOOD_METRICS)
    failed = Deployment.objects.create(
        project=project, iteration=iteration, status=DeploymentStatus.FAILED
    )
    client = api_client_for(alice)
    url = f"/api/v1/projects/{project.slug}/retirements/"

    no_reason = client.post(url, {"deployment": failed.pk}, format="json")
    not_live = client.post(url, {"deployment": failed.pk, "comment": "Old."}, format="json")
    unknown = client.post(url, {"deployment": 999999, "comment": "Old."}, format="json")
    whole_project = client.post(url, {"comment": "The clinic closed."}, format="json")

    assert no_reason.status_code == 400
    assert not_live.status_code == 409
    assert unknown.status_code == 400
    assert whole_project.status_code == 201
    assert whole_project.json()["gate"] == Gate.RETIREMENT


def test_stakeholder_cannot_request_retirement(
    project: Project, sam: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(sam).post(
        f"/api/v1/projects/{project.slug}/retirements/", {"comment": "Stop."}, format="json"
    )

    assert response.status_code == 403


def test_regression_against_live_version_blocks(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    _live_deployment(project, make_iteration(1, {"roc_auc": 0.99, "recall": 0.95}))
    approval = promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)

    response = api_client_for(dana).get(f"/api/v1/approvals/{approval.pk}/")

    checks = {check["key"]: check for check in response.json()["checks"]}
    assert checks["regression"]["status"] == "failed"
    assert "roc_auc 0.96 against 0.99 live" in checks["regression"]["detail"]


def test_regression_within_tolerance_passes(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    _live_deployment(project, make_iteration(1, {"roc_auc": 0.965, "recall": 0.91}))
    approval = promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)

    response = api_client_for(dana).get(f"/api/v1/approvals/{approval.pk}/")

    checks = {check["key"]: check for check in response.json()["checks"]}
    assert checks["regression"]["status"] == "passed"


def test_baseline_not_beaten_blocks(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    make_iteration(1, {"roc_auc": 0.97}, recipe="one_feature_rule", is_baseline=True)
    approval = promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)

    response = api_client_for(dana).post(f"/api/v1/approvals/{approval.pk}/approve/")

    assert response.status_code == 409
    assert any("Non-ML baseline beaten" in line for line in response.json()["errors"]["checks"])


def test_baseline_beaten_passes(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    make_iteration(1, {"roc_auc": 0.5}, recipe="baseline", is_baseline=True)
    approval = promotion_request(iteration=make_iteration(2, GOOD_METRICS), user=alice)

    response = api_client_for(dana).get(f"/api/v1/approvals/{approval.pk}/")

    checks = {check["key"]: check for check in response.json()["checks"]}
    assert checks["baseline"]["status"] == "passed"
    assert "beats iteration 1 (baseline)" in checks["baseline"]["detail"]


def test_reproduction_required_by_policy(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"require_reproduced": True}
    )
    not_rerun = promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    blocked = api_client_for(dana).post(f"/api/v1/approvals/{not_rerun.pk}/approve/")
    reproduced = make_iteration(
        2, GOOD_METRICS, reproduction={"status": "reproduced", "iteration": 3}
    )
    passing = promotion_request(iteration=reproduced, user=alice)
    approved = api_client_for(dana).post(f"/api/v1/approvals/{passing.pk}/approve/")

    assert blocked.status_code == 409
    assert any("Iteration reproduced" in line for line in blocked.json()["errors"]["checks"])
    assert approved.status_code == 200


def test_framing_check_follows_project_flag(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    approval = promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)
    client = api_client_for(alice)

    response = client.patch(
        f"/api/v1/projects/{project.slug}/policies/promotion/",
        {"require_framing_signoff": True},
        format="json",
    )
    project.refresh_from_db()
    detail = api_client_for(dana).get(f"/api/v1/approvals/{approval.pk}/").json()

    assert response.status_code == 200
    assert response.json()["require_framing_signoff"] is True
    assert project.promotion_requires_framing_signoff is True
    checks = {check["key"]: check for check in detail["checks"]}
    assert checks["framing_approved"]["status"] == "failed"
    assert project.stage == Stage.FRAMING


def test_default_checks_pass_for_a_good_first_iteration(
    promotion: ApprovalRequest, dana: User, api_client_for: ApiClientFor
) -> None:
    detail = api_client_for(dana).get(f"/api/v1/approvals/{promotion.pk}/").json()

    statuses = {check["key"]: check["status"] for check in detail["checks"]}
    assert statuses == {
        "minimums": "passed",
        "regression": "not_applicable",
        "baseline": "not_applicable",
    }


POLICY_MATRIX = [
    ("alice", 200, 200),
    ("sam", 200, 403),
    ("dana", 200, 200),
    ("olga", 404, 404),
]


@pytest.mark.parametrize(("persona", "read_status", "write_status"), POLICY_MATRIX)
def test_policy_api_roles(
    persona: str,
    read_status: int,
    write_status: int,
    project: Project,
    api_client_for: ApiClientFor,
    request: pytest.FixtureRequest,
) -> None:
    client = api_client_for(request.getfixturevalue(persona))
    url = f"/api/v1/projects/{project.slug}/policies/promotion/"

    read = client.get(url)
    write = client.patch(url, {"approvals_required": 2}, format="json")

    assert read.status_code == read_status
    assert write.status_code == write_status
    stored = ApprovalPolicy.objects.filter(project=project, gate=Gate.PROMOTION).first()
    stored_required = stored.approvals_required if stored is not None else None
    assert (stored_required == 2) == (write_status == 200)


def test_policy_change_is_audited(
    project: Project, dana: User, api_client_for: ApiClientFor
) -> None:
    api_client_for(dana).patch(
        f"/api/v1/projects/{project.slug}/policies/promotion/",
        {"regression_tolerance": 0.05, "check_baseline": False},
        format="json",
    )

    event = AuditEvent.objects.get(action="policy.updated")
    assert event.actor == dana
    assert event.before == {"regression_tolerance": 0.01, "check_baseline": True}
    assert event.after == {"regression_tolerance": 0.05, "check_baseline": False}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"approvals_required": 0}, "approvals_required"),
        ({"approvals_required": "two"}, "approvals_required"),
        ({"regression_tolerance": -1}, "regression_tolerance"),
        ({"check_minimums": "yes"}, "check_minimums"),
        ({"approvers": ["sam"]}, "approvers"),
        ({"require_framing_signoff": True}, "require_framing_signoff"),
    ],
)
def test_policy_rejects_invalid_values(
    changes: dict[str, Any], field: str, project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    gate = "retirement" if field == "require_framing_signoff" else "promotion"
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/policies/{gate}/", changes, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ApprovalPolicy.objects.filter(project=project).exists()


def test_unknown_gate_is_404(project: Project, alice: User, api_client_for: ApiClientFor) -> None:
    response = api_client_for(alice).get(f"/api/v1/projects/{project.slug}/policies/deploy/")

    assert response.status_code == 404


def test_request_emails_decision_makers_immediately(
    project: Project,
    alice: User,
    make_iteration: MakeIteration,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        promotion_request(iteration=make_iteration(1, GOOD_METRICS), user=alice)

    recipients = sorted(message.to[0] for message in mail.outbox)
    assert recipients == ["dana@example.com", "dave@example.com"]
    assert "requests promotion of iteration 1" in mail.outbox[0].body


def test_decision_emails_requester(
    promotion: ApprovalRequest, alice: User, dana: User, django_capture_on_commit_callbacks: Any
) -> None:
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(approval=promotion, user=dana, comment="Go.")

    assert [message.to for message in mail.outbox] == [["alice@example.com"]]
    assert "approved" in mail.outbox[0].subject


def test_inbox_api_lists_pending_requests_of_every_gate(
    framing_request: ApprovalRequest,
    retirement: ApprovalRequest,
    dana: User,
    sam: User,
    api_client_for: ApiClientFor,
) -> None:
    mine = api_client_for(dana).get("/api/v1/approvals/").json()
    stakeholder = api_client_for(sam).get("/api/v1/approvals/").json()

    assert sorted(item["gate"] for item in mine) == ["framing", "retirement"]
    assert stakeholder == []


def test_canary_approval_starts_rollout(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    live = _live_deployment(project, make_iteration(1, GOOD_METRICS))
    make_iteration(2, {"roc_auc": 0.97, "recall": 0.93})

    requested = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/2/promotions/",
        {"comment": "Try it on a tenth of the traffic.", "canary_share": 0.1},
        format="json",
    )
    approved = api_client_for(dana).post(f"/api/v1/promotions/{requested.json()['id']}/approve/")

    assert requested.status_code == 201
    assert requested.json()["canary_share"] == 0.1
    assert approved.status_code == 200
    rollout = Rollout.objects.get(project=project)
    assert (rollout.mode, rollout.share, rollout.iteration.number) == ("canary", 0.1, 2)
    assert rollout.approval_id == requested.json()["id"]
    assert list(Deployment.objects.filter(project=project)) == [live]


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.2, "half"])
def test_canary_share_out_of_range_rejected(
    project: Project,
    alice: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
    share: Any,
) -> None:
    make_iteration(1, GOOD_METRICS)

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/1/promotions/",
        {"canary_share": share},
        format="json",
    )

    assert response.status_code == 400
    assert "canary_share" in response.json()["errors"]
    assert not ApprovalRequest.objects.filter(project=project).exists()


def test_canary_approval_without_live_version(
    project: Project,
    alice: User,
    dana: User,
    make_iteration: MakeIteration,
    api_client_for: ApiClientFor,
) -> None:
    live = _live_deployment(project, make_iteration(1, GOOD_METRICS))
    approval = promotion_request(
        iteration=make_iteration(2, GOOD_METRICS), user=alice, canary_share=0.2
    )
    # The live version goes away between the request and the decision.
    Deployment.objects.filter(pk=live.pk).update(status=DeploymentStatus.RETIRED)

    response = api_client_for(dana).post(f"/api/v1/promotions/{approval.pk}/approve/")

    assert response.status_code == 409
    assert "none is live" in response.json()["detail"]
    approval.refresh_from_db()
    assert approval.status == RequestStatus.PENDING
    assert not Rollout.objects.filter(project=project).exists()
