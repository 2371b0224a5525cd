import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.services import iteration_cancel, iteration_fail, iteration_retry
from apps.iterations.services import iteration_start as start
from apps.iterations.tests.uploads import cancer_dataset

__all__ = ["cancer_dataset"]


def _failed(project, user, dataset):
    iteration = start(
        project=project,
        user=user,
        dataset_id=dataset.pk,
        recipe="random_forest",
        params={"n_estimators": 20},
        seed=17,
        test_size=0.3,
        feature_columns=["mean radius", "mean texture"],
    )
    iteration_fail(iteration_id=iteration.pk, reason="The worker stopped responding.")
    iteration.refresh_from_db()
    return iteration


def _url(project, number):
    return f"/api/v1/projects/{project.slug}/iterations/{number}/retry/"


def test_retry_queues_same_settings(project, alice, cancer_dataset):
    failed = _failed(project, alice, cancer_dataset)

    retry = iteration_retry(iteration=failed, user=alice)

    failed.refresh_from_db()
    assert retry.number == failed.number + 1
    assert retry.status == IterationStatus.QUEUED
    assert retry.dataset_id == failed.dataset_id
    assert retry.recipe == "random_forest"
    assert retry.params == failed.params
    assert retry.seed == 17
    assert retry.test_size == 0.3
    assert retry.feature_columns == ["mean radius", "mean texture"]
    assert retry.task_id != failed.task_id
    assert failed.status == IterationStatus.FAILED
    event = AuditEvent.objects.get(action="iteration.retried")
    assert event.after == {"retry": retry.number}


def test_retry_accepts_cancelled_iteration(project, alice, cancer_dataset):
    queued = start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=1,
    )
    cancelled = iteration_cancel(iteration=queued, user=alice)

    retry = iteration_retry(iteration=cancelled, user=alice)

    assert retry.status == IterationStatus.QUEUED


@pytest.mark.parametrize(
    "status", [IterationStatus.QUEUED, IterationStatus.RUNNING, IterationStatus.SUCCEEDED]
)
def test_retry_rejects_unfinished_or_succeeded(project, alice, cancer_dataset, status):
    iteration = _failed(project, alice, cancer_dataset)
    Iteration.objects.filter(pk=iteration.pk).update(status=status)
    count = Iteration.objects.count()

    with pytest.raises(Conflict):
        iteration_retry(iteration=iteration, user=alice)

    assert Iteration.objects.count() == count
    assert not AuditEvent.objects.filter(action="iteration.retried").exists()


def test_api_retry_answers_202(project, alice, cancer_dataset, api_client_for):
    failed = _failed(project, alice, cancer_dataset)

    response = api_client_for(alice).post(_url(project, failed.number))

    assert response.status_code == 202, response.json()
    assert response.json()["number"] == failed.number + 1
    assert response.json()["status"] == "queued"


@pytest.mark.parametrize(("persona", "status"), [("sam", 403), ("dana", 403), ("olga", 404)])
def test_api_retry_by_others(
    project, alice, cancer_dataset, api_client_for, request, persona, status
):
    failed = _failed(project, alice, cancer_dataset)
    count = Iteration.objects.count()

    response = api_client_for(request.getfixturevalue(persona)).post(_url(project, failed.number))

    assert response.status_code == status
    assert Iteration.objects.count() == count


def test_api_retry_of_succeeded_is_409(project, alice, cancer_dataset, api_client_for):
    failed = _failed(project, alice, cancer_dataset)
    Iteration.objects.filter(pk=failed.pk).update(status=IterationStatus.SUCCEEDED)

    response = api_client_for(alice).post(_url(project, failed.number))

    assert response.status_code == 409
    assert response.json()["code"]


def test_page_shows_retry_to_data_scientist_only(project, alice, sam, cancer_dataset, client_for):
    failed = _failed(project, alice, cancer_dataset)
    retry_url = reverse("iteration-retry", args=[project.slug, failed.number])
    page_url = reverse("iteration-detail", args=[project.slug, failed.number])

    alice_page = client_for(alice).get(page_url).text
    sam_page = client_for(sam).get(page_url).text

    assert retry_url in alice_page
    assert retry_url not in sam_page


def test_retry_button_redirects_to_new_iteration(project, alice, cancer_dataset, client_for):
    failed = _failed(project, alice, cancer_dataset)

    response = client_for(alice).post(
        reverse("iteration-retry", args=[project.slug, failed.number])
    )

    assert response.status_code == 302
    assert response.url == reverse("iteration-detail", args=[project.slug, failed.number + 1])


def test_retry_button_on_succeeded_shows_error(project, alice, cancer_dataset, client_for):
    failed = _failed(project, alice, cancer_dataset)
    Iteration.objects.filter(pk=failed.pk).update(status=IterationStatus.SUCCEEDED)
    count = Iteration.objects.count()

    response = client_for(alice).post(
        reverse("iteration-retry", args=[project.slug, failed.number]), follow=True
    )

    assert response.status_code == 200
    assert "only a failed or cancelled iteration can be retried" in response.text
    assert Iteration.objects.count() == count
