"""Time the server render of the project dashboard and the portfolio at their target sizes.

Run from the repository root: ``.venv/bin/python benchmarks/dashboards/run.py``.
It creates a throwaway test database (in memory for SQLite, or ``test_<name>`` on
PostgreSQL when DATABASE_URL points there), seeds a project with 500 iterations and six
model metrics and a portfolio of 200 projects, then renders each page ``--repeat`` times
through Django's test client. A render is the whole request: middleware, queries, figures
and template. The reported time is each page's fastest render, because on a shared machine
the slower runs measure the other load. Each page is also reported as a ratio to a baseline
render measured in the same run: the dashboard of a project with no iterations.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
GOAL_MS = 300.0
ITERATIONS = 500
PROJECTS = 200


def _setup() -> None:
    sys.path.insert(0, str(REPOSITORY_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def _timed(client: object, url: str, repeat: int) -> tuple[float, float, int]:
    """Return the fastest and the median render in milliseconds, and the query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)  # type: ignore[attr-defined]
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} returned {response.status_code}")
        queries = len(captured)
    return min(timings), statistics.median(timings), queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="renders per page")
    arguments = parser.parse_args()

    _setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from apps.accounts.models import Membership, Role
    from apps.dashboards.tests.factories import (
        dataset_add,
        iterations_add,
        metrics_add,
        portfolio_add,
        production_add,
    )
    from apps.projects.models import Direction, Project, Stage, SuccessMetric, TaskType

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)

    owner = User.objects.create_user("bench-owner")
    viewer = User.objects.create_user("bench-viewer")

    def project_make(slug: str) -> Project:
        project = Project.objects.create(
            slug=slug,
            name=slug.replace("-", " ").capitalize(),
            business_problem="Flag biopsies that need a second reading.",
            task_type=TaskType.CLASSIFICATION,
            stage=Stage.IN_DEVELOPMENT,
            created_by=owner,
            expected_iterations=600,
        )
        SuccessMetric.objects.create(
            project=project, name="roc_auc", direction=Direction.HIGHER, target=0.95, minimum=0.9
        )
        SuccessMetric.objects.create(
            project=project, name="recall", direction=Direction.HIGHER, target=0.9, position=1
        )
        metrics_add(project)
        Membership.objects.create(project=project, user=owner, role=Role.OWNER)
        Membership.objects.create(project=project, user=viewer, role=Role.STAKEHOLDER)
        return project

    empty = project_make("empty-project")
    large = project_make("large-project")
    datasets = [dataset_add(large, owner, version=1), dataset_add(large, owner, version=2)]
    iterations = iterations_add(large, datasets=datasets, users=[owner, viewer], count=ITERATIONS)
    production_add(large, iterations[ITERATIONS // 2])

    portfolio_owner = User.objects.create_user("bench-portfolio")
    portfolio_add(owner=portfolio_owner, count=PROJECTS, iterations_each=5)

    viewer_client = Client()
    viewer_client.force_login(viewer)
    portfolio_client = Client()
    portfolio_client.force_login(portfolio_owner)

    # Warm the template loaders, the content-type cache and the session once per page.
    pages = [
        ("baseline: empty project dashboard", viewer_client, f"/projects/{empty.slug}/"),
        (
            f"project dashboard, {ITERATIONS} iterations x 6 metrics",
            viewer_client,
            f"/projects/{large.slug}/",
        ),
        (f"portfolio, {PROJECTS} projects", portfolio_client, "/portfolio/"),
    ]
    for _, client, url in pages:
        client.get(url)

    print(f"database: {connection.vendor}; fastest of {arguments.repeat} renders per page")
    baseline_ms = None
    failed = False
    for label, client, url in pages:
        fastest, median, queries = _timed(client, url, arguments.repeat)
        if baseline_ms is None:
            baseline_ms = fastest
            print(f"{label}: {fastest:.0f} ms (median {median:.0f} ms), {queries} queries")
            continue
        verdict = "ok" if fastest <= GOAL_MS else f"over the {GOAL_MS:.0f} ms goal"
        failed = failed or fastest > GOAL_MS
        print(
            f"{label}: {fastest:.0f} ms (median {median:.0f} ms), {queries} queries, "
            f"{fastest / baseline_ms:.1f}x the baseline, {verdict}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
