import json
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient
from sklearn.datasets import load_breast_cancer

from apps.accounts.models import ApiToken, Membership, Role
from apps.accounts.services import token_create
from apps.deployments.models import Deployment, PredictionLog
from apps.deployments.prediction_log import prediction_log_flush
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


def test_predict_on_retired_project_says_it_is_retired(
    api_client_for, alice: User, project: Project
):
    Project.objects.filter(pk=project.pk).update(stage="retired")

    response = api_client_for(alice).post(_url(project), {"instances": _rows(1)}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == "This project is retired, so it serves no predictions."


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


def test_predict_returns_prediction_ids_and_logs_them(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    response = api_client_for(alice).post(_url(project), {"instances": _rows(3)}, format="json")

    body = response.json()
    assert response.status_code == 200, body
    assert len(body["prediction_ids"]) == 3
    assert len(set(body["prediction_ids"])) == 3
    assert body["variant"] == "live"
    # Nothing is written on the request path; the flush writes the buffered rows.
    assert PredictionLog.objects.count() == 0
    assert prediction_log_flush() == 3
    logged = {str(row.prediction_id): row for row in PredictionLog.objects.all()}
    assert set(logged) == set(body["prediction_ids"])
    first = logged[body["prediction_ids"][0]]
    assert first.deployment_id == live_deployment.pk
    assert first.prediction == body["predictions"][0]
    assert first.probability == pytest.approx(body["probabilities"][0])
    assert first.inputs is None
    assert len(first.inputs_hash) == 64


def test_prediction_log_sample_rate_zero_logs_nothing(
    api_client_for, alice: User, project: Project, live_deployment: Deployment, settings
):
    settings.PREDICTION_LOG_SAMPLE_RATE = 0.0

    response = api_client_for(alice).post(_url(project), {"instances": _rows(2)}, format="json")

    assert response.status_code == 200
    assert len(response.json()["prediction_ids"]) == 2
    assert prediction_log_flush() == 0
    assert PredictionLog.objects.count() == 0


def test_predict_rejects_nan_and_infinity_per_field(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    row = _rows(1)[0]
    body = json.dumps(
        {"instances": [{**row, "mean radius": float("nan")}, {**row, "mean area": float("inf")}]}
    )

    response = api_client_for(alice).post(_url(project), data=body, content_type="application/json")

    assert "NaN" in body
    assert response.status_code == 422, response.json()
    errors = response.json()["errors"]
    assert "instances[0].mean radius" in errors
    assert "instances[1].mean area" in errors
    assert "instances[0].mean texture" not in errors


def test_predict_accepts_null_as_missing_value(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    row = {**_rows(1)[0], "mean radius": None}

    response = api_client_for(alice).post(_url(project), {"instances": [row]}, format="json")

    # Every recipe imputes numeric columns, so null is a missing value the model fills in.
    assert response.status_code == 200, response.json()


def test_predict_rejects_invalid_json_without_echo(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    response = api_client_for(alice).post(
        _url(project), data='{"instances": [secret-value', content_type="application/json"
    )

    assert response.status_code == 400
    assert "secret-value" not in response.content.decode()


def test_predict_rejects_large_body(
    api_client_for, alice: User, project: Project, live_deployment: Deployment, settings
):
    settings.PREDICT_MAX_BODY_BYTES = 1000

    response = api_client_for(alice).post(_url(project), {"instances": _rows(5)}, format="json")

    assert response.status_code == 413
    assert "1000" in response.json()["detail"]


def test_error_bodies_never_echo_values(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    row = _rows(1)[0]
    marker = "do-not-echo-7f3a"
    payloads = [
        {"instances": [{**row, "mean radius": marker}]},
        {"instances": [{"mean radius": marker}]},
        {"instances": [marker]},
        {"instances": marker},
    ]
    client = api_client_for(alice)
    for payload in payloads:
        response = client.post(_url(project), payload, format="json")
        assert response.status_code in {400, 422}, payload
        assert marker not in response.content.decode(), payload


def test_predict_query_count_is_constant_with_warm_caches(
    api_client_for,
    alice: User,
    project: Project,
    live_deployment: Deployment,
    settings,
    django_assert_num_queries,
):
    settings.SERVING_REFRESH_SECONDS = 60
    client = api_client_for(alice)
    client.post(_url(project), {"instances": _rows(1)}, format="json")

    with django_assert_num_queries(0):
        response = client.post(_url(project), {"instances": _rows(50)}, format="json")

    assert response.status_code == 200


def test_revoked_token_is_refused_within_cache_bound(
    alice: User, project: Project, live_deployment: Deployment, settings, monkeypatch
):
    settings.SERVING_ACCESS_CACHE_SECONDS = 2.0
    token, key = token_create(user=alice, name="revocable")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 200
    started = time.monotonic()

    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    monkeypatch.setattr(time, "monotonic", lambda: started + 1.0)
    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 200
    monkeypatch.setattr(time, "monotonic", lambda: started + 2.5)
    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 401


def test_removed_member_is_refused_within_cache_bound(
    api_client_for,
    alice: User,
    sam: User,
    project: Project,
    live_deployment: Deployment,
    settings,
    monkeypatch,
):
    settings.SERVING_ACCESS_CACHE_SECONDS = 2.0
    Membership.objects.create(project=project, user=sam, role=Role.DATA_SCIENTIST)
    client = api_client_for(sam)
    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 200
    started = time.monotonic()

    Membership.objects.filter(project=project, user=sam).delete()

    monkeypatch.setattr(time, "monotonic", lambda: started + 2.5)
    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 404


def test_without_access_cache_revocation_is_immediate(
    alice: User, project: Project, live_deployment: Deployment, settings
):
    settings.SERVING_ACCESS_CACHE_SECONDS = 0
    token, key = token_create(user=alice, name="revocable")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 200

    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())

    assert client.post(_url(project), {"instances": _rows(1)}, format="json").status_code == 401


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonl", ""],
)
def test_predict_rejects_body_that_is_not_json_typed(
    api_client_for, alice: User, project: Project, live_deployment: Deployment, content_type
):
    body = json.dumps({"instances": _rows(1)})

    response = api_client_for(alice).generic(
        "POST", _url(project), body.encode(), content_type=content_type
    )

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert "application/json" in response.json()["detail"]


def test_predict_accepts_json_with_charset(
    api_client_for, alice: User, project: Project, live_deployment: Deployment
):
    body = json.dumps({"instances": _rows(1)})

    response = api_client_for(alice).post(
        _url(project), data=body, content_type="Application/JSON; charset=utf-8"
    )

    assert response.status_code == 200
    assert response.json()["model_version"] == live_deployment.model_version
