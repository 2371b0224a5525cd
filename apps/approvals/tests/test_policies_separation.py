"""Who may tighten and who may loosen an approval policy, through the API, the service and the page."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from apps.approvals.models import ApprovalPolicy, Gate
from apps.approvals.policies import policy_update
from apps.audit.models import AuditEvent, Notification
from apps.core.errors import NotAllowed
from apps.projects.models import Project

ApiClientFor = Callable[[User], APIClient]
ClientFor = Callable[[User], Client]

TIGHTENING = [
    {"approvals_required": 2},
    {"regression_tolerance": 0.001},
    {"require_reproduced": True},
    {"require_framing_signoff": True},
    {"approvers": ["dana"]},
    {"supersede_pending": False},
]
LOOSENING = [
    {"check_regression": False},
    {"check_minimums": False},
    {"check_baseline": False},
    {"regression_tolerance": 0.5},
]


def _policy_url(project: Project, gate: str = "promotion") -> str:
    return f"/api/v1/projects/{project.slug}/policies/{gate}/"


def _stored(project: Project) -> ApprovalPolicy | None:
    return ApprovalPolicy.objects.filter(project=project, gate=Gate.PROMOTION).first()


@pytest.mark.parametrize("changes", TIGHTENING)
@pytest.mark.parametrize("persona", ["alice", "dana"])
def test_tightening_allowed_for_builders_and_deciders(
    persona: str,
    changes: dict[str, Any],
    project: Project,
    api_client_for: ApiClientFor,
    request: pytest.FixtureRequest,
) -> None:
    client = api_client_for(request.getfixturevalue(persona))

    response = client.patch(_policy_url(project), changes, format="json")

    assert response.status_code == 200, response.json()
    for field, value in changes.items():
        assert response.json()[field] == value


@pytest.mark.parametrize("changes", LOOSENING)
def test_requester_cannot_loosen_policy(
    changes: dict[str, Any], project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(alice).patch(_policy_url(project), changes, format="json")

    assert response.status_code == 403
    assert "Only a decision maker" in response.json()["detail"]
    assert _stored(project) is None
    assert not AuditEvent.objects.filter(action="policy.updated").exists()


@pytest.mark.parametrize("changes", LOOSENING)
def test_decision_maker_can_loosen_policy(
    changes: dict[str, Any], project: Project, dana: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(dana).patch(_policy_url(project), changes, format="json")

    assert response.status_code == 200, response.json()
    stored = _stored(project)
    assert stored is not None
    for field, value in changes.items():
        assert getattr(stored, field) == value


def test_stakeholder_cannot_change_policy(
    project: Project, sam: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(sam).patch(
        _policy_url(project), {"approvals_required": 2}, format="json"
    )

    assert response.status_code == 403
    assert "owners, data scientists and decision makers" in response.json()["detail"]
    assert _stored(project) is None


def test_outsider_gets_404(project: Project, olga: User, api_client_for: ApiClientFor) -> None:
    response = api_client_for(olga).patch(
        _policy_url(project), {"approvals_required": 2}, format="json"
    )

    assert response.status_code == 404


def test_mixed_change_is_rejected_whole(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    response = api_client_for(alice).patch(
        _policy_url(project),
        {"approvals_required": 3, "check_regression": False},
        format="json",
    )

    assert response.status_code == 403
    assert "check_regression turned off" in response.json()["detail"]
    assert _stored(project) is None


def test_lowering_approvals_needs_decision_maker(project: Project, alice: User, dana: User) -> None:
    # The project has two decision makers, so two approvals is the most a policy can require.
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"approvals_required": 2}
    )

    with pytest.raises(NotAllowed):
        policy_update(
            project=project, gate=Gate.PROMOTION, user=alice, changes={"approvals_required": 1}
        )
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"approvals_required": 1}
    )

    stored = _stored(project)
    assert stored is not None
    assert stored.approvals_required == 1


def test_turning_check_back_on_is_tightening(project: Project, alice: User, dana: User) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=dana, changes={"check_baseline": False}
    )

    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"check_baseline": True}
    )

    stored = _stored(project)
    assert stored is not None
    assert stored.check_baseline is True


def test_widening_approvers_needs_decision_maker(project: Project, alice: User, dana: User) -> None:
    policy_update(project=project, gate=Gate.PROMOTION, user=alice, changes={"approvers": ["dana"]})

    with pytest.raises(NotAllowed):
        policy_update(
            project=project,
            gate=Gate.PROMOTION,
            user=alice,
            changes={"approvers": ["dana", "dave"]},
        )
    with pytest.raises(NotAllowed):
        policy_update(project=project, gate=Gate.PROMOTION, user=alice, changes={"approvers": []})
    policy_update(project=project, gate=Gate.PROMOTION, user=dana, changes={"approvers": []})

    stored = _stored(project)
    assert stored is not None
    assert list(stored.approvers.all()) == []


def test_turning_framing_signoff_off_needs_decision_maker(
    project: Project, alice: User, dana: User
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"require_framing_signoff": True}
    )

    with pytest.raises(NotAllowed):
        policy_update(
            project=project,
            gate=Gate.PROMOTION,
            user=alice,
            changes={"require_framing_signoff": False},
        )
    project.refresh_from_db()
    assert project.promotion_requires_framing_signoff is True


def test_unchanged_values_are_not_loosening(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    current = api_client_for(alice).get(_policy_url(project)).json()
    changes = {key: value for key, value in current.items() if key != "gate"}
    changes["approvals_required"] = 2

    response = api_client_for(alice).patch(_policy_url(project), changes, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["approvals_required"] == 2


def test_change_is_audited_with_before_and_after(
    project: Project, dana: User, api_client_for: ApiClientFor
) -> None:
    api_client_for(dana).patch(
        _policy_url(project), {"check_regression": False, "approvals_required": 2}, format="json"
    )

    event = AuditEvent.objects.get(action="policy.updated")
    assert event.actor == dana
    assert event.before == {"check_regression": True, "approvals_required": 1}
    assert event.after == {"check_regression": False, "approvals_required": 2}


def test_change_notifies_owners_and_decision_makers(
    project: Project,
    alice: User,
    sam: User,
    dana: User,
    dave: User,
    api_client_for: ApiClientFor,
) -> None:
    api_client_for(dana).patch(_policy_url(project), {"check_regression": False}, format="json")

    notified = set(
        Notification.objects.filter(kind="policy.updated").values_list("user__username", flat=True)
    )
    assert notified == {"alice", "dave"}
    message = Notification.objects.get(kind="policy.updated", user=alice).message
    assert "dana" in message
    assert "check_regression True → False" in message


def test_rejected_change_notifies_nobody(
    project: Project, alice: User, api_client_for: ApiClientFor
) -> None:
    api_client_for(alice).patch(_policy_url(project), {"check_regression": False}, format="json")

    assert not Notification.objects.filter(kind="policy.updated").exists()


def test_page_locks_checks_for_requester(
    project: Project, alice: User, client_for: ClientFor
) -> None:
    response = client_for(alice).get(f"/projects/{project.slug}/policies/")
    page = response.content.decode()

    assert response.status_code == 200
    assert 'data-policy-rights="tighten"' in page
    assert 'name="promotion-check_regression" disabled' in page
    assert 'name="promotion-check_minimums" disabled' in page
    assert 'name="promotion-require_reproduced" disabled' not in page


def test_page_lets_decision_maker_change_everything(
    project: Project, dana: User, client_for: ClientFor
) -> None:
    response = client_for(dana).get(f"/projects/{project.slug}/policies/")
    page = response.content.decode()

    assert response.status_code == 200
    assert 'data-policy-rights="all"' in page
    assert " disabled" not in page
    assert "Save the production promotion policy" in page


def test_page_is_read_only_for_stakeholder(
    project: Project, sam: User, client_for: ClientFor
) -> None:
    response = client_for(sam).get(f"/projects/{project.slug}/policies/")
    page = response.content.decode()

    assert 'data-policy-rights="none"' in page
    assert "Save the" not in page
    assert 'name="promotion-approvals_required"' in page
    assert 'name="promotion-check_regression" disabled' in page


def _promotion_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "gate": "promotion",
        "promotion-approvals_required": "1",
        "promotion-check_minimums": "on",
        "promotion-check_regression": "on",
        "promotion-regression_tolerance": "0.01",
        "promotion-check_baseline": "on",
        "promotion-supersede_pending": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_page_post_cannot_turn_check_off_for_requester(
    project: Project, alice: User, client_for: ClientFor
) -> None:
    response = client_for(alice).post(
        f"/projects/{project.slug}/policies/",
        _promotion_form(
            **{"promotion-check_regression": None, "promotion-approvals_required": "2"}
        ),
    )

    assert response.status_code == 302
    stored = _stored(project)
    assert stored is not None
    assert stored.check_regression is True
    assert stored.approvals_required == 2


def test_page_post_rejects_larger_tolerance_for_requester(
    project: Project, alice: User, client_for: ClientFor
) -> None:
    response = client_for(alice).post(
        f"/projects/{project.slug}/policies/",
        _promotion_form(**{"promotion-regression_tolerance": "0.5"}),
    )

    assert response.status_code == 400
    assert "Only a decision maker" in response.content.decode()
    assert _stored(project) is None


def test_page_post_lets_decision_maker_turn_check_off(
    project: Project, dana: User, client_for: ClientFor
) -> None:
    response = client_for(dana).post(
        f"/projects/{project.slug}/policies/",
        _promotion_form(**{"promotion-check_regression": None}),
    )

    assert response.status_code == 302
    stored = _stored(project)
    assert stored is not None
    assert stored.check_regression is False


def test_page_post_by_stakeholder_is_403(
    project: Project, sam: User, client_for: ClientFor
) -> None:
    response = client_for(sam).post(f"/projects/{project.slug}/policies/", _promotion_form())

    assert response.status_code == 403
    assert "decision makers can change" in response.content.decode()
