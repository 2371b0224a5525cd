"""Shared test personas and fixtures.

Personas: ``alice`` (owner and data scientist of ``project``), ``sam`` (stakeholder),
``dana`` (decision maker), ``dave`` (a second decision maker), ``olga`` (an outsider with an
account but no role in the project).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import token_create
from apps.projects.models import Project, TaskType
from apps.projects.services import MemberInput, MetricInput, project_create

PASSWORD = "portal-test-password"


@pytest.fixture(autouse=True)
def _isolated_storage(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give every test its own media folder and a session-wide MLflow store under a temp dir."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))
    # The default PBKDF2 hasher costs a tenth of a second per user; tests make many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    mlflow_dir = _mlflow_dir(tmp_path_factory)
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{mlflow_dir / 'mlflow.sqlite3'}"
    settings.MLFLOW_ARTIFACT_ROOT = (mlflow_dir / "artifacts").as_uri()
    # A fresh in-memory cache per test, so sign-in failure counts never leak between tests.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "test"}
    }
    cache.clear()


_MLFLOW_DIR: list[Path] = []


def _mlflow_dir(factory: pytest.TempPathFactory) -> Path:
    # One store per test session: creating MLflow's SQLite schema takes seconds.
    if not _MLFLOW_DIR:
        _MLFLOW_DIR.append(factory.mktemp("mlflow"))
    return _MLFLOW_DIR[0]


@pytest.fixture
def make_user(db: None) -> Callable[[str], User]:
    def make(username: str) -> User:
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        if created:
            user.set_password(PASSWORD)
            user.save()
        return user

    return make


@pytest.fixture
def alice(make_user: Callable[[str], User]) -> User:
    return make_user("alice")


@pytest.fixture
def sam(make_user: Callable[[str], User]) -> User:
    return make_user("sam")


@pytest.fixture
def dana(make_user: Callable[[str], User]) -> User:
    return make_user("dana")


@pytest.fixture
def dave(make_user: Callable[[str], User]) -> User:
    return make_user("dave")


@pytest.fixture
def olga(make_user: Callable[[str], User]) -> User:
    return make_user("olga")


@pytest.fixture
def project(alice: User, sam: User, dana: User, dave: User) -> Project:
    """A binary classification project framed by alice, with ROC AUC >= 0.95 as its target."""
    return project_create(
        user=alice,
        name="Tumour triage",
        business_problem="Flag biopsies that need a second reading.",
        task_type=TaskType.CLASSIFICATION,
        metrics=[
            MetricInput(name="roc_auc", target=0.95, minimum=0.9),
            MetricInput(name="recall", target=0.9),
        ],
        members=[
            MemberInput(username="sam", role=Role.STAKEHOLDER),
            MemberInput(username="dana", role=Role.DECISION_MAKER),
            MemberInput(username="dave", role=Role.DECISION_MAKER),
        ],
        cost_false_positive=1.0,
        cost_false_negative=20.0,
    )


@pytest.fixture
def regression_project(alice: User) -> Project:
    return project_create(
        user=alice,
        name="Disease progression",
        business_problem="Estimate progression one year ahead to plan follow-up visits.",
        task_type=TaskType.REGRESSION,
        metrics=[MetricInput(name="rmse", target=55.0, minimum=65.0)],
    )


@pytest.fixture
def api_client_for(db: None) -> Callable[[User], APIClient]:
    """Return an API client authenticated with a fresh token of ``user``."""

    def make(user: User) -> APIClient:
        _, key = token_create(user=user, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return make


@pytest.fixture
def breast_cancer_csv(tmp_path: Path) -> Path:
    """scikit-learn's breast cancer data set written as a CSV with a ``diagnosis`` target."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    path = tmp_path / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def diabetes_csv(tmp_path: Path) -> Path:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path
