import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.projects.models import Project, Stage
from apps.projects.services import MetricInput, project_create

pytestmark = pytest.mark.django_db

VALID_PROJECT = {
    "name": "Churn early warning",
    "business_problem": "Call customers likely to cancel before their renewal date.",
    "task_type": "classification",
    "metrics": [{"name": "roc_auc", "target": 0.9, "minimum": 0.8}],
    "expectations": {
        "first_model_by": "2027-01-15",
        "production_by": "2027-03-01",
        "expected_iterations": 6,
    },
    "error_costs": {"false_positive": 5, "false_negative": 120},
    "members": [{"username": "sam", "role": "stakeholder"}],
}


def test_create_project_returns_metrics_and_members(alice, sam, api_client_for):
    response = api_client_for(alice).post("/api/v1/projects/", VALID_PROJECT, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "churn-early-warning"
    assert body["stage"] == Stage.FRAMING
    assert body["metrics"][0]["name"] == "roc_auc"
    assert body["metrics"][0]["direction"] == "higher"
    assert body["expectations"]["expected_iterations"] == 6
    assert body["error_costs"] == {
        "false_positive": 5.0,
        "false_negative": 120.0,
        "true_positive_value": None,
    }
    roles = {(m["username"], m["role"]) for m in body["members"]}
    assert ("alice", "owner") in roles
    assert ("sam", "stakeholder") in roles
    assert AuditEvent.objects.filter(action="project.created").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"metrics": []}, "metrics"),
        ({"metrics": [{"name": "roc_auc", "target": 0.8, "minimum": 0.9}]}, "metrics[0].minimum"),
        ({"metrics": [{"name": "rmse", "target": 3}]}, "metrics[0].name"),
        ({"metrics": [{"name": "roc_auc", "target": "nan"}]}, "metrics[0].target"),
        ({"metrics": [{"name": "roc_auc", "target": "inf"}]}, "metrics[0].target"),
        ({"metrics": [{"name": "roc_auc", "target": "1e400"}]}, "metrics[0].target"),
        ({"error_costs": {"false_positive": -1}}, "error_costs.false_positive"),
        (
            {"expectations": {"first_model_by": "2027-05-01", "production_by": "2027-01-01"}},
            "production_by",
        ),
        ({"members": [{"username": "nobody", "role": "stakeholder"}]}, "members[0].username"),
        ({"task_type": "clustering"}, "task_type"),
        ({"name": ""}, "name"),
    ],
)
def test_create_project_rejects_bad_input_naming_field(alice, sam, api_client_for, change, field):
    response = api_client_for(alice).post(
        "/api/v1/projects/", {**VALID_PROJECT, **change}, format="json"
    )

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not Project.objects.exists()


def test_project_list_shows_only_member_projects(project, olga, sam, api_client_for):
    assert [p["slug"] for p in api_client_for(sam).get("/api/v1/projects/").json()] == [
        project.slug
    ]
    assert api_client_for(olga).get("/api/v1/projects/").json() == []


@pytest.mark.parametrize(
    ("persona", "read_status", "edit_status"),
    [
        ("alice", 200, 200),
        ("sam", 200, 403),
        ("dana", 200, 403),
        ("olga", 404, 404),
    ],
)
def test_project_detail_access_by_role(
    project, request, api_client_for, persona, read_status, edit_status
):
    client = api_client_for(request.getfixturevalue(persona))
    url = f"/api/v1/projects/{project.slug}/"

    assert client.get(url).status_code == read_status
    response = client.patch(url, {"name": "Renamed"}, format="json")
    assert response.status_code == edit_status


def test_patch_replaces_metrics_and_audits_before_and_after(project, alice, api_client_for):
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/",
        {"metrics": [{"name": "pr_auc", "target": 0.8}]},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert [m["name"] for m in response.json()["metrics"]] == ["pr_auc"]
    event = AuditEvent.objects.get(action="project.updated")
    assert [m["name"] for m in event.before["metrics"]] == ["roc_auc", "recall"]
    assert [m["name"] for m in event.after["metrics"]] == ["pr_auc"]


def test_unauthenticated_request_is_rejected(project, client):
    response = client.get("/api/v1/projects/")

    assert response.status_code in (401, 403)
    assert "detail" in response.json()


def test_project_list_query_count_does_not_grow(
    alice, api_client_for, django_assert_max_num_queries
):

    client = api_client_for(alice)
    for index in range(2):
        project_create(
            user=alice,
            name=f"Project {index}",
            business_problem="A problem.",
            task_type="regression",
            metrics=[MetricInput(name="rmse", target=1.0)],
        )
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/projects/").status_code == 200
    for index in range(2, 12):
        project_create(
            user=alice,
            name=f"Project {index}",
            business_problem="A problem.",
            task_type="regression",
            metrics=[MetricInput(name="rmse", target=1.0)],
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/projects/").json()) == 12


def test_checkin_cadence_and_true_positive_value_round_trip(project, alice, api_client_for):
    client = api_client_for(alice)
    url = f"/api/v1/projects/{project.slug}/"

    saved = client.patch(
        url,
        {"expectations": {"checkin_every_days": 14}, "error_costs": {"true_positive_value": 8}},
        format="json",
    )
    invalid = client.patch(url, {"expectations": {"checkin_every_days": 0}}, format="json")

    assert saved.status_code == 200, saved.content
    assert saved.json()["expectations"]["checkin_every_days"] == 14
    assert saved.json()["error_costs"]["true_positive_value"] == 8.0
    assert invalid.status_code == 400
    assert "expectations.checkin_every_days" in invalid.json()["errors"]


def test_expected_cost_is_a_catalogue_metric(alice, sam, api_client_for):
    response = api_client_for(alice).post(
        "/api/v1/projects/",
        {**VALID_PROJECT, "metrics": [{"name": "expected_cost", "target": 80, "minimum": 120}]},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["metrics"][0]["direction"] == "lower"
