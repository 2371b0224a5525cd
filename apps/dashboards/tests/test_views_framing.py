"""The framing page, the sign-off request and the target history, role by role."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.projects.framing import SUITABILITY_QUESTIONS
from apps.projects.models import Project, Stage, TargetVersion

ClientFor = Callable[[User], Client]

ALL_YES = {question.key: "yes" for question in SUITABILITY_QUESTIONS}


def _framing_data(
    project: Project,
    answers: dict[str, str] | None = None,
    metrics: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Build the POST body of the framing form, keeping the project's metrics by default."""
    if metrics is None:
        metrics = [
            {
                "kind": metric.kind,
                "name": metric.name,
                "direction": "",
                "target": str(metric.target),
                "minimum": "" if metric.minimum is None else str(metric.minimum),
            }
            for metric in project.metrics.all()
        ]
    data: dict[str, Any] = {
        "decision": "Send a biopsy for a second reading.",
        "decision_owner": "The duty pathologist.",
        "current_process": "Every biopsy gets one reading.",
        "decision_frequency": "About 400 a week",
        "data_available": "Five years of readings with confirmed outcomes.",
        "non_ml_alternative": "Second-read every biopsy above a size rule.",
        "first_model_by": "2030-01-15",
        "production_by": "2030-03-01",
        "expected_iterations": "5",
        "cost_false_positive": "1",
        "cost_false_negative": "20",
        "metrics-TOTAL_FORMS": str(len(metrics)),
        "metrics-INITIAL_FORMS": str(len(metrics)),
        "metrics-MIN_NUM_FORMS": "0",
        "metrics-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(metrics):
        for field, value in row.items():
            data[f"metrics-{index}-{field}"] = value
    for key, answer in (answers or {}).items():
        data[f"suitability_{key}"] = answer
    data.update(overrides)
    return data


def _framing_url(project: Project) -> str:
    return reverse("project-framing", args=[project.slug])


def test_framing_page_lets_data_scientist_edit(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    response = client_for(alice).get(_framing_url(project))

    assert response.status_code == 200
    assert 'name="decision"' in response.text
    assert 'name="suitability_labels_available"' in response.text
    assert 'name="metrics-0-stretch"' in response.text
    assert 'name="promotion_requires_framing_signoff"' in response.text
    assert "Request framing sign-off" in response.text


@pytest.mark.parametrize("username", ["sam", "dana"])
def test_framing_page_is_read_only_for_readers(
    client_for: ClientFor, project: Project, username: str, make_user: Callable[[str], User]
) -> None:
    response = client_for(make_user(username)).get(_framing_url(project))

    assert response.status_code == 200
    assert "Readiness" in response.text
    assert 'name="decision"' not in response.text
    assert "Request framing sign-off" not in response.text


@pytest.mark.parametrize("username", ["sam", "dana"])
def test_readers_cannot_save_framing(
    client_for: ClientFor, project: Project, username: str, make_user: Callable[[str], User]
) -> None:
    response = client_for(make_user(username)).post(
        _framing_url(project), _framing_data(project, ALL_YES)
    )

    project.refresh_from_db()
    assert response.status_code == 403
    assert project.decision == ""
    assert project.suitability == {}


def test_framing_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    client = client_for(olga)

    assert client.get(_framing_url(project)).status_code == 404
    assert client.post(_framing_url(project), _framing_data(project)).status_code == 404
    signoff_url = reverse("project-framing-signoff", args=[project.slug])
    assert client.post(signoff_url).status_code == 404
    assert client.get(reverse("project-targets", args=[project.slug])).status_code == 404


def test_saving_framing_stores_every_field(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    data = _framing_data(project, ALL_YES, promotion_requires_framing_signoff="on")

    response = client_for(alice).post(_framing_url(project), data)

    project.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == _framing_url(project)
    assert project.decision == "Send a biopsy for a second reading."
    assert project.decision_frequency == "About 400 a week"
    assert project.expected_iterations == 5
    assert project.cost_false_negative == 20.0
    assert project.promotion_requires_framing_signoff is True
    assert project.suitability == {key: True for key in ALL_YES}


def test_saving_checklist_changes_readiness_shown(
    client_for: ClientFor, project: Project, alice: User, sam: User
) -> None:
    client = client_for(alice)
    unanswered = client_for(sam).get(_framing_url(project)).text

    client.post(_framing_url(project), _framing_data(project, ALL_YES))
    ready = client_for(sam).get(_framing_url(project)).text
    client.post(_framing_url(project), _framing_data(project, ALL_YES | {"labels_available": "no"}))
    blocked = client_for(sam).get(_framing_url(project)).text

    assert "Framing needs work" in unanswered
    assert "Unanswered: Outcomes (labels) are recorded for enough past cases." in unanswered
    assert "Ready for ML" in ready
    assert "Not suitable for ML yet" in blocked
    assert "Without recorded outcomes a model cannot be trained or evaluated." in blocked


def test_unanswered_question_clears_stored_answer(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    client = client_for(alice)
    client.post(_framing_url(project), _framing_data(project, ALL_YES))

    client.post(_framing_url(project), _framing_data(project, ALL_YES | {"errors_tolerable": ""}))

    project.refresh_from_db()
    assert "errors_tolerable" not in project.suitability
    assert project.suitability["labels_available"] is True


def test_negative_cost_shows_error_and_stores_nothing(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    response = client_for(alice).post(
        _framing_url(project), _framing_data(project, ALL_YES, cost_false_positive="-3")
    )

    project.refresh_from_db()
    assert response.status_code == 200
    field = response.text.split('for="id_cost_false_positive"')[0].rsplit("<div", 1)[1]
    assert "field-invalid" in field
    assert "greater than or equal to 0" in response.text
    assert project.cost_false_positive == 1.0
    assert project.decision == ""


def test_production_before_first_model_shows_error_on_date(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    data = _framing_data(project, ALL_YES, first_model_by="2030-05-01", production_by="2030-02-01")

    response = client_for(alice).post(_framing_url(project), data)

    project.refresh_from_db()
    assert response.status_code == 200
    field = response.text.split('for="id_production_by"')[0].rsplit("<div", 1)[1]
    assert "field-invalid" in field
    assert "The production date cannot be before the first-model date." in response.text
    assert project.production_by is None
    assert project.suitability == {}


def test_bad_metric_shows_error_on_its_row(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    metrics = [{"kind": "model", "name": "roc_auc", "target": "0.9", "minimum": "0.95"}]

    response = client_for(alice).post(
        _framing_url(project), _framing_data(project, metrics=metrics)
    )

    assert response.status_code == 200
    assert "must not be better than the target" in response.text
    assert TargetVersion.objects.filter(project=project).count() == 1


def test_changed_targets_add_version_to_history(
    client_for: ClientFor, project: Project, alice: User, sam: User
) -> None:
    metrics = [
        {"kind": "model", "name": "roc_auc", "target": "0.97", "minimum": "0.9", "stretch": "0.99"},
        {"kind": "model", "name": "recall", "target": "0.9", "baseline": "0.7"},
    ]

    client_for(alice).post(_framing_url(project), _framing_data(project, metrics=metrics))
    history = client_for(sam).get(reverse("project-targets", args=[project.slug]))

    assert TargetVersion.objects.filter(project=project).count() == 2
    assert project.metrics.get(name="roc_auc").stretch == 0.99
    assert project.metrics.get(name="recall").baseline == 0.7
    assert history.status_code == 200
    assert "Version 2" in history.text
    assert "Version 1" in history.text
    assert "0.97" in history.text


def test_unchanged_targets_keep_version(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    client_for(alice).post(_framing_url(project), _framing_data(project, ALL_YES))

    assert TargetVersion.objects.filter(project=project).count() == 1


def test_signoff_request_shows_pending_request(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    client = client_for(alice)

    response = client.post(
        reverse("project-framing-signoff", args=[project.slug]), {"comment": "Targets agreed."}
    )
    page = client.get(_framing_url(project)).text

    approval = ApprovalRequest.objects.get(project=project, gate=Gate.FRAMING)
    assert response.status_code == 302
    assert approval.status == RequestStatus.PENDING
    assert approval.comment == "Targets agreed."
    assert "Requested by alice" in page
    assert "Request framing sign-off" not in page
    assert "waiting for sign-off" in page.lower()


def test_second_signoff_request_shows_message(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    client = client_for(alice)
    url = reverse("project-framing-signoff", args=[project.slug])
    client.post(url)

    response = client.post(url, follow=True)

    assert response.status_code == 200
    assert "already has a pending sign-off request" in response.text
    assert ApprovalRequest.objects.filter(project=project, gate=Gate.FRAMING).count() == 1


@pytest.mark.parametrize("username", ["sam", "dana"])
def test_readers_cannot_request_signoff(
    client_for: ClientFor, project: Project, username: str, make_user: Callable[[str], User]
) -> None:
    response = client_for(make_user(username)).post(
        reverse("project-framing-signoff", args=[project.slug])
    )

    assert response.status_code == 403
    assert not ApprovalRequest.objects.filter(project=project).exists()


def test_decision_maker_approves_framing_from_inbox(
    client_for: ClientFor, project: Project, alice: User, dana: User
) -> None:
    client_for(alice).post(_framing_url(project), _framing_data(project, ALL_YES))
    client_for(alice).post(reverse("project-framing-signoff", args=[project.slug]))
    approval = ApprovalRequest.objects.get(project=project, gate=Gate.FRAMING)
    dana_client = client_for(dana)

    inbox = dana_client.get(reverse("approval-inbox")).text
    response = dana_client.post(
        reverse("approval-approve", args=[approval.pk]),
        {"comment": "Agreed.", "next": reverse("approval-inbox")},
    )
    project_page = dana_client.get(reverse("project-detail", args=[project.slug])).text
    framing_page = dana_client.get(_framing_url(project)).text

    project.refresh_from_db()
    assert "Tumour triage: framing sign-off" in inbox
    assert "Send a biopsy for a second reading." in inbox
    assert "Ready for ML" in inbox
    assert "Targets to agree to" in inbox
    assert response.status_code == 302
    assert project.stage == Stage.APPROVED
    assert "Framing approved" in project_page
    assert "Agreed</span> by dana" in framing_page


def test_rejected_framing_shows_reason_and_allows_new_request(
    client_for: ClientFor, project: Project, alice: User, dana: User
) -> None:
    client_for(alice).post(reverse("project-framing-signoff", args=[project.slug]))
    approval = ApprovalRequest.objects.get(project=project, gate=Gate.FRAMING)
    client_for(dana).post(
        reverse("approval-reject", args=[approval.pk]), {"comment": "Name who acts on it."}
    )

    project_page = client_for(alice).get(reverse("project-detail", args=[project.slug])).text
    framing_page = client_for(alice).get(_framing_url(project)).text

    assert "revise the framing and request sign-off again" in project_page
    assert "Name who acts on it." in project_page
    assert "Request framing sign-off" in framing_page


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_target_history_opens_for_members(
    client_for: ClientFor, project: Project, username: str, make_user: Callable[[str], User]
) -> None:
    response = client_for(make_user(username)).get(reverse("project-targets", args=[project.slug]))

    assert response.status_code == 200
    assert "Version 1" in response.text
    assert "Not agreed" in response.text


def test_next_step_says_live_model_lacks_sign_off():
    from apps.dashboards.selectors import stage_next_step

    step = stage_next_step(stage="framing", framing_pending=False, live=True)

    assert step == "a model is live, but the framing is not signed off yet: request sign-off"
