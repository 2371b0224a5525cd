"""Seed the demo: users, two framed projects built from scikit-learn's bundled data sets, and
a first iteration of each trained by the Celery worker.

Running it again changes nothing that exists: users, projects, datasets and iterations are
looked up first and only the missing ones are created.
"""

import datetime
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.accounts.models import Role
from apps.approvals.framing import framing_signoff_request
from apps.approvals.services import approval_approve
from apps.datasets.models import DatasetVersion
from apps.datasets.services import dataset_create
from apps.iterations.models import FINISHED_STATUSES, Iteration, IterationStatus
from apps.iterations.services import iteration_start
from apps.projects.models import Project, TaskType
from apps.projects.services import MemberInput, MetricInput, project_create, project_update

DEMO_PASSWORD = "portal-demo"  # noqa: S105 - published in the README, demo data only
DEMO_USERS = (
    ("alice", "Alice", "data scientist"),
    ("sam", "Sam", "stakeholder"),
    ("dana", "Dana", "decision maker"),
)


def breast_cancer_frame() -> pd.DataFrame:
    """Return the breast cancer set with a ``malignant`` target where 1 means malignant.

    scikit-learn codes malignant as 0, which would make recall measure the benign class.
    """
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["malignant"] = 1 - frame.pop("target")
    return frame


def diabetes_frame() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame["progression"] = frame.pop("target")
    return frame


@dataclass(frozen=True)
class DemoProject:
    slug: str
    name: str
    business_problem: str
    task_type: str
    metrics: list[MetricInput]
    frame: Callable[[], pd.DataFrame]
    dataset_name: str
    filename: str
    target_column: str
    recipe: str
    plan: dict[str, Any] = field(default_factory=dict)
    framing: dict[str, Any] = field(default_factory=dict)
    signed_off: bool = False


def demo_projects(today: datetime.date) -> list[DemoProject]:
    return [
        DemoProject(
            slug="breast-cancer-triage",
            name="Breast cancer triage",
            business_problem=(
                "Pathologists read every fine-needle aspirate in arrival order, so a malignant "
                "sample can wait days behind benign ones. Rank incoming samples by the chance "
                "that they are malignant so the likely cancers are read first. A missed "
                "malignancy delays treatment and costs far more than an extra early read, so "
                "recall on malignant samples matters most."
            ),
            task_type=TaskType.CLASSIFICATION,
            metrics=[
                MetricInput(name="roc_auc", target=0.97, minimum=0.95),
                MetricInput(name="recall", target=0.95, minimum=0.9),
            ],
            frame=breast_cancer_frame,
            dataset_name="Wisconsin diagnostic breast cancer",
            filename="breast_cancer.csv",
            target_column="malignant",
            recipe="hist_gradient_boosting",
            plan={
                "cost_false_negative": 50.0,
                "cost_false_positive": 1.0,
                "first_model_by": today + datetime.timedelta(days=14),
                "production_by": today + datetime.timedelta(days=60),
                "expected_iterations": 5,
            },
            framing={
                "decision": "Which aspirate a pathologist reads next.",
                "decision_owner": "The duty pathologist, who still reads every sample.",
                "current_process": "Samples are read in arrival order.",
                "decision_frequency": "About 120 samples a day.",
                "data_available": (
                    "30 measurements of cell nuclei per sample, with the confirmed diagnosis "
                    "for 569 past samples."
                ),
                "non_ml_alternative": "Read in arrival order, or flag only very large nuclei.",
                "suitability": {
                    "labels_available": True,
                    "data_at_decision_time": True,
                    "decision_is_repeated": True,
                    "rules_fall_short": True,
                    "errors_tolerable": True,
                    "owner_will_act": True,
                },
            },
            signed_off=True,
        ),
        DemoProject(
            slug="diabetes-progression",
            name="Diabetes progression",
            business_problem=(
                "Estimate how far each patient's diabetes will progress within a year of the "
                "baseline visit, so the clinic can book closer follow-up for those expected to "
                "worsen most."
            ),
            task_type=TaskType.REGRESSION,
            metrics=[
                MetricInput(name="rmse", target=55.0, minimum=60.0),
                MetricInput(name="r2", target=0.45),
            ],
            frame=diabetes_frame,
            dataset_name="Diabetes baseline visits",
            filename="diabetes.csv",
            target_column="progression",
            recipe="ridge",
            plan={
                "first_model_by": today + datetime.timedelta(days=7),
                "production_by": today + datetime.timedelta(days=45),
                "expected_iterations": 3,
            },
            framing={
                "decision": "How soon a patient's next follow-up visit is booked.",
                "decision_owner": "The clinic's scheduling nurse.",
                "suitability": {
                    "labels_available": True,
                    "data_at_decision_time": True,
                    "decision_is_repeated": True,
                },
            },
        ),
    ]


class Command(BaseCommand):
    help = (
        "Create the demo users (password 'portal-demo'), two demo projects with a dataset each, "
        "and start their first iterations; then wait for the Celery worker to train them. "
        "Safe to run again: existing demo objects are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Return once the iterations are queued instead of waiting for training.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=600.0,
            help="Seconds to wait for each iteration to finish training (default 600).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = self._users_ensure()
        alice = users["alice"]
        projects = []
        for demo in demo_projects(timezone.localdate()):
            project = self._project_ensure(demo, alice)
            dataset = self._dataset_ensure(demo, project, alice)
            self._iteration_ensure(demo, project, dataset, alice)
            projects.append(project)

        if options["no_wait"]:
            self.stdout.write("Demo iterations queued; not waiting for the worker (--no-wait).")
            return
        for project in projects:
            self._project_wait(project, timeout=options["timeout"])
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))

    def _users_ensure(self) -> dict[str, User]:
        users: dict[str, User] = {}
        for username, first_name, role in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first_name, "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                self.stdout.write(f"Created demo user {username} ({role}).")
            users[username] = user
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)
            self.stdout.write("Created demo superuser admin.")
        return users

    def _project_ensure(self, demo: DemoProject, owner: User) -> Project:
        project = Project.objects.filter(slug=demo.slug).first()
        if project is not None:
            return project
        project = project_create(
            user=owner,
            name=demo.name,
            business_problem=demo.business_problem,
            task_type=demo.task_type,
            metrics=demo.metrics,
            members=[
                MemberInput(username="sam", role=Role.STAKEHOLDER),
                MemberInput(username="dana", role=Role.DECISION_MAKER),
            ],
            **demo.plan,
        )
        if project.slug != demo.slug:
            raise CommandError(
                f"The demo project was created as '{project.slug}' instead of '{demo.slug}'; "
                "rename or delete the project that uses that slug and rerun."
            )
        if demo.framing:
            project = project_update(project=project, user=owner, **demo.framing)
        if demo.signed_off:
            dana = User.objects.get(username="dana")
            request = framing_signoff_request(
                project=project, user=owner, comment="Targets agreed with the pathology lead."
            )
            approval_approve(approval=request, user=dana, comment="Agreed.")
            project.refresh_from_db()
        self.stdout.write(f"Created demo project {project.slug} ({project.stage}).")
        return project

    def _dataset_ensure(self, demo: DemoProject, project: Project, owner: User) -> DatasetVersion:
        dataset = project.datasets.filter(name=demo.dataset_name).order_by("version").first()
        if dataset is not None:
            return dataset
        buffer = io.StringIO()
        demo.frame().to_csv(buffer, index=False)
        upload = SimpleUploadedFile(
            demo.filename, buffer.getvalue().encode(), content_type="text/csv"
        )
        dataset = dataset_create(
            project=project,
            user=owner,
            uploaded_file=upload,
            name=demo.dataset_name,
            target_column=demo.target_column,
        )
        self.stdout.write(
            f"Uploaded dataset '{dataset.name}' to {project.slug}: "
            f"{dataset.row_count} rows, sha256 {dataset.sha256[:12]}."
        )
        return dataset

    def _iteration_ensure(
        self, demo: DemoProject, project: Project, dataset: DatasetVersion, owner: User
    ) -> Iteration:
        # Uploading a dataset also queues baseline iterations; the demo's own model is the first
        # iteration that is not a baseline.
        iteration = project.iterations.filter(is_baseline=False).order_by("number").first()
        if iteration is not None:
            return iteration
        iteration = iteration_start(
            project=project,
            user=owner,
            dataset_id=dataset.pk,
            recipe=demo.recipe,
            params={},
            seed=42,
        )
        self.stdout.write(
            f"Queued iteration {iteration.number} of {project.slug} ({demo.recipe}, seed 42)."
        )
        return iteration

    def _project_wait(self, project: Project, *, timeout: float) -> None:
        """Wait until every iteration of ``project`` (baselines included) has finished."""
        deadline = time.monotonic() + timeout
        unfinished = project.iterations.exclude(status__in=FINISHED_STATUSES)
        if unfinished.exists():
            self.stdout.write(
                f"Waiting up to {timeout:.0f} s for the worker to train the iterations of "
                f"{project.slug}..."
            )
        while unfinished.exists():
            if time.monotonic() > deadline:
                statuses = ", ".join(
                    f"iteration {number} {status}"
                    for number, status in unfinished.values_list("number", "status")
                )
                raise CommandError(
                    f"Timed out after {timeout:.0f} s waiting for {project.slug}: {statuses}. "
                    "Check that a Celery worker is running (celery -A portal worker -P solo "
                    "-Q cpu) and consumes the same broker, or rerun with --no-wait."
                )
            time.sleep(1.0)

        metric_names = list(project.metrics.values_list("name", flat=True))
        for iteration in project.iterations.order_by("number"):
            if iteration.status != IterationStatus.SUCCEEDED:
                raise CommandError(
                    f"Iteration {iteration.number} of {project.slug} ({iteration.recipe}) ended "
                    f"as '{iteration.status}': {iteration.status_reason or 'no reason recorded'}."
                    " See the worker's log."
                )
            scores = ", ".join(
                f"{name} {iteration.metrics[name]:.3f}"
                for name in metric_names
                if isinstance(iteration.metrics.get(name), float)
            )
            self.stdout.write(
                f"Iteration {iteration.number} of {project.slug} ({iteration.recipe}) trained: "
                f"{scores or 'no target metric recorded'}."
            )
