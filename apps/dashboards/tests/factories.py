"""Bulk builders for large dashboards, shared by the query-count tests and the benchmark.

They insert rows directly with ``bulk_create``: the point is the size of the data, not the
services that would normally write it.
"""

import datetime
import random

from django.contrib.auth.models import User
from django.utils import timezone

from apps.accounts.models import Membership, Role
from apps.datasets.models import DatasetVersion
from apps.deployments.models import Deployment, DeploymentStatus
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Direction, MetricKind, Project, Stage, SuccessMetric, TaskType

EXTRA_CLASSIFICATION_METRICS = (
    ("accuracy", Direction.HIGHER, 0.9, 0.85),
    ("precision", Direction.HIGHER, 0.85, 0.8),
    ("f1", Direction.HIGHER, 0.85, 0.8),
    ("log_loss", Direction.LOWER, 0.3, 0.4),
)


def metrics_add(project: Project) -> list[SuccessMetric]:
    """Add the classification metrics ``project`` lacks, up to six model metrics in all."""
    existing = set(project.metrics.values_list("name", flat=True))
    position = len(existing)
    added = []
    for name, direction, target, minimum in EXTRA_CLASSIFICATION_METRICS:
        if name in existing:
            continue
        added.append(
            SuccessMetric(
                project=project,
                name=name,
                kind=MetricKind.MODEL,
                direction=direction,
                target=target,
                minimum=minimum,
                position=position,
            )
        )
        position += 1
    return SuccessMetric.objects.bulk_create(added)


def dataset_add(project: Project, user: User, *, version: int = 1) -> DatasetVersion:
    return DatasetVersion.objects.create(
        project=project,
        name="biopsies",
        version=version,
        file=f"datasets/placeholder-{project.pk}-{version}.csv",
        original_filename="biopsies.csv",
        format="csv",
        sha256=f"{version:064x}",
        size_bytes=1024,
        row_count=569,
        column_count=3,
        schema=[
            {"name": "radius", "dtype": "float64", "kind": "numeric"},
            {"name": "diagnosis", "dtype": "int64", "kind": "numeric"},
        ],
        target_column="diagnosis",
        created_by=user,
    )


def iterations_add(
    project: Project,
    *,
    datasets: list[DatasetVersion],
    users: list[User],
    count: int,
    start: int = 1,
    seed: int = 0,
) -> list[Iteration]:
    """Insert ``count`` succeeded iterations with random metric values, one in ten undefined."""
    rng = random.Random(seed)
    metrics = list(project.metrics.filter(kind=MetricKind.MODEL))
    recipes = ["logistic_regression", "hist_gradient_boosting", "random_forest"]
    rows = []
    for offset in range(count):
        values: dict[str, float | None] = {
            metric.name: (None if rng.random() < 0.1 else round(rng.uniform(0.6, 0.99), 4))
            for metric in metrics
        }
        rows.append(
            Iteration(
                project=project,
                number=start + offset,
                dataset=datasets[offset % len(datasets)],
                recipe=recipes[offset % len(recipes)],
                params={"C": 1.0 + offset},
                seed=offset,
                status=IterationStatus.SUCCEEDED,
                metrics=values,
                threshold=0.5,
                expected_cost=rng.uniform(10, 100),
                created_by=users[offset % len(users)],
                model_version=str(start + offset),
            )
        )
    return Iteration.objects.bulk_create(rows)


def production_add(project: Project, iteration: Iteration) -> Deployment:
    return Deployment.objects.create(
        project=project,
        iteration=iteration,
        status=DeploymentStatus.LIVE,
        model_version=iteration.model_version,
        live_at=timezone.now(),
    )


def portfolio_add(
    *, owner: User, count: int, iterations_each: int = 3, seed: int = 0
) -> list[Project]:
    """Create ``count`` projects owned by ``owner`` across every stage, each with iterations."""
    rng = random.Random(seed)
    stages = list(Stage.values)
    today = timezone.localdate()
    projects = Project.objects.bulk_create(
        [
            Project(
                slug=f"portfolio-{seed}-{index}",
                name=f"Portfolio project {index:03d}",
                business_problem="A decision to support.",
                task_type=TaskType.CLASSIFICATION,
                stage=stages[index % len(stages)],
                created_by=owner,
                first_model_by=today + datetime.timedelta(days=rng.randint(-60, 60)),
                production_by=today + datetime.timedelta(days=rng.randint(-30, 120)),
                expected_iterations=rng.randint(3, 12),
            )
            for index in range(count)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(project=project, user=owner, role=Role.OWNER) for project in projects]
    )
    SuccessMetric.objects.bulk_create(
        [
            SuccessMetric(
                project=project,
                name="roc_auc",
                direction=Direction.HIGHER,
                target=0.9,
                minimum=0.8,
            )
            for project in projects
        ]
    )
    dataset_rows = [dataset_add(project, owner) for project in projects[:1]]
    iterations: list[Iteration] = []
    for project in projects:
        dataset = dataset_rows[0] if project is projects[0] else dataset_add(project, owner)
        iterations.extend(
            iterations_add(
                project, datasets=[dataset], users=[owner], count=iterations_each, seed=project.pk
            )
        )
    for project, iteration in zip(projects, iterations[::iterations_each], strict=False):
        if project.stage in (Stage.IN_PRODUCTION, Stage.RETIRED):
            production_add(project, iteration)
    return projects
