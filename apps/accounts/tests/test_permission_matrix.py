"""Every project endpoint of the v1 API against every persona.

A persona is allowed when the status is anything but 401, 403 or 404: an allowed request may
still be rejected for its content (400) or for the object's state (409), which other tests
cover. Outsiders get 404, so a project's existence does not leak; members whose role lacks
the action get 403; requests without a token get 401.
"""

import pytest
from rest_framework.test import APIClient

from apps.approvals.models import ApprovalRequest, Gate
from apps.dashboards.tests.conftest import dataset, make_iteration

pytestmark = pytest.mark.django_db

__all__ = ["dataset", "make_iteration"]

MEMBERS = ("alice", "sam", "dana")
EVERYONE = frozenset(MEMBERS)
BUILDERS = frozenset({"alice"})
DECIDERS = frozenset({"dana"})

# (method, path under /api/v1/projects/<slug>/, body, personas allowed)
PROJECT_ENDPOINTS = [
    ("get", "", None, EVERYONE),
    ("patch", "", {"name": "Renamed"}, BUILDERS),
    ("get", "members/", None, EVERYONE),
    ("post", "members/", {"username": "olga", "role": "stakeholder"}, BUILDERS),
    ("get", "datasets/", None, EVERYONE),
    ("post", "datasets/", {}, BUILDERS),
    ("get", "datasets/{dataset}/", None, EVERYONE),
    ("get", "iterations/", None, EVERYONE),
    ("post", "iterations/", {}, BUILDERS),
    ("get", "iterations/1/", None, EVERYONE),
    ("post", "iterations/1/cancel/", {}, BUILDERS),
    ("post", "iterations/1/promotions/", {}, BUILDERS),
    ("get", "deployments/", None, EVERYONE),
    ("post", "deployments/rollback/", {}, BUILDERS | DECIDERS),
    ("post", "predict/", {"instances": [{"radius": 1.0, "texture": 2.0}]}, BUILDERS),
    ("get", "comments/", None, EVERYONE),
    ("post", "comments/", {"body": "Noted."}, EVERYONE),
    ("get", "targets/", None, EVERYONE),
    ("post", "framing/signoff/", {}, BUILDERS),
    ("get", "observations/", None, EVERYONE),
    ("post", "observations/", {}, BUILDERS | DECIDERS),
]

# (method, path under /api/v1/, personas allowed); {approval} is a pending promotion request.
APPROVAL_ENDPOINTS = [
    ("get", "promotions/{approval}/", EVERYONE),
    ("post", "promotions/{approval}/approve/", DECIDERS),
    ("post", "promotions/{approval}/reject/", DECIDERS),
    ("post", "approvals/{approval}/approve/", DECIDERS),
    ("post", "approvals/{approval}/reject/", DECIDERS),
]

PERSONAS = (*MEMBERS, "olga")


def _expected(persona, allowed):
    if persona == "olga":
        return "not found"
    return "allowed" if persona in allowed else "forbidden"


def _outcome(status_code):
    if status_code == 404:
        return "not found"
    if status_code == 403:
        return "forbidden"
    assert status_code not in (401, 500), status_code
    return "allowed"


@pytest.fixture
def fixtures(project, dataset, make_iteration, alice):
    iteration = make_iteration(1)
    approval = ApprovalRequest.objects.create(
        project=project, gate=Gate.PROMOTION, iteration=iteration, requested_by=alice
    )
    return {"slug": project.slug, "dataset": dataset.pk, "approval": approval.pk}


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PROJECT_ENDPOINTS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_project_endpoint_by_role(
    fixtures, request, api_client_for, persona, method, path, body, allowed
):
    client = api_client_for(request.getfixturevalue(persona))
    url = f"/api/v1/projects/{fixtures['slug']}/{path.format(**fixtures)}"

    response = getattr(client, method)(url, body, format="json")

    assert _outcome(response.status_code) == _expected(persona, allowed), response.content


@pytest.mark.parametrize(("method", "path", "allowed"), APPROVAL_ENDPOINTS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_approval_endpoint_by_role(
    fixtures, request, api_client_for, persona, method, path, allowed
):
    client = api_client_for(request.getfixturevalue(persona))
    url = f"/api/v1/{path.format(**fixtures)}"

    response = getattr(client, method)(url, {"comment": "Checked."}, format="json")

    assert _outcome(response.status_code) == _expected(persona, allowed), response.content


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PROJECT_ENDPOINTS)
def test_project_endpoint_requires_token(fixtures, method, path, body, allowed):
    url = f"/api/v1/projects/{fixtures['slug']}/{path.format(**fixtures)}"

    response = getattr(APIClient(), method)(url, body, format="json")

    assert response.status_code == 401
