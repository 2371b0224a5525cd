"""Every page and form of the deployments area, against every persona.

Allowed means any status but 403 or 404, because a form may still be rejected for its content
or the object's state. Outsiders get 404, and members whose role lacks the action get 403.
"""

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.models import Membership, Role
from apps.dashboards.tests.conftest import dataset, make_iteration
from apps.deployments.models import BatchJob, Deployment, Rollout
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

__all__ = ["dataset", "make_iteration"]

PERSONAS = ["owner", "data_scientist", "stakeholder", "decision_maker", "outsider"]
EVERYONE = frozenset({"owner", "data_scientist", "stakeholder", "decision_maker"})
ROLLOUT_MANAGERS = frozenset({"owner", "data_scientist", "decision_maker"})
BATCH_SCORERS = frozenset({"owner", "data_scientist"})

PAGES = [
    ("get", "", None, EVERYONE),
    ("post", "rollouts/shadow/", {"shadow-iteration": "1"}, ROLLOUT_MANAGERS),
    ("post", "rollouts/canary/", {"canary-iteration": "1", "canary-share": "10"}, ROLLOUT_MANAGERS),
    ("get", "rollouts/{rollout}/", None, EVERYONE),
    ("get", "rollouts/{rollout}/live/", None, EVERYONE),
    ("post", "rollouts/{rollout}/share/", {"share": "20"}, ROLLOUT_MANAGERS),
    ("post", "rollouts/{rollout}/stop/", {}, ROLLOUT_MANAGERS),
    ("post", "rollouts/{rollout}/complete/", {}, ROLLOUT_MANAGERS),
    ("post", "batches/", "upload", BATCH_SCORERS),
    ("get", "batches/{batch}/", None, EVERYONE),
    ("get", "batches/{batch}/progress/", None, EVERYONE),
    ("get", "batches/{batch}/download/", None, BATCH_SCORERS),
]


@pytest.fixture
def persona_users(project: Project, make_user, olga: User) -> dict[str, User]:
    """One user per persona, each holding exactly one role (alice is both owner and data
    scientist, so she stands for neither alone)."""
    users = {"outsider": olga}
    for persona, role in [
        ("owner", Role.OWNER),
        ("data_scientist", Role.DATA_SCIENTIST),
        ("stakeholder", Role.STAKEHOLDER),
        ("decision_maker", Role.DECISION_MAKER),
    ]:
        user = make_user(f"only-{persona}")
        Membership.objects.create(project=project, user=user, role=role)
        users[persona] = user
    return users


@pytest.fixture
def objects(project: Project, make_iteration) -> dict[str, int]:
    iteration = make_iteration(number=1)
    deployment = Deployment.objects.create(
        project=project, iteration=iteration, status="retired", model_version="1"
    )
    rollout = Rollout.objects.create(
        project=project,
        iteration=iteration,
        mode="shadow",
        status="stopped",
        model_uri="models:/tumour-triage/1",
        model_version="1",
    )
    batch = BatchJob.objects.create(
        project=project, deployment=deployment, input_file="batches/input/rows.csv"
    )
    return {"rollout": rollout.pk, "batch": batch.pk}


def _request(client: Client, method: str, url: str, body):
    if body == "upload":
        upload = SimpleUploadedFile("rows.csv", b"a,b\n1,2\n", content_type="text/csv")
        return client.post(url, {"file": upload})
    if method == "get":
        return client.get(url)
    return client.post(url, body)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PAGES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_deployment_page_roles(
    project: Project, persona_users, objects, method, path, body, allowed, persona
):
    client = Client()
    client.force_login(persona_users[persona])
    url = f"/projects/{project.slug}/deployments/" + path.format(**objects)

    status = _request(client, method, url, body).status_code

    if persona == "outsider":
        assert status == 404, (method, url, status)
    elif persona in allowed:
        assert status not in {403, 404}, (method, url, status)
        assert status < 500, (method, url, status)
    else:
        assert status == 403, (method, url, status)


@pytest.mark.parametrize(
    "path", ["", "rollouts/{rollout}/", "batches/{batch}/", "batches/{batch}/download/"]
)
def test_deployment_pages_require_sign_in(project: Project, objects, path):
    url = f"/projects/{project.slug}/deployments/" + path.format(**objects)

    response = Client().get(url)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "path",
    [
        "rollouts/shadow/",
        "rollouts/{rollout}/share/",
        "rollouts/{rollout}/stop/",
        "rollouts/{rollout}/complete/",
        "batches/",
    ],
)
def test_deployment_forms_reject_get(project: Project, objects, alice: User, path):
    client = Client()
    client.force_login(alice)

    response = client.get(f"/projects/{project.slug}/deployments/" + path.format(**objects))

    assert response.status_code == 405
