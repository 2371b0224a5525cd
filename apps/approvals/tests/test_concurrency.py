"""Two decision makers approve two versions of one project at the same instant."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from apps.approvals.models import Gate, RequestStatus
from apps.approvals.policies import policy_update
from apps.approvals.services import promotion_request
from apps.deployments.models import Deployment
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "SQLite takes one write lock for the whole database, so the two approvals cannot "
            "run at the same time; CI runs this test on PostgreSQL."
        )


def test_simultaneous_approvals_promote_exactly_one(
    project: Project,
    alice: User,
    dana: User,
    dave: User,
    make_iteration: Callable[..., Iteration],
    api_client_for: Callable[[User], APIClient],
) -> None:
    policy_update(
        project=project, gate=Gate.PROMOTION, user=alice, changes={"supersede_pending": False}
    )
    first = promotion_request(iteration=make_iteration(1), user=alice)
    second = promotion_request(iteration=make_iteration(2), user=alice)
    clients = [(api_client_for(dana), first.pk), (api_client_for(dave), second.pk)]
    barrier = threading.Barrier(len(clients))
    responses: list[Any] = [None] * len(clients)

    def approve(index: int) -> None:
        client, pk = clients[index]
        try:
            barrier.wait(timeout=30)
            responses[index] = client.post(f"/api/v1/promotions/{pk}/approve/")
        finally:
            # Each thread has its own connection; closing it lets the test database drop.
            connection.close()

    threads = [threading.Thread(target=approve, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 409], [response.content for response in responses]
    loser = next(response for response in responses if response.status_code == 409)
    assert loser.json()["code"] == "conflict"
    assert Deployment.objects.filter(project=project).count() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert sorted([first.status, second.status]) == [RequestStatus.APPROVED, RequestStatus.PENDING]
