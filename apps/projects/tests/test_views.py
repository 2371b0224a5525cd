from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership, Role
from apps.projects.models import Project, SuccessMetric

ClientFor = Callable[[User], Client]


@pytest.fixture
def client_for(db: None) -> ClientFor:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


# What a browser submits for a blank row: the select boxes keep their first or initial option.
BLANK_ROWS = {"metrics": {"kind": "model", "direction": ""}, "members": {"role": "stakeholder"}}


def _formset(prefix: str, rows: list[dict[str, Any]], total: int = 3) -> dict[str, Any]:
    total = max(total, len(rows))
    rows = rows + [BLANK_ROWS[prefix]] * (total - len(rows))
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for field, value in row.items():
            data[f"{prefix}-{index}-{field}"] = value
    return data


def _create_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Churn warning",
        "business_problem": "Call customers who are about to cancel.",
        "task_type": "classification",
        "first_model_by": "2030-01-15",
        "production_by": "2030-03-01",
        "expected_iterations": "4",
        "cost_false_positive": "5",
        "cost_false_negative": "120",
    }
    data |= _formset(
        "metrics",
        [
            {"kind": "model", "name": "roc_auc", "target": "0.9", "minimum": "0.85"},
            {
                "kind": "business",
                "name": "retained_revenue",
                "direction": "higher",
                "target": "50000",
                "unit": "EUR",
            },
        ],
    )
    data |= _formset("members", [{"username": "sam", "role": "stakeholder"}])
    data.update(overrides)
    return data


def test_create_page_requires_sign_in(client: Client, db: None) -> None:
    response = client.get(reverse("project-create"))

    assert response.status_code == 302


def test_create_page_shows_empty_form(client_for: ClientFor, alice: User) -> None:
    response = client_for(alice).get(reverse("project-create"))

    assert response.status_code == 200
    assert 'name="metrics-0-target"' in response.text
    assert 'name="members-0-username"' in response.text


def test_create_stores_project_and_redirects(client_for: ClientFor, alice: User, sam: User) -> None:
    response = client_for(alice).post(reverse("project-create"), _create_data())

    project = Project.objects.get(name="Churn warning")
    assert response.status_code == 302
    assert response["Location"] == reverse("project-detail", args=[project.slug])
    assert project.expected_iterations == 4
    assert project.cost_false_negative == 120
    metrics = list(project.metrics.values_list("name", "kind", "direction", "unit"))
    assert metrics == [
        ("roc_auc", "model", "higher", ""),
        ("retained_revenue", "business", "higher", "EUR"),
    ]
    assert Membership.objects.filter(project=project, user=sam, role=Role.STAKEHOLDER).exists()


def test_create_shows_minimum_above_target_on_its_field(client_for: ClientFor, alice: User) -> None:
    data = _create_data()
    data["metrics-0-minimum"] = "0.95"

    response = client_for(alice).post(reverse("project-create"), data)

    assert response.status_code == 200
    assert not Project.objects.filter(name="Churn warning").exists()
    row = response.context["metric_formset"].forms[0]
    assert "must not be better than the target" in row.errors["minimum"][0]
    assert "must not be better than the target" in response.text


def test_create_shows_unknown_metric_on_name_field(client_for: ClientFor, alice: User) -> None:
    data = _create_data()
    data["metrics-0-name"] = "rmse"

    response = client_for(alice).post(reverse("project-create"), data)

    assert response.status_code == 200
    row = response.context["metric_formset"].forms[0]
    assert "is not a classification metric" in row.errors["name"][0]


def test_create_shows_unknown_member_on_username_field(client_for: ClientFor, alice: User) -> None:
    data = _create_data()
    data["members-0-username"] = "nobody"

    response = client_for(alice).post(reverse("project-create"), data)

    assert response.status_code == 200
    row = response.context["member_formset"].forms[0]
    assert row.errors["username"] == ["No active user named 'nobody'."]


def test_create_without_metrics_asks_for_one(client_for: ClientFor, alice: User) -> None:
    data = {key: value for key, value in _create_data().items() if not key.startswith("metrics-")}
    data |= _formset("metrics", [])

    response = client_for(alice).post(reverse("project-create"), data)

    assert response.status_code == 200
    assert "Add at least one success metric" in response.text
    assert not Project.objects.filter(name="Churn warning").exists()


def test_create_rejects_non_number_target_without_storing(
    client_for: ClientFor, alice: User
) -> None:
    data = _create_data()
    data["metrics-0-target"] = "high"

    response = client_for(alice).post(reverse("project-create"), data)

    assert response.status_code == 200
    assert response.context["metric_formset"].forms[0].errors["target"]
    assert not Project.objects.filter(name="Churn warning").exists()


@pytest.mark.parametrize(("username", "status"), [("alice", 200), ("sam", 403), ("dana", 403)])
def test_edit_page_by_role(
    client_for: ClientFor,
    project: Project,
    make_user: Callable[[str], User],
    username: str,
    status: int,
) -> None:
    response = client_for(make_user(username)).get(reverse("project-edit", args=[project.slug]))

    assert response.status_code == status


def test_edit_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("project-edit", args=[project.slug]))

    assert response.status_code == 404


def _edit_data(project: Project, **overrides: Any) -> dict[str, Any]:
    metrics = list(project.metrics.all())
    data: dict[str, Any] = {
        "name": project.name,
        "business_problem": "Flag biopsies that need a second reading within a day.",
        "expected_iterations": "6",
        "metrics-TOTAL_FORMS": str(len(metrics)),
        "metrics-INITIAL_FORMS": str(len(metrics)),
        "metrics-MIN_NUM_FORMS": "0",
        "metrics-MAX_NUM_FORMS": "1000",
    }
    for index, metric in enumerate(metrics):
        data |= {
            f"metrics-{index}-kind": metric.kind,
            f"metrics-{index}-name": metric.name,
            f"metrics-{index}-target": str(metric.target),
            f"metrics-{index}-minimum": "" if metric.minimum is None else str(metric.minimum),
            f"metrics-{index}-unit": metric.unit,
        }
    data.update(overrides)
    return data


def test_edit_saves_changes_and_removes_deleted_metric(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    data = _edit_data(project, **{"metrics-1-DELETE": "on", "metrics-0-target": "0.97"})

    response = client_for(alice).post(reverse("project-edit", args=[project.slug]), data)

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.expected_iterations == 6
    assert list(SuccessMetric.objects.filter(project=project).values_list("name", "target")) == [
        ("roc_auc", 0.97)
    ]


def test_edit_shows_date_order_error(client_for: ClientFor, project: Project, alice: User) -> None:
    data = _edit_data(project, first_model_by="2030-05-01", production_by="2030-01-01")

    response = client_for(alice).post(reverse("project-edit", args=[project.slug]), data)

    assert response.status_code == 200
    assert "cannot be before the first-model date" in str(response.context["form"].errors)


@pytest.mark.parametrize(("username", "status"), [("alice", 200), ("sam", 403), ("dana", 403)])
def test_members_page_by_role(
    client_for: ClientFor,
    project: Project,
    make_user: Callable[[str], User],
    username: str,
    status: int,
) -> None:
    response = client_for(make_user(username)).get(reverse("project-members", args=[project.slug]))

    assert response.status_code == status


def test_members_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("project-members", args=[project.slug]))

    assert response.status_code == 404


def test_owner_adds_and_removes_member(
    client_for: ClientFor, project: Project, alice: User, olga: User
) -> None:
    client = client_for(alice)
    url = reverse("project-members", args=[project.slug])

    added = client.post(url, {"username": "olga", "role": "stakeholder"})
    membership = Membership.objects.get(project=project, user=olga)
    removed = client.post(reverse("project-member-remove", args=[project.slug, membership.pk]))

    assert added.status_code == 302
    assert removed.status_code == 302
    assert not Membership.objects.filter(project=project, user=olga).exists()


def test_adding_existing_role_shows_form_error(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    response = client_for(alice).post(
        reverse("project-members", args=[project.slug]),
        {"username": "sam", "role": "stakeholder"},
    )

    assert response.status_code == 200
    assert "already has the role" in response.text


def test_removing_last_owner_shows_message(
    client_for: ClientFor, project: Project, alice: User
) -> None:
    owner = Membership.objects.get(project=project, user=alice, role=Role.OWNER)

    response = client_for(alice).post(
        reverse("project-member-remove", args=[project.slug, owner.pk]), follow=True
    )

    assert response.status_code == 200
    assert "at least one owner" in response.text
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_stakeholder_cannot_remove_members(
    client_for: ClientFor, project: Project, sam: User, dana: User
) -> None:
    membership = Membership.objects.get(project=project, user=dana)

    response = client_for(sam).post(
        reverse("project-member-remove", args=[project.slug, membership.pk])
    )

    assert response.status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()
