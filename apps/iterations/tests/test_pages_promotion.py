"""The iteration page's promotion form, with and without a canary share."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.approvals.models import ApprovalRequest
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


def _live(project: Project, iteration: Iteration) -> None:
    """Put ``iteration`` live, because a canary runs beside a live version."""
    Deployment.objects.create(
        project=project,
        iteration=iteration,
        status=DeploymentStatus.LIVE,
        model_version=iteration.model_version,
    )


def test_promotion_form_offers_canary_share(
    client_for: ClientFor, project: Project, make_iteration: Callable[..., Iteration], alice: User
):
    make_iteration(1)

    response = client_for(alice).get(reverse("iteration-detail", args=[project.slug, 1]))

    assert 'name="canary_share"' in response.text
    assert "Start as a canary at this percentage of traffic" in response.text


def test_canary_share_stored_as_fraction(
    client_for: ClientFor, project: Project, make_iteration: Callable[..., Iteration], alice: User
):
    _live(project, make_iteration(1))
    iteration = make_iteration(2)

    response = client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 2]),
        {"comment": "Try it on a slice first.", "canary_share": "15"},
        follow=True,
    )

    request = ApprovalRequest.objects.get(iteration=iteration)
    assert response.status_code == 200
    assert request.canary_share == pytest.approx(0.15)
    assert "as a canary at 15% of traffic requested" in response.text


def test_empty_share_means_full_promotion(
    client_for: ClientFor, project: Project, make_iteration: Callable[..., Iteration], alice: User
):
    iteration = make_iteration(1)

    client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 1]), {"comment": "", "canary_share": ""}
    )

    assert ApprovalRequest.objects.get(iteration=iteration).canary_share is None


@pytest.mark.parametrize("share", ["0", "100", "250", "-1", "a tenth"])
def test_promotion_rejects_canary_share(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
    share: str,
):
    make_iteration(1)

    response = client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 1]), {"canary_share": share}
    )

    assert response.status_code == 400
    assert response.context["promotion_form"].errors["canary_share"]
    assert 'class="field field-invalid"' in response.text
    assert not ApprovalRequest.objects.exists()


def test_approval_pages_show_canary_share(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
    dana: User,
):
    _live(project, make_iteration(1))
    make_iteration(2)
    client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 2]), {"canary_share": "20"}
    )
    approval = ApprovalRequest.objects.get()

    detail = client_for(dana).get(reverse("approval-detail", args=[approval.pk]))
    iteration_page = client_for(dana).get(reverse("iteration-detail", args=[project.slug, 2]))

    assert "starts as a canary answering 20% of prediction requests" in detail.text
    assert "as a canary at 20% of traffic" in iteration_page.text


def test_canary_without_live_version_shows_why(
    client_for: ClientFor, project: Project, make_iteration: Callable[..., Iteration], alice: User
):
    make_iteration(1)

    response = client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 1]), {"canary_share": "20"}, follow=True
    )

    assert "no version of this project is live" in response.text
    assert not ApprovalRequest.objects.exists()
