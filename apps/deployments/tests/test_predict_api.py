import pytest
from django.contrib.auth.models import User
from sklearn.datasets import load_breast_cancer

from apps.deployments.models import Deployment
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _url(project: Project) -> str:
    return f"/api/v1/projects/{project.slug}/predict/"


def _rows(count: int) -> list[dict[str, float]]:
    frame = load_breast_cancer(as_frame=True).frame.drop(columns=["target"])
    return frame.head(count).to_dict(orient="records")


def test_predict_returns_live_model_predictions(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    rows = _rows(5)

    response = api_client_for(alice).post(_url(project), {"instances": rows}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert len(body["predictions"]) == 5
    assert set(body["predictions"]) <= {0, 1}
    assert len(body["probabilities"]) == 5
    assert all(0.0 <= p <= 1.0 for p in body["probabilities"])
    assert body["iteration"] == live_deployment.iteration.number
    assert body["model_version"] == live_deployment.model_version
    assert body["deployment"] == live_deployment.pk
    assert "threshold" in body


def test_predict_ignores_column_order(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    rows = _rows(3)
    reversed_rows = [dict(reversed(list(row.items()))) for row in rows]
    client = api_client_for(alice)

    in_order = client.post(_url(project), {"instances": rows}, format="json").json()
    reordered = client.post(_url(project), {"instances": reversed_rows}, format="json").json()

    assert reordered["predictions"] == in_order["predictions"]
    assert reordered["probabilities"] == in_order["probabilities"]


def test_predict_applies_iteration_threshold(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    iteration = live_deployment.iteration
    sample = iteration.holdout_sample
    negative, positive = sample["classes"]
    expected = [
        positive if row[1] >= iteration.threshold else negative for row in sample["probabilities"]
    ]

    response = api_client_for(alice).post(
        _url(project), {"instances": sample["rows"]}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["threshold"] == iteration.threshold
    assert body["predictions"] == expected
    assert body["probabilities"] == pytest.approx([row[1] for row in sample["probabilities"]])


def test_predict_rejects_invalid_instances(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    client = api_client_for(alice)
    row = _rows(1)[0]
    missing = {key: value for key, value in row.items() if key != "mean radius"}
    unknown = {**row, "shoe size": 42}
    wrong_type = {**row, "mean texture": "rough"}
    flag = {**row, "mean area": True}
    cases = [
        ("no instances", {}, 400, "instances"),
        ("instances not a list", {"instances": {"mean radius": 1}}, 400, "instances"),
        ("empty list", {"instances": []}, 400, "instances"),
        ("row not an object", {"instances": [row, [1, 2]]}, 400, "instances[1]"),
        ("missing column", {"instances": [missing]}, 422, "instances[0]"),
        ("unknown column", {"instances": [row, unknown]}, 422, "instances[1]"),
        ("text in numeric column", {"instances": [wrong_type]}, 422, "instances[0].mean texture"),
        ("boolean in numeric column", {"instances": [flag]}, 422, "instances[0].mean area"),
    ]
    for name, payload, status, field in cases:
        response = client.post(_url(project), payload, format="json")
        body = response.json()
        assert response.status_code == status, name
        assert field in body["errors"], (name, body)
        assert "rough" not in str(body), name

    missing_body = client.post(_url(project), {"instances": [missing]}, format="json").json()
    assert "mean radius" in missing_body["errors"]["instances[0]"][0]
    unknown_body = client.post(_url(project), {"instances": [unknown]}, format="json").json()
    assert "shoe size" in unknown_body["errors"]["instances[0]"][0]


def test_predict_rejects_body_that_is_not_an_object(api_client_for, alice: User, project: Project):
    response = api_client_for(alice).post(_url(project), [1, 2], format="json")

    assert response.status_code == 400
    assert "instances" in response.json()["errors"]


def test_predict_rejects_too_many_instances(
    api_client_for, alice: User, project: Project, settings
):
    settings.PREDICT_MAX_INSTANCES = 3

    response = api_client_for(alice).post(_url(project), {"instances": _rows(4)}, format="json")

    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_predict_without_live_deployment_conflicts(api_client_for, alice: User, project: Project):
    response = api_client_for(alice).post(_url(project), {"instances": _rows(1)}, format="json")

    assert response.status_code == 409
    assert "no live deployment" in response.json()["detail"]


@pytest.mark.parametrize(("persona", "status"), [("sam", 403), ("dana", 403), ("olga", 404)])
def test_predict_requires_predict_role(
    api_client_for, project: Project, persona: str, status: int, request
):
    user = request.getfixturevalue(persona)

    response = api_client_for(user).post(_url(project), {"instances": _rows(1)}, format="json")

    assert response.status_code == status


def test_model_cannot_score_empty_values(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    row = {**_rows(1)[0], "mean radius": None}

    response = api_client_for(alice).post(_url(project), {"instances": [row]}, format="json")

    # Whether the recipe imputes decides 200 or 422; an empty value never causes a 500.
    assert response.status_code in {200, 422}
