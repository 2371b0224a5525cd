"""``manage.py train --spec FILE --wait`` against a real worker: the command queues the spec,
waits for the worker to train it and prints the metrics, and the same spec trains the same
metrics again."""

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.iterations.models import Iteration
from apps.iterations.tests.uploads import upload_csv
from apps.projects.models import Project
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e


def _spec(dataset_sha256: str, **changes: object) -> dict[str, object]:
    return {
        "version": 1,
        "dataset_sha256": dataset_sha256,
        "target": "diagnosis",
        "recipe": "logistic_regression",
        "params": {"C": 0.5},
        "seed": 9,
        "test_size": 0.25,
        **changes,
    }


def _train(project: Project, spec_path: Path) -> str:
    output = io.StringIO()
    call_command(
        "train",
        project=project.slug,
        user="alice",
        spec=str(spec_path),
        wait=True,
        poll_interval=0.5,
        stdout=output,
    )
    return output.getvalue()


@pytest.mark.usefixtures("transactional_db")
def test_train_command_waits_and_reproduces(
    celery_worker: WorkerProcess,
    project: Project,
    alice: User,
    breast_cancer_csv: Path,
    tmp_path: Path,
) -> None:
    dataset = upload_csv(project, alice, breast_cancer_csv, "diagnosis", name="biopsies")
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(_spec(dataset.sha256)))

    first_output = _train(project, spec_path)
    second_output = _train(project, spec_path)

    first, second = Iteration.objects.filter(recipe="logistic_regression").order_by("number")
    assert "succeeded." in first_output, celery_worker.log_tail()
    assert "roc_auc:" in first_output
    assert first.status == "succeeded"
    assert first.metrics["roc_auc"] > 0.95
    assert first.evaluation["confusion"]["matrix"]
    assert second.metrics == first.metrics
    assert second_output.split("succeeded.")[1] == first_output.split("succeeded.")[1]
    assert second.model_version != first.model_version


@pytest.mark.usefixtures("transactional_db")
def test_train_command_reports_failed_training(
    celery_worker: WorkerProcess, project: Project, alice: User, tmp_path: Path
) -> None:
    path = tmp_path / "few.csv"
    path.write_text("x,diagnosis\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
    dataset = upload_csv(project, alice, path, "diagnosis", name="few")
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(_spec(dataset.sha256)))

    with pytest.raises(CommandError, match="training needs at least 10"):
        _train(project, spec_path)
