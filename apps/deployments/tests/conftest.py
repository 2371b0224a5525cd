from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from apps.approvals.services import promotion_approve, promotion_request
from apps.dashboards.tests.conftest import client_for, dataset, make_iteration
from apps.datasets.models import DatasetVersion
from apps.deployments import prediction_log, serving_access
from apps.deployments.models import Deployment
from apps.deployments.services import deployment_run
from apps.deployments.serving import cache_clear
from apps.deployments.tests.training import dataset_upload, iteration_train
from apps.iterations.models import Iteration
from apps.projects.models import Project

# The page tests use the shared fixtures of the dashboards tests, which create rows directly.
# The API, service and task tests use the fixtures below, which train and deploy real models.
__all__ = ["client_for", "dataset", "make_iteration"]


@pytest.fixture(autouse=True)
def _empty_model_cache(settings) -> Iterator[None]:
    # Deployment ids restart with every test database, so a model cached by an earlier test
    # could match a new deployment's id.
    cache_clear()
    serving_access.cache_clear()
    # These tests run inside a transaction that is rolled back, so on-commit invalidation
    # never runs; rereading the routing on every request keeps each test's view current.
    settings.SERVING_REFRESH_SECONDS = 0
    # Log rows are written by prediction_log_flush() in the test's own thread and
    # transaction; a background thread would use another connection that cannot see them.
    settings.PREDICTION_LOG_BACKGROUND = False
    yield
    prediction_log.buffer_clear()


@pytest.fixture
def uploaded_dataset(project: Project, alice: User, breast_cancer_csv: Path) -> DatasetVersion:
    return dataset_upload(project=project, user=alice, csv_path=breast_cancer_csv)


@pytest.fixture
def train(
    project: Project, alice: User, uploaded_dataset: DatasetVersion
) -> Callable[..., Iteration]:
    def make(seed: int = 0) -> Iteration:
        return iteration_train(project=project, user=alice, dataset=uploaded_dataset, seed=seed)

    return make


@pytest.fixture
def deploy(alice: User, dana: User) -> Callable[[Iteration], Deployment]:
    """Promote ``iteration`` (alice requests, dana approves) and run the deploy task's body."""

    def make(iteration: Iteration) -> Deployment:
        approval = promotion_request(iteration=iteration, user=alice)
        promotion_approve(approval=approval, user=dana)
        deployment = Deployment.objects.get(approval=approval)
        deployment_run(deployment_id=deployment.pk)
        deployment.refresh_from_db()
        return deployment

    return make


@pytest.fixture
def trained_iteration(train: Callable[..., Iteration]) -> Iteration:
    return train()


@pytest.fixture
def live_deployment(
    trained_iteration: Iteration, deploy: Callable[[Iteration], Deployment]
) -> Deployment:
    return deploy(trained_iteration)
