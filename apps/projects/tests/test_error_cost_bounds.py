import pytest

from apps.projects.forms import ERROR_COST_MAX, FramingForm, PlanForm
from apps.projects.models import Project
from apps.projects.tests.test_api import VALID_PROJECT

pytestmark = pytest.mark.django_db

TOO_LARGE = ["1.7e308", "1e400", str(ERROR_COST_MAX * 10)]


@pytest.mark.parametrize("value", TOO_LARGE)
@pytest.mark.parametrize("name", ["false_positive", "false_negative", "true_positive_value"])
def test_create_api_rejects_huge_error_cost(alice, sam, api_client_for, name, value):
    body = {**VALID_PROJECT, "error_costs": {name: value}}

    response = api_client_for(alice).post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400
    assert f"error_costs.{name}" in response.json()["errors"]
    assert not Project.objects.exists()


def test_create_api_rejects_raw_float_overflow(alice, api_client_for):
    payload = (
        '{"name": "Big costs", "business_problem": "x", "task_type": "classification", '
        '"metrics": [{"name": "roc_auc", "target": 0.9}], '
        '"error_costs": {"false_negative": 1.7e308, "false_positive": 1e999}}'
    )

    response = api_client_for(alice).post(
        "/api/v1/projects/", payload, content_type="application/json"
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "error_costs.false_negative" in errors
    assert "error_costs.false_positive" in errors


def test_update_api_rejects_huge_error_cost(alice, api_client_for, project):
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/",
        {"error_costs": {"false_negative": 1.7e308}},
        format="json",
    )

    assert response.status_code == 400
    assert "error_costs.false_negative" in response.json()["errors"]
    project.refresh_from_db()
    assert project.cost_false_negative != 1.7e308


def test_create_api_accepts_cost_at_bound(alice, sam, api_client_for):
    body = {**VALID_PROJECT, "error_costs": {"false_negative": ERROR_COST_MAX}}

    response = api_client_for(alice).post("/api/v1/projects/", body, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["error_costs"]["false_negative"] == ERROR_COST_MAX


@pytest.mark.parametrize("value", [*TOO_LARGE, "inf", "nan", "-1"])
@pytest.mark.parametrize("name", ["cost_false_positive", "cost_false_negative"])
def test_plan_form_rejects_bad_error_cost(name, value):
    form = PlanForm(data={name: value})

    assert not form.is_valid()
    assert name in form.errors


@pytest.mark.parametrize("value", [*TOO_LARGE, "inf", "nan"])
def test_framing_form_rejects_huge_value(value):
    form = FramingForm(data={"value_true_positive": value})

    assert not form.is_valid()
    assert "value_true_positive" in form.errors
