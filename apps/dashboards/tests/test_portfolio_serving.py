from collections.abc import Callable

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.dashboards.portfolio import portfolio_for_user
from apps.dashboards.tests.factories import production_add
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage


def _funnel(portfolio) -> dict[str, int]:
    return dict(portfolio.funnel)


def test_live_project_in_framing_counts_in_production(
    project: Project, make_iteration: Callable[..., Iteration], alice: User
) -> None:
    assert project.stage == Stage.FRAMING
    production_add(project, make_iteration(3))

    portfolio = portfolio_for_user(user=alice, with_charts=False)

    funnel = _funnel(portfolio)
    assert funnel["In production"] == 1
    assert funnel["In development"] == 1
    assert funnel["Signed off"] == 0
    row = portfolio.projects[0]
    assert row.production.reached
    assert row.serving
    assert row.serving_without_signoff


def test_signed_off_live_project_has_no_flag(
    project: Project, make_iteration: Callable[..., Iteration], alice: User
) -> None:
    Project.objects.filter(pk=project.pk).update(stage=Stage.IN_PRODUCTION)
    production_add(project, make_iteration(3))

    portfolio = portfolio_for_user(user=alice, with_charts=False)

    assert _funnel(portfolio)["In production"] == 1
    assert _funnel(portfolio)["Signed off"] == 1
    assert portfolio.projects[0].serving
    assert not portfolio.projects[0].serving_without_signoff


def test_project_without_deployment_is_not_serving(
    project: Project, make_iteration: Callable[..., Iteration], alice: User
) -> None:
    make_iteration(3)

    portfolio = portfolio_for_user(user=alice, with_charts=False)

    assert _funnel(portfolio)["In production"] == 0
    assert not portfolio.projects[0].serving
    assert not portfolio.projects[0].production.reached


def test_portfolio_api_counts_live_framing_project(
    api_client_for: Callable[[User], APIClient],
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    production_add(project, make_iteration(3))

    body = api_client_for(sam).get("/api/v1/portfolio/").json()

    funnel = {step["key"]: step["count"] for step in body["funnel"]}
    assert funnel["in_production"] == 1
    row = body["projects"][0]
    assert row["production_iteration"] == 3
    assert row["production"]["reached"] is True
    assert row["serving"] is True
    assert row["serving_without_signoff"] is True


def test_portfolio_page_flags_serving_without_signoff(
    client_for: Callable[[User], Client],
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    production_add(project, make_iteration(3))

    response = client_for(sam).get(reverse("portfolio"))

    assert "Serving without a signed-off framing" in response.text
