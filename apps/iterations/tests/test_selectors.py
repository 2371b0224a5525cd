import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.iterations.models import Iteration
from apps.iterations.selectors import (
    iteration_get,
    iteration_verdicts,
    project_iterations_with_verdicts,
)
from apps.iterations.tests.uploads import cancer_dataset
from apps.projects.models import SuccessMetric

__all__ = ["cancer_dataset"]


def _add_iterations(project, user, dataset, count, metrics=None):
    start = Iteration.objects.filter(project=project).count()
    return Iteration.objects.bulk_create(
        Iteration(
            project=project,
            number=start + index + 1,
            dataset=dataset,
            recipe="baseline",
            created_by=user,
            status="succeeded",
            metrics=metrics or {"roc_auc": 0.96, "recall": 0.85},
        )
        for index in range(count)
    )


def _queries(project):
    with CaptureQueriesContext(connection) as captured:
        rows = project_iterations_with_verdicts(project=project)
        for row in rows:
            str(row.iteration.dataset)
            str(row.iteration.created_by)
    return len(captured), len(rows)


def test_query_count_independent_of_iterations(project, alice, cancer_dataset):
    _add_iterations(project, alice, cancer_dataset, 2)
    few, few_rows = _queries(project)
    _add_iterations(project, alice, cancer_dataset, 18)
    many, many_rows = _queries(project)

    assert many_rows - few_rows == 18
    assert few == many


def test_verdicts_judge_target_and_minimum(project, alice, cancer_dataset):
    (added,) = _add_iterations(project, alice, cancer_dataset, 1)
    iteration = iteration_get(project=project, number=added.number)

    verdicts = iteration_verdicts(iteration=iteration, metrics=list(project.metrics.all()))

    by_name = {verdict["name"]: verdict for verdict in verdicts}
    assert by_name["roc_auc"]["value"] == 0.96
    assert by_name["roc_auc"]["verdict"] == "met"
    assert by_name["roc_auc"]["minimum_verdict"] == "met"
    assert by_name["recall"]["verdict"] == "missed"
    assert by_name["recall"]["minimum_verdict"] == "undefined"
    assert set(by_name["recall"]) == {
        "name",
        "kind",
        "direction",
        "value",
        "target",
        "minimum",
        "stretch",
        "unit",
        "verdict",
        "minimum_verdict",
    }


def test_undefined_metric_value_is_undefined(project, alice, cancer_dataset):
    _add_iterations(project, alice, cancer_dataset, 1, metrics={"roc_auc": None})
    iteration = iteration_get(project=project, number=1)

    verdicts = iteration_verdicts(iteration=iteration, metrics=list(project.metrics.all()))

    assert [v["verdict"] for v in verdicts] == ["undefined", "undefined"]


def test_business_metric_not_judged_on_holdout(project, alice, cancer_dataset):
    metric = SuccessMetric(name="savings", kind="business", direction="higher", target=1.0)
    _add_iterations(project, alice, cancer_dataset, 1, metrics={"savings": 5.0})
    iteration = iteration_get(project=project, number=1)

    verdicts = iteration_verdicts(iteration=iteration, metrics=[metric])

    assert verdicts[0]["verdict"] == "undefined"


def test_other_projects_iteration_is_404(project, regression_project, alice, cancer_dataset):
    from django.http import Http404

    _add_iterations(project, alice, cancer_dataset, 1)

    with pytest.raises(Http404):
        iteration_get(project=regression_project, number=1)
