import pytest

from apps.iterations.models import Iteration
from apps.iterations.services import iteration_run
from apps.iterations.tests.uploads import cancer_dataset

__all__ = ["cancer_dataset"]


def _url(project, suffix=""):
    return f"/api/v1/projects/{project.slug}/iterations/{suffix}"


def _post(client, project, dataset_version, **changes):
    body = {
        "dataset": dataset_version.pk,
        "recipe": "logistic_regression",
        "params": {"C": 0.5},
        "seed": 3,
    }
    body.update(changes)
    return client.post(_url(project), body, format="json")


def test_data_scientist_starts_iteration(project, alice, cancer_dataset, api_client_for):
    response = _post(api_client_for(alice), project, cancer_dataset)

    assert response.status_code == 202, response.json()
    body = response.json()
    # Numbers 1 and 2 are the non-ML baselines queued by the upload.
    assert body["number"] == 3
    assert body["status"] == "queued"
    assert body["dataset"] == cancer_dataset.pk
    assert body["recipe"] == "logistic_regression"
    assert body["params"] == {"C": 0.5, "max_iter": 1000, "class_weight": None}
    assert body["seed"] == 3
    assert body["is_baseline"] is False
    assert body["created_by"] == "alice"
    assert [target["verdict"] for target in body["targets"]] == ["undefined", "undefined"]


@pytest.mark.parametrize(("persona", "status"), [("sam", 403), ("dana", 403), ("olga", 404)])
def test_others_cannot_start_iteration(
    project, cancer_dataset, api_client_for, request, persona, status
):
    user = request.getfixturevalue(persona)

    response = _post(api_client_for(user), project, cancer_dataset)

    assert response.status_code == status
    assert not Iteration.objects.filter(is_baseline=False).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipe": "ridge"}, "recipe"),
        ({"params": {"C": "high"}}, "params.C"),
        ({"params": {"depth": 2}}, "params.depth"),
        ({"params": [1]}, "params"),
        ({"seed": "seven"}, "seed"),
        ({"dataset": 999999}, "dataset"),
    ],
)
def test_bad_spec_answers_400(project, alice, cancer_dataset, api_client_for, changes, field):
    response = _post(api_client_for(alice), project, cancer_dataset, **changes)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_detail_shows_metrics_and_verdicts(project, alice, sam, cancer_dataset, api_client_for):
    created = _post(api_client_for(alice), project, cancer_dataset).json()
    iteration = Iteration.objects.get(project=project, number=created["number"])
    iteration_run(iteration_id=iteration.pk)

    response = api_client_for(sam).get(_url(project, f"{created['number']}/"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["metrics"]["roc_auc"] > 0.95
    assert body["mlflow_run_id"]
    assert body["model_name"] == f"portal-{project.slug}"
    assert body["model_version"]
    assert body["threshold"] is not None
    assert body["expected_cost"] is not None
    roc = next(target for target in body["targets"] if target["name"] == "roc_auc")
    assert roc["verdict"] == "met"
    assert roc["value"] == body["metrics"]["roc_auc"]
    for key in ("started_at", "finished_at", "created_at", "status_reason"):
        assert key in body


@pytest.mark.parametrize(("persona", "status"), [("sam", 200), ("dana", 200), ("olga", 404)])
def test_members_read_iterations(
    project, alice, cancer_dataset, api_client_for, request, persona, status
):
    _post(api_client_for(alice), project, cancer_dataset)
    client = api_client_for(request.getfixturevalue(persona))

    listing = client.get(_url(project))
    detail = client.get(_url(project, "1/"))

    assert listing.status_code == status
    assert detail.status_code == status


def test_unknown_number_is_404(project, alice, api_client_for):
    response = api_client_for(alice).get(_url(project, "7/"))

    assert response.status_code == 404


def test_cancel_queued_iteration(project, alice, sam, cancer_dataset, api_client_for):
    _post(api_client_for(alice), project, cancer_dataset)

    denied = api_client_for(sam).post(_url(project, "1/cancel/"))
    cancelled = api_client_for(alice).post(_url(project, "1/cancel/"))
    again = api_client_for(alice).post(_url(project, "1/cancel/"))

    assert denied.status_code == 403
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409


def test_schema_documents_iteration_start(alice, api_client_for):
    response = api_client_for(alice).get("/api/v1/schema/", {"format": "json"})

    operation = response.json()["paths"]["/api/v1/projects/{slug}/iterations/"]["post"]
    assert "202" in operation["responses"]
    assert "application/json" in operation["requestBody"]["content"]
