"""The deployment endpoints added beside the v1 contract, against every persona.

As in the project-wide matrix: allowed means any status but 401, 403 or 404 (a request may
still be rejected for its content or state); outsiders get 404, members whose role lacks
the action get 403, requests without a token get 401.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.dashboards.tests.conftest import dataset, make_iteration
from apps.deployments.models import BatchJob, Deployment, Rollout

pytestmark = pytest.mark.django_db

__all__ = ["dataset", "make_iteration"]

EVERYONE = frozenset({"alice", "sam", "dana"})
BUILDERS = frozenset({"alice"})
DECIDERS = frozenset({"dana"})

ENDPOINTS = [
    ("get", "rollouts/", None, EVERYONE),
    ("post", "rollouts/", {"iteration": 1, "mode": "shadow"}, BUILDERS | DECIDERS),
    ("get", "rollouts/{rollout}/", None, EVERYONE),
    ("patch", "rollouts/{rollout}/", {"share": 0.5}, BUILDERS | DECIDERS),
    ("post", "rollouts/{rollout}/stop/", {}, BUILDERS | DECIDERS),
    ("post", "rollouts/{rollout}/complete/", {}, BUILDERS | DECIDERS),
    ("get", "batches/", None, EVERYONE),
    ("post", "batches/", "upload", BUILDERS),
    ("get", "batches/{batch}/", None, EVERYONE),
    ("get", "batches/{batch}/download/", None, BUILDERS),
]


@pytest.fixture
def objects(project, make_iteration, alice):
    iteration = make_iteration(project=project, number=1)
    deployment = Deployment.objects.create(
        project=project, iteration=iteration, status="retired", model_version="1"
    )
    rollout = Rollout.objects.create(
        project=project,
        iteration=iteration,
        mode="shadow",
        status="stopped",
        model_uri="models:/x/1",
        model_version="1",
    )
    batch = BatchJob.objects.create(
        project=project, deployment=deployment, input_file="batches/input/x.csv"
    )
    return {"rollout": rollout.pk, "batch": batch.pk}


def _request(client, method, url, body):
    if body == "upload":
        upload = SimpleUploadedFile("rows.csv", b"a,b\n1,2\n", content_type="text/csv")
        return client.post(url, {"file": upload}, format="multipart")
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
@pytest.mark.parametrize("persona", ["alice", "sam", "dana", "olga", "anonymous"])
def test_deployment_endpoint_roles(
    api_client_for, project, objects, request, method, path, body, allowed, persona
):
    url = f"/api/v1/projects/{project.slug}/" + path.format(**objects)
    if persona == "anonymous":
        client = APIClient()
    else:
        client = api_client_for(request.getfixturevalue(persona))

    status = _request(client, method, url, body).status_code

    if persona == "anonymous":
        assert status == 401, (method, url, status)
    elif persona == "olga":
        assert status == 404, (method, url, status)
    elif persona in allowed:
        assert status not in {401, 403, 404}, (method, url, status)
    else:
        assert status == 403, (method, url, status)
