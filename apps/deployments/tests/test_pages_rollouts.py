"""Starting and steering rollouts from the deployments pages.

The rows are created directly: the pages call the rollout services, whose model loading and
checks are covered by test_rollouts.py, and the preparation task is never run here.
"""

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.deployments.models import (
    Deployment,
    DeploymentStatus,
    PredictionLog,
    Rollout,
    RolloutMode,
    RolloutStatus,
)
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


@pytest.fixture
def live(project: Project, make_iteration: Callable[..., Iteration]) -> Deployment:
    return Deployment.objects.create(
        project=project,
        iteration=make_iteration(1),
        status=DeploymentStatus.LIVE,
        model_version="1",
        live_at=timezone.now(),
    )


@pytest.fixture
def candidate(live: Deployment, make_iteration: Callable[..., Iteration]) -> Iteration:
    return make_iteration(2)


@pytest.fixture
def approved_candidate(candidate: Iteration, project: Project, alice: User) -> Iteration:
    ApprovalRequest.objects.create(
        project=project,
        gate=Gate.PROMOTION,
        iteration=candidate,
        requested_by=alice,
        status=RequestStatus.APPROVED,
        decided_at=timezone.now(),
    )
    return candidate


def _approval(iteration: Iteration) -> ApprovalRequest:
    return ApprovalRequest.objects.get(iteration=iteration, status=RequestStatus.APPROVED)


def _rollout(project: Project, iteration: Iteration, **fields) -> Rollout:
    values = {
        "project": project,
        "iteration": iteration,
        "mode": RolloutMode.SHADOW,
        "status": RolloutStatus.ACTIVE,
        "model_uri": f"models:/tumour-triage/{iteration.model_version}",
        "model_version": iteration.model_version,
        "active_at": timezone.now() - timedelta(minutes=5),
    }
    values.update(fields)
    return Rollout.objects.create(**values)


def _url(name: str, project: Project, *args: int) -> str:
    return reverse(name, args=[project.slug, *args])


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_shadow_form_starts_rollout(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    response = client_for(alice).post(
        _url("rollout-start-shadow", project), {"shadow-iteration": candidate.pk}
    )

    rollout = Rollout.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("rollout-detail", project, rollout.pk)
    assert rollout.mode == RolloutMode.SHADOW
    assert rollout.status == RolloutStatus.PENDING
    assert rollout.iteration_id == candidate.pk
    assert rollout.started_by == alice


def test_shadow_form_skips_live_iteration(
    client_for: ClientFor,
    project: Project,
    candidate: Iteration,
    make_iteration: Callable[..., Iteration],
    alice: User,
):
    make_iteration(3, metrics={}, status=IterationStatus.FAILED, model_version="")

    response = client_for(alice).get(_url("deployment-list", project))

    form = response.context["shadow_form"]
    offered = [iteration.number for iteration in form.fields["iteration"].queryset]
    assert offered == [2]
    assert "Start shadow" in response.text


def test_canary_form_needs_approved_promotion(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    page = client_for(alice).get(_url("deployment-list", project))
    response = client_for(alice).post(
        _url("rollout-start-canary", project),
        {"canary-iteration": candidate.pk, "canary-share": "10"},
    )

    assert "has an approved promotion" in page.text
    assert response.status_code == 400
    assert response.context["canary_form"].errors["iteration"]
    assert not Rollout.objects.exists()


def test_canary_form_sets_share(
    client_for: ClientFor, project: Project, approved_candidate: Iteration, dana: User
):
    response = client_for(dana).post(
        _url("rollout-start-canary", project),
        {"canary-iteration": approved_candidate.pk, "canary-share": "12.5"},
    )

    rollout = Rollout.objects.get()
    assert response.status_code == 302
    assert rollout.mode == RolloutMode.CANARY
    assert rollout.share == pytest.approx(0.125)
    assert rollout.approval is not None


@pytest.mark.parametrize("share", ["", "0", "100", "150", "-5", "ten"])
def test_canary_form_rejects_share(
    client_for: ClientFor,
    project: Project,
    approved_candidate: Iteration,
    alice: User,
    share: str,
):
    response = client_for(alice).post(
        _url("rollout-start-canary", project),
        {"canary-iteration": approved_candidate.pk, "canary-share": share},
    )

    assert response.status_code == 400
    assert response.context["canary_form"].errors["share"]
    assert 'class="field field-invalid"' in response.text
    assert not Rollout.objects.exists()


def test_start_beside_open_rollout_rejected(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    _rollout(project, candidate, status=RolloutStatus.PENDING)

    response = client_for(alice).post(
        _url("rollout-start-shadow", project), {"shadow-iteration": candidate.pk}
    )

    assert response.status_code == 400
    assert "A rollout is already open; stop or complete it first." in response.text
    assert Rollout.objects.count() == 1


def test_start_without_live_rejected(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
):
    candidate = make_iteration(2)

    response = client_for(alice).post(
        _url("rollout-start-shadow", project), {"shadow-iteration": candidate.pk}
    )

    assert response.status_code == 400
    assert "none is live" in response.text
    assert not Rollout.objects.exists()


def test_start_foreign_iteration_rejected(
    client_for: ClientFor,
    project: Project,
    regression_project: Project,
    live: Deployment,
    alice: User,
    dataset,
):
    foreign = Iteration.objects.create(
        project=regression_project,
        number=1,
        dataset=dataset,
        recipe="linear_regression",
        status=IterationStatus.SUCCEEDED,
        created_by=alice,
        model_name="other-project",
        model_version="5",
    )

    response = client_for(alice).post(
        _url("rollout-start-shadow", project), {"shadow-iteration": foreign.pk}
    )

    assert response.status_code == 400
    assert response.context["shadow_form"].errors["iteration"]
    assert not Rollout.objects.exists()


def test_share_button_changes_share(
    client_for: ClientFor, project: Project, approved_candidate: Iteration, dana: User
):
    rollout = _rollout(
        project,
        approved_candidate,
        mode=RolloutMode.CANARY,
        approval=_approval(approved_candidate),
        share=0.1,
    )

    response = client_for(dana).post(_url("rollout-share", project, rollout.pk), {"share": "40"})

    rollout.refresh_from_db()
    assert response.status_code == 302
    assert rollout.share == pytest.approx(0.4)
    assert _messages(response) == ["The canary now answers 40% of the requests."]


def test_share_out_of_range_message(
    client_for: ClientFor, project: Project, approved_candidate: Iteration, dana: User
):
    rollout = _rollout(
        project,
        approved_candidate,
        mode=RolloutMode.CANARY,
        approval=_approval(approved_candidate),
        share=0.1,
    )

    response = client_for(dana).post(_url("rollout-share", project, rollout.pk), {"share": "0"})

    rollout.refresh_from_db()
    assert response.status_code == 302
    assert rollout.share == pytest.approx(0.1)
    assert _messages(response)[0].startswith("Share of traffic: Enter a percentage above 0")


def test_share_of_shadow_rejected(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    rollout = _rollout(project, candidate)

    response = client_for(alice).post(_url("rollout-share", project, rollout.pk), {"share": "30"})

    assert response.status_code == 302
    assert _messages(response) == ["Only a canary serves a share of the requests."]


def test_stop_returns_to_next_page(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    rollout = _rollout(project, candidate)
    back = _url("deployment-list", project)

    response = client_for(alice).post(_url("rollout-stop", project, rollout.pk), {"next": back})

    rollout.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == back
    assert rollout.status == RolloutStatus.STOPPED


def test_stop_ignores_next_on_other_host(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    rollout = _rollout(project, candidate)

    response = client_for(alice).post(
        _url("rollout-stop", project, rollout.pk), {"next": "https://example.com/"}
    )

    assert response["Location"] == _url("rollout-detail", project, rollout.pk)


def test_stop_twice_shows_message(
    client_for: ClientFor, project: Project, candidate: Iteration, alice: User
):
    rollout = _rollout(project, candidate, status=RolloutStatus.STOPPED)

    response = client_for(alice).post(_url("rollout-stop", project, rollout.pk), follow=True)

    assert response.status_code == 200
    assert "This rollout is stopped, so it cannot become stopped." in response.text


def test_complete_makes_canary_live(
    client_for: ClientFor,
    project: Project,
    live: Deployment,
    approved_candidate: Iteration,
    dana: User,
):
    rollout = _rollout(
        project,
        approved_candidate,
        mode=RolloutMode.CANARY,
        approval=_approval(approved_candidate),
        share=0.5,
    )

    response = client_for(dana).post(_url("rollout-complete", project, rollout.pk))

    rollout.refresh_from_db()
    assert response.status_code == 302
    assert rollout.status == RolloutStatus.COMPLETED
    current = Deployment.objects.get(project=project, status=DeploymentStatus.LIVE)
    assert current.iteration_id == approved_candidate.pk
    assert _messages(response) == ["Iteration 2 (model version 2) is now the live version."]


def test_complete_shadow_shows_message(
    client_for: ClientFor, project: Project, live: Deployment, candidate: Iteration, alice: User
):
    rollout = _rollout(project, candidate)

    response = client_for(alice).post(_url("rollout-complete", project, rollout.pk))

    rollout.refresh_from_db()
    assert response.status_code == 302
    assert rollout.status == RolloutStatus.ACTIVE
    assert _messages(response) == [
        "A shadow rollout cannot go live; request a promotion of its iteration."
    ]
    assert Deployment.objects.get(status=DeploymentStatus.LIVE).pk == live.pk


def test_foreign_rollout_not_found(
    client_for: ClientFor,
    project: Project,
    regression_project: Project,
    candidate: Iteration,
    alice: User,
):
    rollout = _rollout(project, candidate)
    other = regression_project

    detail = client_for(alice).get(_url("rollout-detail", other, rollout.pk))
    stop = client_for(alice).post(_url("rollout-stop", other, rollout.pk))

    assert detail.status_code == 404
    assert stop.status_code == 404
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ACTIVE


def _log_pair(rollout: Rollout, *, live: Deployment, agree: bool, live_ms: float, shadow_ms: float):
    prediction_id = uuid.uuid4()
    now = timezone.now()
    for variant, prediction, latency in [
        ("live", 1, live_ms),
        ("shadow", 1 if agree else 0, shadow_ms),
    ]:
        PredictionLog.objects.create(
            prediction_id=prediction_id,
            project=rollout.project,
            deployment=live if variant == "live" else None,
            rollout=rollout if variant == "shadow" else None,
            variant=variant,
            model_version=live.model_version if variant == "live" else rollout.model_version,
            prediction=prediction,
            inputs_hash="0" * 64,
            latency_ms=latency,
            created_at=now,
        )


def test_shadow_page_shows_comparison(
    client_for: ClientFor, project: Project, live: Deployment, candidate: Iteration, sam: User
):
    rollout = _rollout(project, candidate)
    for index in range(4):
        _log_pair(rollout, live=live, agree=index < 3, live_ms=2.0, shadow_ms=5.0)

    response = client_for(sam).get(_url("rollout-detail", project, rollout.pk))

    comparison = response.context["comparison"]
    assert response.status_code == 200
    assert comparison["pairs"] == 4
    assert comparison["agreement"] == 0.75
    assert "<dt>Compared requests</dt><dd>4</dd>" in response.text
    assert "75% of rows got the same prediction" in response.text
    assert "<td>2.0</td>" in response.text
    assert "<td>5.0</td>" in response.text
    assert "Steer the rollout" not in response.text


def test_canary_page_shows_served_share(
    client_for: ClientFor,
    project: Project,
    live: Deployment,
    approved_candidate: Iteration,
    dana: User,
):
    rollout = _rollout(
        project,
        approved_candidate,
        mode=RolloutMode.CANARY,
        approval=_approval(approved_candidate),
        share=0.3,
    )
    now = timezone.now()
    for variant in ["live", "live", "live", "canary"]:
        PredictionLog.objects.create(
            prediction_id=uuid.uuid4(),
            project=project,
            deployment=live if variant == "live" else None,
            rollout=rollout if variant == "canary" else None,
            variant=variant,
            model_version="1" if variant == "live" else "2",
            prediction=1,
            inputs_hash="0" * 64,
            latency_ms=3.0,
            created_at=now,
        )

    response = client_for(dana).get(_url("rollout-detail", project, rollout.pk))

    assert response.status_code == 200
    assert "25% served, 30% configured" in response.text
    assert "<dt>Requests since the canary started</dt><dd>4</dd>" in response.text
    assert "Change share" in response.text
    assert "Complete: make it the live version" in response.text


def test_open_rollout_page_polls(
    client_for: ClientFor, project: Project, candidate: Iteration, sam: User
):
    rollout = _rollout(project, candidate, status=RolloutStatus.PENDING)
    live_url = _url("rollout-live", project, rollout.pk)

    page = client_for(sam).get(_url("rollout-detail", project, rollout.pk))
    part = client_for(sam).get(live_url)

    assert f'hx-get="{live_url}"' in page.text
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<div id="rollout-live"')
    assert "<html" not in part.text
    assert f'hx-get="{live_url}"' in part.text


def test_ended_rollout_page_stops_polling(
    client_for: ClientFor, project: Project, candidate: Iteration, sam: User
):
    rollout = _rollout(
        project, candidate, status=RolloutStatus.FAILED, status_reason="Replay mismatch."
    )

    part = client_for(sam).get(_url("rollout-live", project, rollout.pk))

    assert "hx-get" not in part.text
    assert "Replay mismatch." in part.text


def test_list_shows_rollout_controls(
    client_for: ClientFor, project: Project, approved_candidate: Iteration, alice: User
):
    rollout = _rollout(
        project,
        approved_candidate,
        mode=RolloutMode.CANARY,
        approval=_approval(approved_candidate),
        share=0.2,
    )

    response = client_for(alice).get(_url("deployment-list", project))

    assert response.status_code == 200
    assert _url("rollout-stop", project, rollout.pk) in response.text
    assert _url("rollout-share", project, rollout.pk) in response.text
    assert "Start shadow" not in response.text


def test_list_hides_forms_from_stakeholder(
    client_for: ClientFor, project: Project, candidate: Iteration, sam: User
):
    response = client_for(sam).get(_url("deployment-list", project))

    assert response.status_code == 200
    assert "Start shadow" not in response.text
    assert _url("batch-create", project) not in response.text
