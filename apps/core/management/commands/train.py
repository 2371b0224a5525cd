import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.core.errors import PortalError
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.specs import iteration_start_from_spec, spec_from_upload


class Command(BaseCommand):
    help = "Queue an iteration from a training spec file, as the given user."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--project", required=True, help="Slug of the project.")
        parser.add_argument(
            "--user",
            required=True,
            help="Username that starts the iteration. Their project role must allow it.",
        )
        parser.add_argument(
            "--spec",
            required=True,
            type=Path,
            help="Path of the spec file: JSON, or YAML named .yaml or .yml.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Poll until the iteration finishes, then print its metrics. A worker must run.",
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=2.0,
            help="Seconds between status checks with --wait (default 2).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {options['user']!r}.")
        try:
            project = project_get_for_user(
                user=user, slug=options["project"], action=Action.START_ITERATION
            )
        except Http404:
            raise CommandError(
                f"No project {options['project']!r} that {user.username} belongs to."
            ) from None
        except PermissionDenied as error:
            raise CommandError(str(error)) from None

        # call_command passes keyword options without running the argparse type.
        path = Path(options["spec"])
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read the spec file {path}: {error.strerror}.") from None
        try:
            spec = spec_from_upload(SimpleUploadedFile(path.name, content))
            iteration = iteration_start_from_spec(project=project, user=user, spec=spec)
        except PortalError as error:
            details = "; ".join(
                f"{field}: {message}"
                for field, messages in error.errors.items()
                for message in messages
            )
            raise CommandError(f"{error.message} {details}".strip()) from None
        self.stdout.write(
            f"Iteration {iteration.number} of {project.slug} queued as task {iteration.task_id}."
        )
        if options["wait"]:
            self._wait(iteration, interval=options["poll_interval"])

    def _wait(self, iteration: Iteration, *, interval: float) -> None:
        while not iteration.is_finished:
            time.sleep(interval)
            iteration.refresh_from_db()
        self.stdout.write(f"Iteration {iteration.number} {iteration.status}.")
        if iteration.status != IterationStatus.SUCCEEDED:
            raise CommandError(iteration.status_reason or f"The iteration {iteration.status}.")
        for name, value in sorted(iteration.metrics.items()):
            self.stdout.write(f"  {name}: {value}")
