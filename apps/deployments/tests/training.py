"""Train real iterations for approval and deployment tests.

Training goes through the same services as the product: a dataset upload, ``iteration_start``
and the training task's body, with MLflow on the test session's temporary store.
"""

from pathlib import Path

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import DatasetVersion
from apps.datasets.services import dataset_create
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.services import iteration_run, iteration_start
from apps.projects.models import Project

# A small max_iter keeps each training short. The recipe scales the features, so the solver
# still converges to a good model.
FAST_RECIPE = "logistic_regression"
FAST_PARAMS = {"max_iter": 200}


def dataset_upload(*, project: Project, user: User, csv_path: Path) -> DatasetVersion:
    upload = SimpleUploadedFile(csv_path.name, csv_path.read_bytes(), content_type="text/csv")
    return dataset_create(
        project=project,
        user=user,
        uploaded_file=upload,
        name="biopsies",
        target_column="diagnosis",
    )


def iteration_train(
    *, project: Project, user: User, dataset: DatasetVersion, seed: int = 0
) -> Iteration:
    """Start an iteration and run its training body in this process; return it succeeded."""
    iteration = iteration_start(
        project=project,
        user=user,
        dataset_id=dataset.pk,
        recipe=FAST_RECIPE,
        params=dict(FAST_PARAMS),
        seed=seed,
    )
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    assert iteration.status == IterationStatus.SUCCEEDED, iteration.status_reason
    assert iteration.model_version, "training registered no model version"
    return iteration
