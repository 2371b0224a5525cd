"""A retired project counts in the portfolio only for what it reached before retirement."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.approvals.framing import framing_signoff_request
from apps.approvals.services import approval_approve, retirement_request
from apps.dashboards.portfolio import portfolio_for_user
from apps.dashboards.tests.factories import production_add
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage

pytestmark = pytest.mark.django_db

MakeIteration = Callable[..., Iteration]


def _retire(project: Project, alice: User, dana: User) -> None:
    request = retirement_request(project=project, user=alice, comment="The pilot ended.")
    approval_approve(approval=request, user=dana)
    project.refresh_from_db()
    assert project.stage == Stage.RETIRED


def test_retired_from_framing_reached_nothing(project: Project, alice: User, dana: User) -> None:
    _retire(project, alice, dana)

    portfolio = portfolio_for_user(user=alice, with_charts=False)

    funnel = dict(portfolio.funnel)
    assert funnel["Framed"] == 1
    assert funnel["Signed off"] == 0
    assert funnel["In development"] == 0
    assert funnel["In production"] == 0
    row = portfolio.projects[0]
    assert row.health.reason.startswith("The project was retired on ")
    assert "production" not in row.health.reason
    assert not row.production.reached
    assert sum(count for _, _, count in portfolio.health_counts) == 0


def test_retired_after_signoff_counts_signoff_and_development(
    project: Project, alice: User, dana: User, make_iteration: MakeIteration
) -> None:
    signoff = framing_signoff_request(project=project, user=alice, comment="Targets agreed.")
    approval_approve(approval=signoff, user=dana)
    make_iteration(1)
    _retire(project, alice, dana)

    funnel = dict(portfolio_for_user(user=alice, with_charts=False).funnel)

    assert funnel["Signed off"] == 1
    assert funnel["In development"] == 1
    assert funnel["In production"] == 0


def test_retired_after_serving_counts_production(
    project: Project, alice: User, dana: User, make_iteration: MakeIteration
) -> None:
    deployment = production_add(project, make_iteration(1))
    Deployment.objects.filter(pk=deployment.pk).update(status=DeploymentStatus.RETIRED)
    _retire(project, alice, dana)

    portfolio = portfolio_for_user(user=alice, with_charts=False)

    funnel = dict(portfolio.funnel)
    assert funnel["In production"] == 1
    assert funnel["In development"] == 1
    assert funnel["Signed off"] == 0
    assert portfolio.projects[0].production.reached


def test_portfolio_still_runs_four_queries(
    project: Project, alice: User, dana: User, make_iteration: MakeIteration
) -> None:
    production_add(project, make_iteration(1))

    with CaptureQueriesContext(connection) as queries:
        portfolio_for_user(user=alice, with_charts=False)

    assert len(queries) == 4
