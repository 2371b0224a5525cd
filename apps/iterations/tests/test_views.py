import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.approvals.models import ApprovalRequest, RequestStatus
from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


@pytest.mark.parametrize(("username", "status"), [("alice", 200), ("sam", 403), ("dana", 403)])
def test_start_page_by_role(
    client_for: ClientFor,
    project: Project,
    dataset: DatasetVersion,
    make_user: Callable[[str], User],
    username: str,
    status: int,
) -> None:
    response = client_for(make_user(username)).get(reverse("iteration-create", args=[project.slug]))

    assert response.status_code == status


def test_start_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("iteration-create", args=[project.slug]))

    assert response.status_code == 404


def test_start_queues_iteration(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, alice: User
) -> None:
    response = client_for(alice).post(
        reverse("iteration-create", args=[project.slug]),
        {
            "dataset": dataset.pk,
            "recipe": "logistic_regression",
            "params": json.dumps({}),
            "seed": "7",
        },
    )

    iteration = Iteration.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("iteration-detail", args=[project.slug, 1])
    assert iteration.status == IterationStatus.QUEUED
    assert iteration.seed == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [("not json", "params"), ("[1, 2]", "params"), ('{"no_such_param": 1}', None)],
)
def test_start_shows_bad_params_without_queueing(
    client_for: ClientFor,
    project: Project,
    dataset: DatasetVersion,
    alice: User,
    params: str,
    field: str | None,
) -> None:
    response = client_for(alice).post(
        reverse("iteration-create", args=[project.slug]),
        {"dataset": dataset.pk, "recipe": "logistic_regression", "params": params, "seed": "0"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors
    if field is not None:
        assert response.context["form"].errors[field]
    assert not Iteration.objects.filter(project=project).exists()


def test_start_rejects_unknown_recipe(
    client_for: ClientFor, project: Project, dataset: DatasetVersion, alice: User
) -> None:
    response = client_for(alice).post(
        reverse("iteration-create", args=[project.slug]),
        {"dataset": dataset.pk, "recipe": "magic", "params": "{}", "seed": "0"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["recipe"]


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_iteration_page_opens_for_members(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    make_user: Callable[[str], User],
    username: str,
) -> None:
    make_iteration(1)

    response = client_for(make_user(username)).get(
        reverse("iteration-detail", args=[project.slug, 1])
    )

    assert response.status_code == 200
    assert "run1" in response.text


def test_iteration_page_is_not_found_for_outsider(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    olga: User,
) -> None:
    make_iteration(1)

    response = client_for(olga).get(reverse("iteration-detail", args=[project.slug, 1]))

    assert response.status_code == 404


def test_running_iteration_polls_its_status(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={}, status=IterationStatus.RUNNING)
    status_url = reverse("iteration-status", args=[project.slug, 1])

    page = client_for(sam).get(reverse("iteration-detail", args=[project.slug, 1])).text
    fragment = client_for(sam).get(status_url).text

    assert f'hx-get="{status_url}"' in page
    assert 'hx-trigger="every 2s"' in page
    assert 'hx-trigger="every 2s"' in fragment
    assert "<html" not in fragment


def test_finished_iteration_stops_polling(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1)

    fragment = client_for(sam).get(reverse("iteration-status", args=[project.slug, 1])).text

    assert 'id="iteration-live"' in fragment
    assert "hx-trigger" not in fragment
    assert "Met" in fragment


def test_failed_iteration_shows_reason(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(
        1, metrics={}, status=IterationStatus.FAILED, status_reason="The target has one class."
    )

    page = client_for(sam).get(reverse("iteration-detail", args=[project.slug, 1])).text

    assert "The target has one class." in page


def test_undefined_metric_is_not_shown_as_missed(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={"roc_auc": None, "recall": 0.95})

    page = client_for(sam).get(reverse("iteration-detail", args=[project.slug, 1])).text

    assert page.count('class="badge badge-undefined"') >= 1
    assert 'class="badge badge-missed"' not in page


def test_data_scientist_cancels_running_iteration(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
) -> None:
    iteration = make_iteration(1, metrics={}, status=IterationStatus.RUNNING)

    response = client_for(alice).post(reverse("iteration-cancel", args=[project.slug, 1]))

    iteration.refresh_from_db()
    assert response.status_code == 302
    assert iteration.status == IterationStatus.CANCELLED


def test_cancelling_finished_iteration_shows_message(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
) -> None:
    make_iteration(1)

    response = client_for(alice).post(
        reverse("iteration-cancel", args=[project.slug, 1]), follow=True
    )

    assert response.status_code == 200
    assert 'class="error"' in response.text


def test_stakeholder_cannot_cancel(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={}, status=IterationStatus.RUNNING)

    response = client_for(sam).post(reverse("iteration-cancel", args=[project.slug, 1]))

    assert response.status_code == 403


def test_data_scientist_requests_promotion(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
) -> None:
    iteration = make_iteration(1)

    response = client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 1]),
        {"comment": "Meets the ROC AUC target."},
        follow=True,
    )

    request = ApprovalRequest.objects.get(iteration=iteration)
    assert response.status_code == 200
    assert request.status == RequestStatus.PENDING
    assert request.comment == "Meets the ROC AUC target."
    assert "waiting for the decision makers" in response.text


def test_promoting_failed_iteration_shows_message(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
) -> None:
    make_iteration(1, metrics={}, status=IterationStatus.FAILED)

    response = client_for(alice).post(
        reverse("iteration-promote", args=[project.slug, 1]), follow=True
    )

    assert response.status_code == 200
    assert "only a succeeded iteration can be promoted" in response.text
    assert not ApprovalRequest.objects.exists()


def test_decision_maker_cannot_request_promotion(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    dana: User,
) -> None:
    make_iteration(1)

    response = client_for(dana).post(reverse("iteration-promote", args=[project.slug, 1]))

    assert response.status_code == 403
