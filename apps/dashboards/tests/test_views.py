import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.approvals.models import ApprovalRequest, Gate
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project

ClientFor = Callable[[User], Client]


def _figures(html: str) -> list[dict[str, Any]]:
    blocks = re.findall(r'data-plotly-figure="([^"]*)"', html)
    return [json.loads(unescape(block)) for block in blocks]


def _inline_scripts(html: str) -> list[str]:
    # Every executable script must come from a static file, because the CSP allows only 'self'.
    tags = re.findall(r"<script(?P<attrs>[^>]*)>", html)
    return [tag for tag in tags if "src=" not in tag and "application/json" not in tag]


@pytest.mark.django_db
def test_home_requires_sign_in(client: Client) -> None:
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_home_lists_member_projects(
    client_for: ClientFor, project: Project, username: str, make_user: Callable[[str], User]
) -> None:
    response = client_for(make_user(username)).get(reverse("home"))

    assert response.status_code == 200
    assert project.name in response.text
    assert reverse("project-detail", args=[project.slug]) in response.text


def test_home_hides_other_projects_from_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("home"))

    assert response.status_code == 200
    assert project.name not in response.text


def test_home_shows_pending_approvals_to_decision_maker(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
    dana: User,
    sam: User,
) -> None:
    iteration = make_iteration(1)
    ApprovalRequest.objects.create(
        project=project, gate=Gate.PROMOTION, iteration=iteration, requested_by=alice
    )

    dana_page = client_for(dana).get(reverse("home")).text
    sam_page = client_for(sam).get(reverse("home")).text

    assert "Waiting for your decision" in dana_page
    assert 'aria-label="1 pending"' in dana_page
    assert "Waiting for your decision" not in sam_page
    assert reverse("approval-inbox") not in sam_page


@pytest.mark.parametrize("username", ["alice", "sam", "dana"])
def test_project_page_opens_for_members(
    client_for: ClientFor, project: Project, username: str, make_user: Callable[[str], User]
) -> None:
    response = client_for(make_user(username)).get(reverse("project-detail", args=[project.slug]))

    assert response.status_code == 200
    assert project.business_problem in response.text


def test_project_page_is_not_found_for_outsider(
    client_for: ClientFor, project: Project, olga: User
) -> None:
    response = client_for(olga).get(reverse("project-detail", args=[project.slug]))

    assert response.status_code == 404


def test_project_page_shows_build_buttons_only_to_builders(
    client_for: ClientFor, project: Project, alice: User, sam: User
) -> None:
    start_url = reverse("iteration-create", args=[project.slug])
    upload_url = reverse("dataset-create", args=[project.slug])

    alice_page = client_for(alice).get(reverse("project-detail", args=[project.slug])).text
    sam_page = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    assert start_url in alice_page
    assert upload_url in alice_page
    assert start_url not in sam_page
    assert upload_url not in sam_page


def test_project_page_marks_undefined_apart_from_missed(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={"roc_auc": 0.97, "recall": None})
    make_iteration(2, metrics={"roc_auc": 0.80, "recall": 0.95})

    html = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    table = html.split('id="iterations-heading"')[1].split("</table>")[0]
    assert table.count('class="badge badge-met"') == 2
    assert table.count('class="badge badge-missed"') == 1
    assert table.count('class="badge badge-undefined"') == 1


def test_project_page_embeds_one_chart_per_model_metric(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(1, metrics={"roc_auc": 0.91, "recall": None})
    make_iteration(2, metrics={"roc_auc": 0.96, "recall": 0.92})

    html = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    figures = _figures(html)
    assert [figure["data"][0]["name"] for figure in figures] == ["ROC AUC", "Recall"]
    assert figures[0]["data"][0]["x"] == [1, 2]
    assert figures[1]["data"][0]["y"] == [None, 0.92]
    assert _inline_scripts(html) == []


def test_project_page_highlights_live_deployment(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    iteration = make_iteration(1)
    Deployment.objects.create(
        project=project, iteration=iteration, status=DeploymentStatus.LIVE, model_version="1"
    )

    html = client_for(sam).get(reverse("project-detail", args=[project.slug])).text

    assert "In production" in html
    assert "Iteration 1" in html
    assert 'class="highlight"' in html


def test_project_page_offers_promotion_only_to_builders(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
    dana: User,
) -> None:
    make_iteration(1)
    promote_url = reverse("iteration-promote", args=[project.slug, 1])

    alice_page = client_for(alice).get(reverse("project-detail", args=[project.slug])).text
    dana_page = client_for(dana).get(reverse("project-detail", args=[project.slug])).text

    assert promote_url in alice_page
    assert promote_url not in dana_page


def _project_page_queries(client: Client, project: Project) -> int:
    url = reverse("project-detail", args=[project.slug])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_project_page_queries_flat(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    alice: User,
) -> None:
    client = client_for(alice)
    for number in (1, 2):
        iteration = make_iteration(number)
    ApprovalRequest.objects.create(
        project=project, gate=Gate.PROMOTION, iteration=iteration, requested_by=alice
    )
    Deployment.objects.create(project=project, iteration=iteration, model_version="2")
    _project_page_queries(client, project)  # warm the session and the content-type cache
    with_two = _project_page_queries(client, project)

    for number in range(3, 51):
        iteration = make_iteration(number, metrics={"roc_auc": 0.5 + number / 100})
    ApprovalRequest.objects.create(
        project=project, gate=Gate.PROMOTION, iteration=iteration, requested_by=alice
    )
    Deployment.objects.create(project=project, iteration=iteration, model_version="50")
    with_fifty = _project_page_queries(client, project)

    assert Iteration.objects.filter(project=project).count() == 50
    assert with_fifty == with_two


def test_home_query_count_does_not_grow_with_iterations(
    client_for: ClientFor,
    project: Project,
    make_iteration: Callable[..., Iteration],
    dana: User,
) -> None:
    client = client_for(dana)
    make_iteration(1)
    client.get(reverse("home"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("home"))

    for number in range(2, 31):
        make_iteration(number)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("home"))

    assert len(many) == len(few)
